/* SPDX-License-Identifier: Apache-2.0 */
/* A weir-node's own identity: an Ed25519 key pair whose private half never leaves the node
 * (<state-dir>/node-id.key, mode 0600, made on first start) and whose public half its peers
 * know from the member list (a peers list entry's ;id=, the controller's heartbeat answers, a
 * Lease's weir.io/node-id). The cluster's shared key proves a request comes from some member;
 * this key proves which one, so a holder of the shared key can no longer ask, or be a member,
 * under another node's name. Signatures are over "<label>\n<message>", so one signed for one
 * purpose never passes for another. Thread-safe: a loaded key is only read. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define NODE_ID_PUB_HEX 65  /* 32-byte public key as 64 lower-case hex digits and the NUL */
#define NODE_ID_SIG_HEX 129 /* 64-byte signature as 128 lower-case hex digits and the NUL */

/* The labels signed under, one per use. */
#define NODE_ID_LABEL_REQUEST "weir-peer-request-id-v1" /* a peer request's MAC (peer_auth.h) */
#define NODE_ID_LABEL_PROVE "weir-member-prove-v1" /* a nonce at the peer URL (member_prove.h) */

struct node_id;

/* Reads the key at path, or makes one there when there is none (O_EXCL, no link followed,
 * mode 0600). A file of another user's, one others may read, or one that does not hold 64 hex
 * digits is refused. Returns 0 and an owned *ret, or -errno with err naming the file and what
 * is wrong with it (never its bytes). */
int node_id_load(const char *path, struct node_id **ret, char *err, size_t errlen);
void node_id_free(struct node_id *id);

/* The public key, 64 lower-case hex digits. */
const char *node_id_public(const struct node_id *id);

/* Signs "<label>\n" and msg[0..len) into out (NODE_ID_SIG_HEX bytes, hex). A label holds no
 * newline, msg at most 4096 bytes. Returns 0 or -ENOMEM (OpenSSL could not, or a label or msg
 * out of those bounds). */
int node_id_sign(const struct node_id *id, const char *label, const void *msg, size_t len,
		 char *out);

/* 0 when sig (hex) is pub's (hex) signature of "<label>\n" and msg[0..len); -EINVAL when pub,
 * sig, label or msg is not of the right form, -EACCES when the signature does not match. */
int node_id_verify(const char *pub, const char *label, const void *msg, size_t len,
		   const char *sig);

/* True when s is a public key's form (64 lower-case hex digits, nothing else). */
bool node_id_pub_valid(const char *s);
