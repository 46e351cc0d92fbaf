// SPDX-License-Identifier: Apache-2.0
// Members from a source (the nodes' Leases, or weir-controller's heartbeat answers). Sources
// answer from a cache or over a local socket; the swap into the cluster is a pointer swap: no
// reader waits on the apiserver or the controller.
#include "member_sync.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <curl/curl.h>

#include "log.h"
#include "member_prove.h"
#include "private_file.h"
#include "store_kube.h"

_Static_assert(
    sizeof(((struct member_entry *)0)->node) == sizeof(((struct store_kube_peer *)0)->node) &&
	sizeof(((struct member_entry *)0)->url) == sizeof(((struct store_kube_peer *)0)->url) &&
	sizeof(((struct member_entry *)0)->id) == sizeof(((struct store_kube_peer *)0)->id),
    "a Lease's peer fits a member entry");
_Static_assert(sizeof(((struct member_pin *)0)->pod) ==
		   sizeof(((struct store_kube_peer_pod *)0)->uid),
	       "a pin keeps a pod's uid");

/* Rounds asked for by cluster_refresh come at most this often. */
#define MEMBER_SYNC_MIN_GAP_MS 200L

struct member_sync {
	member_fetch_fn fetch;
	void *arg;
	struct cluster *c;
	unsigned period_ms;
	atomic_bool stop;
	pthread_t thread;
};

/* The pin of node, or NULL. */
static struct member_pin *pin_find(struct member_sync_kube *mk, const char *node)
{
	for (size_t i = 0; i < MEMBER_SYNC_PINS; i++)
		if (mk->pins[i].seen && strcmp(mk->pins[i].node, node) == 0)
			return &mk->pins[i];
	return NULL;
}

/* A slot for a new name: a free one, else the longest-unseen one when it has been unseen for
 * more than MEMBER_SYNC_PIN_KEEP_S; NULL when every pin was seen more recently (dropping one
 * then would let a flood of names unpin a live node). */
static struct member_pin *pin_slot(struct member_sync_kube *mk, int64_t now)
{
	struct member_pin *old = NULL;
	for (size_t i = 0; i < MEMBER_SYNC_PINS; i++) {
		if (!mk->pins[i].seen)
			return &mk->pins[i];
		if (!old || mk->pins[i].seen < old->seen)
			old = &mk->pins[i];
	}
	return old && now - old->seen > MEMBER_SYNC_PIN_KEEP_S ? old : NULL;
}

static void name_add(char *list, size_t len, const char *node)
{
	size_t l = strlen(list);
	snprintf(list + l, len - l, "%s\"%.64s\"", l ? ", " : "", node);
}

/* Does url name the address ip (compared as addresses where both parse) and the port port? */
static bool url_is_at(const char *url, const char *ip, int port)
{
	CURLU *u = curl_url();
	char *host = NULL, *portstr = NULL;
	bool same = false;
	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &portstr, CURLU_DEFAULT_PORT) == CURLUE_OK &&
	    atoi(portstr) == port) {
		size_t l = strlen(host);
		if (l > 2 && host[0] == '[' && host[l - 1] == ']') { /* an IPv6 literal */
			memmove(host, host + 1, l - 2);
			host[l - 2] = '\0';
		}
		unsigned char a[16], b[16];
		int fam = strchr(host, ':') ? AF_INET6 : AF_INET;
		if (inet_pton(fam, host, a) == 1 && inet_pton(fam, ip, b) == 1)
			same = memcmp(a, b, fam == AF_INET6 ? 16 : 4) == 0;
		else
			same = strcmp(host, ip) == 0;
	}
	curl_free(host);
	curl_free(portstr);
	curl_url_cleanup(u);
	return same;
}

/* The weir-node pod that attests p: one running on p's node at the address and port of p's URL,
 * created before p was last renewed (a Lease renewed before the pod existed, the last one of the
 * pod it replaced, speaks for that one); NULL if none. */
static const struct store_kube_peer_pod *attesting_pod(const struct store_kube_peer *p)
{
	for (unsigned k = 0; k < p->npods && k < STORE_KUBE_PEER_PODS; k++) {
		const struct store_kube_peer_pod *pp = &p->pods[k];
		if (pp->port > 0 && pp->created <= p->renewed &&
		    url_is_at(p->url, pp->ip, pp->port))
			return pp;
	}
	return NULL;
}

