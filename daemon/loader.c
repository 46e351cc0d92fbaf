// SPDX-License-Identifier: Apache-2.0
// Loader: a planning pass lists the files (so totals are known), then worker threads take files
// in turn; each keeps a window of prefetches ahead of the block it waits for. A share loads the
// blocks whose rendezvous owner among the share's nodes is this node, keyed as cluster.c keys
// block owners, so the blocks a node loads are the ones it serves; a spread load also asks the
// other cache nodes for their shares, sums their reports and loads the share of a node that
// stops answering itself (through the blocks' next owners).
#include "loader.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "load_share.h"
#include "log.h"
#include "meta_cache.h"
#include "peer_client.h"
#include "prefetch.h"
#include "rendezvous.h"
#include "tree_walk.h"
#include "thread_class.h"

#include <openssl/evp.h>

#define LOAD_WORKERS 4
#define POLL_MS 100
#define POLL_FAILS_LOST 3 /* polls failed in a row before a node's share moves */
/* A spread load whose nodes planned over different trees is planned again, every node listing
 * afresh, up to this many times in all; then it fails naming the nodes. */
#define LOAD_PLAN_TRIES 3

struct load_file {
	char *path;
	size_t root;   /* the index in l->paths of the path it was found under */
	uint64_t size; /* as listed: the plan's blocks (load_one refuses another size) */
	/* A shared load's plan (balance()): per block, its owner's and its fetcher's index in
	 * l->share; read-only once the workers run. */
	uint8_t *owner, *assign;
};

/* Another cache node's share of a spread load. */
struct remote {
	int idx;   /* in the cluster */
	int share; /* in l->share */
	unsigned fails;
	/* under l->lock: its last report; lost: it stopped answering, its share moves */
	uint64_t bytes_done, files_done, ufs_bytes;
	bool finished, lost;
};

struct load {
	struct source *src;
	char **paths;
	/* At a source with owners (local://), per path: the directory its files must resolve
	 * beneath (the path, or a file's parent), opened through no link by the load thread before
	 * its first plan; -1: no check (the source's root, which the UFS confines to already).
	 * Read-only once the workers run. */
	int *root_fd;
	size_t *root_len; /* of that directory's path, "/" counted as 0 */
	size_t walk_root; /* the load thread's: the path being walked */
	uint64_t refused; /* the load thread's: files whose link leads out of their path */
	size_t npaths;
	unsigned ttl_ms;
	char **share; /* the nodes a DataLoad is spread over (NULL: not shared) */
	size_t nshare;
	char *share_self; /* this node's name among them */
	/* Whose blocks the workers load: bit i for share[i]. Set by the load thread before it
	 * starts workers and read-only while they run. */
	uint64_t mask;
	int self_share; /* this node's index in share, or -1; set before the workers start */
	bool takeover;	/* the workers load lost nodes' shares: every block through its owner */
	uint64_t
	    owned_bytes; /* of this node's share, the blocks it owns (the rest it hands over) */
	atomic_uint_fast64_t handed_bytes; /* fetched here and kept by their owner */
	/* A spread load (load_start on a source with peers): the other cache nodes' shares. */
	const struct fetcher_route *route;
	struct cluster_view *view; /* referenced: the member set the remotes' idx index */
	uint64_t spread_id;
	char *spec; /* what the peers are asked to load, as JSON */
	struct remote *remotes;
	size_t nremotes;
	pthread_t thread;
	atomic_int stop; /* set by the owner to end the walk early; read by the worker */
	/* Set by the load thread when a node's plan differs from this one's: the workers stop and
	 * the load is planned again (plan agreement, below). */
	atomic_int replan;
	bool fresh;    /* list the tree afresh (walk TTL 0): a plan after a disagreement */
	char plan[65]; /* under lock: the plan's fingerprint, "" until planned */
	char odd[254]; /* the load thread's: the node whose plan differed last */
	/* Guards the plan, the progress and the remotes' reports; held for memory updates only,
	 * never across a fetch, a walk of the UFS, a peer request or a join. */
	pthread_mutex_t lock;
	struct load_file *files; /* under lock while planning, then read-only */
	size_t nfiles, cap;
	size_t next;			 /* under lock: next file to take */
	uint64_t tree_bytes, tree_files; /* under lock: the whole plan, every node's share */
	uint64_t ufs_bytes_at_start;
	uint64_t remote_ufs_before; /* under lock: the remotes' UFS bytes under earlier plans */
	atomic_uint_fast64_t bytes_done, files_done;
	struct load_progress prog; /* under lock: totals (this node's share), times, error */
};

static int64_t now_ms(void)
{
	return meta_cache_now_ms();
}

/* Whether the workers and the polls stop: the load ends, or it is to be planned again. */
static bool halted(const struct load *l)
{
	return atomic_load(&l->stop) || atomic_load(&l->replan);
}

static bool load_halted(const void *arg)
{
	return halted(arg);
}

static void fail_msg(struct load *l, int err, const char *msg)
{
	pthread_mutex_lock(&l->lock);
	if (l->prog.error == 0) {
		l->prog.error = err;
		snprintf(l->prog.message, sizeof(l->prog.message), "%s", msg);
	}
	pthread_mutex_unlock(&l->lock);
	l->stop = 1;
}

static void fail(struct load *l, int err, const char *path)
{
	char msg[sizeof(l->prog.message)];
	snprintf(msg, sizeof(msg), "\"%s\": %s", path, strerror(-err));
	fail_msg(l, err, msg);
}

