/* SPDX-License-Identifier: Apache-2.0 */
/* The peer protocol's fields as they come off the wire, before anything is believed: a request's
 * headers and query arguments (peer_server.c), a load start's spec, and a reply's signed headers
 * (peer_client.c). Pure functions of their input (no I/O, no key): a host without the key
 * reaches all of them, so tests/fuzz/peer_wire.c feeds them arbitrary bytes. Thread-safe. */
#pragma once

/* The answer to a member with no grant for the block's source (view_grants.h): HTTP 451 (refused
 * by policy), which the asker tells from a 403 (who it is was refused: the peer is marked down)
 * and a 404 (no such object): it reads that source from the UFS for a while
 * (FETCH_NO_VIEW_MS). Unsigned, as 403 and 404 are: a relay can only make the asker read the
 * UFS. */
#define PEER_STATUS_NO_VIEW 451

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "load_share.h"
#include "peer_auth.h"

/* A request's field by name: a header (X-Weir-*) when header, else a query argument; NULL when
 * absent. The returned string stays valid while the request does. */
typedef const char *(*peer_wire_get_fn)(void *ctx, bool header, const char *name);

/* Reads a signed request's fields (method and endpoint as given; strings borrowed from get):
 * X-Weir-Node, -Time, -Nonce (32 characters), -Auth, and for a PUT X-Weir-Body-Sha256
 * (64 characters); source, path, block, size, mtime, etag. Returns 0 with *ret and *ret_mac,
 * or -EINVAL with *ret_why the 400's text. Checks the form only: who sent it is
 * peer_auth_verify_request's to say. */
int peer_wire_request(peer_wire_get_fn get, void *ctx, const char *method, const char *endpoint,
		      struct peer_request *ret, const char **ret_mac, const char **ret_why);

/* A decimal number in full, in *ret: false for none, a sign, trailing bytes or one out of range. */
bool peer_wire_u64(const char *s, uint64_t *ret);

/* A UFS path as ufs.h defines them: starts with "/", at most 4096 bytes, no empty, "." or ".."
 * component, not the root. */
bool peer_wire_path_ok(const char *p);

/* Parses a load start's spec {"paths":[..],"nodes":[..][,"fresh":b]}: report->nodes and
 * n_nodes, *ret_fresh, and *ret_paths (an owned array of *ret_n strings borrowed from
 * *ret_json, which the caller puts). self must be among the nodes. Returns 0, -ENOMEM, or
 * -EINVAL with *why saying what is wrong (nothing is returned then). */
int peer_wire_load_spec(const char *spec, const char *self, struct load_share *report,
			json_object **ret_json, const char ***ret_paths, size_t *ret_n,
			bool *ret_fresh, const char **why);

/* A reply's signed headers: the body's XXH3, the reply's nonce and the peer's MAC over status,
 * length, XXH3 and body (peer_auth.h), and the reply MAC's version. */
struct peer_wire_reply {
	char xxh3[24];
	char nonce[PEER_AUTH_NONCE_HEX];
	char mac[PEER_AUTH_MAC_HEX];
	char version[8]; /* X-Weir-Reply-Mac: "v3", or "" from an owner that answers v2 */
};

/* Takes one header line of a reply (n bytes, as curl's header callback gives it, CRLF and all)
 * into h when it is one of the signed ones; a value too long for its field is left empty (the
 * check then fails). */
void peer_wire_reply_header(struct peer_wire_reply *h, const char *line, size_t n);

/* The XXH3 the reply's header declares, in *ret: false when it is missing or not hex. */
bool peer_wire_declared_sum(const struct peer_wire_reply *h, uint64_t *ret);
