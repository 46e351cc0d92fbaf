// SPDX-License-Identifier: Apache-2.0
// Fetch scheduler: an in-flight table keyed by (object, block) dedups concurrent misses; a
// block's range requests wait in a demand or a prefetch queue and at most max_requests are at
// the UFS at once, demand first, so a reader never waits behind the blocks fetched ahead of it;
// UFS completions are handed to store threads so the UFS event loop never blocks on tier I/O.
#include "fetcher.h"
// In a cluster a miss asks the block's owner first (peer_client.h); a failed peer read queues
// the block's parts for the UFS in the same in-flight entry, so waiters never see the failure.

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "log.h"
#include "block_sum.h"
#include "htable.h"
#include "near_cache.h"
#include "prefetch.h"
#include "thread_class.h"
#include "timed_wait.h"

/* A block whose fetch failed (not ESTALE) fails again at once, once, within this long: the
 * kernel asks again (one synchronous READ) for a page its readahead could not get, and that
 * second ask must not wait through the retries a second time. Once, so that a reader retrying
 * by hand after its error sees a recovery at once (the kernel's ask came before that error).
 * The window only bounds how long an unanswered memo lingers; the ask comes as soon as the
 * reader and a FUSE thread get a CPU, which on a loaded machine (load 15 on 2 cores, a
 * benchmark at nice -10) took more than the 250 ms this once was: a lasting fault then held
 * the reader through the retries twice (tests/faults/http.sh p_trickle: 18.7 s, not 9.3). */
#define FAIL_MEMO_MS 2000
#define FAIL_MEMO_N 64
/* After an owner refused this node a block of the source for want of a view
 * (PEER_STATUS_NO_VIEW), no owner is asked for the source's blocks for FETCH_NO_VIEW_MS: grants
 * are the cluster's (every owner reads the same Dataset status), each refusal costs an owner's
 * wait for a grant (PEER_GRANT_WAIT_MS), and the blocks come from the UFS meanwhile. A pod
 * scheduled since is served after at most that long. */
#define FETCH_NO_VIEW_MS 10000

#define FETCH_CAUSE_MAX 256

/* Block buffers kept for the next fetches: a fresh 4 MiB malloc is an mmap whose every page
 * faults and is zeroed, then an munmap (profiled: a tenth of weir-node's CPU on a cold copy, a
 * fifth on a read from peers when fewer spares were kept than blocks were in flight). As many
 * idle buffers per source as it has blocks in flight at its peak (max_prefetch and the demand
 * blocks beside it: memory it used a moment ago), at most FETCH_SPARE_MAX. */
#define FETCH_SPARE_MAX 36
#define FETCH_SPARE_DEMAND 4 /* blocks readers wait for beside the prefetch window */

/* Blocks read from peers that the tiers do not keep (near-cache 0, smaller than a block, or one
 * that would push out a block stored less than KEPT_MS ago) stay in memory, done, until KEPT_MS
 * old (checked at every completion, and every KEPT_MS / 2 when idle: gone 1.5 x KEPT_MS after at
 * most; longer than the 4 s of a stream's speed it is fetched ahead, prefetch_stream_window) or
 * max_kept newer ones came (those a reader read to their end leaving first). The page cache
 * keeps only the pages a READ asked for: with no block in memory every later READ of another
 * part of a block (and the reader's arrival at a block prefetched for it) asked the owner for the
 * whole block again (near-cache 0: 2.9x the peer bytes, and the owners' CPU with them). Those the
 * near-cache takes are stored at once, as a UFS block is: keeping them in memory and writing
 * them after the read made the read slower on a quiet machine (bench/cluster.sh (c), 6 runs
 * alternated: 1.12-1.43x the time in 4), as its first reads missed passthrough. */
#define KEPT_MS 6000
/* At most this many kept blocks per source, whatever its window (256 MiB of 4 MiB blocks) */
#define KEPT_MAX 64

/* Parts one UFS request carries at most (ufs_read_segs_async). */
#define FETCH_RUN_MAX 64

/* Alignment of a block buffer's mapping: a transparent huge page (see buf_map) */
#define BUF_ALIGN (2u << 20)

struct inflight;

/* One range request of a block: a block is fetched as several, in parallel, so a UFS that caps
 * each connection delivers it in a fraction of the time (the first block of a file above all). */
struct part {
	struct inflight *e;
	uint32_t off, len;
	TAILQ_ENTRY(part) q; /* under f->lock: in a queue while `queued` */
	bool queued;	     /* under f->lock: waiting for a request slot */
	bool landed;	     /* under f->lock: all its bytes are in e->buf (and stay: read-only) */
	/* under f->lock: the last part of its UFS request, which frees the request's slot when
	 * it ends; request_bytes: that request's bytes (see pump_locked) */
	bool ends_request;
	uint64_t request_bytes;
};

TAILQ_HEAD(part_queue, part);

/* What a fetch is for, in the order its requests go to the UFS. */
enum fetch_class {
	FETCH_DEMAND,	/* a reader waits for it */
	FETCH_PREFETCH, /* ahead of a reader's stream */
	FETCH_SPARE, /* a guess (the next file of a directory): only on slots nothing else wants */
	FETCH_CLASSES,
};

struct inflight {
	struct htable_node hnode; /* under f->lock: in f->by_block while hashed */
	bool hashed;		  /* under f->lock */
	struct fetcher *f;
	struct part *parts;
	unsigned nparts;
	unsigned parts_left;	      /* under f->lock: requests not yet completed */
	STAILQ_ENTRY(inflight) qlink; /* completion queue, under f->lock */
	uint64_t obj, block;
	char *path;
	char cause[FETCH_CAUSE_MAX]; /* under f->lock: the UFS's word on the first failed part */
	struct ufs_attr attr;
	char *buf;
	uint32_t want; /* bytes expected */
	size_t got;
	int err;	      /* under f->lock once done */
	bool done;	      /* under f->lock */
	bool stored;	      /* under f->lock */
	/* under f->lock: done, not stored, on f->kept (holding a ref) and still in by_block since
	 * kept_ms (mono_ms) */
	bool kept;
	uint64_t kept_ms;
	bool consumed;	  /* under f->lock: a reader took it up to its end (it leaves first) */
	TAILQ_ENTRY(inflight) klink; /* under f->lock: in f->kept while kept */
	bool prefetch;	      /* under f->lock: no reader waits for it (yet) */
	enum fetch_class cls; /* under f->lock: the queue its unsubmitted parts are in */
	/* under f->lock: a block of a whole file a reader waits for (fetcher_demand): nobody waits
	 * on one of its parts, so its requests are as large as those of bytes fetched ahead */
	bool whole;
	/* under f->lock: where the UFS has no minimum request (http), the bytes each request of a
	 * whole file or a guess carries at most: what the caller asked for over the connections
	 * (start_class), so that it goes over every slot at once; 0: none */
	uint64_t share;
	bool via_peer;	   /* under f->lock: a peer is being asked (not the UFS) */
	bool from_peer;	   /* under f->lock: the bytes came from a peer */
	uint64_t peer_sum; /* under f->lock: their XXH3, checked on arrival */
	bool no_keep;	   /* fetched for its owner (fetcher_get_for_owner): not kept in this node's
			    * tiers; set at start, read-only after */
	unsigned refs;	   /* under f->lock: the fetch itself + each waiter + each reader
			    * holding buf (fetcher_get_range) */
	unsigned range_waiters; /* under f->lock: readers waiting for some parts, not the block */
	/* under f->lock: readers waiting without a thread (fetcher_get_range_async), each holding
	 * a ref and counted in range_waiters; woken by wake_async_locked */
	LIST_HEAD(, fetch_wait) waits;
	/* The block's checksum summed part by part as the parts land, in order, while their bytes
	 * are still in the CPU's cache (read_done), so the store need not read the block once
	 * more for it: sum (NULL: none; set at start, freed with e) covers parts [0, summed).
	 * summing: a thread is adding parts to it now, outside f->lock (one at a time); complete()
	 * uses the sum only when every part is in it and nobody is adding. Under f->lock. */
	struct block_sum_state *sum;
	unsigned summed;
	bool summing;
	uint64_t keys_gen; /* f->keys_gen when it started; set at start, read-only after */
};