/* The index in l->share of the owner of block of path, as cluster_owners() ranks them. */
static int block_owner(const struct load *l, const char *path, uint64_t block)
{
	char key[4608];
	snprintf(key, sizeof(key), "%s\n%s\n%" PRIu64, l->src->id, path, block);
	return rendezvous_owner(key, (const char *const *)l->share, l->nshare);
}

/* Whether the workers load this block now: always without a share, else when its fetcher in
 * the plan is one of l->mask's. */
static bool assigned(const struct load *l, const struct load_file *lf, uint64_t block)
{
	return !l->nshare || (l->mask >> lf->assign[block] & 1);
}

#define ROOT_UNCHECKED INT_MIN /* l->root_fd: the source's root, which the UFS confines to */

/* Whether path (found under l->paths[root]) resolves beneath that path's directory; 0 with
 * ret_attr the version reached there, -EACCES (or -ELOOP, -ENOENT) for a link that leads out or
 * nowhere, or the source's -errno. 1: no check applies (ret_attr untouched). */
static int root_check(struct load *l, size_t root, const char *path, struct ufs_attr *ret_attr)
{
	int fd = l->root_fd ? l->root_fd[root] : ROOT_UNCHECKED;
	if (fd == ROOT_UNCHECKED)
		return 1;
	if (fd < 0)
		return fd; /* its directory could not be opened through no link: nothing passes */
	const char *rel = path + l->root_len[root];
	rel += *rel == '/';
	return ufs_stat_beneath(l->src->ufs, fd, rel, ret_attr);
}

/* Opens l->root_fd (see struct load) once, on the load thread. */
static int roots_open(struct load *l)
{
	if (l->root_fd || !ufs_has_owners(l->src->ufs))
		return 0;
	l->root_fd = malloc((l->npaths + 1) * sizeof(*l->root_fd));
	l->root_len = calloc(l->npaths + 1, sizeof(*l->root_len));
	if (!l->root_fd || !l->root_len) {
		free(l->root_fd);
		free(l->root_len);
		l->root_fd = NULL;
		l->root_len = NULL;
		return -ENOMEM;
	}
	for (size_t i = 0; i < l->npaths; i++)
		l->root_fd[i] = ROOT_UNCHECKED;
	for (size_t i = 0; i < l->npaths; i++) {
		const char *p = l->paths[i];
		size_t len = strlen(p);
		if (len <= 1)
			continue;
		int fd = ufs_open_dir(l->src->ufs, p);
		if (fd == -ENOTDIR || fd == -ELOOP) {
			/* a file, or a link (to a file or not): beneath its directory */
			len = (size_t)(strrchr(p, '/') - p);
			if (len == 0)
				continue;
			char *dir = strndup(p, len);
			if (!dir)
				return -ENOMEM;
			fd = ufs_open_dir(l->src->ufs, dir);
			free(dir);
		}
		l->root_fd[i] = fd;
		l->root_len[i] = len;
	}
	return 0;
}

static void roots_close(struct load *l)
{
	for (size_t i = 0; l->root_fd && i < l->npaths; i++)
		if (l->root_fd[i] >= 0)
			close(l->root_fd[i]);
	free(l->root_fd);
	free(l->root_len);
}

/* A file of the plan; a shared load keeps every file (balance() splits the work after). A file
 * reached through a link out of the path it was found under is not: a DataLoad of pub/ (a
 * reference's) loads nothing that pub/up -> ../secret names. */
static int plan_file(const char *path, const char *home, const struct ufs_attr *attr,
		     void *userdata)
{
	struct load *l = userdata;
	struct ufs_attr beneath;
	int cr = root_check(l, l->walk_root, path, &beneath);
	if (cr == -EACCES || cr == -ELOOP || cr == -ENOENT) {
		if (l->refused++ == 0)
			log_notice("load of %s: not loading \"%s\": a symbolic link leads out of "
				   "\"%s\"",
				   l->src->ufs->url, path, l->paths[l->walk_root]);
		return 0;
	}
	if (cr < 0)
		return cr;
	if (cr == 0)
		attr = &beneath;
	char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	pthread_mutex_lock(&l->lock);
	if (l->nfiles == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct load_file *nf = realloc(l->files, cap * sizeof(*nf));
		if (!nf) {
			pthread_mutex_unlock(&l->lock);
			free(p);
			return -ENOMEM;
		}
		l->files = nf;
		l->cap = cap;
	}
	l->files[l->nfiles++] =
	    (struct load_file){.path = p, .root = l->walk_root, .size = attr->size};
	if (!l->nshare) {
		l->prog.files_total++;
		l->prog.bytes_total += attr->size;
	}
	l->tree_files++;
	l->tree_bytes += attr->size;
	pthread_mutex_unlock(&l->lock);
	return 0;
}

/* Whether the nodes in l->mask count lf among their files: the fetcher of its block 0 (of a
 * shared load's plan), or of an empty file its owner's. */
static bool counts_file(const struct load *l, const struct load_file *lf)
{
	if (!l->nshare)
		return true;
	int o = lf->size ? lf->assign[0] : block_owner(l, lf->path, 0);
	return o >= 0 && (l->mask >> o & 1);
}

static int file_cmp(const void *a, const void *b)
{
	return strcmp(((const struct load_file *)a)->path, ((const struct load_file *)b)->path);
}

