/* SPDX-License-Identifier: Apache-2.0 */
/* A weir-node's membership on the embedded default: with peer-listen and no peers list, and not
 * on Kubernetes, the node sends weir-controller a MemberHeartbeat (its name, peer URL and traffic)
 * every member period, on the controller's socket (controller-socket, else
 * <state-dir>/controller.sock: a Unix socket, reachable from every network namespace of the
 * machine), and takes the members the controller answers (daemon/member_sync.h). The answer also
 * carries the cluster's traffic, which `weir top` shows. */
#pragma once

#include "control.pb-c.h"

struct node;
struct controller_members;

/* Starts heartbeats for n (whose cluster is dynamic). Returns 0 and an owned *ret, or -errno. */
int controller_members_start(struct node *n, struct controller_members **ret);
/* Stops and joins the heartbeat thread; NULL is fine. */
void controller_members_stop(struct controller_members *cm);

/* The cluster's traffic as the controller last answered: fills *ret and returns the number of
 * members it was summed over (0: no answer yet; *ret untouched). Any thread; takes cm's lock
 * briefly. */
unsigned controller_members_traffic(struct controller_members *cm, Weir__NodeTraffic *ret);
