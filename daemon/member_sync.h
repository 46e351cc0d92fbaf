/* SPDX-License-Identifier: Apache-2.0 */
/* A cluster's members, kept up to date by a thread: every period it asks a member source and
 * swaps a new member set into the cluster when it differs (cluster_set_members: a pointer swap,
 * readers keep the view they started with). Two sources: on Kubernetes the weir-nodes whose
 * Lease is fresh and names the URL they serve blocks on (annotation weir.io/peer, written by
 * node_report.h), read from a watching store (lib/store_kube.h); on the embedded default
 * weir-controller, which a node's heartbeat asks (node/controller_members.c). Either way a node
 * that stops renewing is out once its Lease or heartbeat expires (readers meanwhile skip it as
 * soon as one request to it fails: cluster_mark_down), and a node that starts is in as soon as
 * it is seen. A source that fails leaves the members as they were. Thread-safe. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "cluster.h"
#include "node_id.h"
#include "peer_auth.h"

struct store;
struct member_sync;
struct store_kube_peer;

/* One member as a source reports it. */
struct member_entry {
	char node[254];
	char url[256];		  /* as reported: cluster_set_members checks it */
	char id[NODE_ID_PUB_HEX]; /* its identity's public key, as reported (checked there too) */
};

/* A member source: fills ret[0..max) at wall time now (seconds) and returns how many, or -errno
 * with err saying why. Called from the sync thread only. */
typedef int (*member_fetch_fn)(void *arg, int64_t now, struct member_entry *ret, size_t max,
			       char *err, size_t errlen);

/* How long a node name's identity stays pinned after it was last seen in a fresh Lease: while
 * it was seen this recently, a Lease that shows another identity for the name is not taken. A
 * fixed span, not the Lease's own leaseDurationSeconds: whoever writes the Lease chooses that.
 * 60 s is twice the default Lease (6 renewals of 5 s, node_report.h): a node that renews is
 * seen every round, so only a node gone (or whose Lease has shown another identity) for a
 * minute loses its pin. */
#define MEMBER_SYNC_PIN_KEEP_S 60
/* With pods (attest): how long after the pinned identity was last seen a Lease showing another
 * identity, not proven, still gives the member as pinned (30 s: the nodes' default Lease); later
 * the name is no member until its pinned identity shows again or another is proven. */
#define MEMBER_SYNC_PIN_FRESH_S 30
/* A proof (member_prove_ask) waits this long for its answer; one answered for another identity
 * is asked again after MEMBER_SYNC_PROVE_RETRY_S (one not answered after 1 s: a weir-node just
 * starting); that many failures are remembered. */
#define MEMBER_SYNC_PROVE_MS 1500
#define MEMBER_SYNC_PROVE_RETRY_S 5
#define MEMBER_SYNC_UNPROVEN (2 * CLUSTER_MAX_NODES)
/* A round asks no more proofs once it has spent this long on them: the rest wait for the next
 * round (members change, and stop, in the meantime). */
#define MEMBER_SYNC_PROVE_BUDGET_MS 2000
/* Names pinned at most: the members and as many again that came and went. */
#define MEMBER_SYNC_PINS (2 * CLUSTER_MAX_NODES)

/* A node name's identity as last accepted from its Lease, and when it was last seen. */
struct member_pin {
	char node[254];
	char url[256];
	char id[NODE_ID_PUB_HEX];
	char warned[NODE_ID_PUB_HEX]; /* the other identity last warned about ("" none) */
	char pod[64]; /* with attest: the uid of the weir-node pod it was proven under */
	int64_t seen;		      /* wall seconds; 0: the slot is free */
};

/* The Kubernetes source's arg: a watching store_kube and the cluster's key (both borrowed). A
 * Lease whose weir.io/peer-mac is not the key's MAC of its node, URL and identity
 * (weir.io/node-id; peer_auth_member_mac) is no member: whoever may write Leases without
 * holding the key can neither add a member, nor move one to another address, nor give it
 * another identity. A holder of the key who may write Leases could still name another identity
 * in node n2's Lease and then ask as n2: so a name's identity is pinned on first use, and a
 * Lease that shows another one is not taken while the pinned one was seen within
 * MEMBER_SYNC_PIN_KEEP_S (the member keeps the record last accepted). Zero-initialise the rest;
 * it is the sync thread's own (no lock). */