/* A shared load's plan, the same on every node of the share (the same files, sorted, the same
 * nodes): each block is fetched from the UFS by its owner, except that the busiest owners' last
 * blocks go to the least busy nodes, which fetch them and hand them to their owner, until no
 * move lowers the busiest node's bytes. Rendezvous placement is even on average only: on a
 * tree of a few hundred blocks one node can own 40% more than another, and the load would wait
 * for it. Placement does not change: every block ends at its owner. Sets this node's totals. */
static int balance(struct load *l)
{
	uint64_t bs = l->src->block_size, load[64] = {0}, nall = 0;
	qsort(l->files, l->nfiles, sizeof(*l->files), file_cmp);
	for (size_t i = 0; i < l->nfiles; i++) {
		struct load_file *lf = &l->files[i];
		uint64_t n = (lf->size + bs - 1) / bs;
		lf->owner = malloc(n ? n : 1);
		lf->assign = malloc(n ? n : 1);
		if (!lf->owner || !lf->assign)
			return -ENOMEM;
		for (uint64_t b = 0; b < n; b++) {
			int o = block_owner(l, lf->path, b);
			if (o < 0)
				return -EINVAL;
			lf->owner[b] = lf->assign[b] = (uint8_t)o;
			load[o] += b + 1 < n ? bs : lf->size - b * bs;
		}
		nall += n;
	}
	/* each node's blocks, last first: a cursor per node into the plan order */
	size_t cur_file[64];
	uint64_t cur_block[64];
	for (size_t k = 0; k < l->nshare; k++) {
		cur_file[k] = l->nfiles;
		cur_block[k] = 0;
	}
	/* without peers (no route) a block cannot be handed to its owner: each fetches its own */
	bool can_hand = fetcher_get_route(l->src->fetcher) != NULL;
	for (uint64_t moves = 0; can_hand && moves < nall; moves++) {
		size_t h = 0, m = 0;
		for (size_t k = 1; k < l->nshare; k++) {
			if (load[k] > load[h])
				h = k;
			if (load[k] < load[m])
				m = k;
		}
		/* h's previous block in plan order that it still fetches itself */
		struct load_file *lf = NULL;
		uint64_t b = 0;
		while (cur_file[h] > 0 && !lf) {
			struct load_file *f = &l->files[cur_file[h] - 1];
			if (cur_block[h] == 0)
				cur_block[h] = (f->size + bs - 1) / bs;
			while (cur_block[h] > 0 && !lf) {
				b = --cur_block[h];
				if (f->owner[b] == h && f->assign[b] == h)
					lf = f;
			}
			if (!lf)
				cur_file[h]--;
		}
		if (!lf)
			break;
		uint64_t n = (lf->size + bs - 1) / bs, len = b + 1 < n ? bs : lf->size - b * bs;
		if (load[m] + len >= load[h])
			break; /* the busiest would not get lighter */
		lf->assign[b] = (uint8_t)m;
		load[h] -= len;
		load[m] += len;
	}
	uint64_t mine = 0, owned = 0, files = 0;
	for (size_t i = 0; i < l->nfiles; i++) {
		struct load_file *lf = &l->files[i];
		uint64_t n = (lf->size + bs - 1) / bs;
		for (uint64_t b = 0; b < n; b++) {
			uint64_t len = b + 1 < n ? bs : lf->size - b * bs;
			if ((int)lf->assign[b] == l->self_share)
				mine += len;
			if ((int)lf->owner[b] == l->self_share)
				owned += len;
		}
		files += l->self_share >= 0 && counts_file(l, lf);
	}
	pthread_mutex_lock(&l->lock);
	l->prog.bytes_total = mine;
	l->prog.files_total = files;
	l->owned_bytes = owned;
	pthread_mutex_unlock(&l->lock);
	return 0;
}

/* A block of another owner that the plan gave this node: fetched from the UFS and handed to
 * its owner; if the owner does not take it, it is asked for it the usual way (it fetches it
 * itself). Returns 0 or -errno. */
static int hand_over(struct load *l, const struct load_file *lf, uint64_t obj,
		     const struct ufs_attr *a, uint64_t b, uint32_t *ret_len)
{
	struct source *src = l->src;
	const struct fetcher_route *rt = fetcher_get_route(src->fetcher);
	struct fetch_result fr;
	int r = rt ? fetcher_get_for_owner(src->fetcher, obj, lf->path, a, b, &fr) : -ENOTCONN;
	/* a cancel or a re-plan does not wait out the owner's Retry-After */
	const struct peer_halt halt = {.halted = load_halted, .arg = l};
	if (r == 0) {
		/* always in memory: a tier copy was checked against its index (fetcher.h) */
		struct cluster_view *v = cluster_view_get(rt->cluster);
		int idx = cluster_find(v, l->share[lf->owner[b]]);
		r = idx < 0 ? -ENOENT
			    : peer_client_put(rt->peers, v, idx, src->id, lf->path, a, b, fr.mem,
					      fr.len, &halt);
		cluster_view_put(v);
		*ret_len = fr.len;
		fetcher_result_release(src->fetcher, &fr);
		if (r == 0 || r == -EEXIST) {
			atomic_fetch_add(&l->handed_bytes, *ret_len);
			return 0;
		}
		if (r == -ECANCELED)
			return r; /* the load was called off while the owner was busy */
		log_debug("block %" PRIu64 " of \"%s\": its owner %s did not take it (%s); asking "
			  "it for the block instead",
			  b, lf->path, l->share[lf->owner[b]], strerror(-r));
	}
	r = fetcher_get(src->fetcher, obj, lf->path, a, b, &fr);
	if (r < 0)
		return r;
	*ret_len = fr.len;
	if (fr.mem)
		free(fr.mem);
	else
		block_store_release(src->store, obj, b);
	return 0;
}

