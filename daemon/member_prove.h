/* SPDX-License-Identifier: Apache-2.0 */
/* Proof that a member's identity is held at its peer URL. A Lease names a node, the URL it serves
 * blocks on and its identity (a public key); the key's MAC says only that a holder of the
 * cluster key wrote it. Before another node pins a new identity for a name (member_sync.h), it
 * asks that URL to sign a fresh nonce: the weir-node listening there answers with its own key,
 * so a Lease naming another identity than the one held at its address is not proven, whoever
 * wrote it. With the weir-node pods attested (a pod of the chart's DaemonSet at that address and
 * port), that proves the identity is the one that pod's weir-node holds, as far as the network
 * delivers that address to that pod: a Service whose externalIPs name it (CVE-2020-8554) or a
 * NodePort on a hostNetwork pod's port could send the proof elsewhere (README: "Not covered").
 * The wire: GET <url>/v1/prove with header X-Weir-Prove-Nonce (64 lower-case hex digits); the
 * answer, 200 with header X-Weir-Prove-Sig, the node's signature (NODE_ID_LABEL_PROVE) of
 * "<node>\n<nonce>", node being the name the asker expects there. */
#pragma once

#include <stddef.h>

#include "node_id.h"

#define MEMBER_PROVE_NONCE_HEX 65 /* 32 random bytes as hex and the NUL */

/* The server's part: signs for this node (self) the asker's nonce (hex) into sig
 * (NODE_ID_SIG_HEX). Returns 0, or -EINVAL for a nonce not of the form, -ENOMEM. */
int member_prove_answer(const struct node_id *id, const char *self, const char *nonce, char *sig);

/* The asker's part: 0 when the weir-node at url signs a fresh nonce for node under identity id
 * (hex public key); -EACCES when it answers with another identity's signature (or for another
 * node), -EPROTO for an answer without one, -ETIMEDOUT / -ECONNREFUSED / -EIO when it does not
 * answer within timeout_ms; err says what. Blocks: no lock may be held. */
int member_prove_ask(const char *url, const char *node, const char *id, long timeout_ms, char *err,
		     size_t errlen);

/* The message signed: "<node>\n<nonce>" into buf (len bytes); its length, or -ENAMETOOLONG. */
int member_prove_msg(const char *node, const char *nonce, char *buf, size_t len);
