/* SPDX-License-Identifier: Apache-2.0 */
/* The members of a cluster on the embedded default, as the nodes' Leases are on Kubernetes: the
 * weir-nodes that sent a MemberHeartbeat (proto/control.proto) within the timeout, with the peer
 * URL and the traffic each last reported. The controller's request server alone uses it (one
 * thread: no lock); nothing here does I/O. */
#pragma once

#include <stddef.h>

#include "control.pb-c.h"
#include "node_name.h"

/* Every member beats twice a second: a request that held the request server for longer than
 * this kept heartbeats out, and its time is credited to the members (members_credit). */
#define MEMBERS_STALL_S 1.0

/* At most this many members (the bound every node keeps: lib/node_name.h); a heartbeat from one
 * more node is refused. */
#define MEMBERS_MAX CLUSTER_MAX_NODES

struct members;

/* A table whose members leave timeout_s seconds after their last heartbeat. Returns 0 and an
 * owned *ret, or -ENOMEM. */
int members_new(double timeout_s, struct members **ret);
/* Frees m; NULL is fine. */
void members_free(struct members *m);

/* Records node's heartbeat at now (CLOCK_MONOTONIC seconds): it joins, or stays and takes the
 * URL and traffic sent. Its identity id (node_id.h's public key) is pinned while it beats: a
 * heartbeat under its name with another identity is refused (-EPERM) until the member has been
 * silent for the timeout, so a holder of the cluster key cannot take over a live node's name
 * (and be asked for its blocks, or ask under it). Returns 0, or -EINVAL (a name that is not 1
 * to NODE_NAME_MAX of [A-Za-z0-9._-], a URL that is not http(s)://, longer than 255 bytes, an id
 * that is not 64 lower-case hex digits), -EPERM or -ENOSPC (MEMBERS_MAX members) with err
 * naming the field and the value. The URL is checked strictly by each node (cluster.h). */
int members_beat(struct members *m, const char *node, const char *url, const char *id,
		 const Weir__NodeTraffic *traffic, double now, char *err, size_t errlen);

/* The request server was busy for seconds (one request: nobody's heartbeat could be taken
 * meanwhile): every member is credited with that time, so nobody is out for the controller's
 * silence (a member that died meanwhile leaves that much later). Only the server's own busy
 * time counts: a silence of the nodes (all slow, or dead but one that beats seldom) is
 * theirs, and must not keep a dead member in. */
void members_credit(struct members *m, double seconds);

/* Drops the members not heard from within the timeout at now (each logged), then fills resp's
 * members (sorted by node) and cluster_traffic (summed over them). What resp points to belongs
 * to m and stays valid until the next call on m. Returns the number of members, -ENOMEM, or
 * -EAGAIN during the first second after the first heartbeat (a controller that just started has
 * not heard every live node yet; a node keeps the members it has meanwhile). */
int members_answer(struct members *m, double now, Weir__Response *resp);