/* Plan agreement. Every node of a spread load computes its plan from its own listing; a node
 * whose listing is stale (a file added or changed after it listed) computes another plan, and
 * a block can then be left to a node that does not know it: fetched by nobody. So each node
 * fingerprints what its plan is made of (this function: the block size, the node set in plan
 * order, every file's path and size in plan order) and reports it with its progress;
 * the asking node compares every node's with its own as soon as both are known and, when one
 * differs, stops the load and plans it again with every node listing afresh (LOAD_PLAN_TRIES
 * in all), then fails naming the node. A load counts as done only when every node finished
 * with the same fingerprint (on Kubernetes the controller checks it: load_share_total). An
 * owner's final sweep of its own blocks was not chosen: it cannot see a file missing from its
 * own listing, and it races the hand-overs still in flight. A member that joins mid-load is
 * outside the load's node set (fixed at its start) and plans nothing (the workers still load
 * through the fetcher, which places a block by the members of the moment); one that leaves has its
 * share loaded by the asking node through the blocks' next owners. The mtime and ETag are left
 * out: they are no input of the plan (a file's blocks and their owners follow from its path and
 * size), and nodes that know one version can hold different attributes of it (an HTML listing
 * gives minutes, a HEAD seconds and an ETag); a file whose size changed after it was listed fails
 * the load (load_one), one changed in place is fetched by each owner at the version it finds.
 * Sets l->plan. */
static void plan_print(struct load *l)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char hexd[65], num[96];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(ctx);
		return; /* no plan: it agrees with nobody, and the load fails after its tries */
	}
	int n = snprintf(num, sizeof(num), "weir-load-plan-v1\n%" PRIu64 "\n%zu\n",
			 (uint64_t)l->src->block_size, l->nshare);
	EVP_DigestUpdate(ctx, num, (size_t)n);
	for (size_t i = 0; i < l->nshare; i++)
		EVP_DigestUpdate(ctx, l->share[i], strlen(l->share[i]) + 1); /* with its NUL */
	for (size_t i = 0; i < l->nfiles; i++) {
		const struct load_file *lf = &l->files[i];
		EVP_DigestUpdate(ctx, lf->path, strlen(lf->path) + 1);
		n = snprintf(num, sizeof(num), "%" PRIu64 "\n", lf->size);
		EVP_DigestUpdate(ctx, num, (size_t)n);
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	for (unsigned i = 0; i < mdlen && i < 32; i++)
		snprintf(hexd + 2 * i, 3, "%02x", md[i]);
	pthread_mutex_lock(&l->lock);
	snprintf(l->plan, sizeof(l->plan), "%s", hexd);
	pthread_mutex_unlock(&l->lock);
}

/* Whether block b of lf is one the worker fetches and keeps (or, taking over, asks its owner
 * for): load_one's blocks, and prefetch_load_next's. */
struct load_own {
	struct load *l;
	const struct load_file *lf;
};

static bool own_here(void *arg, uint64_t b)
{
	const struct load_own *o = arg;
	return assigned(o->l, o->lf, b) &&
	       (!o->l->nshare || o->l->takeover || (int)o->lf->owner[b] == o->l->self_share);
}

static int load_one(struct load *l, const struct load_file *lf)
{
	struct source *src = l->src;
	struct ufs_attr a;
	bool changed;
	int r = meta_cache_validate(src->meta, lf->path, l->ttl_ms, false, &a, &changed);
	uint64_t obj;
	if (r == 0 && l->nshare && a.size != lf->size)
		r = -ESTALE; /* the plan gave out another size's blocks */
	/* Still beneath its path, and that very version: a name swapped since the plan for a link
	 * out of it is not loaded (the fetch then checks it reads the version checked here). */
	struct ufs_attr beneath;
	int cr = r == 0 ? root_check(l, lf->root, lf->path, &beneath) : 1;
	if (cr < 0)
		r = cr;
	else if (cr == 0 && !ufs_attr_same_version(&beneath, &a))
		r = -ESTALE;
	if (r == 0)
		r = block_store_object_sync(src->store, lf->path, &a, &obj);
	if (r < 0)
		return r;
	uint64_t bs = src->block_size;
	uint64_t nblocks = (a.size + bs - 1) / bs;
	unsigned window = prefetch_load_window(src->fetch_concurrency);
	struct prefetch_load ahead = {0};
	struct load_own own = {l, lf};
	for (uint64_t b = 0; b < nblocks && !halted(l); b++) {
		if (!assigned(l, lf, b))
			continue;
		if (!own_here(&own, b)) {
			uint32_t len = 0;
			r = hand_over(l, lf, obj, &a, b, &len);
			if (r < 0)
				return r;
			atomic_fetch_add(&l->bytes_done, len);
			continue;
		}
		prefetch_load_at(&ahead, b);
		uint64_t pf;
		while (prefetch_load_next(&ahead, nblocks, window, own_here, &own, &pf))
			fetcher_prefetch(src->fetcher, obj, lf->path, &a, pf, 1);
		struct fetch_result fr;
		r = fetcher_get(src->fetcher, obj, lf->path, &a, b, &fr);
		if (r < 0)
			return r;
		if (fr.mem && !fr.peer_only) {
			/* The tier had no room: the load cannot keep it. */
			free(fr.mem);
			return -ENOSPC;
		}
		if (fr.mem) /* its owner keeps it: loaded for the cluster */
			free(fr.mem);
		else
			block_store_release(src->store, obj, b);
		atomic_fetch_add(&l->bytes_done, fr.len);
	}
	return halted(l) ? -ECANCELED : 0;
}