struct member_sync_kube {
	struct store *st;
	const struct peer_key *key;
	/* The store watches the weir-nodes' pods (STORE_KUBE_NODE_PODS): a Lease is a member only
	 * while a weir-node pod runs on its node at its URL's address and port (store_kube_peer's
	 * pods, Ready, created no later than the Lease's renewal), so a holder of the key who may
	 * write Leases cannot add a node the cluster does not run. */
	bool attest;
	/* With attest, a Lease whose node, identity, pod or URL is not the pin's (a new node, a
	 * new pod, a new key) is taken only once the weir-node at its URL proves it holds that
	 * identity (member_prove.h): a holder of the key who rewrites a node's Lease with its own
	 * identity is refused by the node that listens there. prove: how (NULL:
	 * member_prove_ask, MEMBER_SYNC_PROVE_MS; tests give their own), 0 proven. A failed
	 * proof is not asked again for MEMBER_SYNC_PROVE_RETRY_S. */
	int (*prove)(void *arg, const char *url, const char *node, const char *id, char *err,
		     size_t errlen);
	void *prove_arg;
	struct member_unproven {
		char node[254];
		char id[NODE_ID_PUB_HEX];
		char url[256];
		int64_t until_ms; /* CLOCK_MONOTONIC; 0: a free slot */
	} unproven[MEMBER_SYNC_UNPROVEN];
	/* Where the pins are kept across restarts (borrowed; NULL: in memory only): written by
	 * member_sync_kube_save when a pin's node, identity, pod or URL changed, read back by
	 * member_sync_kube_load at start. */
	const char *pins_path;
	bool pins_dirty;
	bool save_warned;
	char refused[256];  /* the sync thread's: the names last refused, said once */
	char unattested[256]; /* the names last refused for want of a weir-node pod, said once */
	char unpinned[256]; /* the names last refused for want of a free pin, said once */
	struct member_pin pins[MEMBER_SYNC_PINS];
};

/* Writes the pins to mk->pins_path (mode 0600, replaced whole) when they changed since the last
 * write; 0 or -errno. Sync thread only (member_sync_kube_fetch calls it). */
int member_sync_kube_save(struct member_sync_kube *mk);
/* Reads the pins written before (a file that is not this user's alone is refused: -EPERM), each
 * as seen at now; returns how many, 0 without a file, or -errno. Before the sync starts. */
int member_sync_kube_load(struct member_sync_kube *mk, int64_t now);

/* The Kubernetes source: pass a struct member_sync_kube as the arg. */
int member_sync_kube_fetch(void *arg, int64_t now, struct member_entry *ret, size_t max, char *err,
			   size_t errlen);

/* The members among peers[0..n) (as store_kube_peers reports the fresh Leases) at wall time
 * now, checked and pinned as above, into ret (room for n); returns how many. What
 * member_sync_kube_fetch does once it has the Leases; exposed for tests. Sync thread only. */
size_t member_sync_kube_take(struct member_sync_kube *mk, int64_t now,
			     const struct store_kube_peer *peers, size_t n,
			     struct member_entry *ret);

/* One round at wall time now: returns what cluster_set_members does (1 changed, 0 same) or
 * -errno (err says why). Exposed for tests; the thread calls it. */
int member_sync_once(member_fetch_fn fetch, void *arg, struct cluster *c, int64_t now, char *err,
		     size_t errlen);

/* Starts the thread (period_ms 0: 500). arg and c are borrowed and must outlive it. Returns 0
 * and an owned *ret, or -errno. */
int member_sync_start(member_fetch_fn fetch, void *arg, struct cluster *c, unsigned period_ms,
		      struct member_sync **ret);
/* Stops and joins the thread; NULL is fine. */
void member_sync_stop(struct member_sync *m);