struct fetcher {
	struct ufs *ufs;
	struct block_store *bs;
	uint32_t block_size;
	unsigned max_prefetch;
	uint32_t part_size;
	unsigned max_requests;	    /* requests at the UFS at once: its connections */
	uint32_t max_request;	    /* bytes one request carries at most */
	uint32_t min_request;	    /* ... and at least, when fetched ahead (ufs_min_request) */
	bool segments;		    /* the UFS takes one request for consecutive parts */
	struct fetcher_route route; /* cluster NULL: no peers */
	struct near_cache *near;    /* route.near_cache > 0: blocks from peers kept here */
	char *source_id;
	/* Guards the in-flight table, the completion queue and every inflight's fields marked
	 * "under f->lock". Held for memory updates only: never across a block store call that
	 * can do tier I/O (acquire, put, invalidate), nor while waiting on anything but the
	 * conditions below. read_done() takes it on the UFS thread, which must never block. */
	pthread_mutex_t lock;
	pthread_cond_t done_cond;      /* a fetch finished */
	pthread_cond_t queue_cond;     /* a completion is queued, or stopping */
	struct htable by_block;	       /* under lock: inflight by (obj, block) */
	unsigned inflight;	       /* under lock */
	unsigned inflight_prefetch;    /* under lock */
	STAILQ_HEAD(, inflight) queue; /* under lock */
	bool stopping;		       /* under lock */
	TAILQ_HEAD(, inflight) kept;   /* under lock: peer blocks kept in memory, oldest first */
	unsigned nkept;		       /* under lock */
	unsigned max_kept; /* max_spare, or the route's window in blocks and the demand ones beside
			    * it, at most KEPT_MAX */
	struct {
		uint64_t obj, block, until_ms;
		int err;
		char cause[FETCH_CAUSE_MAX];
	} fails[FAIL_MEMO_N]; /* under lock: recent failures, a ring */
	uint64_t no_view_until_ms; /* under lock: CLOCK_MONOTONIC; see FETCH_NO_VIEW_MS */
	unsigned fail_next;   /* under lock */
	/* under lock: bumped when the UFS's keys change (fetcher_keys_changed); a fetch refused
	 * under older keys is no answer for a reader that came after */
	uint64_t keys_gen;
	/* Parts not yet asked of the UFS, one queue per fetch_class, served in class order: demand
	 * before prefetch before spare. A part leaves its queue when submitted; submitting drops
	 * the lock (see pump_locked). */
	struct part_queue queues[FETCH_CLASSES]; /* under lock */
	unsigned submitted;			 /* under lock: requests at the UFS now */
	uint64_t queued_bytes, submitted_bytes;	 /* under lock: of the queued parts, of the
						  * requests at the UFS */
	bool pumping, pump_again;		 /* under lock: one thread submits at a time */
	unsigned summing;			 /* under lock: threads in sum_parts_locked */
	char *spare[FETCH_SPARE_MAX]; /* under lock: idle block buffers (see FETCH_SPARE_MAX) */
	unsigned nspare;	      /* under lock */
	unsigned max_spare;	      /* max_prefetch + FETCH_SPARE_DEMAND, <= FETCH_SPARE_MAX */
	uint64_t mapped;	      /* under lock: bytes of buffers from buf_map (spares too) */
	unsigned nthreads;
	pthread_t threads[8];
	struct fetcher_stats stats;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Whether err is the UFS refusing the keys (which a change of keys may cure). */
static bool refused(int err)
{
	return err == -EACCES || err == -EPERM;
}

/* The error of a recent failed fetch of (obj, block), or 0; it is answered once. */
static int recent_failure_locked(struct fetcher *f, uint64_t obj, uint64_t block)
{
	uint64_t now = mono_ms();
	for (unsigned i = 0; i < FAIL_MEMO_N; i++) {
		if (f->fails[i].err && f->fails[i].obj == obj && f->fails[i].block == block &&
		    f->fails[i].until_ms > now) {
			int err = f->fails[i].err;
			f->fails[i].err = 0;
			return err;
		}
	}
	return 0;
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

struct block_key {
	uint64_t obj, block;
};

static uint64_t block_key_hash(uint64_t obj, uint64_t block)
{
	return htable_hash_u64_pair(obj, block);
}

static uint64_t inflight_hash(const struct htable_node *n)
{
	const struct inflight *e = htable_entry(n, struct inflight, hnode);

	return block_key_hash(e->obj, e->block);
}

static bool inflight_eq(const struct htable_node *n, const void *key)
{
	const struct inflight *e = htable_entry(n, struct inflight, hnode);
	const struct block_key *k = key;

	return e->obj == k->obj && e->block == k->block;
}

static struct inflight *find_locked(struct fetcher *f, uint64_t obj, uint64_t block)
{
	struct block_key k = {obj, block};
	struct htable_node *n =
	    htable_find(&f->by_block, block_key_hash(obj, block), inflight_eq, &k);

	return n ? htable_entry(n, struct inflight, hnode) : NULL;
}

static void unlink_locked(struct fetcher *f, struct inflight *e)
{
	if (e->hashed) {
		htable_remove(&f->by_block, &e->hnode);
		e->hashed = false;
	}
}

/* The buffer a block of want bytes is fetched into: a block_size one (from the spares when
 * there is one) unless the block is a short last block of at most a quarter of block_size,
 * which gets its own exact allocation. A spare is an mmap'd 4 MiB whose pages a small file
 * touches one of: handing it to every small file kept tens of MiB counted as heap in use that
 * was never resident (memstat's heap check failed on that under load, when more blocks were in
 * flight at the peak and more spares stayed), and a small allocation comes from the heap's
 * arenas with no mmap, no page fault beyond its own, no munmap. */
static bool buf_full(const struct fetcher *f, uint32_t want)
{
	return want > f->block_size / 4;
}

/* A block_size buffer: its own mapping, 2 MiB aligned and marked for transparent huge pages, so
 * that filling a fresh one faults twice per 4 MiB, not 1,024 times (profiled on a cold S3 copy:
 * the 4 KiB faults of fresh malloc'd buffers under the copy from curl's buffer were 17% of
 * weir-node's CPU, more than the copy itself). NULL when out of memory. */
static char *buf_map(size_t size)
{
	size_t span = size + BUF_ALIGN;
	char *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	uintptr_t a = ((uintptr_t)m + BUF_ALIGN - 1) & ~(uintptr_t)(BUF_ALIGN - 1);
	char *buf = (char *)a;
	/* the unaligned head and the tail go back at once */
	if (buf > m)
		munmap(m, (size_t)(buf - m));
	if (m + span > buf + size)
		munmap(buf + size, (size_t)(m + span - (buf + size)));
	(void)madvise(buf, size, MADV_HUGEPAGE); /* advice: where THP is off, 4 KiB pages */
	return buf;
}

/* Whether block buffers are mappings of their own (buf_map): blocks of a huge page or more; a
 * smaller block could not use one, and stays a malloc. */
static bool buf_mapped(const struct fetcher *f)
{
	return f->block_size >= BUF_ALIGN;
}

static char *buf_get_locked(struct fetcher *f, uint32_t want)
{
	if (!buf_full(f, want))
		return malloc(want);
	if (f->nspare)
		return f->spare[--f->nspare];
	if (!buf_mapped(f))
		return malloc(f->block_size);
	char *buf = buf_map(f->block_size);
	if (buf)
		f->mapped += f->block_size;
	return buf;
}

static void buf_free_locked(struct fetcher *f, char *buf)
{
	if (buf_mapped(f)) {
		munmap(buf, f->block_size);
		f->mapped -= f->block_size;
	} else {
		free(buf);
	}
}

static void buf_put_locked(struct fetcher *f, char *buf, uint32_t want)
{
	if (!buf)
		return;
	if (!buf_full(f, want))
		free(buf);
	else if (f->nspare < f->max_spare)
		f->spare[f->nspare++] = buf;
	else
		buf_free_locked(f, buf);
}

static void put_locked(struct inflight *e)
{
	if (--e->refs > 0)
		return;
	free(e->parts);
	block_sum_free(e->sum);
	buf_put_locked(e->f, e->buf, e->want);
	free(e->path);
	free(e);
}

static void queue_locked(struct fetcher *f, struct inflight *e)
{
	STAILQ_INSERT_TAIL(&f->queue, e, qlink);
	pthread_cond_signal(&f->queue_cond);
}

/* A part of e ended (err, or got bytes): when it was the block's last, queue the block for a
 * store thread. */
static void part_done_locked(struct fetcher *f, struct inflight *e, int err, size_t got)
{
	if (err < 0 && e->err == 0)
		e->err = err;
	/* A short part means the object ended early: the total comes up short, complete() sees
	 * it as a change. */
	e->got += got;
	if (--e->parts_left == 0)
		queue_locked(f, e);
}

static void read_done(void *userdata, int err, size_t nread);
static bool range_landed_locked(const struct fetcher *f, const struct inflight *e, uint32_t from,
				uint32_t to);

LIST_HEAD(wait_list, fetch_wait);

/* Moves e's waiters without a thread whose range is in (all of them once e is done) to fire,
 * to be called by fire_waits once f->lock is dropped: ready hands its reader to a thread of the
 * caller's, which may take its own locks, and these are taken before f->lock
 * (fetcher_wait_cancel). Each keeps its ref on e for fetcher_wait_result. */
static void wake_async_locked(struct fetcher *f, struct inflight *e, struct wait_list *fire)
{
	struct fetch_wait *w = LIST_FIRST(&e->waits), *nx;
	for (; w; w = nx) {
		nx = LIST_NEXT(w, link);
		bool landed = !e->done && range_landed_locked(f, e, w->from, w->to);
		if (!e->done && !landed)
			continue;
		LIST_REMOVE(w, link);
		w->armed = false;
		w->landed = landed;
		e->range_waiters--;
		LIST_INSERT_HEAD(fire, w, link);
	}
}

/* Without f->lock. w is not touched after its ready: its reader may be gone by then. */
static void fire_waits(struct wait_list *fire)
{
	struct fetch_wait *w;
	while ((w = LIST_FIRST(fire))) {
		LIST_REMOVE(w, link);
		w->ready(w);
	}
}

/* How many bytes the request that starts now may carry: the work queued and at the UFS spread
 * over every request slot (so a UFS that caps each connection still gets them all), but never
 * less than a part nor more than max_request. A server that pays per request (a connection per
 * request: versitygw answers `Connection: close`; a signature check; a file open) then gets a
 * stream's window in a few large requests instead of one per MiB. */
static uint64_t request_cap_locked(const struct fetcher *f, enum fetch_class cls,
				   const struct inflight *e)
{
	bool whole = e->whole;
	uint64_t cap = (f->queued_bytes + f->submitted_bytes) / f->max_requests;
	/* A whole file an open waits for, or a guess, where the UFS pays nothing per request
	 * (http): its own share of the slots (start_class), never the queue's. Spread over what
	 * else is queued, a file went in a few 16 MiB requests, one connection each, and the link
	 * idled at its tail while the open waited for its last request (bench/cold-warm.sh: cold cp
	 * -R 0.73x of the link's limit). */
	if (f->min_request == 0 && e->share && (whole || cls == FETCH_SPARE))
		cap = e->share;
	/* Bytes fetched ahead have no reader waiting on one part: where the UFS pays per request,
	 * they go in requests of min_request (a stream then has fewer requests in flight, each
	 * larger); so does a whole file an open waits for, which is served only once every byte is
	 * in. A reader's own blocks are still spread over the slots. */
	if ((cls != FETCH_DEMAND || whole) && cap < f->min_request)
		cap = f->min_request;
	if (cap < f->part_size)
		cap = f->part_size;
	return cap < f->max_request ? cap : f->max_request;
}

/* Whether part nx continues the request of e's part that ends at end (an object offset): the
 * same object version, the next bytes, a block that has not failed. */
static bool part_continues(const struct fetcher *f, const struct inflight *e, const struct part *nx,
			   uint64_t end)
{
	const struct inflight *n = nx->e;
	return n->obj == e->obj && n->err == 0 && !n->via_peer &&
	       n->block * (uint64_t)f->block_size + nx->off == end &&
	       ufs_attr_same_version(&n->attr, &e->attr) && strcmp(n->path, e->path) == 0;
}

/* Submits queued parts, demand first, while fewer than max_requests requests are at the UFS;
 * where the UFS takes one request for consecutive parts, the parts that follow in the same queue
 * go with it, up to request_cap_locked(). Called and returns with f->lock held, but drops it
 * around each UFS call (a backend may complete inline, and read_done takes the lock). One
 * thread submits at a time: another that finds pumping set leaves its work to it (pump_again),
 * so no thread waits here for another and the UFS thread's completions never recurse. A part's
 * inflight stays alive while the part is out: it is freed only after its last part completes. */
static void pump_locked(struct fetcher *f)
{
	if (f->pumping) {
		f->pump_again = true;
		return;
	}
	f->pumping = true;
	do {
		f->pump_again = false;
		while (f->submitted < f->max_requests) {
			struct part *p = NULL;
			struct part_queue *q = NULL;
			int c;
			for (c = 0; c < FETCH_CLASSES && !p; c++) {
				q = &f->queues[c];
				p = TAILQ_FIRST(q);
			}
			if (!p)
				break;
			/* p still counted */
			uint64_t cap = request_cap_locked(f, (enum fetch_class)(c - 1), p->e);
			TAILQ_REMOVE(q, p, q);
			p->queued = false;
			f->queued_bytes -= p->len;
			struct inflight *e = p->e;
			if (e->err < 0) {
				/* A sibling failed: the block fails anyway, ask nothing more. */
				part_done_locked(f, e, 0, 0);
				continue;
			}
			struct part *run[FETCH_RUN_MAX];
			struct ufs_seg segs[FETCH_RUN_MAX];
			unsigned n = 0;
			uint64_t start = e->block * (uint64_t)f->block_size + p->off;
			uint64_t bytes = p->len;
			run[n++] = p;
			if (f->segments) {
				struct part *nx;
				while (n < FETCH_RUN_MAX && (nx = TAILQ_FIRST(q)) &&
				       bytes + nx->len <= cap &&
				       part_continues(f, e, nx, start + bytes)) {
					TAILQ_REMOVE(q, nx, q);
					nx->queued = false;
					f->queued_bytes -= nx->len;
					bytes += nx->len;
					run[n++] = nx;
				}
			}
			for (unsigned i = 0; i < n; i++) {
				run[i]->ends_request = i == n - 1;
				segs[i] = (struct ufs_seg){.buf = run[i]->e->buf + run[i]->off,
							   .len = run[i]->len,
							   .done = read_done,
							   .userdata = run[i]};
			}
			run[n - 1]->request_bytes = bytes;
			f->submitted++;
			f->submitted_bytes += bytes;
			pthread_mutex_unlock(&f->lock);
			int r =
			    n == 1 ? ufs_read_async(f->ufs, e->path, start, p->len, e->buf + p->off,
						    &e->attr, read_done, p)
				   : ufs_read_segs_async(f->ufs, e->path, start, segs, n, &e->attr);
			pthread_mutex_lock(&f->lock);
			if (r < 0) {
				/* done will not run for them */
				f->submitted--;
				f->submitted_bytes -= bytes;
				log_debug("cannot ask for block %llu of \"%s\": %s",
					  (unsigned long long)e->block, e->path, strerror(-r));
				for (unsigned i = 0; i < n; i++)
					part_done_locked(f, run[i]->e, r, 0);
			}
		}
	} while (f->pump_again);
	f->pumping = false;
	if (f->inflight == 0)
		pthread_cond_broadcast(&f->done_cond); /* fetcher_free waits for the pump too */
}

/* Starting several blocks at once: their parts are queued first and submitted together, so
 * that request_cap_locked() sees all of them and consecutive parts go in a few large requests
 * (one request per part otherwise: each block's parts would be submitted before the next block
 * is queued, while the slots are free). Returns whether this thread holds the pump; pass that
 * to batch_end_locked(). Another thread pumping picks the parts up anyway (pump_again). */
static bool batch_begin_locked(struct fetcher *f)
{
	if (f->pumping)
		return false;
	f->pumping = true;
	return true;
}

static void batch_end_locked(struct fetcher *f, bool mine)
{
	if (!mine)
		return;
	f->pumping = false;
	pump_locked(f);
}

/* e is wanted more urgently now (a reader waits for a prefetch; a stream reached a spare
 * guess): its parts not yet asked for move to the queue of class cls. */
static void promote_locked(struct fetcher *f, struct inflight *e, enum fetch_class cls)
{
	if (e->cls <= cls)
		return;
	for (unsigned i = 0; i < e->nparts; i++) {
		struct part *p = &e->parts[i];
		if (!p->queued)
			continue;
		TAILQ_REMOVE(&f->queues[e->cls], p, q);
		TAILQ_INSERT_TAIL(&f->queues[cls], p, q);
	}
	e->cls = cls;
}

/* Adds e's landed parts from e->summed on to its sum, outside f->lock (called and returns with
 * it held): hashing a MiB takes tens of microseconds, and read_done of other blocks must not
 * wait for it. e is held meanwhile, so complete() cannot free it under us. */
static void sum_parts_locked(struct fetcher *f, struct inflight *e)
{
	e->summing = true;
	e->refs++;
	f->summing++; /* fetcher_free waits for it: e may outlive its fetch meanwhile */
	while (e->summed < e->nparts && e->parts[e->summed].landed && e->err == 0) {
		const struct part *q = &e->parts[e->summed];
		pthread_mutex_unlock(&f->lock);
		block_sum_update(e->sum, e->buf + q->off, q->len);
		pthread_mutex_lock(&f->lock);
		e->summed++;
	}
	e->summing = false;
	put_locked(e);
	if (--f->summing == 0 && f->inflight == 0)
		pthread_cond_broadcast(&f->done_cond);
}

/* Runs on the UFS backend's thread: when the block's last part is in, queue it for a store
 * thread; never block here. */
static void read_done(void *userdata, int err, size_t nread)
{
	struct part *p = userdata;
	struct inflight *e = p->e;
	struct fetcher *f = e->f;
	/* The backend set it just before calling us, on this thread: this part's cause, unless a
	 * blocking request of another thread failed in between. Copied before f->lock. */
	char cause[sizeof(e->cause)] = "";
	struct wait_list fire = LIST_HEAD_INITIALIZER(fire);
	if (err < 0)
		ufs_error_copy(f->ufs, cause, sizeof(cause));
	pthread_mutex_lock(&f->lock);
	if (p->ends_request) {
		f->submitted--;
		f->submitted_bytes -= p->request_bytes;
	}
	if (err < 0 && !e->cause[0])
		memcpy(e->cause, cause, sizeof(cause));
	if (err == 0 && nread >= p->len) {
		/* Its bytes are the opened version's (each request carries it): a reader of this
		 * range need not wait for the rest of the block, nor for the tier write. */
		p->landed = true;
		if (e->range_waiters)
			pthread_cond_broadcast(&f->done_cond);
		wake_async_locked(f, e, &fire);
	}
	if (p->landed && e->sum && !e->summing && e->err == 0 && &e->parts[e->summed] == p) {
		/* The next part of the block's sum: added once the freed slot is taken (the UFS
		 * goes on meanwhile), before the part counts as done, so that the block is complete
		 * only once its sum is (unless another of its parts ends meanwhile). */
		pump_locked(f);
		sum_parts_locked(f, e);
		part_done_locked(f, e, err, p->len);
	} else {
		/* a failed part fails its block first: the pump then asks nothing more of it */
		part_done_locked(f, e, err, nread < p->len ? nread : p->len);
		pump_locked(f); /* the slot it freed */
	}
	pthread_mutex_unlock(&f->lock);
	fire_waits(&fire);
}

/* Marks e done with err, takes it out of the table and wakes its waiters (those without a
 * thread into fire). */
static void finish_locked(struct fetcher *f, struct inflight *e, int err, struct wait_list *fire)
{
	e->err = err;
	e->done = true;
	if (!e->kept)
		unlink_locked(f, e);
	f->inflight--;
	if (e->prefetch)
		f->inflight_prefetch--;
	pthread_cond_broadcast(&f->done_cond);
	wake_async_locked(f, e, fire);
}

/* Takes out of the store the near-cache blocks near_cache_add named to make room for one just
 * stored (never that one: the bound holds a block at least). A block a reader pins is asked for
 * a few times, then left on the account for the next trim. Called without f->lock, on a store
 * thread: no reader waits here. */
static void near_evict(struct fetcher *f, const struct near_block *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int r = -EBUSY;
		for (int tries = 0; tries < 20 && r == -EBUSY; tries++) {
			r = block_store_evict_block(f->bs, out[i].obj, out[i].block);
			if (r == -EBUSY)
				usleep(2000);
		}
		if (r == -EBUSY)
			near_cache_keep(f->near, &out[i]);
	}
}

/* Takes e off the kept list and out of the table. */
static void kept_leave_locked(struct fetcher *f, struct inflight *e)
{
	TAILQ_REMOVE(&f->kept, e, klink);
	f->nkept--;
	e->kept = false;
	unlink_locked(f, e);
	put_locked(e); /* a reader holding its buffer keeps it until fetcher_result_release */
}

/* The kept block to take out when there are too many: the oldest a reader read to its end (it
 * is behind the reader), else the oldest (the stream's blocks ahead come after it). */
static struct inflight *kept_victim_locked(struct fetcher *f)
{
	struct inflight *e;
	TAILQ_FOREACH(e, &f->kept, klink)
		if (e->consumed)
			return e;
	return TAILQ_FIRST(&f->kept);
}

/* Takes out the kept blocks past their age or their number; obj != 0: all of obj's too. */
static void kept_trim_locked(struct fetcher *f, uint64_t obj)
{
	uint64_t now = mono_ms();
	struct inflight *e, *next;
	while ((e = TAILQ_FIRST(&f->kept)) && now - e->kept_ms > KEPT_MS)
		kept_leave_locked(f, e);
	while (f->nkept > f->max_kept)
		kept_leave_locked(f, kept_victim_locked(f));
	if (!obj)
		return;
	for (e = TAILQ_FIRST(&f->kept); e; e = next) {
		next = TAILQ_NEXT(e, klink);
		if (e->obj == obj)
			kept_leave_locked(f, e);
	}
}

static void complete(struct fetcher *f, struct inflight *e)
{
	int err = e->err;
	bool stored = false, keep = false;
	struct near_block near_out[16];
	ssize_t near_n = 0;
	if (err == 0 && e->got != e->want) {
		/* The object is shorter than its recorded size: it changed under us. */
		log_debug("short read of \"%s\" block %llu: %zu of %u bytes", e->path,
			  (unsigned long long)e->block, e->got, e->want);
		err = -ESTALE;
	}
	pthread_mutex_lock(&f->lock);
	bool from_peer = e->from_peer;
	/* every part summed as it landed, and nobody adding now: the sum is the block's */
	bool summed = !from_peer && e->sum && !e->summing && e->summed == e->nparts;
	pthread_mutex_unlock(&f->lock);
	if (from_peer)
		atomic_fetch_add(&f->stats.peer_blocks, 1);
	if (err == 0 && from_peer) {
		/* The near-cache (when on, and as large as a block) takes it, unless that would
		 * push out a block stored less than KEPT_MS ago: a near-cache smaller than the
		 * readers' window took out blocks prefetched for them before they read them
		 * (cluster.sh, 8 MiB: 1.6x the peer bytes). On the account first, in one step with
		 * that check: two store threads cannot both find room and push out a young block
		 * between them. Else memory keeps the whole block a while (KEPT_MS). */
		near_n = f->near && e->want <= f->route.near_cache
			     ? near_cache_add(f->near, e->obj, e->block, e->want, KEPT_MS,
					      near_out, 16)
			     : -EBUSY;
		int r = near_n >= 0 ? block_store_put_summed(f->bs, e->obj, e->block, e->buf,
							       e->want, e->peer_sum)
				    : near_n;
		if (r == 0) {
			stored = true;
		} else {
			if (near_n >= 0) {
				near_cache_forget(f->near, e->obj, e->block);
				log_debug("block %llu of \"%s\" from a peer not stored (%s); kept "
					  "in memory",
					  (unsigned long long)e->block, e->path, strerror(-r));
			}
			keep = true;
		}
	} else if (err == 0 && e->no_keep) {
		/* its owner keeps it: the loader that asked hands it over */
	} else if (err == 0) {
		/* a peer's block is kept in memory (above): this one is the UFS's */
		int r = summed ? block_store_put_summed(f->bs, e->obj, e->block, e->buf, e->want,
							 block_sum_digest(e->sum))
			       : block_store_put(f->bs, e->obj, e->block, e->buf, e->want);
		if (r == 0)
			stored = true;
		else
			log_debug("block %llu of \"%s\" not stored (%s); served from memory",
				  (unsigned long long)e->block, e->path, strerror(-r));
	} else {
		atomic_fetch_add(&f->stats.failed_blocks, 1);
		if (err == -ESTALE)
			block_store_invalidate(f->bs, e->obj);
		log_debug("fetch of \"%s\" block %llu failed: %s", e->path,
			  (unsigned long long)e->block, strerror(-err));
	}
	pthread_mutex_lock(&f->lock);
	/* a refusal of the keys that were replaced meanwhile is not remembered for the next reader
	 */
	if (err < 0 && err != -ESTALE && !(refused(err) && e->keys_gen != f->keys_gen)) {
		unsigned i = f->fail_next++ % FAIL_MEMO_N;
		f->fails[i].obj = e->obj;
		f->fails[i].block = e->block;
		f->fails[i].err = err;
		f->fails[i].until_ms = mono_ms() + FAIL_MEMO_MS;
		memcpy(f->fails[i].cause, e->cause, sizeof(e->cause));
	}
	e->stored = stored;
	uint64_t obj = e->obj;
	struct wait_list fire = LIST_HEAD_INITIALIZER(fire);
	if (keep && e->hashed && !f->stopping) {
		e->kept = true;
		e->kept_ms = mono_ms();
		e->refs++;
		TAILQ_INSERT_TAIL(&f->kept, e, klink);
		f->nkept++;
	}
	finish_locked(f, e, err, &fire);
	kept_trim_locked(f, err == -ESTALE ? obj : 0);
	put_locked(e);
	pthread_mutex_unlock(&f->lock);
	fire_waits(&fire);
	/* after the waiters are woken: eviction takes the store's lock and tier I/O */
	if (near_n > 0)
		near_evict(f, near_out, (size_t)near_n);
}

static void *store_thread(void *arg)
{
	struct fetcher *f = arg;
	pthread_setname_np(pthread_self(), "weir-store"); /* top -H, perf */
	thread_class_set(THREAD_CLASS_BULK); /* tier writes: never ahead of a hit (thread_class.h) */
	pthread_mutex_lock(&f->lock);
	for (;;) {
		while (STAILQ_EMPTY(&f->queue) && !f->stopping) {
			if (!f->nkept) {
				pthread_cond_wait(&f->queue_cond, &f->lock);
				continue;
			}
			/* kept peer blocks go at their age even when nothing else happens */
			struct timespec at = deadline_in(KEPT_MS / 2000.0);
			cond_wait_until(&f->queue_cond, &f->lock, &at);
			kept_trim_locked(f, 0);
		}
		if (STAILQ_EMPTY(&f->queue) && f->stopping)
			break;
		struct inflight *e = STAILQ_FIRST(&f->queue);
		STAILQ_REMOVE_HEAD(&f->queue, qlink);
		pthread_mutex_unlock(&f->lock);
		complete(f, e);
		pthread_mutex_lock(&f->lock);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

int fetcher_new(struct ufs *u, struct block_store *bs, const struct fetcher_options *opts,
		struct fetcher **ret)
{
	struct fetcher *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->ufs = u;
	f->bs = bs;
	f->block_size = block_store_block_size(bs);
	/* at most a quarter of the top tier (prefetch_max_inflight) */
	struct block_store_stats st;
	block_store_get_stats(bs, &st);
	f->max_prefetch = prefetch_max_inflight(opts ? opts->max_prefetch : 0,
						st.ntiers ? st.tiers[0].quota : 0, f->block_size);
	f->max_spare = f->max_prefetch + FETCH_SPARE_DEMAND;
	if (f->max_spare > FETCH_SPARE_MAX)
		f->max_spare = FETCH_SPARE_MAX;
	f->max_kept = f->max_spare;
	f->part_size = opts && opts->part_size ? opts->part_size : 1u << 20;
	if (f->part_size > f->block_size)
		f->part_size = f->block_size;
	f->max_requests = opts && opts->max_requests ? opts->max_requests : 16;
	f->max_request = opts && opts->max_request ? opts->max_request : 16u << 20;
	if (f->max_request < f->part_size)
		f->max_request = f->part_size;
	f->segments = ufs_reads_segments(u);
	f->min_request = ufs_min_request(u) < f->max_request ? ufs_min_request(u) : f->max_request;
	for (int c = 0; c < FETCH_CLASSES; c++)
		TAILQ_INIT(&f->queues[c]);
	f->nthreads = opts && opts->store_threads ? opts->store_threads : 2;
	if (opts && opts->route && opts->route->cluster && opts->route->peers) {
		f->route = *opts->route;
		f->source_id = strdup(opts->route->source_id);
		if (!f->source_id) {
			free(f);
			return -ENOMEM;
		}
		f->route.source_id = f->source_id;
		/* a stream's blocks ahead stay until the reader gets to them */
		uint64_t w = f->route.window / f->block_size + FETCH_SPARE_DEMAND;
		if (w > f->max_kept)
			f->max_kept = w < KEPT_MAX ? (unsigned)w : KEPT_MAX;
		if (f->route.near_cache && near_cache_new(f->route.near_cache, &f->near) < 0) {
			free(f->source_id);
			free(f);
			return -ENOMEM;
		}
	}
	if (f->nthreads > 8)
		f->nthreads = 8;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->done_cond, NULL);
	pthread_cond_init(&f->queue_cond, NULL);
	STAILQ_INIT(&f->queue);
	TAILQ_INIT(&f->kept);
	if (htable_init(&f->by_block, 64, inflight_hash) < 0) {
		free(f);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < f->nthreads; i++) {
		int r = pthread_create(&f->threads[i], NULL, store_thread, f);
		if (r != 0) {
			f->nthreads = i;
			fetcher_free(f);
			return -r;
		}
	}
	*ret = f;
	return 0;
}

void fetcher_free(struct fetcher *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	while (f->inflight > 0 || f->pumping || f->summing)
		pthread_cond_wait(&f->done_cond, &f->lock);
	while (!TAILQ_EMPTY(&f->kept))
		kept_leave_locked(f, TAILQ_FIRST(&f->kept));
	f->stopping = true;
	pthread_cond_broadcast(&f->queue_cond);
	pthread_mutex_unlock(&f->lock);
	for (unsigned i = 0; i < f->nthreads; i++)
		pthread_join(f->threads[i], NULL);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->done_cond);
	pthread_cond_destroy(&f->queue_cond);
	htable_fini(&f->by_block);
	near_cache_free(f->near);
	while (f->nspare)
		buf_free_locked(f, f->spare[--f->nspare]);
	free(f->source_id);
	free(f);
}

static uint32_t block_len(const struct fetcher *f, const struct ufs_attr *attr, uint64_t block)
{
	uint64_t start = block * f->block_size;
	if (start >= attr->size)
		return 0;
	uint64_t left = attr->size - start;
	return left < f->block_size ? (uint32_t)left : f->block_size;
}

/* Starts a fetch: queues its parts in their class's queue and submits what the request slots
 * allow. Called with f->lock held, which pump_locked drops around each UFS call. On success *ret
 * has two references: the fetch's own and the caller's, which the caller drops with
 * put_locked(). */
/* Puts e's parts in its class's queue and submits what the request slots allow. */
static void queue_parts_locked(struct fetcher *f, struct inflight *e)
{
	struct part_queue *q = &f->queues[e->cls];
	for (unsigned i = 0; i < e->nparts; i++) {
		struct part *p = &e->parts[i];
		p->e = e;
		p->off = i * f->part_size;
		p->len = e->want - p->off < f->part_size ? e->want - p->off : f->part_size;
		p->queued = true;
		p->ends_request = false;
		f->queued_bytes += p->len;
		TAILQ_INSERT_TAIL(q, p, q);
	}
	pump_locked(f);
}

/* Remembers that an owner refused this node the source for want of a view (the owner's log
 * names this node, and the peer client's debug line the owner); says so once a spell. */
static void no_view_note_locked(struct fetcher *f)
{
	uint64_t now = mono_ms();
	if (f->no_view_until_ms <= now)
		log_warn("source %s: the peers serve this node none of its blocks: no pod on this node "
			 "mounts it (the source Dataset's status.viewNodes); reading the UFS for "
			 "%d s before asking the peers again",
			 f->source_id, FETCH_NO_VIEW_MS / 1000);
	f->no_view_until_ms = now + FETCH_NO_VIEW_MS;
}

/* The peer that owns the block in the current member set (*ret_view, referenced), or -1 when
 * this node does, no peer is up, or the owner refused this node the source a moment ago: memory
 * only. */
static int owner_peer(struct fetcher *f, const char *path, uint64_t block,
		      struct cluster_view **ret_view)
{
	if (!f->route.cluster)
		return -1;
	struct cluster_view *v = cluster_view_get(f->route.cluster);
	int owners[CLUSTER_MAX_NODES];
	size_t n = cluster_owners(v, f->source_id, f->route.replicas, path, block, owners,
				  CLUSTER_MAX_NODES);
	if (n == 0 || owners[0] == cluster_self(v) || f->no_view_until_ms > mono_ms()) {
		cluster_view_put(v);
		return -1;
	}
	*ret_view = v;
	return owners[0];
}

/* Runs on a peer client thread: a checked block goes to the store threads like a UFS one; a
 * failure sends the block's parts to the UFS (the peer is marked down by the client). */
static void peer_done(void *userdata, int err, uint64_t xxh3)
{
	struct inflight *e = userdata;
	struct fetcher *f = e->f;
	struct wait_list fire = LIST_HEAD_INITIALIZER(fire);
	pthread_mutex_lock(&f->lock);
	e->via_peer = false;
	if (err == 0) {
		e->got = e->want;
		e->from_peer = true;
		e->peer_sum = xxh3;
		e->parts_left = 0;
		/* Checked whole (checksum and MAC): its readers take it from memory now, while
		 * a store thread writes it to the near-cache; they never wait for that write. */
		for (unsigned i = 0; i < e->nparts; i++)
			e->parts[i].landed = true;
		if (e->range_waiters)
			pthread_cond_broadcast(&f->done_cond);
		wake_async_locked(f, e, &fire);
		queue_locked(f, e);
	} else {
		atomic_fetch_add(&f->stats.peer_fallbacks, 1);
		if (err == -ENOKEY)
			no_view_note_locked(f);
		log_debug("block %llu of \"%s\": the peer failed (%s); reading the UFS",
			  (unsigned long long)e->block, e->path, strerror(-err));
		queue_parts_locked(f, e);
	}
	pthread_mutex_unlock(&f->lock);
	fire_waits(&fire);
}

static int start_locked(struct fetcher *f, uint64_t obj, const char *path,
			const struct ufs_attr *attr, uint64_t block, enum fetch_class cls,
			bool local, bool no_keep, struct inflight **ret)
{
	bool prefetch = cls != FETCH_DEMAND;
	uint32_t want = block_len(f, attr, block);
	if (want == 0)
		return -EINVAL;
	struct inflight *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	unsigned nparts = (want + f->part_size - 1) / f->part_size;
	e->buf = buf_get_locked(f, want);
	e->path = strdup(path);
	e->parts = calloc(nparts, sizeof(*e->parts));
	e->sum = block_sum_new(); /* NULL: the store sums the block itself */
	if (!e->buf || !e->path || !e->parts) {
		free(e->parts);
		block_sum_free(e->sum);
		buf_put_locked(f, e->buf, want);
		free(e->path);
		free(e);
		return -ENOMEM;
	}
	e->f = f;
	e->obj = obj;
	e->block = block;
	e->attr = *attr;
	e->want = want;
	e->prefetch = prefetch;
	e->no_keep = no_keep;
	e->cls = cls;
	e->keys_gen = f->keys_gen;
	e->refs = 2;
	/* its callers looked it up first, under the same lock: never a duplicate */
	htable_insert(&f->by_block, &e->hnode, block_key_hash(obj, block));
	e->hashed = true;
	f->inflight++;
	if (prefetch)
		f->inflight_prefetch++;
	e->nparts = nparts;
	e->parts_left = nparts;
	if (prefetch) {
		atomic_fetch_add(&f->stats.prefetch_blocks, 1);
		atomic_fetch_add(&f->stats.prefetch_bytes, want);
	} else {
		atomic_fetch_add(&f->stats.demand_blocks, 1);
	}
	struct cluster_view *view = NULL;
	int peer = local ? -1 : owner_peer(f, path, block, &view);
	if (peer >= 0) {
		/* Asked of its owner; the parts go to the UFS only if the owner fails. The
		 * lock is dropped for the queueing (peer_done may run at once, and takes it). */
		e->via_peer = true;
		pthread_mutex_unlock(&f->lock);
		int r = peer_client_get_async(f->route.peers, view, peer, f->source_id, path,
					      &e->attr, block, want, e->buf, peer_done, e);
		cluster_view_put(view);
		pthread_mutex_lock(&f->lock);
		if (r == 0) {
			*ret = e;
			return 0;
		}
		e->via_peer = false;
	}
	queue_parts_locked(f, e);
	*ret = e;
	return 0;
}

/* Whether the bytes [from, to) of e's block are in e->buf already. */
static bool range_landed_locked(const struct fetcher *f, const struct inflight *e, uint32_t from,
				uint32_t to)
{
	if (e->err < 0 || e->via_peer || from >= to)
		return false;
	for (unsigned i = from / f->part_size; i < e->nparts && i * f->part_size < to; i++)
		if (!e->parts[i].landed)
			return false;
	return true;
}

/* What a reader of e gets once its wait ended (early: its range landed before the block's end):
 * 0 with *ret set, -errno, or 1: ask again (stored, or refused under replaced keys). Takes over
 * the reader's ref on e; returns with f->lock dropped. */
static int take_locked(struct fetcher *f, struct inflight *e, bool borrow, bool early,
		       struct fetch_result *ret)
{
	int err = e->err;
	/* Early, the bytes it asked for are in: served from memory while the other parts and the
	 * tier write go on; a borrower of a block fetched but not stored is served the same way. */
	if (early || (err == 0 && !e->stored && borrow)) {
		bool peer_only = e->from_peer; /* as below */
		pthread_mutex_unlock(&f->lock);
		*ret = (struct fetch_result){.ref = {.fd = -1},
					     .mem = e->buf,
					     .len = e->want,
					     .peer_only = peer_only,
					     .hold = e};
		return 0;
	}
	if (err == 0 && !e->stored) {
		char *mem = malloc(e->want);
		if (!mem) {
			put_locked(e);
			pthread_mutex_unlock(&f->lock);
			return -ENOMEM;
		}
		memcpy(mem, e->buf, e->want);
		uint32_t len = e->want;
		bool peer_only = e->from_peer; /* not kept here: its owner keeps it */
		put_locked(e);
		pthread_mutex_unlock(&f->lock);
		*ret = (struct fetch_result){
		    .ref = {.fd = -1}, .mem = mem, .len = len, .peer_only = peer_only};
		return 0;
	}
	/* refused under keys replaced since it started: ask again with the new ones */
	bool stale_keys = refused(err) && e->keys_gen != f->keys_gen;
	put_locked(e);
	pthread_mutex_unlock(&f->lock);
	if (err < 0 && !stale_keys)
		return err;
	return 1;
}

/* Waits for block `block`; with borrow, only for its bytes [from, to), and an in-memory answer
 * holds e (no copy) until fetcher_result_release; with join_only, a block neither stored nor in
 * flight is not fetched: -ENOENT; with halt, the wait ends (-ECANCELED) within 50 ms of halt
 * saying so; with async (borrow only), a wait arms async instead: -EINPROGRESS. */
static int get(struct fetcher *f, uint64_t obj, const char *path, const struct ufs_attr *attr,
	       uint64_t block, bool local, bool no_keep, bool borrow, bool join_only,
	       const struct fetch_halt *halt, uint32_t from, uint32_t to, struct fetch_wait *async,
	       struct fetch_result *ret)
{
	for (int round = async ? async->round : 0;; round++) {
		struct block_ref ref;
		/* Without f->lock: a lookup may read the block back to check its checksum, and
		 * the UFS completions (read_done) must not wait behind that. */
		if (block_store_acquire(f->bs, obj, block, &ref) == 0) {
			*ret = (struct fetch_result){.ref = ref, .mem = NULL, .len = ref.len};
			return 0;
		}
		if (round > 3) {
			/* Stored, then evicted before we could pin it, more than once: the tier
			 * is thrashing. Give up rather than loop. */
			return -ENOSPC;
		}
		uint64_t t0 = now_us();
		bool joined = true, was_prefetch = false;
		pthread_mutex_lock(&f->lock);
		struct inflight *e = find_locked(f, obj, block);
		if (!e) {
			joined = false;
			/* A fetch may have stored it between the lookup and here: look again
			 * rather than fetch it twice (contains() reads memory only). */
			if (block_store_contains(f->bs, obj, block)) {
				pthread_mutex_unlock(&f->lock);
				continue;
			}
			int r = recent_failure_locked(f, obj, block);
			if (r < 0 || join_only) {
				pthread_mutex_unlock(&f->lock);
				return r < 0 ? r : -ENOENT;
			}
			r = start_locked(f, obj, path, attr, block, FETCH_DEMAND, local, no_keep,
					 &e);
			if (r < 0) {
				pthread_mutex_unlock(&f->lock);
				return r;
			}
		} else if (local && e->via_peer && !e->done) {
			/* a peer asks us for a block we ask a peer for: they disagree on its
			 * owner; the asker reads the UFS rather than wait in a circle */
			pthread_mutex_unlock(&f->lock);
			return -EAGAIN;
		} else {
			was_prefetch = e->prefetch;
			if (e->prefetch && !e->done) {
				/* A reader now waits for it: demand from here on. */
				e->prefetch = false;
				f->inflight_prefetch--;
				promote_locked(f, e, FETCH_DEMAND);
				atomic_fetch_add(&f->stats.promoted_blocks, 1);
			}
			e->refs++;
		}
		bool early = false;
		if (async && !e->done && !range_landed_locked(f, e, from, to)) {
			/* no thread waits: the fetch calls async->ready (wake_async_locked) */
			async->e = e;
			async->armed = true;
			async->landed = false;
			async->from = from;
			async->to = to;
			async->round = round;
			async->t0 = t0;
			e->range_waiters++;
			LIST_INSERT_HEAD(&e->waits, async, link);
			pthread_mutex_unlock(&f->lock);
			return -EINPROGRESS;
		}
		if (borrow) {
			e->range_waiters++;
			while (!e->done && !(early = range_landed_locked(f, e, from, to)))
				pthread_cond_wait(&f->done_cond, &f->lock);
			e->range_waiters--;
		} else {
			while (!e->done && !halt)
				pthread_cond_wait(&f->done_cond, &f->lock);
			while (!e->done && halt) {
				struct timespec at = deadline_in(0.05);
				cond_wait_until(&f->done_cond, &f->lock, &at);
				if (!e->done && halt->halted(halt->arg)) {
					put_locked(e); /* the fetch goes on for its other waiters */
					pthread_mutex_unlock(&f->lock);
					return -ECANCELED;
				}
			}
		}
		log_debug("block %llu of \"%s\": a reader waited %llu us (%s%s)",
			  (unsigned long long)block, path, (unsigned long long)(now_us() - t0),
			  !joined	 ? "fetched on demand"
			  : was_prefetch ? "prefetch in flight"
					 : "demand in flight",
			  early ? ", its range landed" : "");
		if (!borrow || to >= e->want)
			e->consumed = true; /* the reader is past it (kept_victim_locked) */
		int r = take_locked(f, e, borrow, early, ret);
		if (r <= 0)
			return r;
	}
}

void fetcher_keys_changed(struct fetcher *f)
{
	pthread_mutex_lock(&f->lock);
	f->keys_gen++;
	for (unsigned i = 0; i < FAIL_MEMO_N; i++)
		if (refused(f->fails[i].err))
			f->fails[i].err = 0;
	pthread_mutex_unlock(&f->lock);
}

int fetcher_get(struct fetcher *f, uint64_t obj, const char *path, const struct ufs_attr *attr,
		uint64_t block, struct fetch_result *ret)
{
	return get(f, obj, path, attr, block, false, false, false, false, NULL, 0, 0, NULL, ret);
}

int fetcher_wait(struct fetcher *f, uint64_t obj, const char *path, const struct ufs_attr *attr,
		 uint64_t block, const struct fetch_halt *halt, struct fetch_result *ret)
{
	return get(f, obj, path, attr, block, false, false, false, true, halt, 0, 0, NULL, ret);
}

int fetcher_get_range(struct fetcher *f, uint64_t obj, const char *path,
		      const struct ufs_attr *attr, uint64_t block, uint32_t from, uint32_t to,
		      struct fetch_result *ret)
{
	return get(f, obj, path, attr, block, false, false, true, false, NULL, from, to, NULL, ret);
}

int fetcher_get_range_async(struct fetcher *f, uint64_t obj, const char *path,
			    const struct ufs_attr *attr, uint64_t block, uint32_t from, uint32_t to,
			    struct fetch_wait *w, struct fetch_result *ret)
{
	/* under the lock, as fetcher_wait_cancel reads them: the caller's view_stop may cancel w
	 * while this call is on its way (it parks w before asking) */
	pthread_mutex_lock(&f->lock);
	w->round = 0;
	w->e = NULL;
	w->armed = false;
	pthread_mutex_unlock(&f->lock);
	return get(f, obj, path, attr, block, false, false, true, false, NULL, from, to, w, ret);
}

int fetcher_wait_result(struct fetcher *f, uint64_t obj, const char *path,
			const struct ufs_attr *attr, uint64_t block, struct fetch_wait *w,
			struct fetch_result *ret)
{
	pthread_mutex_lock(&f->lock);
	struct inflight *e = w->e;
	w->e = NULL;
	log_debug("block %llu of \"%s\": a reader waited %llu us without a thread%s",
		  (unsigned long long)block, path, (unsigned long long)(now_us() - w->t0),
		  w->landed ? ", its range landed" : "");
	if (w->to >= e->want)
		e->consumed = true;
	int r = take_locked(f, e, true, w->landed, ret);
	if (r <= 0)
		return r;
	w->round++;
	return get(f, obj, path, attr, block, false, false, true, false, NULL, w->from, w->to, w,
		   ret);
}

bool fetcher_wait_cancel(struct fetcher *f, struct fetch_wait *w)
{
	pthread_mutex_lock(&f->lock);
	bool armed = w->armed;
	if (armed) {
		LIST_REMOVE(w, link);
		w->armed = false;
		w->e->range_waiters--;
		put_locked(w->e); /* the fetch goes on for its other waiters */
		w->e = NULL;
	}
	pthread_mutex_unlock(&f->lock);
	return armed;
}

void fetcher_result_release(struct fetcher *f, struct fetch_result *r)
{
	if (r->hold) {
		pthread_mutex_lock(&f->lock);
		put_locked(r->hold);
		pthread_mutex_unlock(&f->lock);
	} else {
		free(r->mem);
	}
	r->mem = NULL;
	r->hold = NULL;
}

int fetcher_get_local(struct fetcher *f, uint64_t obj, const char *path,
		      const struct ufs_attr *attr, uint64_t block, struct fetch_result *ret)
{
	return get(f, obj, path, attr, block, true, false, false, false, NULL, 0, 0, NULL, ret);
}

/* A copy of a tier's block, checked against the index's checksum. Returns 0 with *ret_mem
 * (owned), -EBADMSG (the bytes fail it), or -errno. */
static int tier_copy_checked(const struct block_ref *ref, char **ret_mem)
{
	char *mem = malloc(ref->len);
	if (!mem)
		return -ENOMEM;
	ssize_t n = pread(ref->fd, mem, ref->len, (off_t)ref->off);
	int r = n < 0 ? -errno : n != (ssize_t)ref->len ? -EIO : 0;
	if (r == 0 && block_sum(mem, ref->len) != ref->csum)
		r = -EBADMSG;
	if (r < 0) {
		free(mem);
		return r;
	}
	*ret_mem = mem;
	return 0;
}

int fetcher_get_for_owner(struct fetcher *f, uint64_t obj, const char *path,
			  const struct ufs_attr *attr, uint64_t block, struct fetch_result *ret)
{
	for (int round = 0;; round++) {
		struct fetch_result fr;
		int r = get(f, obj, path, attr, block, true, true, true, false, NULL, 0,
			    block_len(f, attr, block), NULL, &fr);
		if (r < 0)
			return r;
		if (fr.mem) {
			*ret = fr;
			return 0;
		}
		/* This node's tier had it. Its bytes are signed by this node on the way and the
		 * owner keeps them with their checksum as its own copy, which every reader then
		 * checks against: bytes the media spoiled must not go, so they are checked here
		 * against the index, as a block served to a peer is by its asker. */
		char *mem = NULL;
		r = tier_copy_checked(&fr.ref, &mem);
		uint32_t len = fr.ref.len;
		block_store_release(f->bs, obj, block);
		if (r == 0) {
			*ret = (struct fetch_result){.ref = {.fd = -1}, .mem = mem, .len = len};
			return 0;
		}
		if (r != -EBADMSG || round > 0)
			return r;
		log_warn("block %llu of \"%s\" fails its checksum in this node's tier: dropped, "
			 "fetched again for its owner",
			 (unsigned long long)block, path);
		int e = block_store_evict_block(f->bs, obj, block);
		if (e < 0 && e != -ENOENT)
			return r; /* a reader holds it: not this time */
	}
}

int fetcher_put(struct fetcher *f, uint64_t obj, uint64_t block, const void *buf, uint32_t len,
		uint64_t xxh3)
{
	pthread_mutex_lock(&f->lock);
	bool busy = find_locked(f, obj, block) != NULL;
	pthread_mutex_unlock(&f->lock);
	if (busy)
		return -EEXIST; /* this node fetches it itself already: that copy lands */
	/* A fetch may start between the look and the put: the store keeps the first whole
	 * copy (put of a block already valid is a no-op), both are the same version's bytes. */
	return block_store_put_summed(f->bs, obj, block, buf, len, xxh3);
}

/* Starts the blocks [first, first + count) of a file that are neither cached nor in flight, as
 * fetches of class cls; one in flight already moves up to cls (a reader waiting for a prefetch
 * takes it over as a demand). Prefetches and guesses stop at max_prefetch; a demand does not. */
static unsigned start_class(struct fetcher *f, uint64_t obj, const char *path,
			    const struct ufs_attr *attr, uint64_t first, uint64_t count,
			    enum fetch_class cls)
{
	unsigned started = 0;
	uint64_t nblocks = (attr->size + f->block_size - 1) / f->block_size;
	pthread_mutex_lock(&f->lock);
	/* A guess is the head of a whole next file, asked for only on idle slots, and a demand is
	 * a whole file a reader waits for: their blocks go together (few large requests), which
	 * costs no reader a wait. */
	bool batch = cls != FETCH_PREFETCH && batch_begin_locked(f);
	/* what this call asks for, over the connections, in whole parts (request_cap_locked) */
	uint64_t share = 0;
	if (cls != FETCH_PREFETCH && first < nblocks) {
		uint64_t last = first + count < nblocks ? first + count : nblocks;
		uint64_t end =
		    last * f->block_size < attr->size ? last * f->block_size : attr->size;
		uint64_t bytes = end - first * f->block_size;
		share = (bytes + f->max_requests - 1) / f->max_requests;
		share = (share + f->part_size - 1) / f->part_size * f->part_size;
	}
	for (uint64_t b = first; b < first + count && b < nblocks; b++) {
		if (cls != FETCH_DEMAND && f->inflight_prefetch >= f->max_prefetch)
			break;
		struct inflight *e = find_locked(f, obj, b);
		if (e) {
			if (e->done)
				continue;
			if (cls == FETCH_DEMAND)
				e->whole = true;
			if (cls != FETCH_PREFETCH)
				e->share = share; /* for its parts not asked for yet */
			if (cls == FETCH_DEMAND && e->prefetch) {
				/* as get() does when a reader joins a prefetch */
				e->prefetch = false;
				f->inflight_prefetch--;
				atomic_fetch_add(&f->stats.promoted_blocks, 1);
			}
			promote_locked(f, e, cls); /* a guess the stream now confirms */
			continue;
		}
		if (block_store_contains(f->bs, obj, b))
			continue;
		if (start_locked(f, obj, path, attr, b, cls, false, false, &e) < 0)
			break;
		/* before any part goes: this thread holds the pump (batch), or the one that does
		 * needs f->lock to take them */
		e->whole = cls == FETCH_DEMAND;
		e->share = share;
		put_locked(e);
		started++;
	}
	batch_end_locked(f, batch);
	pthread_mutex_unlock(&f->lock);
	return started;
}

unsigned fetcher_prefetch(struct fetcher *f, uint64_t obj, const char *path,
			  const struct ufs_attr *attr, uint64_t first, uint64_t count)
{
	return start_class(f, obj, path, attr, first, count, FETCH_PREFETCH);
}

unsigned fetcher_prefetch_spare(struct fetcher *f, uint64_t obj, const char *path,
				const struct ufs_attr *attr, uint64_t first, uint64_t count)
{
	return start_class(f, obj, path, attr, first, count, FETCH_SPARE);
}

unsigned fetcher_demand(struct fetcher *f, uint64_t obj, const char *path,
			const struct ufs_attr *attr, uint64_t first, uint64_t count)
{
	return start_class(f, obj, path, attr, first, count, FETCH_DEMAND);
}

int fetcher_failure_cause(struct fetcher *f, uint64_t obj, uint64_t block, char *buf, size_t len)
{
	int r = -ENOENT;
	pthread_mutex_lock(&f->lock);
	for (unsigned k = 1; k <= FAIL_MEMO_N; k++) {
		unsigned i = (f->fail_next - k) % FAIL_MEMO_N;
		if (f->fails[i].until_ms && f->fails[i].obj == obj && f->fails[i].block == block) {
			if (f->fails[i].cause[0]) {
				snprintf(buf, len, "%s", f->fails[i].cause);
				r = 0;
			}
			break;
		}
	}
	pthread_mutex_unlock(&f->lock);
	return r;
}

unsigned fetcher_fill_blocks(const struct fetcher *f)
{
	return prefetch_fill_blocks(f->max_requests, f->part_size, f->block_size);
}

uint64_t fetcher_buffer_memory(struct fetcher *f)
{
	pthread_mutex_lock(&f->lock);
	uint64_t n = f->mapped;
	pthread_mutex_unlock(&f->lock);
	return n;
}

unsigned fetcher_inflight(struct fetcher *f)
{
	pthread_mutex_lock(&f->lock);
	unsigned n = f->inflight;
	pthread_mutex_unlock(&f->lock);
	return n;
}

const struct fetcher_stats *fetcher_get_stats(struct fetcher *f)
{
	return &f->stats;
}

const struct fetcher_route *fetcher_get_route(const struct fetcher *f)
{
	return f->route.cluster ? &f->route : NULL;
}