static void entry_set(struct member_entry *e, const char *node, const char *url, const char *id)
{
	snprintf(e->node, sizeof(e->node), "%s", node);
	snprintf(e->url, sizeof(e->url), "%s", url);
	snprintf(e->id, sizeof(e->id), "%s", id);
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Has the weir-node at p's URL proven p's identity for p's node? 0 yes; -errno no: asked now,
 * or a failure of the last MEMBER_SYNC_PROVE_RETRY_S (1 s when nothing answered), or this
 * round's time for proofs (round_end_ms, CLOCK_MONOTONIC) spent. A failure is logged the first
 * time only, for a node, identity and URL. */
static int prove_cached(struct member_sync_kube *mk, const struct store_kube_peer *p,
			int64_t round_end_ms, char *err, size_t errlen)
{
	/* monotonic: a wall clock stepped back must not make a failure last */
	int64_t now_ms = mono_ms();
	struct member_unproven *slot = &mk->unproven[0], *same = NULL;
	for (size_t i = 0; i < MEMBER_SYNC_UNPROVEN; i++) {
		struct member_unproven *u = &mk->unproven[i];
		if (u->until_ms && !strcmp(u->node, p->node) && !strcmp(u->id, p->id) &&
		    !strcmp(u->url, p->url)) {
			if (u->until_ms > now_ms)
				return -EAGAIN;
			same = u; /* failed before: asked again, said already */
		}
		if (u->until_ms < slot->until_ms)
			slot = u; /* the oldest, for a new failure */
	}
	if (now_ms >= round_end_ms)
		return -EAGAIN; /* this round's time for proofs is spent: the next round asks */
	err[0] = '\0';
	int r = mk->prove
		    ? mk->prove(mk->prove_arg, p->url, p->node, p->id, err, errlen)
		    : member_prove_ask(p->url, p->node, p->id, MEMBER_SYNC_PROVE_MS, err, errlen);
	if (r >= 0) {
		if (same)
			same->until_ms = 0;
		return 0;
	}
	/* a weir-node that does not answer yet (just started) is asked again sooner than one
	 * that answered for another identity */
	int retry_s = r == -EACCES ? MEMBER_SYNC_PROVE_RETRY_S : 1;
	if (!same)
		log_warn("cluster: node \"%.64s\"'s Lease names identity %.16s..., which the "
			 "weir-node at its URL does not prove (%s): not taken (a second writer of "
			 "its Lease, or that weir-node not answering yet; asked again in %d s)",
			 p->node, p->id, err, retry_s);
	if (same)
		slot = same;
	snprintf(slot->node, sizeof(slot->node), "%s", p->node);
	snprintf(slot->id, sizeof(slot->id), "%s", p->id);
	snprintf(slot->url, sizeof(slot->url), "%s", p->url);
	slot->until_ms = mono_ms() + retry_s * 1000;
	return r;
}

size_t member_sync_kube_take(struct member_sync_kube *mk, int64_t now,
			     const struct store_kube_peer *peers, size_t n,
			     struct member_entry *ret)
{
	size_t kept = 0;
	char refused[sizeof(mk->refused)] = "", unpinned[sizeof(mk->unpinned)] = "";
	char unattested[sizeof(mk->unattested)] = "";
	int64_t round_end_ms = mono_ms() + MEMBER_SYNC_PROVE_BUDGET_MS;
	for (size_t i = 0; i < n; i++) {
		const struct store_kube_peer *p = &peers[i];
		if (!p->id[0] ||
		    peer_auth_member_check(mk->key, p->node, p->url, p->id, p->mac) < 0) {
			name_add(refused, sizeof(refused), p->node);
			continue;
		}
		const struct store_kube_peer_pod *pod = mk->attest ? attesting_pod(p) : NULL;
		if (mk->attest && !pod) {
			name_add(unattested, sizeof(unattested), p->node);
			continue;
		}
		const char *uid = pod ? pod->uid : "";
		struct member_pin *pin = pin_find(mk, p->node);
		if (mk->attest && !(pin && !strcmp(pin->id, p->id) && !strcmp(pin->pod, uid) &&
				    !strcmp(pin->url, p->url))) {
			/* not as pinned: its weir-node proves the identity at the URL first */
			char perr[600];
			if (prove_cached(mk, p, round_end_ms, perr, sizeof(perr)) < 0) {
				/* the member as pinned, while that identity is seen: a node gone
				 * whose Lease another writer keeps fresh is no member */
				if (pin && now - pin->seen <= MEMBER_SYNC_PIN_FRESH_S)
					entry_set(&ret[kept++], pin->node, pin->url, pin->id);
				continue;
			}
			if (pin && strcmp(pin->id, p->id))
				log_notice("cluster: node \"%.64s\"'s Lease names a new identity "
					   "(%.16s...), which the weir-node at %.200s (pod %.40s) "
					   "proved: taken",
					   p->node, p->id, p->url, uid);
		} else if (!mk->attest && pin && strcmp(pin->id, p->id) != 0) {
			long long ago = (long long)(now - pin->seen);
			/* another identity: taken once the pinned one has been unseen for a while
			 */
			if (ago <= MEMBER_SYNC_PIN_KEEP_S) {
				if (strcmp(pin->warned, p->id) != 0)
					log_warn(
					    "cluster: node \"%.64s\"'s Lease names another "
					    "identity (%.16s...) than the one it had until %lld s "
					    "ago: kept the old one; a second node with this name, "
					    "or \"%.64s\"'s node-id.key replaced (then it is "
					    "accepted once the old identity has been unseen for "
					    "%d s)",
					    p->node, p->id, ago, p->node, MEMBER_SYNC_PIN_KEEP_S);
				snprintf(pin->warned, sizeof(pin->warned), "%s", p->id);
				entry_set(&ret[kept++], pin->node, pin->url, pin->id);
				continue;
			}
			log_notice(
			    "cluster: node \"%.64s\"'s Lease names a new identity (%.16s...); "
			    "the one it had was last seen %lld s ago: taken",
			    p->node, p->id, ago);
		}
		if (!pin && !(pin = pin_slot(mk, now))) {
			name_add(unpinned, sizeof(unpinned), p->node);
			continue;
		}
		if (strcmp(pin->node, p->node) != 0 || strcmp(pin->id, p->id) != 0)
			pin->warned[0] = '\0';
		bool changed = strcmp(pin->node, p->node) != 0 || strcmp(pin->id, p->id) != 0 ||
			       strcmp(pin->pod, uid) != 0 || strcmp(pin->url, p->url) != 0;
		if (mk->attest && (strcmp(pin->node, p->node) != 0 || strcmp(pin->pod, uid) != 0))
			log_info("cluster: node \"%.64s\"'s Lease taken with its weir-node pod "
				 "(%.40s at %.63s)",
				 p->node, uid, pod->ip);
		snprintf(pin->node, sizeof(pin->node), "%s", p->node);
		snprintf(pin->url, sizeof(pin->url), "%s", p->url);
		snprintf(pin->id, sizeof(pin->id), "%s", p->id);
		snprintf(pin->pod, sizeof(pin->pod), "%s", uid);
		pin->seen = now;
		mk->pins_dirty |= changed;
		entry_set(&ret[kept++], p->node, p->url, p->id);
	}
	if (strcmp(refused, mk->refused) != 0 && refused[0])
		log_warn("cluster: Lease(s) of %s: no %s annotation that this node's peer key "
			 "signs for their node, URL and %s (written by a node without the key, by "
			 "a weir-node older than node identities, or by hand): not members",
			 refused, STORE_KUBE_PEER_MAC_ANNOTATION, STORE_KUBE_NODE_ID_ANNOTATION);
	snprintf(mk->refused, sizeof(mk->refused), "%s", refused);
	if (strcmp(unpinned, mk->unpinned) != 0 && unpinned[0])
		log_warn("cluster: Lease(s) of %s: not members, for now: %d other node names were "
			 "seen in the last %d s, and their identities stay pinned that long",
			 unpinned, MEMBER_SYNC_PINS, MEMBER_SYNC_PIN_KEEP_S);
	snprintf(mk->unpinned, sizeof(mk->unpinned), "%s", unpinned);
	if (strcmp(unattested, mk->unattested) != 0 && unattested[0])
		log_warn(
		    "cluster: Lease(s) of %s: no weir-node pod (labels "
		    "app.kubernetes.io/name=weir, app.kubernetes.io/component=node, in the "
		    "Leases' namespace) runs on their node at the address and port (container "
		    "port \"peer\") of their peer URL, created before the Lease's last renewal: "
		    "not members (a weir-node run outside the chart's pods needs member-pods = 0)",
		    unattested);
	snprintf(mk->unattested, sizeof(mk->unattested), "%s", unattested);
	return kept;
}

int member_sync_kube_save(struct member_sync_kube *mk)
{
	if (!mk->pins_path || !mk->pins_dirty)
		return 0;
	char tmp[PATH_MAX + 8];
	if (snprintf(tmp, sizeof(tmp), "%s.new", mk->pins_path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	unlink(tmp); /* whatever was left there (its mode, its owner, a link): made anew */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		int r = -errno;
		close(fd);
		unlink(tmp);
		return r;
	}
	fprintf(f, "# weir-node's pinned member identities: node, identity, weir-node pod, URL\n");
	for (size_t i = 0; i < MEMBER_SYNC_PINS; i++) {
		const struct member_pin *pin = &mk->pins[i];
		/* one line each, four fields: none may hold a tab or a newline (none can: a
		 * node name, a checked URL, hex and a uid; never trusted) */
		if (!pin->seen || strpbrk(pin->node, "\t\n") || strpbrk(pin->url, "\t\n") ||
		    strpbrk(pin->pod, "\t\n"))
			continue;
		fprintf(f, "%s\t%s\t%s\t%s\n", pin->node, pin->id, pin->pod[0] ? pin->pod : "-",
			pin->url);
	}
	int r = fflush(f) == 0 && !ferror(f) && fsync(fd) == 0 ? 0 : (errno ? -errno : -EIO);
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, mk->pins_path) < 0)
		r = -errno;
	if (r == 0) {
		/* the rename itself on disk */
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", mk->pins_path);
		char *slash = strrchr(dir, '/');
		if (slash)
			*(slash == dir ? slash + 1 : slash) = '\0';
		int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	if (r < 0)
		unlink(tmp);
	else
		mk->pins_dirty = false;
	return r;
}

int member_sync_kube_load(struct member_sync_kube *mk, int64_t now)
{
	if (!mk->pins_path)
		return 0;
	/* a file only this user may read or write (private_file.h: -EPERM otherwise); room
	 * for every pin's line, the longest of which is under 600 bytes */
	size_t cap = MEMBER_SYNC_PINS * 640 + 128;
	char *text = malloc(cap + 1), err[512];
	if (!text)
		return -ENOMEM;
	ssize_t len = private_file_read("member pins", mk->pins_path, O_NOFOLLOW, text, cap, err,
					sizeof(err));
	if (len < 0) {
		free(text);
		return len == -ENOENT ? 0 : (int)len;
	}
	text[len] = '\0';
	int n = 0;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line && n < MEMBER_SYNC_PINS;
	     line = strtok_r(NULL, "\n", &save)) {
		char node[254], id[NODE_ID_PUB_HEX], pod[64], url[256];
		if (line[0] == '#' ||
		    sscanf(line, "%253[^\t]\t%64[^\t]\t%63[^\t]\t%255s", node, id, pod, url) != 4 ||
		    !node_id_pub_valid(id) || pin_find(mk, node))
			continue;
		struct member_pin *pin = &mk->pins[n++];
		memset(pin, 0, sizeof(*pin));
		snprintf(pin->node, sizeof(pin->node), "%s", node);
		snprintf(pin->id, sizeof(pin->id), "%s", id);
		snprintf(pin->pod, sizeof(pin->pod), "%s", strcmp(pod, "-") ? pod : "");
		snprintf(pin->url, sizeof(pin->url), "%s", url);
		pin->seen = now; /* as if just seen: taken over only after a while again */
	}
	free(text);
	return n;
}

