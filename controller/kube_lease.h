/* SPDX-License-Identifier: Apache-2.0 */
/* Leader election on a coordination.k8s.io/v1 Lease: the holder renews it; another replica takes
 * it over only once renewTime + leaseDurationSeconds has passed. Optimistic concurrency (the
 * resourceVersion of the Lease read) makes two replicas racing for it produce one winner. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "kube_client.h"

/* One round: creates the Lease ns/name held by identity, renews it when identity holds it, takes
 * it over when its holder let it expire (now is epoch seconds). Returns 1 when identity holds
 * the Lease afterwards, 0 when another holder does (its name in ret_holder when not NULL), or
 * -errno with a message. */
int kube_lease_try(struct kube_client *c, const char *ns, const char *name, const char *identity,
		   int duration_s, int64_t now, char *ret_holder, size_t holder_len, char *errbuf,
		   size_t errlen);

/* Gives the Lease up (holder cleared) when identity holds it, so a standby need not wait for it
 * to expire. Returns 0 or -errno. */
int kube_lease_release(struct kube_client *c, const char *ns, const char *name,
		       const char *identity, char *errbuf, size_t errlen);

struct kube_leader;

/* Runs the election for identity on Lease ns/name in a thread of its own, trying and renewing
 * every third of duration_s. on_lead(arg) is called once, from that thread, when this replica
 * first holds the Lease. A leader that loses it, or cannot renew it for a whole duration, exits
 * the process: another replica may already lead, and two writers must never run. Returns 0 and
 * an owned *ret, or -errno. */
int kube_leader_start(const struct kubeconfig *kc, const char *ns, const char *name,
		      const char *identity, double duration_s, void (*on_lead)(void *arg),
		      void *arg, struct kube_leader **ret);

/* Stops the thread and gives the Lease up when held. Returns true when this replica led (its
 * on_lead ran). Accepts NULL. */
bool kube_leader_stop(struct kube_leader *l);