static void *worker(void *arg)
{
	struct load *l = arg;
	for (;;) {
		pthread_mutex_lock(&l->lock);
		size_t i = l->next < l->nfiles && !halted(l) ? l->next++ : (size_t)-1;
		pthread_mutex_unlock(&l->lock);
		if (i == (size_t)-1)
			break;
		const struct load_file *lf = &l->files[i];
		int r = load_one(l, lf);
		if (r == -ESTALE && l->nshare) {
			char msg[sizeof(l->prog.message)];
			snprintf(msg, sizeof(msg),
				 "\"%s\": changed during the load (listed as %" PRIu64
				 " bytes); run "
				 "the load again",
				 lf->path, lf->size);
			fail_msg(l, r, msg);
			break;
		}
		if (r < 0 && r != -ECANCELED) {
			fail(l, r, lf->path);
			break;
		}
		if (r == 0 && counts_file(l, lf))
			atomic_fetch_add(&l->files_done, 1);
	}
	return NULL;
}

/* Workers over the plan for the blocks in l->mask. */
struct crew {
	pthread_t t[LOAD_WORKERS];
	int started;
};

static void crew_start(struct load *l, struct crew *c)
{
	pthread_mutex_lock(&l->lock);
	l->next = 0;
	pthread_mutex_unlock(&l->lock);
	c->started = 0;
	for (int i = 0; i < LOAD_WORKERS; i++)
		if (pthread_create(&c->t[i], NULL, worker, l) == 0)
			c->started++;
		else
			break;
	if (c->started == 0)
		worker(l);
}

static void crew_join(struct crew *c)
{
	for (int i = 0; i < c->started; i++)
		pthread_join(c->t[i], NULL);
	c->started = 0;
}

static bool crew_idle(struct load *l)
{
	pthread_mutex_lock(&l->lock);
	bool idle = l->next >= l->nfiles || halted(l);
	pthread_mutex_unlock(&l->lock);
	return idle;
}

/* Marks rm lost: its share moves (load_thread loads it through the blocks' next owners). */
static void remote_lost(struct load *l, struct remote *rm, int err)
{
	const char *name = l->share[rm->share];
	log_warn("load %016" PRIx64 " of %s: node %s %s (%s); its share moves to the other nodes",
		 l->spread_id, l->src->url, name,
		 err == -ENOENT	  ? "no longer runs its share"
		 : err == -ENOKEY ? "refused it (no view of the source granted to a node of the "
				    "load: the source Dataset's status.viewNodes)"
				  : "stopped answering",
		 strerror(-err));
	/* a refusal by policy is no sign of a node gone: it serves the sources it may */
	if (err != -ENOKEY)
		cluster_mark_down(l->view, rm->idx);
	pthread_mutex_lock(&l->lock);
	rm->lost = true;
	rm->bytes_done = rm->files_done = 0; /* redone by the takeover */
	pthread_mutex_unlock(&l->lock);
}

static void remotes_start(struct load *l)
{
	for (size_t i = 0; i < l->nremotes; i++) {
		struct remote *rm = &l->remotes[i];
		struct load_share rep;
		int r = peer_client_load(l->route->peers, l->view, rm->idx, PEER_LOAD_START,
					 l->src->id, l->spec, l->spread_id, &rep);
		if (r < 0)
			remote_lost(l, rm, r);
	}
}

/* Reads the remotes' reports; true when each has finished or is lost. A remote that reports
 * an error fails the load with its words. */
static bool remotes_poll(struct load *l)
{
	bool all = true;
	for (size_t i = 0; i < l->nremotes; i++) {
		struct remote *rm = &l->remotes[i];
		if (rm->lost || rm->finished)
			continue;
		struct load_share rep;
		int r = peer_client_load(l->route->peers, l->view, rm->idx, PEER_LOAD_STATUS,
					 l->src->id, NULL, l->spread_id, &rep);
		if (r < 0) {
			if (r == -ENOENT || ++rm->fails >= POLL_FAILS_LOST)
				remote_lost(l, rm, r);
			else
				all = false;
			continue;
		}
		rm->fails = 0;
		/* a node that planned over another tree: the load is planned again (plan_print) */
		if (!rep.error[0] && (rep.plan[0] || rep.finished) && strcmp(rep.plan, l->plan)) {
			log_warn("load %016" PRIx64 " of %s: node %s planned over another tree "
				 "(plan %.12s, this node's %.12s): a listing was stale or a file "
				 "changed; stopping to plan again",
				 l->spread_id, l->src->url, l->share[rm->share],
				 rep.plan[0] ? rep.plan : "(none)",
				 l->plan[0] ? l->plan : "(none)");
			snprintf(l->odd, sizeof(l->odd), "%s", l->share[rm->share]);
			atomic_store(&l->replan, 1);
			return true;
		}
		pthread_mutex_lock(&l->lock);
		rm->bytes_done = rep.bytes_done;
		rm->files_done = rep.files_done;
		rm->ufs_bytes = rep.ufs_bytes;
		rm->finished = rep.finished;
		pthread_mutex_unlock(&l->lock);
		if (rep.finished && rep.error[0]) {
			char msg[sizeof(l->prog.message)];
			snprintf(msg, sizeof(msg), "node %s: %.400s", l->share[rm->share],
				 rep.error);
			fail_msg(l, -EIO, msg);
		}
		if (!rep.finished)
			all = false;
	}
	return all;
}