int member_sync_kube_fetch(void *arg, int64_t now, struct member_entry *ret, size_t max, char *err,
			   size_t errlen)
{
	struct member_sync_kube *mk = arg;
	/* every fresh Lease is looked at, not the first max: those that are no members (no pod,
	 * no MAC) must not push the members past the bound */
	size_t cap = 2 * max + 64, n;
	struct store_kube_peer *peers = NULL;
	for (;;) {
		free(peers);
		if (!(peers = calloc(cap, sizeof(*peers)))) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		n = store_kube_peers(mk->st, now, peers, cap);
		if (n <= cap)
			break;
		cap = n + 64;
	}
	struct member_entry *all = calloc(n ? n : 1, sizeof(*all));
	if (!all) {
		free(peers);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	size_t kept = member_sync_kube_take(mk, now, peers, n, all);
	free(peers);
	if (kept > max) {
		/* the bound the controller and every node keep (lib/node_name.h): refused whole,
		 * as a heartbeat answer past it is, and the members stay as they were */
		snprintf(err, errlen,
			 "%zu Leases are members; a cluster has at most %zu members "
			 "(CLUSTER_MAX_NODES): members kept as they were",
			 kept, max);
		free(all);
		return -E2BIG;
	}
	memcpy(ret, all, kept * sizeof(*ret));
	free(all);
	int r = member_sync_kube_save(mk);
	if (r < 0 && !mk->save_warned) {
		log_warn(
		    "cluster: cannot keep the pinned member identities in %s: %s (they are "
		    "kept in memory; after a restart the first Lease seen of each node pins it)",
		    mk->pins_path, strerror(-r));
		mk->save_warned = true;
	} else if (r == 0) {
		mk->save_warned = false;
	}
	return (int)kept;
}

int member_sync_once(member_fetch_fn fetch, void *arg, struct cluster *c, int64_t now, char *err,
		     size_t errlen)
{
	struct member_entry *e = calloc(CLUSTER_MAX_NODES, sizeof(*e));
	struct cluster_member *m = calloc(CLUSTER_MAX_NODES, sizeof(*m));
	int r = -ENOMEM;
	snprintf(err, errlen, "out of memory");
	if (e && m && (r = fetch(arg, now, e, CLUSTER_MAX_NODES, err, errlen)) >= 0) {
		size_t n = (size_t)r;
		for (size_t i = 0; i < n; i++)
			m[i] = (struct cluster_member){e[i].node, e[i].url, e[i].id};
		r = cluster_set_members(c, m, n);
		if (r < 0)
			snprintf(err, errlen, "%s", strerror(-r));
	}
	free(e);
	free(m);
	return r;
}

static void *sync_main(void *arg)
{
	struct member_sync *ms = arg;
	char err[1024], said[1024] = "";
	while (!atomic_load(&ms->stop)) {
		struct timespec began;
		clock_gettime(CLOCK_MONOTONIC, &began);
		cluster_round_start(ms->c);
		int r = member_sync_once(ms->fetch, ms->arg, ms->c, (int64_t)time(NULL), err,
					 sizeof(err));
		cluster_round_done(ms->c);
		/* said once when it starts failing (or fails otherwise), once when it works again
		 */
		if (r < 0 && strcmp(said, err)) {
			log_warn("cluster: cannot update the members (keeping them): %s", err);
			snprintf(said, sizeof(said), "%s", err);
		} else if (r >= 0 && said[0]) {
			log_notice("cluster: members updated again");
			said[0] = '\0';
		}
		/* the next round a period from now, or sooner when a server asks for one
		 * (cluster_refresh: a name it does not know), but never sooner than
		 * MEMBER_SYNC_MIN_GAP_MS after this one began: asks cannot make rounds back to
		 * back */
		for (unsigned t = 0; t < ms->period_ms && !atomic_load(&ms->stop); t += 100) {
			unsigned step = ms->period_ms - t < 100 ? ms->period_ms - t : 100;
			if (cluster_round_wait(ms->c, step)) {
				struct timespec now;
				clock_gettime(CLOCK_MONOTONIC, &now);
				long spent = (now.tv_sec - began.tv_sec) * 1000L +
					     (now.tv_nsec - began.tv_nsec) / 1000000L;
				if (spent < MEMBER_SYNC_MIN_GAP_MS)
					nanosleep(&(struct timespec){0, (MEMBER_SYNC_MIN_GAP_MS - spent) *
									    1000000L},
						  NULL);
				break;
			}
		}
	}
	cluster_rounds_end(ms->c);
	return NULL;
}

int member_sync_start(member_fetch_fn fetch, void *arg, struct cluster *c, unsigned period_ms,
		      struct member_sync **ret)
{
	struct member_sync *ms = calloc(1, sizeof(*ms));
	if (!ms)
		return -ENOMEM;
	ms->fetch = fetch;
	ms->arg = arg;
	ms->c = c;
	ms->period_ms = period_ms ? period_ms : 500;
	int r = -pthread_create(&ms->thread, NULL, sync_main, ms);
	if (r < 0) {
		free(ms);
		return r;
	}
	*ret = ms;
	return 0;
}

void member_sync_stop(struct member_sync *ms)
{
	if (!ms)
		return;
	atomic_store(&ms->stop, true);
	pthread_join(ms->thread, NULL);
	free(ms);
}
