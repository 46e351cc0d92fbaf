// SPDX-License-Identifier: Apache-2.0
// Peer protocol fields off the wire: numbers in full or not at all, strings of the lengths the
// MACs and the buffers they go to take, nothing believed (peer_auth.h does that).
#include "peer_wire.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cluster.h"

bool peer_wire_u64(const char *s, uint64_t *ret)
{
	if (!s || !*s || *s == '-')
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*ret = v;
	return true;
}

static bool parse_i64(const char *s, int64_t *ret)
{
	if (!s || !*s)
		return false;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end)
		return false;
	*ret = v;
	return true;
}

int peer_wire_request(peer_wire_get_fn get, void *ctx, const char *method, const char *endpoint,
		      struct peer_request *ret, const char **ret_mac, const char **ret_why)
{
	bool put = !strcmp(method, "PUT");
	struct peer_request rq = {
	    .method = method,
	    .endpoint = endpoint,
	    /* a PUT's body is signed through its SHA-256; any other request signs none, so a
	     * GET's MAC never passes for a PUT nor a PUT's for a GET */
	    .body_sha256 = put ? get(ctx, true, "X-Weir-Body-Sha256") : NULL,
	    .node = get(ctx, true, "X-Weir-Node"),
	    .nonce = get(ctx, true, "X-Weir-Nonce"),
	    .source = get(ctx, false, "source"),
	    .path = get(ctx, false, "path"),
	    .etag = get(ctx, false, "etag"),
	};
	const char *mac = get(ctx, true, "X-Weir-Auth");
	if (!rq.node || !mac || !rq.nonce || strlen(rq.nonce) != PEER_AUTH_NONCE_HEX - 1 ||
	    !parse_i64(get(ctx, true, "X-Weir-Time"), &rq.time) || !rq.source || !rq.path ||
	    !rq.etag || !peer_wire_u64(get(ctx, false, "block"), &rq.block) ||
	    !peer_wire_u64(get(ctx, false, "size"), &rq.size) ||
	    !parse_i64(get(ctx, false, "mtime"), &rq.mtime)) {
		*ret_why =
		    "a request needs X-Weir-Node, X-Weir-Time, X-Weir-Nonce (32 hex digits), "
		    "X-Weir-Auth and source, path, block, size, mtime, etag\n";
		return -EINVAL;
	}
	if (put && (!rq.body_sha256 || strlen(rq.body_sha256) != PEER_AUTH_MAC_HEX - 1)) {
		*ret_why = "a pushed block needs X-Weir-Body-Sha256 (64 hex digits)\n";
		return -EINVAL;
	}
	*ret = rq;
	*ret_mac = mac;
	return 0;
}

bool peer_wire_path_ok(const char *p)
{
	if (!p || p[0] != '/' || strlen(p) > 4096)
		return false;
	if (p[1] == '\0')
		return false; /* the root is a directory, never an object */
	for (const char *c = p + 1;;) {
		const char *end = strchr(c, '/');
		size_t len = end ? (size_t)(end - c) : strlen(c);
		if (len == 0 || (len == 1 && c[0] == '.') ||
		    (len == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (!end)
			return true;
		c = end + 1;
	}
}

int peer_wire_load_spec(const char *spec, const char *self, struct load_share *report,
			json_object **ret_json, const char ***ret_paths, size_t *ret_n,
			bool *ret_fresh, const char **why)
{
	json_object *o = json_tokener_parse(spec), *paths, *nodes, *fresh;
	*why = "the spec is not {\"paths\":[..],\"nodes\":[..]}";
	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "paths", &paths) ||
	    !json_object_is_type(paths, json_type_array) ||
	    !json_object_object_get_ex(o, "nodes", &nodes) ||
	    !json_object_is_type(nodes, json_type_array))
		goto bad;
	size_t np = json_object_array_length(paths), nn = json_object_array_length(nodes);
	if (np == 0 || np > 1024 || nn == 0 || nn > LOAD_SHARE_MAX_NODES) {
		*why = "a spec needs 1-1024 paths and 1-32 nodes";
		goto bad;
	}
	bool has_self = false;
	for (size_t i = 0; i < nn; i++) {
		json_object *e = json_object_array_get_idx(nodes, i);
		if (!json_object_is_type(e, json_type_string) ||
		    strlen(json_object_get_string(e)) >= CLUSTER_NAME_MAX) {
			*why = "a node of the spec is not a node name";
			goto bad;
		}
		snprintf(report->nodes[i], sizeof(report->nodes[i]), "%s",
			 json_object_get_string(e));
		has_self |= !strcmp(json_object_get_string(e), self);
	}
	report->n_nodes = nn;
	/* optional: the asker planned again after a disagreement, and asks for fresh listings */
	bool fresh_v = false;
	if (json_object_object_get_ex(o, "fresh", &fresh)) {
		if (!json_object_is_type(fresh, json_type_boolean)) {
			*why = "the spec's \"fresh\" is not true or false";
			goto bad;
		}
		fresh_v = json_object_get_boolean(fresh);
	}
	if (!has_self) {
		*why = "this node is not among the spec's nodes";
		goto bad;
	}
	const char **pv = calloc(np, sizeof(char *));
	if (!pv) {
		json_object_put(o);
		return -ENOMEM;
	}
	for (size_t i = 0; i < np; i++) {
		json_object *e = json_object_array_get_idx(paths, i);
		if (!json_object_is_type(e, json_type_string) ||
		    json_object_get_string(e)[0] != '/') {
			free(pv);
			*why = "a path of the spec does not start with \"/\"";
			goto bad;
		}
		pv[i] = json_object_get_string(e);
	}
	*ret_json = o;
	*ret_paths = pv;
	*ret_n = np;
	*ret_fresh = fresh_v;
	return 0;
bad:
	json_object_put(o);
	return -EINVAL;
}

static void header_value(const char *line, size_t n, size_t namelen, char *out, size_t outlen)
{
	const char *v = line + namelen;
	size_t left = n - namelen;
	while (left && (*v == ' ' || *v == '\t')) {
		v++;
		left--;
	}
	while (left && (v[left - 1] == '\r' || v[left - 1] == '\n' || v[left - 1] == ' '))
		left--;
	if (left >= outlen)
		left = 0; /* too long to be ours: leave it empty, the check fails */
	memcpy(out, v, left);
	out[left] = '\0';
}

void peer_wire_reply_header(struct peer_wire_reply *h, const char *line, size_t n)
{
	/* the signed headers and where each goes: a table, one comparison each */
	static const struct {
		const char *name;
		size_t off, len;
	} fields[] = {
	    {"X-Weir-Xxh3:", offsetof(struct peer_wire_reply, xxh3), sizeof(h->xxh3)},
	    {"X-Weir-Auth:", offsetof(struct peer_wire_reply, mac), sizeof(h->mac)},
	    {"X-Weir-Reply-Nonce:", offsetof(struct peer_wire_reply, nonce), sizeof(h->nonce)},
	    {"X-Weir-Reply-Mac:", offsetof(struct peer_wire_reply, version), sizeof(h->version)},
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		size_t nl = strlen(fields[i].name);
		if (n > nl && strncasecmp(line, fields[i].name, nl) == 0) {
			header_value(line, n, nl, (char *)h + fields[i].off, fields[i].len);
			return;
		}
	}
}

bool peer_wire_declared_sum(const struct peer_wire_reply *h, uint64_t *ret)
{
	char *end = NULL;
	if (!h->xxh3[0])
		return false;
	*ret = strtoull(h->xxh3, &end, 16);
	return !*end;
}