/* Stops the remotes' shares that still run and makes every remote forget its share (a
 * finished one too: it holds the source open there until then). */
static void remotes_cancel(struct load *l)
{
	for (size_t i = 0; i < l->nremotes; i++) {
		struct remote *rm = &l->remotes[i];
		struct load_share rep;
		if (!rm->lost)
			peer_client_load(l->route->peers, l->view, rm->idx, PEER_LOAD_CANCEL,
					 l->src->id, NULL, l->spread_id, &rep);
	}
}

static void nap(struct load *l, unsigned ms)
{
	for (unsigned t = 0; t < ms && !halted(l); t += 50)
		usleep(50 * 1000);
}

/* A spread load after the plan: this node's share while polling the others', then the share
 * of every node that was lost. */
static void spread_run(struct load *l, int self_share)
{
	struct crew c = {0};
	l->mask = self_share >= 0 ? 1ull << self_share : 0;
	if (l->mask)
		crew_start(l, &c);
	bool remotes_done = false;
	while (!halted(l)) {
		remotes_done = remotes_poll(l);
		if (remotes_done && (!l->mask || crew_idle(l)))
			break;
		nap(l, POLL_MS);
	}
	crew_join(&c);
	while (!halted(l) && !remotes_done) {
		remotes_done = remotes_poll(l);
		if (!remotes_done)
			nap(l, POLL_MS);
	}
	uint64_t lost = 0;
	for (size_t i = 0; i < l->nremotes; i++)
		if (l->remotes[i].lost)
			lost |= 1ull << l->remotes[i].share;
	if (!halted(l) && lost) {
		/* Their blocks go through the fetcher to their next owners (the lost nodes are
		 * marked down), who fetch and keep them. */
		l->mask = lost;
		l->takeover = true;
		crew_start(l, &c);
		crew_join(&c);
	}
	remotes_cancel(l);
}

/* Lists the tree (afresh when l->fresh) and, for a share, plans it and fingerprints the plan.
 * Returns 0 or -errno (the load failed: said). */
static int plan_make(struct load *l)
{
	int r = roots_open(l);
	if (r < 0)
		fail_msg(l, r, "cannot open the paths to load (out of memory)");
	l->refused = 0;
	for (size_t i = 0; i < l->npaths && r == 0; i++) {
		l->walk_root = i;
		r = tree_walk(l->src->meta, l->paths[i], l->fresh ? 0 : l->ttl_ms, plan_file, l,
			      &l->stop);
		if (r < 0)
			fail(l, r, l->paths[i]);
	}
	if (l->refused > 1)
		log_notice("load of %s: %llu files not loaded in all: symbolic links lead out of "
			   "the paths loaded",
			   l->src->ufs->url, (unsigned long long)l->refused);
	if (r == 0 && l->nshare) {
		r = balance(l);
		if (r < 0)
			fail_msg(l, r, "cannot plan the load's share (out of memory)");
		else
			plan_print(l);
	}
	return r;
}

/* After a node planned over another tree: forgets the plan and the progress made under it (the
 * blocks stay cached: loading them again finds them) and readies a new one under a new id, its
 * nodes asked to list afresh. Called on the load thread with no worker running. Returns 0 or
 * -errno. */
static int plan_reset(struct load *l)
{
	pthread_mutex_lock(&l->lock);
	for (size_t i = 0; i < l->nfiles; i++) {
		free(l->files[i].path);
		free(l->files[i].owner);
		free(l->files[i].assign);
	}
	l->nfiles = l->next = 0;
	l->tree_bytes = l->tree_files = 0;
	l->prog.bytes_total = l->prog.files_total = 0;
	l->plan[0] = '\0';
	for (size_t i = 0; i < l->nremotes; i++) {
		struct remote *rm = &l->remotes[i];
		rm->fails = 0;
		l->remote_ufs_before += rm->ufs_bytes;
		rm->bytes_done = rm->files_done = rm->ufs_bytes = 0;
		rm->finished = rm->lost = false;
	}
	pthread_mutex_unlock(&l->lock);
	atomic_store(&l->bytes_done, 0);
	atomic_store(&l->files_done, 0);
	atomic_store(&l->handed_bytes, 0);
	l->takeover = false;
	l->fresh = true;
	if (l->route) {
		/* a new id (the old one ended at the peers: a start with it is refused as a
		 * replay), and the spec asks for fresh listings */
		json_object *spec = json_tokener_parse(l->spec);
		if (!spec)
			return -ENOMEM;
		json_object_object_add(spec, "fresh", json_object_new_boolean(true));
		char *js = strdup(json_object_to_json_string_ext(spec, JSON_C_TO_STRING_PLAIN));
		json_object_put(spec);
		if (!js)
			return -ENOMEM;
		free(l->spec);
		l->spec = js;
		uint64_t id = 0;
		while (id == 0 || id == l->spread_id)
			if (getrandom(&id, sizeof(id), 0) < 0)
				return -errno;
		l->spread_id = id;
	}
	atomic_store(&l->replan, 0);
	return 0;
}

