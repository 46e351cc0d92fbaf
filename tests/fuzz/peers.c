// SPDX-License-Identifier: Apache-2.0
// A peers list as node.conf gives it (daemon/cluster.h: NAME=URL[;id=KEY],...) and a request's
// identity signature as a peer sends it (lib/node_id.h). The input's first line is the list; the
// second, if any, is "KEY SIG MSG" checked with node_id_verify. Whatever they hold: a list that
// parses has this node, names of the bound, URLs of the form and ids of 64 hex digits or none;
// a signature that is not of its form is -EINVAL, and no random one passes.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "fuzz.h"
#include "node_id.h"

#define SELF_ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void check_list(const char *peers)
{
	/* this node is the first entry's name, so most inputs reach the members' parsing */
	char self[CLUSTER_NAME_MAX] = "n1";
	const char *eq = strchr(peers, '=');
	if (eq && (size_t)(eq - peers) < sizeof(self) && eq > peers)
		snprintf(self, sizeof(self), "%.*s", (int)(eq - peers), peers);
	struct cluster_config cfg = {.self = self, .peers = peers, .self_id = SELF_ID};
	struct cluster *c = NULL;
	char err[512] = "";
	if (cluster_new(&cfg, &c, err, sizeof(err)) < 0) {
		if (!err[0])
			abort(); /* a refusal says why */
		return;
	}
	struct cluster_view *v = cluster_view_get(c);
	int me = cluster_self(v);
	if (me < 0 || strcmp(cluster_node_id(v, me), SELF_ID) != 0)
		abort();
	for (size_t i = 0; i < cluster_size(v); i++) {
		const char *id = cluster_node_id(v, (int)i);
		const char *url = cluster_node_url(v, (int)i);
		if ((id[0] && !node_id_pub_valid(id)) || strlen(cluster_node_name(v, i)) == 0 ||
		    (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
			abort();
	}
	cluster_view_put(v);
	cluster_free(c);
}

static void check_sig(char *line)
{
	char *key = line, *sig = strchr(line, ' ');
	if (!sig)
		return;
	*sig++ = '\0';
	char *msg = strchr(sig, ' ');
	if (!msg)
		return;
	*msg++ = '\0';
	int r = node_id_verify(key, NODE_ID_LABEL_REQUEST, msg, strlen(msg), sig);
	if (r == 0 || (r != -EINVAL && r != -EACCES))
		abort(); /* a made-up signature never passes */
	if (r == -EACCES && (!node_id_pub_valid(key) || strlen(sig) != NODE_ID_SIG_HEX - 1))
		abort(); /* only well-formed ones get as far as the check */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	char *nl = strchr(s, '\n');
	if (nl)
		*nl = '\0';
	check_list(s);
	if (nl)
		check_sig(nl + 1);
	free(s);
	return 0;
}
