// SPDX-License-Identifier: Apache-2.0
// The peer protocol's fields from a host without the key (daemon/peer_wire.h): a request's
// headers and query arguments, a load start's spec, a reply's signed headers. The input is
// lines: the first is the method; "R <line>" a reply header line; "S <json>" a spec; any
// other "name=value" a header (names starting "X-") or a query argument. Whatever they hold,
// what parses is of the form the MACs and buffers take, and signs or fails cleanly.
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "peer_auth.h"
#include "peer_wire.h"

#define MAX_FIELDS 32

struct fields {
	size_t n;
	char *name[MAX_FIELDS], *value[MAX_FIELDS];
	bool header[MAX_FIELDS];
};

static const char *get(void *ctx, bool header, const char *name)
{
	struct fields *f = ctx;
	for (size_t i = 0; i < f->n; i++) /* the first of a name, as libmicrohttpd */
		if (f->header[i] == header && !strcmp(f->name[i], name))
			return f->value[i];
	return NULL;
}

/* Independent of peer_wire_path_ok: no empty, "." or ".." component. */
static bool components_ok(const char *p)
{
	for (const char *c = p + 1;; c++) {
		const char *end = strchr(c, '/');
		size_t len = end ? (size_t)(end - c) : strlen(c);
		if (len == 0 || (len <= 2 && strncmp(c, "..", len) == 0))
			return false;
		if (!end)
			return true;
		c = end;
	}
}

static void check_request(struct fields *f, const char *method)
{
	static const char *const endpoints[] = {"/v1/block", "/v1/load"};
	struct peer_request rq;
	const char *mac, *why;
	for (size_t e = 0; e < 2; e++) {
		if (peer_wire_request(get, f, method, endpoints[e], &rq, &mac, &why) < 0) {
			if (!why || !why[0])
				abort();
			continue;
		}
		if (!mac || !rq.node || !rq.source || !rq.path || !rq.etag ||
		    strlen(rq.nonce) != PEER_AUTH_NONCE_HEX - 1)
			abort();
		if (!strcmp(method, "PUT") != (rq.body_sha256 != NULL) ||
		    (rq.body_sha256 && strlen(rq.body_sha256) != PEER_AUTH_MAC_HEX - 1))
			abort();
		if (peer_wire_path_ok(rq.path) &&
		    (rq.path[0] != '/' || strlen(rq.path) > 4096 || !components_ok(rq.path)))
			abort();
		/* what a server does next: check it under a key (never passes: no one signed) */
		struct peer_key k = {.len = 16};
		memset(k.bytes, 'k', k.len);
		rq.to = "n1";
		char want[PEER_AUTH_MAC_HEX];
		int r = peer_auth_sign_request(&k, &rq, want);
		if (r != 0 && r != -EINVAL)
			abort();
		/* (never compared here with strcmp: libFuzzer would read the answer off it) */
		if (peer_auth_verify_request(&k, &rq, mac, rq.time, 60) == 0)
			abort(); /* a request no one signed passed */
	}
}

static void check_spec(const char *spec)
{
	struct load_share *rep = calloc(1, sizeof(*rep));
	if (!rep)
		abort();
	json_object *o = NULL;
	const char **paths = NULL, *why = NULL;
	size_t n = 0;
	bool fresh = false;
	int r = peer_wire_load_spec(spec, "n1", rep, &o, &paths, &n, &fresh, &why);
	if (r == 0) {
		if (n == 0 || n > 1024 || rep->n_nodes == 0 || rep->n_nodes > LOAD_SHARE_MAX_NODES)
			abort();
		bool self = false;
		for (size_t i = 0; i < rep->n_nodes; i++)
			self |= !strcmp(rep->nodes[i], "n1");
		for (size_t i = 0; i < n; i++)
			if (!paths[i] || paths[i][0] != '/')
				abort();
		if (!self)
			abort();
		free(paths);
		json_object_put(o);
	} else if (r == -EINVAL && (!why || o || paths)) {
		abort();
	}
	free(rep);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size), *save = NULL;
	struct fields f = {0};
	struct peer_wire_reply h = {0};
	const char *method = NULL;
	for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!method) {
			method = line;
		} else if (!strncmp(line, "R ", 2)) {
			/* as curl hands a header line: its CRLF on */
			size_t n = strlen(line + 2);
			char *l = malloc(n + 2);
			if (!l)
				abort();
			memcpy(l, line + 2, n);
			memcpy(l + n, "\r\n", 2);
			peer_wire_reply_header(&h, l, n + 2);
			free(l);
		} else if (!strncmp(line, "S ", 2)) {
			check_spec(line + 2);
		} else if (f.n < MAX_FIELDS && strchr(line, '=')) {
			char *eq = strchr(line, '=');
			*eq = '\0';
			f.name[f.n] = line;
			f.value[f.n] = eq + 1;
			f.header[f.n] = !strncmp(line, "X-", 2);
			f.n++;
		}
	}
	if (method)
		check_request(&f, method);
	/* every field a C string of its buffer; a declared sum only from hex */
	if (memchr(h.xxh3, 0, sizeof(h.xxh3)) == NULL ||
	    memchr(h.nonce, 0, sizeof(h.nonce)) == NULL ||
	    memchr(h.mac, 0, sizeof(h.mac)) == NULL ||
	    memchr(h.version, 0, sizeof(h.version)) == NULL)
		abort();
	uint64_t sum;
	if (peer_wire_declared_sum(&h, &sum) && !h.xxh3[0])
		abort();
	free(s);
	return 0;
}