static void *load_thread(void *arg)
{
	struct load *l = arg;
	/* preloading, and its workers inherit it: never ahead of a hit (thread_class.h) */
	pthread_setname_np(pthread_self(), "weir-load"); /* top -H, perf */
	thread_class_set(THREAD_CLASS_BULK);
	int self_share = -1;
	for (size_t i = 0; i < l->nshare; i++)
		if (!strcmp(l->share[i], l->share_self))
			self_share = (int)i;
	l->self_share = self_share;
	l->mask = self_share >= 0 ? 1ull << self_share : 0;
	int r = 0;
	for (unsigned attempt = 1;; attempt++) {
		if (l->route)
			remotes_start(l); /* they walk the tree while this node does */
		r = plan_make(l);
		if (r == 0 && l->route) {
			spread_run(l, self_share);
		} else if (r == 0) {
			struct crew c = {0};
			crew_start(l, &c);
			crew_join(&c);
		} else if (l->route) {
			remotes_cancel(l);
		}
		if (r < 0 || !atomic_load(&l->replan) || atomic_load(&l->stop))
			break;
		if (attempt == LOAD_PLAN_TRIES) {
			char msg[sizeof(l->prog.message)];
			snprintf(msg, sizeof(msg),
				 "node %s planned the load over another tree than this node, %d "
				 "times with fresh listings: the tree keeps changing; run the load "
				 "again",
				 l->odd, LOAD_PLAN_TRIES);
			fail_msg(l, -ESTALE, msg);
			break;
		}
		r = plan_reset(l);
		if (r < 0) {
			fail_msg(l, r, "cannot plan the load again (out of memory)");
			break;
		}
		log_notice("load of %s: planning again (try %u of %d), every node listing afresh",
			   l->src->url, attempt + 1, LOAD_PLAN_TRIES);
	}
	pthread_mutex_lock(&l->lock);
	l->prog.finished = true;
	l->prog.finished_ms = now_ms();
	pthread_mutex_unlock(&l->lock);
	if (l->prog.error)
		log_warn("load of %s failed: %s", l->src->url, l->prog.message);
	else
		log_info("load of %zu path(s) of %s done: %llu files, %llu bytes in %lld ms%s; "
			 "owns %llu bytes, handed %llu to their owners",
			 l->npaths, l->src->url, (unsigned long long)l->prog.files_total,
			 (unsigned long long)l->prog.bytes_total,
			 (long long)(l->prog.finished_ms - l->prog.started_ms),
			 l->route ? " (this node's share of a spread load)" : "",
			 (unsigned long long)(l->nshare ? l->owned_bytes : l->prog.bytes_total),
			 (unsigned long long)atomic_load(&l->handed_bytes));
	return NULL;
}

static void share_free(struct load *l)
{
	for (size_t i = 0; i < l->nshare; i++)
		free(l->share[i]);
	free(l->share);
	free(l->share_self);
	free(l->remotes);
	free(l->spec);
	cluster_view_put(l->view);
}

/* Sets l up as a spread load over the live cache nodes of its source: a share for each, the
 * others' asked for by peer request. Nothing to do (not a spread) when this node is alone. */
static int spread_setup(struct load *l, const struct fetcher_route *rt)
{
	struct cluster_view *c = l->view = cluster_view_get(rt->cluster);
	int self = cluster_self(c);
	size_t n = 0;
	int idx[CLUSTER_MAX_NODES];
	for (size_t i = 0; i < cluster_size(c) && n < 64; i++)
		if (cluster_is_cache_node(c, l->src->id, rt->replicas, (int)i) &&
		    ((int)i == self || cluster_is_up(c, (int)i)))
			idx[n++] = (int)i;
	if (n == 0 || (n == 1 && idx[0] == self))
		return 0;
	l->share = calloc(n, sizeof(char *));
	l->remotes = calloc(n, sizeof(*l->remotes));
	l->share_self = strdup(cluster_node_name(c, self));
	if (!l->share || !l->remotes || !l->share_self)
		return -ENOMEM;
	json_object *spec = json_object_new_object(), *paths = json_object_new_array(),
		    *nodes = json_object_new_array();
	int r = spec && paths && nodes ? 0 : -ENOMEM;
	for (size_t i = 0; i < l->npaths && r == 0; i++)
		if (json_object_array_add(paths, json_object_new_string(l->paths[i])) < 0)
			r = -ENOMEM;
	for (size_t i = 0; i < n && r == 0; i++) {
		const char *name = cluster_node_name(c, idx[i]);
		if (!(l->share[l->nshare++] = strdup(name)) ||
		    json_object_array_add(nodes, json_object_new_string(name)) < 0)
			r = -ENOMEM;
		else if (idx[i] != self)
			l->remotes[l->nremotes++] = (struct remote){.idx = idx[i], .share = (int)i};
	}
	if (r == 0) {
		json_object_object_add(spec, "paths", paths);
		json_object_object_add(spec, "nodes", nodes);
		paths = nodes = NULL;
		l->spec = strdup(json_object_to_json_string_ext(spec, JSON_C_TO_STRING_PLAIN));
		if (!l->spec)
			r = -ENOMEM;
	}
	json_object_put(spec);
	json_object_put(paths);
	json_object_put(nodes);
	if (r < 0)
		return r;
	if (!peer_client_load_spec_fits(l->spec)) {
		/* the other nodes would refuse a start this long unread, and be taken for gone:
		 * this node loads the paths alone, each block still going to its owner through
		 * the fetcher, as a read's does */
		log_notice("load of %zu path(s) of %s: the list is too long to hand to the other "
			   "cache nodes in one request (%zu bytes); this node loads it alone, each "
			   "block fetched by its owner",
			   l->npaths, l->src->url, strlen(l->spec));
		share_free(l);
		l->share = NULL;
		l->nshare = 0;
		l->share_self = NULL;
		l->remotes = NULL;
		l->nremotes = 0;
		l->spec = NULL;
		l->view = NULL;
		return 0;
	}
	while (l->spread_id == 0)
		if (getrandom(&l->spread_id, sizeof(l->spread_id), 0) < 0)
			return -errno;
	l->route = rt;
	log_info("load %016" PRIx64 " of %s: spread over %zu cache node(s), each loading the "
		 "blocks it owns",
		 l->spread_id, l->src->url, n);
	return 0;
}

static int load_new(struct source *src, const char *const *paths, size_t npaths, unsigned ttl_ms,
		    const char *const *nodes, size_t nnodes, const char *self, bool spread,
		    bool fresh, struct load **ret)
{
	if (nnodes > 64)
		return -E2BIG; /* the mask's bits */
	struct load *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	int r = -ENOMEM;
	pthread_mutex_init(&l->lock, NULL);
	l->src = src;
	l->ttl_ms = ttl_ms;
	l->fresh = fresh;
	l->paths = calloc(npaths ? npaths : 1, sizeof(char *));
	if (!l->paths)
		goto fail;
	for (size_t i = 0; i < npaths; i++) {
		/* "/spark-3.3.1/" and "spark-3.3.1" both mean "/spark-3.3.1". */
		const char *p = paths[i];
		while (*p == '/')
			p++;
		size_t len = strlen(p);
		while (len > 0 && p[len - 1] == '/')
			len--;
		if (asprintf(&l->paths[i], "/%.*s", (int)len, p) < 0)
			goto fail;
		l->npaths++;
	}
	if (nnodes) {
		if (!self || !(l->share = calloc(nnodes, sizeof(char *))) ||
		    !(l->share_self = strdup(self)))
			goto fail;
		for (; l->nshare < nnodes; l->nshare++)
			if (!(l->share[l->nshare] = strdup(nodes[l->nshare])))
				goto fail;
	} else if (spread && fetcher_get_route(src->fetcher)) {
		r = spread_setup(l, fetcher_get_route(src->fetcher));
		if (r < 0)
			goto fail;
	}
	l->prog.started_ms = now_ms();
	l->ufs_bytes_at_start = atomic_load(&src->ufs->stats.bytes);
	r = -ENOMEM;
	if (pthread_create(&l->thread, NULL, load_thread, l) != 0)
		goto fail;
	*ret = l;
	return 0;
fail:
	for (size_t i = 0; i < l->npaths; i++)
		free(l->paths[i]);
	free(l->paths);
	share_free(l);
	pthread_mutex_destroy(&l->lock);
	free(l);
	return r;
}

int load_start(struct source *src, const char *const *paths, size_t npaths, unsigned ttl_ms,
	       struct load **ret)
{
	return load_new(src, paths, npaths, ttl_ms, NULL, 0, NULL, true, false, ret);
}

int load_start_share(struct source *src, const char *const *paths, size_t npaths, unsigned ttl_ms,
		     const char *const *nodes, size_t nnodes, const char *self, bool fresh,
		     struct load **ret)
{
	return load_new(src, paths, npaths, ttl_ms, nodes, nnodes, self, nnodes == 0, fresh, ret);
}

void load_get_progress(struct load *l, struct load_progress *ret)
{
	uint64_t done = 0, files = 0, ufs = 0;
	pthread_mutex_lock(&l->lock);
	*ret = l->prog;
	snprintf(ret->plan, sizeof(ret->plan), "%s", l->plan);
	if (l->route) {
		/* the whole tree, every node's share */
		ret->bytes_total = l->tree_bytes;
		ret->files_total = l->tree_files;
		ufs = l->remote_ufs_before;
		for (size_t i = 0; i < l->nremotes; i++) {
			done += l->remotes[i].bytes_done;
			files += l->remotes[i].files_done;
			ufs += l->remotes[i].ufs_bytes;
		}
	}
	pthread_mutex_unlock(&l->lock);
	ret->bytes_done = atomic_load(&l->bytes_done) + done;
	ret->files_done = atomic_load(&l->files_done) + files;
	if (ret->files_done > ret->files_total)
		ret->files_done = ret->files_total;
	if (ret->bytes_done > ret->bytes_total)
		ret->bytes_done = ret->bytes_total;
	ret->ufs_bytes = atomic_load(&l->src->ufs->stats.bytes) - l->ufs_bytes_at_start + ufs;
}

void load_free(struct load *l)
{
	if (!l)
		return;
	l->stop = 1;
	pthread_join(l->thread, NULL);
	for (size_t i = 0; i < l->nfiles; i++) {
		free(l->files[i].path);
		free(l->files[i].owner);
		free(l->files[i].assign);
	}
	free(l->files);
	roots_close(l);
	for (size_t i = 0; i < l->npaths; i++)
		free(l->paths[i]);
	free(l->paths);
	share_free(l);
	pthread_mutex_destroy(&l->lock);
	free(l);
}
