// SPDX-License-Identifier: Apache-2.0
// FUSE view (libfuse3 low-level API). Inodes live as long as the view: a lookup count is kept
// per inode as FUSE requires, but paths are never reused for another inode number (so every
// generation is 0). What the kernel was told (inodes, handles, INIT) is journaled before the
// reply (view_journal.h), so a new weir-node can take the live connection over.
//
// Why libfuse 3.14 stays, with its custom-I/O hooks, rather than a session layer of our own on
// <linux/fuse.h>: everything live recovery needs from the protocol fits at the two places where
// bytes cross /dev/fuse. On the way in, a taken-over connection gets the INIT its kernel sent
// the first weir-node replayed to libfuse (the kernel sends INIT once per connection, and
// libfuse answers nothing before it); on the way out, that INIT's reply is swallowed and
// FUSE_NOTIFY_RESEND written instead, and passthrough is accepted in INIT and set in OPEN
// replies. The rest of the protocol (argument decoding of 40 opcodes, readdirplus packing,
// notifications, the worker pool) is code libfuse has tested for years and that we would
// otherwise rewrite. What would tip the balance: FUSE over io_uring (libfuse 3.14 cannot
// drive it), or a libfuse that rejects a second INIT reply path; then the session layer moves
// here, behind the same journal.
#define FUSE_USE_VERSION 312
#include "view.h"

#include <dirent.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <fuse_lowlevel.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/queue.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "log.h"
#include "meta_listing.h"
#include "prefetch.h"
#include "proc_cgroup.h"
#include "ranges.h"
#include "htable.h"
#include "view_creds.h"
#include "view_journal.h"
#include "thread_class.h"
#include "timed_wait.h"

#define VIEW_MAX_SEGS 64
#define VIEW_REPLY_THREADS 2 /* threads finishing the READs whose blocks arrived: see read_cont */
#define VIEW_PUSH_AHEAD 32 /* small files pushed ahead of a warm reader: see dir_push() */
#define VIEW_MAX_READ (250u * 4096) /* bytes; see the mount options */
#define VIEW_MAX_BACKGROUND 24	    /* read-ahead READs in flight: see op_init() */
#define VIEW_CONGESTION 9	    /* ... past which unasked read-ahead stops: op_init() */
/* Files up to VIEW_SMALL_FILE (view.h) are read through the view's page cache (keep_cache), never
 * passed through. Passthrough saves READs, but costs two ioctls (backing open and close), a pin of
 * the blocks and a tier file descriptor on every open, forever; a file one or two READs fill
 * (max_read: 1000 KiB) costs them once, then every later open is answered from the page cache with no
 * daemon work beyond OPEN and RELEASE. The price: such a file's pages may sit in the view's page
 * cache besides the tier's (reclaimable, never in weir-node's RSS). Measured with
 * bench/smallfiles.sh. */

/* What ufs_attr_same_version compares: size, mtime and the ETag, the ETag as a 64-bit hash (two
 * versions of one path with the same size and mtime whose ETags collide in 64 bits: never seen
 * in practice, and then a reader still gets one of them whole). */
struct version_key {
	uint64_t size;
	int64_t mtime;
	uint64_t etag_hash;
	bool is_dir;
};

static struct version_key version_key_of(const struct ufs_attr *a)
{
	return (struct version_key){.size = a->size,
				    .mtime = a->mtime,
				    .etag_hash = XXH3_64bits(a->etag, strlen(a->etag)),
				    .is_dir = a->is_dir};
}

static bool version_key_same(const struct version_key *k, const struct ufs_attr *a)
{
	struct version_key o = version_key_of(a);
	return k->size == o.size && k->mtime == o.mtime && k->etag_hash == o.etag_hash &&
	       k->is_dir == o.is_dir;
}

/* rw views: the versions writes through the view went through on one inode. A version a
 * lookup or an OPEN validated that is one of these was caught before or while one of those
 * writes landed; any other is a change made elsewhere. */
#define OWN_WRITES_SEEN 16
struct own_writes {
	bool post_known;	/* last_post is what the last noted write left (no failure since) */
	struct ufs_attr last_post;
	struct version_key seen[OWN_WRITES_SEEN]; /* ring: each write's version before and after */
	unsigned n, next;
};

static void own_seen(struct own_writes *o, const struct ufs_attr *a)
{
	o->seen[o->next] = version_key_of(a);
	o->next = (o->next + 1) % OWN_WRITES_SEEN;
	if (o->n < OWN_WRITES_SEEN)
		o->n++;
}

static bool own_saw(const struct own_writes *o, const struct ufs_attr *a)
{
	for (unsigned i = 0; i < o->n; i++)
		if (version_key_same(&o->seen[i], a))
			return true;
	return false;
}

struct inode {
	fuse_ino_t ino;
	char *path; /* path in the source (subpath included) */
	struct htable_node path_node; /* in the view's by_path while hashed (below) */
	/* The lookup count: in the journal's shared memory, so it survives this process. */
	_Atomic uint64_t *nlookup;
	_Atomic uint64_t nlookup_local; /* beyond the journal's capacity */
	atomic_bool journaled;		/* its VJ_INODE record is in the journal */
	/* The kernel puts an inode in one I/O mode at a time: while any open is cached, a
	 * passthrough open fails, and the other way round. Under the view's lock. */
	unsigned opens_cached, opens_passthrough;
	/* Under the view's lock: handles open for writing. While there are any, the inode's
	 * attributes come from the source each time (the kernel is told not to cache them): a
	 * writer seeking to the end must see every other writer's bytes. */
	unsigned opens_write;
	atomic_uint_fast64_t last_read_ns; /* CLOCK_MONOTONIC of the last READ that reached us */
	/* The size the kernel was last given (entry or attr reply), UINT64_MAX before any: an
	 * open that finds another (a listing that lied, a new version) makes it ask again.
	 * Stored under the view's lock where it must agree with opens_read (tell_attr_locked). */
	atomic_uint_fast64_t told_size;
	/* Under the view's lock: the kernel was told this inode's type, and which (a path that
	 * turns from file to directory gets a new inode: the kernel fails an inode whose type
	 * changes). */
	bool told_known, told_dir;
	/* Takeover only: read handles of two versions were restored on this inode (a journal of
	 * a weir-node from before one inode, one version). */
	bool restored_mixed;
	/* The version the kernel's page cache of this inode may hold: the last one opened, and
	 * the version of every read handle open on it (opens_read). One inode, one version while
	 * it is open: the kernel keeps one size and one page cache per inode, so a second version
	 * on it would end the first one's readers early (a smaller size), let them read past
	 * their end, or serve them the other version's pages. A new version of the path while
	 * read handles are open gets a new inode (inode_detach_locked); one with none open
	 * reuses this one, and its first open drops the cache (no keep_cache). Under the view's
	 * lock. Kept as a version_key, not a whole ufs_attr: 24 bytes instead of 160 for every
	 * inode a view ever gave out (weir stat's memory breakdown showed the inode table growing
	 * by 370 bytes per file).
	 */
	struct version_key cache_version;
	bool cache_known;
	/* Under the view's lock: read handles open on this inode (reserved at OPEN before the
	 * handle exists, released at its close); all of version cache_version. */
	unsigned opens_read;
	/* Under the view's lock: writes through this view noted on this inode (note_written). An
	 * OPEN for reading that validated its version before one of them validates again
	 * (open_bind): bound to the version before that write, it would not follow the next. */
	uint64_t writes;
	/* Under the view's lock: writes through this view begun on this inode and not yet noted
	 * (write_begin .. note_written or write_abort); an OPEN for reading waits for them
	 * (v->write_cond), for what it validated meanwhile may be a version they leave. */
	unsigned writing;
	/* Under the view's lock: what writes through this view left on this inode (NULL: none
	 * noted yet); see struct own_writes. */
	struct own_writes *own;
	/* Under the view's lock: no longer the inode of its path (a new version came while this
	 * one was open); the next lookup of the path makes a new inode. */
	bool detached;
	/* Under the view's lock: in by_path, as the inode path names now (not when detached, nor
	 * when a rename put another inode at its path). */
	bool hashed;
	/* Under the view's lock: the one backing file the kernel accepts for this inode while it
	 * is open in passthrough (a second, different one fails the open with EIO), shared by
	 * every passthrough handle of object backing_obj and closed with the last of them. */
	int backing_id;
	uint64_t backing_obj;
	unsigned backing_refs;
	/* No-open views: the version every descriptor of this inode reads, as a handle that is
	 * no descriptor's (fh 0, freed with the view). Set once, under the view's lock, before
	 * the kernel hears of the inode, and never changed: a new version of the path gets a new
	 * inode (inode_bind), so the kernel's page cache of this one only ever holds this
	 * version. bind_journaled: its VJ_BIND record is in the journal. */
	struct handle *bound;
	atomic_bool bind_journaled;
	/* Under the view's lock: the block-store object path named when heat was last given to
	 * this inode's reads (view_ino_object), 0 for none yet; path_gen counts changes of path,
	 * each of which forgets it. */
	uint64_t heat_obj;
	unsigned path_gen;
	/* Under the view's lock: rw views, the version the last write through this view left
	 * (NULL before one): what cache_version names when such a write moved it (note_written),
	 * whole, for the READs of read handles opened before (read_written). */
	struct ufs_attr *wrote;
};

struct handle {
	char *path;
	uint64_t obj;	      /* the block-store identity of attr's version */
	struct ufs_attr attr; /* the version this descriptor is bound to */
	atomic_bool stale;    /* that version is gone: every read fails ESTALE */
	/* a failed read was logged: the next ones of this descriptor (its readahead's other
	 * READs, the kernel's retry, the reader's own) go to the debug log */
	atomic_bool read_failed;
	/* Guards the read-pattern fields below; held for arithmetic only, never across a fetch
	 * or a store call. */
	pthread_mutex_t lock;
	struct prefetch_seq seq;  /* under lock: its reads' stream (prefetch_seq_read) */
	atomic_bool head_fetched; /* a read at offset 0 fetched the next blocks with it */
	/* its open counted as a read of the whole file (count_own): its READs add nothing more */
	atomic_bool counted_whole;
	/* Added to (release) by the OPEN (or CREATE) and every READ before its reply, read
	 * (acquire) by op_release before it clears the journal slot and by handle_close: the
	 * kernel sends RELEASE only once the file's last
	 * reference is dropped, after the OPEN was answered and every READ of the file was
	 * (a request read by the daemon is waited out: fs/fuse/dev.c request_wait_answer), an
	 * order that goes through /dev/fuse, where ThreadSanitizer cannot see it; this says
	 * it. */
	atomic_uint replies;
	int backing_id;	     /* > 0: reads pass through to the tier file */
	int backing_fd;	     /* its tier file while backing_id > 0 (the store's; pinned) */
	bool pt_held;	     /* passthrough_hold(true) was called: call it with false at close */
	uint64_t pt_cgroup;  /* the opener's cgroup, told passthrough_hold (0: unknown) */
	bool reads_version;  /* counted in its inode's opens_read (a read handle) */
	struct inode *ino;
	int wfd;		 /* >= 0: opened for writing, straight on the UFS (rw views) */
	bool dirty;		 /* written or truncated: cached blocks and metadata are stale */
	uint64_t pinned;	 /* blocks 0..pinned-1 are pinned while passed through */
	LIST_ENTRY(handle) link; /* under the view's lock: its open handles */
	uint64_t fh;		 /* what the kernel knows it by: its slot + 1 */
	int open_flags;		 /* as the kernel opened it (restored write handles reopen) */
};

/* An open directory reads one listing, shared with the cache (a reference, not a copy); one
 * restored after a restart lists again at its first READDIR (l NULL until then). */
struct dir_handle {
	struct meta_listing *l;
	fuse_ino_t ino;
	pthread_mutex_t lock; /* guards l's first listing; no reply is sent under it */
	/* Added to (release) by the OPENDIR and every READDIR before its reply, read (acquire)
	 * by dir_close before it clears the handle's journal slot, frees its number and frees
	 * it: the kernel sends RELEASEDIR only once the directory file's last reference is
	 * dropped, after its OPENDIR was answered, and a READDIR holds the file until it is
	 * answered (a request read by the daemon is waited out: fs/fuse/dev.c
	 * request_wait_answer, "Either request is already in userspace, or it was forced.
	 * Wait it out."). That order goes through /dev/fuse, where ThreadSanitizer cannot see
	 * it; this says it. */
	atomic_uint replies;
};

/* A handle number the kernel holds: a slot of the view's table, not a pointer, so that a new
 * weir-node can put the handles it restores at the numbers the kernel already has. */
struct fh_slot {
	struct handle *file;
	struct dir_handle *dir;
};

struct view {
	struct view_config cfg;
	char *mountpoint, *subpath, *fsname;
	struct view_source src;
	uint32_t block_size;
	double ttl_s;
	struct fuse_session *se;
	pthread_t thread;
	bool thread_started;
	atomic_bool exited;
	atomic_bool stopping; /* view_stop began: an open waiting for its fill gives up (fill_whole) */
	/* view_umount took the view's mount off: the path now leads to what was beneath it (the
	 * mountpoint's own file system), which a second umount2 would take too. */
	atomic_bool unmounted;
	/* When this process started the view (wall clock, s; set before the loop runs): a
	 * temporary object of another view's older than that is a dead one's (temps_cleared). */
	time_t started_s;
	/* Set by view_start once the loop answers a stat of the mount, read by request threads
	 * that may run before that (0 then): atomic. */
	_Atomic dev_t dev;
	/* The mountpoint's parent directory, held (O_PATH) from before the mount, and the
	 * mountpoint's name in it: mounts and unmounts go through them (mp_path()), so a user
	 * who renames a directory above the view and leaves a symlink cannot point them at
	 * another mount. -1 when not held. */
	int parent_fd;
	char *leaf;
	/* Guards the inode table, the path map and the open handles; held for table updates only:
	 * never across a UFS call, a fetch, a store lookup or an ioctl (passthrough registration
	 * happens with it released). */
	pthread_mutex_t lock;
	struct inode **inodes;	/* under lock: inodes[ino - 1] */
	size_t ninodes, cap;	/* under lock */
	struct htable by_path; /* under lock: inode by path (path_node), no copy of the path */
	LIST_HEAD(, handle)
	handles; /* under lock: open files; view_stop closes those never released */
	atomic_uint_fast64_t reads, read_bytes, hits, misses, opens;
	atomic_uint_fast64_t tier_bytes, ufs_bytes, prefetch_bytes, streams, passthrough_opens;
	atomic_uint_fast64_t passthrough_bytes;
	atomic_uint_fast64_t pushed_bytes; /* put in the page cache ahead of a reader: dir_push */
	/* Bytes this view counted toward heat itself while nothing else counts its reads
	 * (read_streams: no eBPF, or eBPF refused the view): READ replies, and whole files at
	 * opens whose reads it will not see (page cache, passthrough). */
	atomic_uint_fast64_t counted_bytes;
	atomic_uint_fast64_t open_reqs, release_reqs, lookup_reqs, getattr_reqs, new_versions;
	/* Files are served without OPEN (cfg.no_open, or the mode of a connection taken over);
	 * set before the loop starts, or in INIT (a kernel without no-open support). */
	atomic_bool no_open;
	struct fh_slot *fhs; /* under lock: handle fh is fhs[fh - 1] */
	size_t nfhs;	     /* under lock: slots in use or freed */
	size_t *free_fhs;    /* under lock: freed slot indexes, reused first */
	size_t nfree;	     /* under lock */
	/* FUSE passthrough (Linux 6.9+), negotiated behind libfuse's back: libfuse 3.14 does
	 * not know it, so the custom I/O below patches the INIT and OPEN replies. */
	int devfd;
	atomic_bool read_streams; /* detect streams from READs (cfg's, until eBPF takes over) */
	atomic_bool pt_offered;	  /* the kernel offered FUSE_PASSTHROUGH in INIT */
	atomic_bool passthrough;  /* we accepted it */
	uint64_t init_unique;
	/* One reader opening a directory's files in listing order (cp -R, tar): the directory,
	 * the listing index of its last open, how many opens in a row followed the one before,
	 * and the index below which files were fetched ahead. Under lock; see dir_stream(). */
	char *seq_dir;
	struct prefetch_dir seq; /* the run of opens in seq_dir (prefetch_dir_open) */
	/* One reader reading a no-open view's cached small files in listing order, seen from
	 * their first READs: the directory, the index of the last, how many in a row, and the
	 * index below which files were pushed into the page cache. Under lock; see dir_push(). */
	char *push_dir;
	size_t push_idx, push_ahead;
	unsigned push_run;
	/* The kernel's INIT request, as read (journaled with the reply, replayed at takeover). */
	_Alignas(8) char init_req[sizeof(struct fuse_in_header) + sizeof(struct fuse_init_in)];
	size_t init_len;
	struct view_journal *journal;
	/* Takeover of a live connection: ADOPT_INIT until a reader has taken the replayed INIT,
	 * ADOPT_WAIT until libfuse has answered it, then ADOPT_DONE. Readers wait on adopt_cond
	 * meanwhile: libfuse fails any request that comes before INIT. adopt_lock guards the
	 * phase changes only; nothing blocks under it but the wait itself. */
	pthread_mutex_t adopt_lock;
	pthread_cond_t adopt_cond;
	/* With lock: an inode's writing fell to 0 (note_written, write_abort). */
	pthread_cond_t write_cond;
	_Atomic int adopt_phase;
	bool resend; /* the kernel has FUSE_NOTIFY_RESEND (FUSE_HAS_RESEND in its INIT) */
	/* READs waiting for a fetch hold no thread (read_cont): the fetcher hands each, once its
	 * range is in, to one of reply_threads, which finishes and answers it. reply_lock guards
	 * the fields below; nothing is done under it but list updates and fetcher_wait_cancel
	 * (which takes the fetcher's lock after it; the fetcher calls read_ready without its own
	 * lock, so the order is only ever reply_lock then the fetcher's): never a reply, a fetch
	 * or a store call. */
	pthread_mutex_t reply_lock;
	pthread_cond_t reply_cond;	      /* a continuation queued, or reply_exit */
	pthread_cond_t reply_idle;	      /* nconts fell to 0 */
	STAILQ_HEAD(, read_cont) reply_queue; /* under reply_lock: ready, for reply_threads */
	LIST_HEAD(, read_cont) parked;	      /* under reply_lock: armed at the fetcher */
	unsigned nconts;		      /* under reply_lock: parked, queued or running */
	bool reply_stopping;		      /* under reply_lock: view_stop: park no more */
	bool reply_exit;		      /* under reply_lock: nconts is 0 for good */
	pthread_t reply_threads[VIEW_REPLY_THREADS];
	unsigned nreply_threads;
};

enum { ADOPT_DONE = 0, ADOPT_INIT, ADOPT_WAIT };

/* The OPEN reply this thread is sending and the backing file it passes through to. libfuse
 * writes a reply on the thread that calls fuse_reply_open, so the custom writev below finds the
 * handle here, with no table of pending OPENs to fill, leak or overflow. */
static _Thread_local uint64_t pt_reply_fh;
static _Thread_local int pt_reply_backing;
/* The request this thread read last (io_read), as the kernel numbered it: libfuse hands it to
 * the handler on the same thread and keeps its number to itself. Its FUSE_UNIQUE_RESEND bit
 * says the kernel sent it before, to a weir-node that died (op_write). */
static _Thread_local uint64_t req_unique;

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static int errno_for_fuse(int err)
{
	/* One place where weir's errors become what a reader sees. */
	switch (err) {
	case -ENOENT:
	case -ENOTDIR:
	case -EISDIR:
	case -EACCES:
	case -EROFS:
	case -ENOMEM:
	case -EINVAL:
	case -ESTALE: /* the version a descriptor was opened at is gone: reopen for the new one */
		return -err;
	default:
		return EIO;
	}
}

static uint64_t inode_path_hash(const struct htable_node *n)
{
	return htable_hash_str(htable_entry(n, struct inode, path_node)->path);
}

static bool inode_path_eq(const struct htable_node *n, const void *key)
{
	return strcmp(htable_entry(n, struct inode, path_node)->path, key) == 0;
}

/* The inode path names, or NULL. Under the view's lock. */
static struct inode *by_path_get(struct view *v, const char *path)
{
	struct htable_node *n =
	    htable_find(&v->by_path, htable_hash_str(path), inode_path_eq, path);

	return n ? htable_entry(n, struct inode, path_node) : NULL;
}

/* in answers to in->path from now on (nothing else does: the caller looked). */
static void by_path_add(struct view *v, struct inode *in)
{
	htable_insert(&v->by_path, &in->path_node, htable_hash_str(in->path));
	in->hashed = true;
}

static void by_path_remove(struct view *v, struct inode *in)
{
	if (in->hashed) {
		htable_remove(&v->by_path, &in->path_node);
		in->hashed = false;
	}
}

static struct inode *inode_get(struct view *v, fuse_ino_t ino)
{
	pthread_mutex_lock(&v->lock);
	struct inode *in = (ino >= 1 && ino <= v->ninodes) ? v->inodes[ino - 1] : NULL;
	pthread_mutex_unlock(&v->lock);
	return in;
}

static void inode_init_locked(struct view *v, struct inode *in)
{
	atomic_init(&in->told_size, UINT64_MAX);
	in->nlookup = v->journal ? view_journal_nlookup(v->journal, in->ino) : NULL;
	if (!in->nlookup)
		in->nlookup = &in->nlookup_local;
}

/* Journals in (once) before the kernel hears of it. Two threads may both write it: replay
 * takes the record twice, harmlessly. */
static int inode_journal(struct view *v, struct inode *in)
{
	if (!v->journal || atomic_load(&in->journaled))
		return 0;
	struct view_journal_rec rec = {
	    .type = VJ_INODE, .ino = in->ino, .blob_len = (uint32_t)strlen(in->path)};
	int r = view_journal_append(v->journal, &rec, in->path);
	if (r == 0)
		atomic_store(&in->journaled, true);
	else
		log_warn("journal of \"%s\": %s; a restarted weir-node will not know inode %llu",
			 v->mountpoint, strerror(-r), (unsigned long long)in->ino);
	return r;
}

/* Records handle fh (h, or directory dir_ino when h is NULL) before the kernel hears of it. */
static void journal_handle_set(struct view *v, const struct handle *h, fuse_ino_t dir_ino,
			       uint64_t fh)
{
	if (!v->journal)
		return;
	struct view_journal_rec rec = {.type = VJ_OPEN, .fh = fh};
	if (h) {
		rec.ino = h->ino->ino;
		rec.obj = h->obj;
		rec.attr = h->attr;
		rec.backing_id = h->backing_id;
		rec.flags = (uint32_t)h->open_flags & ~VJ_OPEN_DIR;
	} else {
		rec.ino = dir_ino;
		rec.flags = VJ_OPEN_DIR;
	}
	if (view_journal_set_handle(v->journal, &rec) < 0)
		log_debug("\"%s\": handle %llu is beyond the journal's slots: a restarted "
			  "weir-node will not know it",
			  v->mountpoint, (unsigned long long)fh);
}

/* Forgets handle fh: before its number is free for another handle. */
static void journal_handle_clear(struct view *v, uint64_t fh)
{
	if (v->journal)
		view_journal_clear_handle(v->journal, fh);
}

/* ---- handle numbers ---- */

/* A free slot for a new handle (file or dir set by the caller). Returns fh > 0, or 0. */
static uint64_t fh_alloc_locked(struct view *v)
{
	if (v->nfree)
		return v->free_fhs[--v->nfree] + 1;
	struct fh_slot *n = realloc(v->fhs, (v->nfhs + 1) * sizeof(*n));
	size_t *f = realloc(v->free_fhs, (v->nfhs + 1) * sizeof(*f));
	if (n)
		v->fhs = n;
	if (f)
		v->free_fhs = f;
	if (!n || !f)
		return 0;
	v->fhs[v->nfhs] = (struct fh_slot){0};
	return ++v->nfhs;
}

/* Puts a restored handle at slot fh, growing the table over the gap; the gap's slots are free.
 * Returns 0 or -errno (-EEXIST: two live handles with one number: a torn journal). */
static int fh_claim_locked(struct view *v, uint64_t fh, struct handle *file, struct dir_handle *dir)
{
	if (fh == 0 || fh > (1u << 26))
		return -EINVAL;
	if (fh > v->nfhs) {
		struct fh_slot *n = realloc(v->fhs, fh * sizeof(*n));
		size_t *f = realloc(v->free_fhs, fh * sizeof(*f));
		if (n)
			v->fhs = n;
		if (f)
			v->free_fhs = f;
		if (!n || !f)
			return -ENOMEM;
		for (size_t i = v->nfhs; i < fh; i++)
			v->fhs[i] = (struct fh_slot){0};
		v->nfhs = fh;
	}
	if (v->fhs[fh - 1].file || v->fhs[fh - 1].dir)
		return -EEXIST;
	v->fhs[fh - 1] = (struct fh_slot){file, dir};
	return 0;
}

/* After a restore: every empty slot is free. */
static void fh_rebuild_free_locked(struct view *v)
{
	v->nfree = 0;
	for (size_t i = v->nfhs; i-- > 0;)
		if (!v->fhs[i].file && !v->fhs[i].dir)
			v->free_fhs[v->nfree++] = i;
}

static void fh_release_locked(struct view *v, uint64_t fh)
{
	if (fh == 0 || fh > v->nfhs)
		return;
	v->fhs[fh - 1] = (struct fh_slot){0};
	v->free_fhs[v->nfree++] = fh - 1;
}

static struct handle *fh_file(struct view *v, uint64_t fh)
{
	pthread_mutex_lock(&v->lock);
	struct handle *h = fh >= 1 && fh <= v->nfhs ? v->fhs[fh - 1].file : NULL;
	pthread_mutex_unlock(&v->lock);
	return h;
}

static struct dir_handle *fh_dir(struct view *v, uint64_t fh)
{
	pthread_mutex_lock(&v->lock);
	struct dir_handle *d = fh >= 1 && fh <= v->nfhs ? v->fhs[fh - 1].dir : NULL;
	pthread_mutex_unlock(&v->lock);
	return d;
}

/* Finds or creates the inode of path. NULL: out of memory. */
static struct inode *inode_for_path_locked(struct view *v, const char *path)
{
	struct inode *in = by_path_get(v, path);
	if (in)
		return in;
	if (v->ninodes == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 256;
		struct inode **n = realloc(v->inodes, cap * sizeof(*n));
		if (!n)
			return NULL;
		v->inodes = n;
		v->cap = cap;
	}
	in = calloc(1, sizeof(*in));
	if (!in)
		return NULL;
	in->path = strdup(path);
	if (!in->path) {
		free(in);
		return NULL;
	}
	by_path_add(v, in);
	v->inodes[v->ninodes++] = in;
	in->ino = v->ninodes;
	inode_init_locked(v, in);
	return in;
}

static struct inode *inode_for_path(struct view *v, const char *path)
{
	pthread_mutex_lock(&v->lock);
	struct inode *in = inode_for_path_locked(v, path);
	pthread_mutex_unlock(&v->lock);
	return in;
}

/* ---- one inode, one version (views that open their files; see cache_version) ---- */

/* in leaves its path: a new version (or type) of the path came while in is open. The next
 * lookup of the path makes a new inode; in answers for its own version until its descriptors
 * close. Returns true when in was the path's inode until
 * now: the caller then journals it (journal_detach) once the lock is released. Under the
 * view's lock. */
static bool inode_detach_locked(struct view *v, struct inode *in)
{
	if (in->detached)
		return false;
	in->detached = true;
	by_path_remove(v, in);
	return true;
}

/* Records that in no longer answers for its path, so a new weir-node gives the path's next
 * lookups a new inode too. A crash before it is written costs nothing but that: the checks
 * below run in the new weir-node as well, and never put two versions on one inode. */
static void journal_detach(struct view *v, struct inode *in)
{
	if (!v->journal)
		return;
	/* a detached inode's path never changes again (renames skip it): no lock needed */
	struct view_journal_rec rec = {.type = VJ_INODE,
				       .ino = in->ino,
				       .flags = VJ_INODE_DETACHED,
				       .blob_len = (uint32_t)strlen(in->path)};
	int r = view_journal_append(v->journal, &rec, in->path);
	if (r < 0)
		log_debug("journal of \"%s\": %s; a restarted weir-node may hand inode %llu its "
			  "path's next lookups (and then a new inode, as here)",
			  v->mountpoint, strerror(-r), (unsigned long long)in->ino);
}

/* What the kernel is told of in, in an entry or attribute reply (a, adjusted in place),
 * decided under the view's lock together with the handles it must agree with: a's size and
 * mtime, unless read handles are open on in; then their version's, for a reply's size applies
 * to every descriptor of the inode (a smaller one would end theirs early, a larger one let
 * them read past their end). The size is recorded as told under the same lock, so an OPEN
 * that binds in to another version right after sees it and makes the kernel ask again. */
static void tell_attr_locked(struct inode *in, struct ufs_attr *a)
{
	if (!a->is_dir && in->opens_read > 0) {
		a->size = in->cache_version.size;
		a->mtime = in->cache_version.mtime;
	}
	atomic_store(&in->told_size, a->is_dir ? 0 : a->size);
	in->told_known = true;
	in->told_dir = a->is_dir;
}

/* A read handle open on in (any: they share one version), or NULL. Under the view's lock. */
static const struct handle *open_read_handle_locked(struct view *v, const struct inode *in)
{
	const struct handle *h;
	LIST_FOREACH(h, &v->handles, link)
	{
		if (h->ino == in && h->reads_version)
			return h;
	}
	return NULL;
}

/* True while read handles are open on the inode path names now. */
static bool path_busy(struct view *v, const char *path)
{
	pthread_mutex_lock(&v->lock);
	struct inode *in = by_path_get(v, path);
	bool busy = in && in->opens_read > 0;
	pthread_mutex_unlock(&v->lock);
	return busy;
}

/* Whether an entry of path with attributes a (exact: validated at the UFS, not a listing's
 * word) must name a new inode rather than in: the type changed, or read handles of another
 * version are open on in. Under the view's lock. */
static bool entry_conflict_locked(const struct inode *in, const struct ufs_attr *a, bool exact)
{
	if (in->told_known && in->told_dir != a->is_dir)
		return true;
	return exact && !a->is_dir && in->opens_read > 0 &&
	       !version_key_same(&in->cache_version, a);
}

/* rw views: whether the read handles open on in read the version the last write through the
 * view left (note_written moved them) and a, another version a lookup or an OPEN validated,
 * is one those writes went through (caught before or while one landed): then a does not make
 * in a new inode (a writer of the view keeps noting its writes on in, and the readers would
 * follow none on the new one). Any other version is a change made elsewhere: a new inode. */
static bool follows_own_writes_locked(const struct inode *in, const struct ufs_attr *a)
{
	return !a->is_dir && !(in->told_known && in->told_dir) && in->own &&
	       in->own->post_known && version_key_same(&in->cache_version, &in->own->last_post) &&
	       own_saw(in->own, a);
}

static char *child_path(const char *parent, const char *name)
{
	char *p;
	if (strcmp(parent, "/") == 0)
		return asprintf(&p, "/%s", name) < 0 ? NULL : p;
	return asprintf(&p, "%s/%s", parent, name) < 0 ? NULL : p;
}

/* Permission bits of a directory whose files have mode m: search wherever read is allowed. */
static uint32_t dir_mode(uint32_t m)
{
	return m | ((m & 0444) >> 2);
}

/* The kernel enforces what this says (default_permissions): the UFS's own owner and mode where
 * it has them; else the mount's owner and mode; else world-readable, or readable by the owner
 * (and the group, when one is given) when the UFS needed credentials. */
static void fill_stat(struct view *v, fuse_ino_t ino, const struct ufs_attr *a, struct stat *st)
{
	const struct view_owner *o = &v->cfg.owner;
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	uint32_t perm;
	if (a->has_owner) {
		perm = a->mode & 07777;
		st->st_uid = a->uid;
		st->st_gid = a->gid;
	} else {
		/* Private: the owner's, and its group's when one is named (a pod's fsGroup). */
		uint32_t priv = o->gid ? 0440 : 0400;
		perm = o->mode ? o->mode & 07777 : v->cfg.private_source ? priv : 0444;
		if (v->cfg.read_write && !o->mode)
			perm |= 0200; /* rw views: the owner writes */
		if (a->is_dir)
			perm = dir_mode(perm);
		st->st_uid = o->uid;
		st->st_gid = o->gid;
	}
	st->st_mode = (a->is_dir ? S_IFDIR : S_IFREG) | perm;
	st->st_nlink = a->is_dir ? 2 : 1;
	st->st_size = a->is_dir ? 0 : (off_t)a->size;
	st->st_blksize = 1 << 20;
	st->st_blocks = (st->st_size + 511) / 512;
	st->st_mtim.tv_sec = a->mtime;
	st->st_ctim.tv_sec = a->mtime;
	st->st_atim.tv_sec = a->mtime;
}

static int fd_attr(int fd, struct ufs_attr *a)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	*a = (struct ufs_attr){.size = (uint64_t)st.st_size,
			       .mtime = st.st_mtim.tv_sec,
			       .is_dir = S_ISDIR(st.st_mode),
			       .has_owner = true,
			       .mode = st.st_mode & 07777,
			       .uid = st.st_uid,
			       .gid = st.st_gid};
	return 0;
}

/* Enters the rights of req's reader (view_creds.h) when v's source has owners of its own
 * (local://) and the reader is not root; else c->on stays false. Returns 0 or -EACCES. */
static int reader_enter(fuse_req_t req, struct view *v, struct view_creds *c)
{
	*c = (struct view_creds){.on = false};
	if (!ufs_has_owners(v->src.ufs))
		return 0;
	return view_creds_enter(req, c);
}

/* Whether req's reader reaches path at a local:// source with its own rights, resolved as
 * weir-node resolves it (links followed only while they stay beneath the view's root), and may
 * access it as want (R_OK, X_OK; 0: reach it only). expect (may be NULL): the version the view
 * is to serve, which must be the object reached. The kernel checked the view's cached
 * attributes; a name swapped since (for a link to a file or directory of someone else's) must
 * not lend the reader root's rights. Root is checked too in a view of a subdirectory: the
 * source's listing follows a link anywhere beneath the source's root, and the view's root is
 * below it. Returns 0, -EACCES, -ESTALE or the source's -errno. */
static int reader_may(fuse_req_t req, struct view *v, const char *path, int want,
		      const struct ufs_attr *expect)
{
	if (!ufs_has_owners(v->src.ufs))
		return 0;
	/* From the view's root: what lies above it is not the reader's to search (a reference
	 * to a subdirectory shows that subdirectory), nor may a link lead above it. */
	size_t sl = strlen(v->subpath);
	bool below = sl > 1;
	/* Root in a view of the whole source: the UFS resolves every path beneath its root. */
	if (!below && fuse_req_ctx(req)->uid == 0)
		return 0;
	int dfd = below ? ufs_open_dir(v->src.ufs, v->subpath) : -1;
	if (below && dfd < 0)
		return dfd;
	const char *rel = below ? path + sl : path + 1;
	rel += *rel == '/';
	struct view_creds c = {.on = false};
	int r = view_creds_enter(req, &c);
	struct ufs_attr a;
	if (r == 0)
		r = below ? ufs_stat_beneath(v->src.ufs, dfd, rel, &a)
			  : ufs_stat(v->src.ufs, path, &a);
	view_creds_leave(&c);
	if (dfd >= 0)
		close(dfd);
	if (r < 0)
		return r;
	if (expect && !expect->is_dir && !ufs_attr_same_version(&a, expect))
		return -ESTALE;
	if (want && !view_creds_may(&c, a.uid, a.gid, a.mode, want))
		return -EACCES;
	return 0;
}

/* Whether path, about to be opened for writing, still lies beneath the view's root at the source,
 * resolved as root: in a view of a subdirectory, a name the kernel looked up may since have been
 * swapped at the source for a link out of it (the lookup would now refuse it; an open of the
 * cached inode asks no lookup). 0 (-ENOENT too: a create), -EACCES or the source's -errno. A
 * swap between this check and the open is not caught. */
static int writer_beneath(struct view *v, const char *path)
{
	size_t sl = strlen(v->subpath);
	if (sl <= 1 || !ufs_has_owners(v->src.ufs))
		return 0;
	int dfd = ufs_open_dir(v->src.ufs, v->subpath);
	if (dfd < 0)
		return dfd;
	const char *rel = path + sl;
	rel += *rel == '/';
	struct ufs_attr a;
	int r = ufs_stat_beneath(v->src.ufs, dfd, rel, &a);
	close(dfd);
	return r == -ENOENT ? 0 : r;
}

/* True in a view of a subdirectory of a source with owners (local://), where a link listed at
 * the source may lead out of the view: its listed links are checked, and a prefetch of the
 * directory (which asks no one) fetches none of them. */
static bool links_checked(const struct view *v)
{
	return strlen(v->subpath) > 1 && ufs_has_owners(v->src.ufs);
}

/* Whether listing entry path, a link at the source (ufs_dirent.via_link), leads out of v, a view
 * of a subdirectory, resolved as root from the view's root as reader_may resolves it: the
 * source's listing gives the target's size, mtime, owner and mode, which are not this view's to
 * show. Such an entry is left out of the view's listing, as local_list leaves out a link out of
 * the source's root: shown name-only, every ls -l, find or du of the view would stumble on a
 * name whose lookup answers EACCES. *dfd: the view's root, opened at the first link of a
 * listing (-1 until then; the caller closes it), so directories without links pay nothing. */
static bool link_leaves_view(struct view *v, const char *path, int *dfd)
{
	if (!links_checked(v))
		return false;
	size_t sl = strlen(v->subpath);
	if (*dfd < 0)
		*dfd = ufs_open_dir(v->src.ufs, v->subpath);
	if (*dfd < 0)
		return true;
	const char *rel = path + sl;
	rel += *rel == '/';
	struct ufs_attr a;
	return ufs_stat_beneath(v->src.ufs, *dfd, rel, &a) < 0;
}

/* A writer's handle keeps the identity of the source file it writes (device and inode, in its
 * otherwise unused attr), journaled with it: after a restart it is reopened by name, and must
 * not then write into another file that took that name meanwhile. "" when fd cannot say. */
static void writer_identity(int fd, char *buf, size_t len)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		buf[0] = '\0';
	else
		snprintf(buf, len, "w:%llx:%llx", (unsigned long long)st.st_dev,
			 (unsigned long long)st.st_ino);
}

/* The version in is bound to, or NULL (a directory, or a view that opens its files). */
static struct handle *inode_bound(struct view *v, struct inode *in)
{
	pthread_mutex_lock(&v->lock);
	struct handle *b = in->bound;
	pthread_mutex_unlock(&v->lock);
	return b;
}

/* True while inode in has handles open for writing. */
static bool being_written(struct view *v, struct inode *in)
{
	pthread_mutex_lock(&v->lock);
	bool w = in->opens_write > 0;
	pthread_mutex_unlock(&v->lock);
	return w;
}

/* A descriptor of the source file that a writer of inode in holds, duplicated (a RELEASE may
 * close the writer's own at any time); -1 when nobody writes it. The caller closes it. */
static int writer_fd_dup(struct view *v, struct inode *in)
{
	int fd = -1;
	pthread_mutex_lock(&v->lock);
	for (struct handle *h = in->opens_write ? LIST_FIRST(&v->handles) : NULL; h;
	     h = LIST_NEXT(h, link))
		if (h->ino == in && h->wfd >= 0) {
			fd = fcntl(h->wfd, F_DUPFD_CLOEXEC, 0);
			break;
		}
	pthread_mutex_unlock(&v->lock);
	return fd;
}

/* rw views: a write through v to in begins, before the version it starts from is read; it
 * ends with note_written (the version it left known) or write_abort. */
static void write_begin(struct view *v, struct inode *in)
{
	char path[PATH_MAX];
	pthread_mutex_lock(&v->lock);
	in->writing++;
	snprintf(path, sizeof(path), "%s", in->path);
	pthread_mutex_unlock(&v->lock);
	meta_cache_writing(v->src.meta, path);
}

/* rw views: what the metadata cache validated of in's path is not its version now (a write
 * through v): the next OPEN or lookup asks the source. Before the write is noted, so an OPEN
 * that counts the noted writes after that never takes the version before from the cache. */
static void meta_written_of(struct view *v, struct inode *in)
{
	char path[PATH_MAX];
	pthread_mutex_lock(&v->lock);
	snprintf(path, sizeof(path), "%s", in->path);
	pthread_mutex_unlock(&v->lock);
	meta_cache_written(v->src.meta, path);
}

/* rw views: a write begun with write_begin failed, or what it left is not known: an OPEN that
 * waited for it validates at the source again. */
static void write_abort(struct view *v, struct inode *in)
{
	meta_written_of(v, in);
	pthread_mutex_lock(&v->lock);
	in->writes++;
	if (in->own)
		in->own->post_known = false;
	if (in->writing > 0 && --in->writing == 0)
		pthread_cond_broadcast(&v->write_cond);
	pthread_mutex_unlock(&v->lock);
}

/* rw views: a write through this view took inode in from version pre to post (ufs_fd_stat of
 * the written descriptor before and after). The read handles open on in read pre (the inode's
 * one version while they are open, cache_version) unless the file changed elsewhere since
 * they opened; then they follow: in's version becomes post, which they read from now on, as
 * on a local file system. A change from elsewhere never moves them (a new version of the path
 * gets a new inode, and a write on top of one finds pre is not theirs): ESTALE, as before.
 * Returns whether read handles are open on in. */
static bool note_written(struct view *v, struct inode *in, const struct ufs_attr *pre,
			 const struct ufs_attr *post)
{
	pthread_mutex_lock(&v->lock);
	in->writes++;
	if (!in->own)
		in->own = calloc(1, sizeof(*in->own));
	if (in->own) {
		if (!in->own->post_known || !version_key_same(&in->own->seen[(in->own->next +
									OWN_WRITES_SEEN - 1) %
								       OWN_WRITES_SEEN],
							     pre))
			own_seen(in->own, pre);
		own_seen(in->own, post);
		in->own->last_post = *post;
		in->own->post_known = true;
	}
	if (in->writing > 0 && --in->writing == 0)
		pthread_cond_broadcast(&v->write_cond);
	bool readers = in->opens_read > 0;
	if (in->opens_read > 0 && in->cache_known && version_key_same(&in->cache_version, pre)) {
		if (!in->wrote)
			in->wrote = malloc(sizeof(*in->wrote));
		if (in->wrote) {
			*in->wrote = *post;
			in->cache_version = version_key_of(post);
		}
	}
	pthread_mutex_unlock(&v->lock);
	return readers;
}

/* Whether read handle h was opened before writes through its view that its inode's version
 * followed (note_written): then *ret_head is the version the last of them left, which h
 * reads (straight from the source: read_written; the block store keeps whole versions for
 * the descriptors that keep theirs). */
static bool follows_writes(struct view *v, const struct handle *h, struct ufs_attr *ret_head)
{
	if (!v->cfg.read_write || h->wfd >= 0 || !h->reads_version)
		return false;
	pthread_mutex_lock(&v->lock);
	const struct inode *in = h->ino;
	bool r = in->wrote && in->cache_known && !version_key_same(&in->cache_version, &h->attr) &&
		 version_key_same(&in->cache_version, in->wrote);
	if (r)
		*ret_head = *in->wrote;
	pthread_mutex_unlock(&v->lock);
	return r;
}

/* The attributes of inode in the kernel gets, and how long it may keep them; recorded as told.
 * While the file is open for writing: the open file's own (fstat of a writer's descriptor:
 * every writer's bytes count, and a file renamed over answers for itself, not for its old
 * name), kept for no time. Otherwise the metadata cache's, but the size and mtime of the
 * version open on the inode (a read handle's, a bound inode's), whatever the path holds now:
 * the path's later versions and its removal are other inodes' business. */
static int current_attr(struct view *v, struct inode *in, const struct handle *h,
			struct ufs_attr *ret, double *ret_timeout)
{
	struct ufs_attr a;
	int r;
	int fd = h && h->wfd >= 0 ? -1 : writer_fd_dup(v, in);
	if (h && h->wfd >= 0) {
		r = fd_attr(h->wfd, &a);
		*ret_timeout = 0;
	} else if (fd >= 0) {
		r = fd_attr(fd, &a);
		close(fd);
		*ret_timeout = 0;
	} else {
		r = meta_cache_getattr(v->src.meta, in->path, v->cfg.metadata_ttl_ms, &a);
		/* A read handle's or a bound inode's (no-open) version is theirs for good; the
		 * owner and mode stay current. */
		const struct handle *own = h ? h : inode_bound(v, in);
		struct ufs_attr head;
		const struct ufs_attr *own_attr = own ? &own->attr : NULL;
		if (h && follows_writes(v, h, &head))
			own_attr = &head; /* what the writes through this view left */
		if (own && (r < 0 || a.is_dir)) {
			a = *own_attr;
			r = 0;
		} else if (own) {
			a.size = own_attr->size;
			a.mtime = own_attr->mtime;
		}
		/* The source's root is in no listing: its owner and mode come from a stat. */
		if (r == 0 && a.is_dir && !a.has_owner && ufs_has_owners(v->src.ufs))
			r = ufs_stat(v->src.ufs, in->path, &a);
		pthread_mutex_lock(&v->lock);
		if (in->opens_read > 0 && (r < 0 || a.is_dir)) {
			/* gone from the source, or a directory now: still its descriptors' file */
			const struct handle *o = open_read_handle_locked(v, in);
			if (o) {
				a = o->attr;
				r = 0;
			}
		}
		if (r == 0)
			tell_attr_locked(in, &a);
		pthread_mutex_unlock(&v->lock);
		*ret_timeout = v->ttl_s;
		if (r == 0)
			*ret = a;
		return r;
	}
	if (r == 0) {
		atomic_store(&in->told_size, a.is_dir ? 0 : a.size);
		*ret = a;
	}
	return r;
}

static int make_entry_for(struct view *v, struct inode *in, const struct ufs_attr *a,
			  struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = in->ino;
	e->attr_timeout = v->ttl_s;
	e->entry_timeout = v->ttl_s;
	struct ufs_attr told = *a;
	if (a->is_dir || !being_written(v, in) ||
	    current_attr(v, in, NULL, &told, &e->attr_timeout) < 0) {
		/* (a file being written answers as its writers see it: the cache may lag them) */
		told = *a;
		pthread_mutex_lock(&v->lock);
		tell_attr_locked(in, &told);
		pthread_mutex_unlock(&v->lock);
	}
	fill_stat(v, in->ino, &told, &e->attr);
	int r = inode_journal(v, in);
	if (r < 0)
		return r; /* an inode a new weir-node could not answer for: not given out */
	atomic_fetch_add(in->nlookup, 1);
	return 0;
}

/* An entry for path at attributes a: the path's inode, or a new one when a is another type, or
 * (exact: a was validated at the UFS) another version than the one read handles hold open on
 * it. The old inode keeps answering for its own version to its descriptors. */
static int make_entry(struct view *v, const char *path, const struct ufs_attr *a, bool exact,
		      struct fuse_entry_param *e)
{
	struct inode *old = NULL;
	pthread_mutex_lock(&v->lock);
	struct inode *in = by_path_get(v, path);
	if (in && entry_conflict_locked(in, a, exact) &&
	    !(v->cfg.read_write && follows_own_writes_locked(in, a)) &&
	    inode_detach_locked(v, in)) {
		old = in;
		in = NULL;
	}
	if (!in)
		in = inode_for_path_locked(v, path);
	pthread_mutex_unlock(&v->lock);
	if (old) {
		journal_detach(v, old);
		atomic_fetch_add(&v->new_versions, 1);
		if (in)
			log_info("\"%s\" changed at the UFS while open: new opens get inode %llu "
				 "(%" PRIu64 " bytes%s); descriptors open on inode %llu keep their "
				 "version",
				 path, (unsigned long long)in->ino, a->size,
				 a->is_dir ? ", a directory" : "", (unsigned long long)old->ino);
	}
	return in ? make_entry_for(v, in, a, e) : -ENOMEM;
}

/* ---- no-open views: one inode, one version ----
 * The kernel opens files by itself (no OPEN, FLUSH or RELEASE; every open keeps the page
 * cache), so nothing binds a descriptor to a version at open. An inode is bound instead, at
 * its lookup: its page cache and its READs only ever hold that version, and a lookup that
 * finds another version of the path answers with a new inode (new page cache). Descriptors on
 * the old inode read its pages, then its blocks while the UFS still has them, then ESTALE. */

static struct handle *bound_new(const char *path, uint64_t obj, const struct ufs_attr *a)
{
	struct handle *h = calloc(1, sizeof(*h));
	if (!h || !(h->path = strdup(path))) {
		free(h);
		return NULL;
	}
	h->obj = obj;
	h->attr = *a;
	h->wfd = -1;
	h->backing_fd = -1;
	prefetch_seq_init(&h->seq);
	h->open_flags = O_RDONLY;
	pthread_mutex_init(&h->lock, NULL);
	return h;
}

static void bound_free(struct handle *h)
{
	if (!h)
		return;
	pthread_mutex_destroy(&h->lock);
	free(h->path);
	free(h);
}

/* Journals in's binding (once) before the kernel hears of it: a new weir-node must serve the
 * inode's READs at the version its page cache holds. As inode_journal, two threads may both
 * write it; replay takes it twice, harmlessly. */
static int bind_journal(struct view *v, struct inode *in, const struct handle *b)
{
	if (!v->journal || atomic_load(&in->bind_journaled))
		return 0;
	struct view_journal_rec rec = {.type = VJ_BIND,
				       .ino = in->ino,
				       .obj = b->obj,
				       .attr = b->attr,
				       .blob_len = (uint32_t)strlen(b->path)};
	int r = view_journal_append(v->journal, &rec, b->path);
	if (r == 0)
		atomic_store(&in->bind_journaled, true);
	else
		log_warn(
		    "journal of \"%s\": %s; inode %llu of \"%s\" is not given out (a restarted "
		    "weir-node would not know its version)",
		    v->mountpoint, strerror(-r), (unsigned long long)in->ino, b->path);
	return r;
}

/* The inode that answers for path at version a (object obj): the path's inode while it is
 * bound to a (or to nothing yet), else a new inode, and the old one leaves the path. Sets
 * *ret_bound to the binding. Returns the inode, or NULL (out of memory). */
static struct inode *inode_bind(struct view *v, const char *path, const struct ufs_attr *a,
				uint64_t obj, struct handle **ret_bound)
{
	struct handle *nb = bound_new(path, obj, a);
	if (!nb)
		return NULL;
	bool replaced = false;
	pthread_mutex_lock(&v->lock);
	struct inode *in = by_path_get(v, path);
	/* (a path the kernel knew as a directory gets a new inode too: it fails an inode whose
	 * type changes) */
	if (in && ((in->bound && !ufs_attr_same_version(&in->bound->attr, a)) ||
		   (in->told_known && in->told_dir))) {
		in->detached = true;
		by_path_remove(v, in);
		replaced = true;
		in = NULL;
	}
	if (!in)
		in = inode_for_path_locked(v, path);
	if (in && !in->bound) {
		nb->ino = in;
		in->bound = nb;
		nb = NULL;
	}
	if (in)
		*ret_bound = in->bound;
	pthread_mutex_unlock(&v->lock);
	bound_free(nb);
	if (replaced && in) {
		atomic_fetch_add(&v->new_versions, 1);
		log_info("\"%s\" changed at the UFS: new opens get inode %llu (%" PRIu64 " bytes); "
			 "descriptors open on the old one keep its version",
			 path, (unsigned long long)in->ino, a->size);
	}
	return in;
}

/* A bound inode's version is gone at the UFS: the kernel looks its name up again at the next
 * open (and finds the path's new inode) instead of trusting its cached entry until the TTL.
 * From a READ: the reader holds no directory lock the kernel's invalidation needs. */
static void forget_entry(struct view *v, const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash || !slash[1])
		return;
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	pthread_mutex_lock(&v->lock);
	struct inode *p = by_path_get(v, parent);
	fuse_ino_t pino = p ? p->ino : 0;
	pthread_mutex_unlock(&v->lock);
	if (!pino)
		return;
	int r = fuse_lowlevel_notify_inval_entry(v->se, pino, slash + 1, strlen(slash + 1));
	if (r < 0 && r != -ENOENT)
		log_debug("invalidating the entry of \"%s\": %s", path, strerror(-r));
}

/* A READDIRPLUS entry for a file of a no-open view, bound as its LOOKUP would bind it, when
 * that needs nothing but memory: its version known within the TTL (a validation, or an exact
 * listing) and every byte of it in a tier. A warm reader (cp -R, a training epoch after a
 * remount) then stats and opens the file with no LOOKUP and reads it with one READ; a file
 * that is not all cached is left to its LOOKUP, which fetches the next files ahead
 * (dir_stream). Fills *e and counts a lookup; -EAGAIN: give the name only. */
static int entry_bound_cached(struct view *v, const char *path, struct fuse_entry_param *e)
{
	struct ufs_attr a;
	bool changed = false;
	uint64_t obj;
	struct handle *b = NULL;
	int r = meta_cache_validate_cached(v->src.meta, path, v->cfg.metadata_ttl_ms, &a, &changed);
	if (r < 0 || changed || a.is_dir)
		return -EAGAIN;
	if (block_store_object_complete(v->src.store, path, &a, &obj) < 0)
		return -EAGAIN;
	struct inode *in = inode_bind(v, path, &a, obj, &b);
	if (!in)
		return -ENOMEM;
	r = bind_journal(v, in, b);
	if (r == 0)
		r = make_entry_for(v, in, &b->attr, e);
	return r;
}

static void dir_stream(struct view *v, const char *path);

/* LOOKUP of a file in a no-open view: validated (a HEAD at most once per metadata TTL, as an
 * open's), bound, journaled, answered. Takes path. */
static void lookup_bound(fuse_req_t req, struct view *v, char *path, struct ufs_attr *a)
{
	bool changed = false;
	uint64_t obj = 0;
	struct handle *b = NULL;
	struct fuse_entry_param e;
	int r = meta_cache_validate(v->src.meta, path, v->cfg.metadata_ttl_ms, false, a, &changed);
	if (r == 0 && a->is_dir) {
		r = make_entry(v, path, a, true, &e);
		goto reply;
	}
	if (r == 0)
		r = block_store_object_sync(v->src.store, path, a, &obj);
	if (r == 0 && changed)
		log_info("\"%s\" changed at the UFS; its cached blocks were dropped", path);
	struct inode *in = r == 0 ? inode_bind(v, path, a, obj, &b) : NULL;
	if (r == 0 && !in)
		r = -ENOMEM;
	if (r == 0)
		r = bind_journal(v, in, b);
	if (r == 0)
		r = make_entry_for(v, in, &b->attr, &e);
reply:
	if (r < 0) {
		log_debug("lookup of \"%s\" failed: %s", path, strerror(-r));
		fuse_reply_err(req, errno_for_fuse(r));
		free(path);
		return;
	}
	fuse_reply_entry(req, &e);
	/* opens in listing order fetch the next files ahead, as op_open's do */
	if (!a->is_dir)
		dir_stream(v, path);
	free(path);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct view *v = userdata;
	if (atomic_load(&v->no_open) && !(conn->capable & FUSE_CAP_NO_OPEN_SUPPORT)) {
		log_warn("\"%s\": this kernel cannot open files without the daemon (no "
			 "FUSE_NO_OPEN_SUPPORT): serving it with OPEN",
			 v->mountpoint);
		atomic_store(&v->no_open, false);
	}
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO;
	/* Writes never come (read-only mount); reads go up to max_pages (1 MiB). */
	conn->max_readahead = 0xffffffffu;
	/* READs of read-ahead are background requests, at most max_background of them in flight
	 * on a connection; past that the next one waits in the kernel (fuse_get_req, asleep)
	 * before it is even sent. At the kernel's 12 a reader streaming through the view kept
	 * them all, and a random reader's 4 KiB read (read-ahead too, of its one page) waited
	 * behind them: 31-41% of the time of hits slower than 1 ms (bench/evict-stall.sh
	 * BENCH_SPLIT=1). The congestion threshold stays the kernel's 9: past it the kernel
	 * sends no read-ahead of pages nobody asked for yet, so streams keep about as many
	 * READs in flight as before (with 48, 8 cold readers ended 10% later: their far
	 * read-ahead took the link from the blocks they were waiting for, bench/cold-warm.sh
	 * cold8), and the slots above it are left to pages a reader is waiting for. 24, not
	 * more: 64 gave the hits no more (p99 4.3-3.9 ms against 4.7-3.2 ms) and lets more READs
	 * pin blocks and queue at the view's two reply threads at once. */
	conn->max_background = VIEW_MAX_BACKGROUND;
	conn->congestion_threshold = VIEW_CONGESTION;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct view *v = fuse_req_userdata(req);
	atomic_fetch_add(&v->lookup_reqs, 1);
	struct inode *pin = inode_get(v, parent);
	if (!pin) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	char *path = child_path(pin->path, name);
	if (!path) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* The directory the kernel let the reader search may since lead elsewhere: the name must
	 * be within the reader's reach (whether it exists is the listing's to say). */
	int pr = reader_may(req, v, path, 0, NULL);
	if (pr < 0 && pr != -ENOENT) {
		free(path);
		fuse_reply_err(req, errno_for_fuse(pr));
		return;
	}
	struct ufs_attr a;
	int r = meta_cache_getattr(v->src.meta, path, v->cfg.metadata_ttl_ms, &a);
	if (r == -ENOENT) {
		/* Negative entry, cached as long as positive ones. */
		struct fuse_entry_param e = {.ino = 0, .entry_timeout = v->ttl_s};
		free(path);
		fuse_reply_entry(req, &e);
		return;
	}
	if (r == 0 && !a.is_dir && atomic_load(&v->no_open)) {
		lookup_bound(req, v, path, &a);
		return;
	}
	/* Read handles are open on the path's inode: is the path still at their version? Asked of
	 * the UFS (at most once per metadata TTL, as an open asks), not of the listing, whose size
	 * or date may lag or lie. Another version gets a new inode (make_entry). */
	bool exact = false;
	if (r == 0 && !a.is_dir && path_busy(v, path)) {
		struct ufs_attr va;
		bool changed;
		if (meta_cache_validate(v->src.meta, path, v->cfg.metadata_ttl_ms, false, &va,
					&changed) == 0) {
			a = va;
			exact = true;
		}
	}
	struct fuse_entry_param e;
	if (r == 0)
		r = make_entry(v, path, &a, exact, &e);
	if (r < 0) {
		log_debug("lookup of \"%s\" failed: %s", path, strerror(-r));
		free(path);
		fuse_reply_err(req, errno_for_fuse(r));
		return;
	}
	free(path);
	fuse_reply_entry(req, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct view *v = fuse_req_userdata(req);
	struct inode *in = inode_get(v, ino);
	if (in)
		atomic_fetch_sub(in->nlookup, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct view *v = fuse_req_userdata(req);
	for (size_t i = 0; i < count; i++) {
		struct inode *in = inode_get(v, forgets[i].ino);
		if (in)
			atomic_fetch_sub(in->nlookup, forgets[i].nlookup);
	}
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct view *v = fuse_req_userdata(req);
	atomic_fetch_add(&v->getattr_reqs, 1);
	struct inode *in = inode_get(v, ino);
	if (!in) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	struct ufs_attr a;
	double timeout;
	const struct handle *h = fi ? fh_file(v, fi->fh) : NULL;
	int r = current_attr(v, in, h, &a, &timeout);
	if (r < 0) {
		fuse_reply_err(req, errno_for_fuse(r));
		return;
	}
	struct stat st;
	fill_stat(v, ino, &a, &st); /* recorded as told by current_attr */
	fuse_reply_attr(req, &st, timeout);
}

/* Custom I/O on /dev/fuse. On the way in: keep the kernel's INIT (journaled with its reply);
 * on a taken-over connection, hand libfuse the first weir-node's INIT before anything else. */
static ssize_t io_read(int fd, void *buf, size_t len, void *userdata)
{
	struct view *v = userdata;
	if (atomic_load(&v->adopt_phase) != ADOPT_DONE) {
		pthread_mutex_lock(&v->adopt_lock);
		while (atomic_load(&v->adopt_phase) == ADOPT_WAIT)
			pthread_cond_wait(&v->adopt_cond, &v->adopt_lock);
		bool mine = atomic_load(&v->adopt_phase) == ADOPT_INIT && len >= v->init_len;
		if (mine)
			atomic_store(&v->adopt_phase, ADOPT_WAIT);
		pthread_mutex_unlock(&v->adopt_lock);
		if (mine) {
			memcpy(buf, v->init_req, v->init_len);
			return (ssize_t)v->init_len;
		}
	}
	ssize_t n = read(fd, buf, len);
	if (n < (ssize_t)sizeof(struct fuse_in_header))
		return n;
	const struct fuse_in_header *in = buf;
	req_unique = in->unique;
	if (in->opcode == FUSE_INIT &&
	    n >= (ssize_t)(sizeof(*in) + offsetof(struct fuse_init_in, unused))) {
		const struct fuse_init_in *ii = (const void *)(in + 1);
		v->init_unique = in->unique;
		v->init_len = (size_t)n < sizeof(v->init_req) ? (size_t)n : sizeof(v->init_req);
		memcpy(v->init_req, buf, v->init_len);
		bool ext = ii->flags & FUSE_INIT_EXT;
		atomic_store(&v->pt_offered, ext && (ii->flags2 & (FUSE_PASSTHROUGH >> 32)));
		v->resend = ext && (ii->flags2 & (FUSE_HAS_RESEND >> 32));
	}
	return n;
}

/* Requests the dead weir-node had read but not answered wait in the kernel's processing queue;
 * FUSE_NOTIFY_RESEND (Linux 6.9+) puts them back to be read again, by us. */
static char *temp_path(struct view *v, const char *dir, uint64_t unique, int gen);
/* How many temporary names a create may try (temp_path's gen). */
enum { TEMP_GENS = 2 };

/* A temporary name a dead weir-node made for a mkdir or a create whose request never comes back
 * (a kernel that cannot resend): removed, so it does not stay in the source forever. Only the
 * object the journal recorded (ident) at either temporary name (create_placed's gens): another
 * there (a host user's, put there while weir-node was down) is not weir's to remove, nor one
 * whose identity was never recorded. */
static void temp_left(void *arg, uint64_t unique, enum view_journal_op op, uint64_t parent,
		      uint64_t ident)
{
	struct view *v = arg;
	if (op != VJ_OP_MKDIR && op != VJ_OP_CREATE)
		return;
	struct inode *pin = inode_get(v, parent);
	char path[PATH_MAX] = "";
	if (pin) {
		pthread_mutex_lock(&v->lock);
		snprintf(path, sizeof(path), "%s", pin->path);
		pthread_mutex_unlock(&v->lock);
	}
	for (int gen = 0; path[0] && ident != 0 && gen < TEMP_GENS; gen++) {
		char *tmp = temp_path(v, path, unique, gen);
		uint64_t id;
		if (tmp && ufs_ident(v->src.ufs, tmp, &id) == 0 && id == ident &&
		    ufs_remove(v->src.ufs, tmp, op == VJ_OP_MKDIR) == 0)
			log_info("\"%s\": removed \"%s\", left by a mkdir or create never answered",
				 v->mountpoint, tmp);
		free(tmp);
	}
}

static void resend_in_flight(struct view *v)
{
	if (!v->resend) {
		if (v->journal)
			view_journal_ops_left(v->journal, temp_left, v);
		log_warn("\"%s\": this kernel cannot resend requests (no FUSE_HAS_RESEND): the "
			 "ones in flight when the last weir-node died never get an answer, and "
			 "their readers wait until weir umount --force",
			 v->mountpoint);
		return;
	}
	struct fuse_out_header oh = {.len = sizeof(oh), .error = FUSE_NOTIFY_RESEND};
	if (write(v->devfd, &oh, sizeof(oh)) != (ssize_t)sizeof(oh))
		log_warn("\"%s\": FUSE_NOTIFY_RESEND failed: %s; requests in flight at the crash "
			 "stay unanswered",
			 v->mountpoint, strerror(errno));
	else
		log_info("\"%s\": taken over; requests in flight were resent", v->mountpoint);
}

/* ...and on the way out: accept passthrough in INIT and journal it before the kernel has it;
 * mark the OPEN replies of handles with a backing file; swallow the reply to a replayed INIT. */
static ssize_t io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct view *v = userdata;
	struct fuse_out_header *out = iov[0].iov_base;
	size_t total = 0;
	for (int i = 0; i < count; i++)
		total += iov[i].iov_len;
	bool is_init =
	    iov[0].iov_len >= sizeof(*out) && out->unique == v->init_unique && v->init_len > 0;
	if (is_init && atomic_load(&v->adopt_phase) == ADOPT_WAIT) {
		/* The kernel had its INIT answered by the first weir-node. */
		pthread_mutex_lock(&v->adopt_lock);
		atomic_store(&v->adopt_phase, ADOPT_DONE);
		pthread_cond_broadcast(&v->adopt_cond);
		pthread_mutex_unlock(&v->adopt_lock);
		resend_in_flight(v);
		return (ssize_t)total;
	}
	if (count >= 2 && iov[0].iov_len >= sizeof(*out) && out->error == 0) {
		if (is_init && iov[1].iov_len >= offsetof(struct fuse_init_out, unused)) {
			struct fuse_init_out *io = iov[1].iov_base;
			uint32_t flags = atomic_load(&v->no_open) ? VJ_INIT_NO_OPEN : 0;
			if (atomic_load(&v->pt_offered) && !v->cfg.no_passthrough &&
			    !atomic_load(&v->no_open)) {
				io->flags |= FUSE_INIT_EXT;
				io->flags2 |= FUSE_PASSTHROUGH >> 32;
				io->max_stack_depth = 1;
				atomic_store(&v->passthrough, true);
				flags |= VJ_INIT_PASSTHROUGH;
			}
			struct view_journal_rec rec = {
			    .type = VJ_INIT, .flags = flags, .blob_len = (uint32_t)v->init_len};
			int r = v->journal ? view_journal_append(v->journal, &rec, v->init_req) : 0;
			if (r < 0)
				log_warn("journal of \"%s\": %s; a restarted weir-node cannot take "
					 "this view over",
					 v->mountpoint, strerror(-r));
		} else if (pt_reply_backing > 0 && iov[1].iov_len == sizeof(struct fuse_open_out)) {
			struct fuse_open_out *oo = iov[1].iov_base;
			if (oo->fh == pt_reply_fh) {
				/* The kernel refuses passthrough with any other flag (keep_cache
				 * among them): the backing file's page cache serves anyway. */
				oo->open_flags &= FOPEN_DIRECT_IO | FOPEN_NOFLUSH;
				oo->open_flags |= FOPEN_PASSTHROUGH;
				oo->backing_id = pt_reply_backing;
			}
		}
	}
	return writev(fd, iov, count);
}

static ssize_t io_splice_send(int fdin, off_t *offin, int fdout, off_t *offout, size_t len,
			      unsigned int flags, void *userdata)
{
	return splice(fdin, offin, fdout, offout, len, flags);
}

static void unpin_blocks(struct view *v, struct handle *h)
{
	for (uint64_t b = 0; b < h->pinned; b++)
		block_store_release(v->src.store, h->obj, b);
	h->pinned = 0;
}

/* Counts bytes of obj read through this view toward its heat (the namespace's weight), for
 * views whose reads eBPF does not count. */
static void count_own(struct view *v, uint64_t obj, uint64_t bytes)
{
	block_store_add_heat(v->src.store, obj, (double)((bytes + 4095) / 4096),
			     v->cfg.heat_weight);
	atomic_fetch_add(&v->counted_bytes, bytes);
}

/* When every block of the object sits in one tier file, reads can go straight to it: pin the
 * blocks (eviction must not punch holes under a reader) and register the file as backing. */
static void try_passthrough(struct view *v, struct handle *h)
{
	/* In a read-write view a writer must be able to open the file at any time, and the
	 * kernel refuses a non-passthrough open of an inode open in passthrough. */
	if (!atomic_load(&v->passthrough) || h->attr.size == 0 || v->cfg.read_write)
		return;
	uint64_t nblocks = (h->attr.size + v->block_size - 1) / v->block_size;
	int fd = -1;
	for (uint64_t b = 0; b < nblocks; b++) {
		if (!block_store_contains(v->src.store, h->obj, b))
			goto undo;
		struct block_ref ref;
		if (block_store_acquire(v->src.store, h->obj, b, &ref) < 0)
			goto undo;
		h->pinned = b + 1;
		if (fd >= 0 && ref.fd != fd)
			goto undo;
		fd = ref.fd;
	}
	/* Whoever counts passthrough reads must be ready before the first one. The hook may be
	 * given later (view_track_passthrough), hence read under the lock. */
	pthread_mutex_lock(&v->lock);
	bool (*hold)(void *, bool, dev_t, uint64_t, uint64_t, int) = v->cfg.passthrough_hold;
	void *hold_data = v->cfg.passthrough_hold_data;
	bool unseen = v->cfg.passthrough_unseen;
	pthread_mutex_unlock(&v->lock);
	/* an open racing the mount's start: its reads could not be counted on this view */
	if (hold && !atomic_load(&v->dev))
		goto undo;
	if (hold && !hold(hold_data, true, v->dev, h->ino->ino, h->pt_cgroup, fd))
		goto undo;
	struct inode *in = h->ino;
	pthread_mutex_lock(&v->lock);
	/* An open of the inode whose own reservation did not pan out went cached meanwhile (its
	 * reply may be out): the kernel keeps one I/O mode per inode and would fail this
	 * passthrough open with EIO. This one goes cached too. */
	bool cached = in->opens_cached > 0;
	int id = !cached && in->backing_id > 0 && in->backing_obj == h->obj ? in->backing_id : 0;
	bool other = in->backing_id > 0 && in->backing_obj != h->obj;
	if (id > 0)
		in->backing_refs++;
	pthread_mutex_unlock(&v->lock);
	if (other || cached)
		goto unhold; /* another version holds the inode's backing: no second one */
	if (id <= 0) {
		/* Registered outside the lock (a syscall into the kernel); a concurrent open that
		 * registered first wins, and ours is closed again. */
		struct fuse_backing_map map = {.fd = fd};
		int mine = ioctl(v->devfd, FUSE_DEV_IOC_BACKING_OPEN, &map);
		if (mine <= 0) {
			log_debug("passthrough of \"%s\" refused: %s", h->path, strerror(errno));
			goto unhold;
		}
		pthread_mutex_lock(&v->lock);
		if ((in->backing_id > 0 && in->backing_obj != h->obj) || in->opens_cached > 0) {
			id = -1;
		} else if (in->backing_id > 0) {
			id = in->backing_id;
			in->backing_refs++;
		} else {
			in->backing_id = id = mine;
			in->backing_obj = h->obj;
			in->backing_refs = 1;
		}
		pthread_mutex_unlock(&v->lock);
		if (id != mine && ioctl(v->devfd, FUSE_DEV_IOC_BACKING_CLOSE, &mine) < 0)
			log_debug("closing backing %d: %s", mine, strerror(errno));
		if (id <= 0)
			goto unhold;
	}
	h->backing_id = id;
	h->backing_fd = fd;
	h->pt_held = hold != NULL;
	atomic_fetch_add(&v->passthrough_opens, 1);
	atomic_fetch_add(&v->passthrough_bytes, h->attr.size);
	/* Its reads go to the tier file. eBPF counts them on this view, by the bytes read;
	 * without it, count the open as one read of the whole file for eviction's ranking. */
	if (unseen) {
		count_own(v, h->obj, h->attr.size);
		atomic_store(&h->counted_whole, true);
	}
	return;
unhold:
	if (hold)
		hold(hold_data, false, v->dev, h->ino->ino, h->pt_cgroup, fd);
undo:
	unpin_blocks(v, h);
}

/* Gives h its number, counts it against its inode's I/O mode (the kernel keeps one per inode:
 * cached or passthrough) unless op_open reserved that already, and lists it, so that view_stop
 * closes what the kernel never released. Returns 0, or -ENOMEM (h is then not registered). */
static int handle_register(struct view *v, struct handle *h, bool mode_reserved)
{
	pthread_mutex_lock(&v->lock);
	uint64_t fh = h->fh ? h->fh : fh_alloc_locked(v);
	if (!fh) {
		pthread_mutex_unlock(&v->lock);
		return -ENOMEM;
	}
	h->fh = fh;
	v->fhs[fh - 1].file = h;
	if (!mode_reserved && h->backing_id > 0)
		h->ino->opens_passthrough++;
	else if (!mode_reserved)
		h->ino->opens_cached++;
	if (h->wfd >= 0)
		h->ino->opens_write++;
	LIST_INSERT_HEAD(&v->handles, h, link);
	pthread_mutex_unlock(&v->lock);
	return 0;
}

static void unpin_blocks(struct view *v, struct handle *h);
static void forget_cached(struct view *v, const char *path);

/* Undoes handle_register and everything the handle holds: its backing file, pinned blocks,
 * write fd (a written file's cached state is forgotten). */
static void handle_close(struct view *v, struct handle *h)
{
	int close_id = -1;
	(void)atomic_load_explicit(&h->replies, memory_order_acquire); /* see replies */
	pthread_mutex_lock(&v->lock);
	if (h->backing_id > 0 && h->ino->backing_id == h->backing_id &&
	    --h->ino->backing_refs == 0) {
		close_id = h->ino->backing_id;
		h->ino->backing_id = 0;
	}
	if (h->backing_id > 0)
		h->ino->opens_passthrough--;
	else
		h->ino->opens_cached--;
	if (h->reads_version)
		h->ino->opens_read--;
	/* Listed (and numbered) only once handle_register succeeded. */
	if (h->fh && h->fh <= v->nfhs && v->fhs[h->fh - 1].file == h) {
		if (h->wfd >= 0)
			h->ino->opens_write--;
		LIST_REMOVE(h, link);
		fh_release_locked(v, h->fh);
	}
	pthread_mutex_unlock(&v->lock);
	if (close_id > 0 && ioctl(v->devfd, FUSE_DEV_IOC_BACKING_CLOSE, &close_id) < 0)
		log_debug("closing backing %d: %s", close_id, strerror(errno));
	if (h->pt_held)
		v->cfg.passthrough_hold(v->cfg.passthrough_hold_data, false, v->dev, h->ino->ino,
					h->pt_cgroup, h->backing_fd);
	unpin_blocks(v, h);
	if (h->wfd >= 0) {
		close(h->wfd);
		if (h->dirty)
			forget_cached(v, h->path);
	}
	pthread_mutex_destroy(&h->lock);
	free(h->path);
	free(h);
}

/* ---- rw views: writes go straight to the UFS, and what weir cached of a changed file or
 * directory is forgotten, so every view sees the new bytes on its next open. ---- */

static void forget_cached(struct view *v, const char *path)
{
	uint64_t obj;
	meta_cache_invalidate(v->src.meta, path);
	if (block_store_object_find(v->src.store, path, &obj) == 0)
		block_store_invalidate(v->src.store, obj);
}

/* The inode of directory ino when the view may be written; else replies the error, NULL. */
static struct inode *writable_dir(fuse_req_t req, struct view *v, fuse_ino_t ino)
{
	struct inode *in = inode_get(v, ino);
	if (!v->cfg.read_write || !in) {
		fuse_reply_err(req, in ? EROFS : ENOENT);
		return NULL;
	}
	/* a directory swapped at the source, since its lookup, for a link out of the view's root
	 * must not take a create, mkdir, removal or rename there */
	int r = writer_beneath(v, in->path);
	if (r < 0) {
		fuse_reply_err(req, errno_for_fuse(r));
		return NULL;
	}
	return in;
}

/* After a write through this view (len bytes at off, or a size change when len < 0) of inode in
 * by descriptor fd, whose version was pre before it: the readers of the view follow it
 * (note_written), and what the kernel cached of the range for them is dropped, so they read
 * the new bytes (their next READs come to us; with none open, the next open drops the cache
 * of a version not its own). Before the reply: the writer's inode lock on the kernel's side
 * is no lock the invalidation takes. */
static void written(struct view *v, struct inode *in, const struct ufs_attr *pre, int fd, off_t off,
		    ssize_t len)
{
	struct ufs_attr post;
	if (ufs_fd_stat(v->src.ufs, fd, &post) < 0) {
		write_abort(v, in);
		return;
	}
	meta_written_of(v, in);
	if (!note_written(v, in, pre, &post) || len == 0)
		return;
	int r =
	    fuse_lowlevel_notify_inval_inode(v->se, in->ino, len < 0 ? 0 : off, len < 0 ? 0 : len);
	if (r < 0 && r != -ENOENT)
		log_debug("invalidating what the kernel cached of \"%s\": %s", in->path,
			  strerror(-r));
}

static struct handle *write_handle_new(struct inode *in, int wfd)
{
	struct handle *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->path = strdup(in->path);
	if (!h->path) {
		free(h);
		return NULL;
	}
	pthread_mutex_init(&h->lock, NULL);
	h->ino = in;
	h->wfd = wfd;
	h->backing_fd = -1;
	return h;
}

static void open_for_write(fuse_req_t req, struct view *v, struct inode *in,
			   struct fuse_file_info *fi)
{
	/* What an O_TRUNC open empties: the readers that follow this view's writes see it. */
	struct ufs_attr pre;
	bool trunc = (fi->flags & O_TRUNC) != 0;
	if (trunc)
		write_begin(v, in);
	bool trunc_known = trunc && ufs_stat(v->src.ufs, in->path, &pre) == 0 && !pre.is_dir;
	struct view_creds c = {.on = false};
	int fd = writer_beneath(v, in->path);
	if (fd == 0)
		fd = reader_enter(req, v, &c);
	if (fd == 0)
		fd = ufs_open_write(v->src.ufs, in->path,
				    fi->flags & ~(O_CREAT | O_EXCL | O_APPEND), 0);
	view_creds_leave(&c);
	if (fd >= 0 && trunc && !trunc_known)
		write_abort(v, in);
	if (fd < 0) {
		if (trunc)
			write_abort(v, in);
		fuse_reply_err(req, -fd);
		return;
	}
	struct handle *h = write_handle_new(in, fd);
	if (!h) {
		close(fd); /* emptied by the open all the same */
		if (trunc_known)
			write_abort(v, in);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	h->dirty = (fi->flags & O_TRUNC) != 0;
	h->open_flags = fi->flags;
	if (trunc_known)
		written(v, in, &pre, fd, 0, -1);
	writer_identity(fd, h->attr.etag, sizeof(h->attr.etag));
	if (h->dirty)
		forget_cached(v, in->path);
	if (handle_register(v, h, false) < 0) {
		close(fd);
		pthread_mutex_destroy(&h->lock);
		free(h->path);
		free(h);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* What the kernel holds of the inode dates from before this writer: from now on it asks
	 * (see current_attr). Without an inode lock on the kernel's side, safe from a handler. */
	int nr = fuse_lowlevel_notify_inval_inode(v->se, in->ino, -1, 0);
	if (nr < 0 && nr != -ENOENT)
		log_debug("invalidating the attributes of \"%s\": %s", in->path, strerror(-nr));
	fi->fh = h->fh;
	fi->direct_io = 1; /* the page cache of a file being written would go stale */
	fi->keep_cache = 0;
	atomic_fetch_add(&v->opens, 1);
	journal_handle_set(v, h, 0, h->fh);
	uint64_t fh = h->fh;
	atomic_fetch_add_explicit(&h->replies, 1, memory_order_release); /* see replies */
	if (fuse_reply_open(req, fi) == -ENOENT) {
		/* the opener was interrupted: no release will come. Journaled before the slot
		 * is freed, or its next owner's OPEN could precede this RELEASE in the log. */
		journal_handle_clear(v, fh);
		handle_close(v, h);
	}
}

/* Namespace changes a resent request finds done (view_journal_op_begin): the request's number
 * without the resend bit, and whether it is a resend. */
static uint64_t req_op_unique(bool *ret_resent)
{
	*ret_resent = (req_unique & FUSE_UNIQUE_RESEND) != 0;
	return req_unique & ~FUSE_UNIQUE_RESEND;
}

/* The temporary name of what request unique creates in directory dir: unique to this view (its
 * journal's id) and request, so a resend finds it; gen > 0 names the spare a resend uses when
 * the first holds an object it cannot tell is its own. Owned, or NULL. */
static char *temp_path(struct view *v, const char *dir, uint64_t unique, int gen)
{
	char *p;
	if (asprintf(&p, "%s/" UFS_TEMP_PREFIX "%016llx-%llx%s", strcmp(dir, "/") == 0 ? "" : dir,
		     (unsigned long long)view_journal_id(v->journal), (unsigned long long)unique,
		     gen ? "-1" : "") < 0)
		return NULL;
	return p;
}

/* How a create is made: make(arg, tmp, 0) creates the new object at tmp; make(arg, tmp, ident)
 * takes up the one a dead weir-node left at tmp, which must be the object whose identity (inode
 * number) the journal recorded; gone(arg, tmp) undoes it when it cannot be put in place. */
struct maker {
	int (*make)(void *arg, const char *tmp, uint64_t again);
	void (*gone)(void *arg, const char *tmp);
	void *arg;
};

/* A mkdir or an exclusive create of path in directory parent (inode number) whose reply can be
 * lost to a kill -9 and the request resent: the object is made under a temporary name in the
 * same directory, its identity recorded, then renamed into place without replacing anything, so
 * another creator's object there still gives -EEXIST. The resent request finishes the rename
 * where the temporary name is still there, and answers 1 (done) where path is the recorded
 * object; else it makes it anew. An object at the temporary name is taken up only when it is the
 * recorded one: a host user who may write the directory can put another there (a hard link to a
 * file they may not write) while weir-node is down, and weir-node acts as root. Such an object is
 * left where it is and the new one made under a spare temporary name (-EIO when that too is
 * taken). Returns 0 (made now), 1 (made by the dead weir-node, whose
 * identity is then *ret_ident) or -errno, with the journal record to end after the reply in
 * *ret_rec (-1: none). Without a journal or room in it, made in place. */
static int create_placed(struct view *v, fuse_ino_t parent, const char *dir, const char *path,
			 enum view_journal_op op, const struct maker *m, int *ret_rec,
			 uint64_t *ret_ident)
{
	bool resent;
	uint64_t unique = req_op_unique(&resent), ident = 0, id;
	int rec = -1;
	*ret_rec = -1;
	if (!v->journal)
		return m->make(m->arg, path, 0);
	char *tmp = NULL;
	int r;
	uint64_t again = 0;
	if (resent && view_journal_op_find(v->journal, unique, op, parent, &ident, &rec) == 0) {
		for (int gen = 0; gen < TEMP_GENS && !again; gen++) {
			free(tmp);
			tmp = temp_path(v, dir, unique, gen);
			if (!tmp || ufs_ident(v->src.ufs, tmp, &id) < 0)
				break; /* a free name (or none): make the object there */
			if (ident != 0 && id == ident) {
				again = ident;
				break;
			}
			log_warn("\"%s\": \"%s\" is not the object the journal recorded for this "
				 "request: left where it is, not taken up",
				 v->mountpoint, tmp);
			free(tmp);
			tmp = NULL;
		}
		if (!again && ident != 0 && ufs_ident(v->src.ufs, path, &id) == 0 && id == ident) {
			free(tmp);
			*ret_rec = rec;
			*ret_ident = ident;
			return 1;
		}
		if (!tmp) {
			view_journal_write_end(v->journal, rec);
			return -EIO;
		}
	} else {
		tmp = temp_path(v, dir, unique, 0);
		if (!tmp)
			return -ENOMEM;
		rec = view_journal_op_begin(v->journal, unique, op, parent);
	}
	if (rec < 0) {
		free(tmp);
		log_warn("\"%s\": no room to record the making of \"%s\": were weir-node to die "
			 "before its reply, the resent request would fail with EEXIST",
			 v->mountpoint, path);
		return m->make(m->arg, path, 0);
	}
	r = m->make(m->arg, tmp, again);
	if (r == 0) {
		r = ufs_ident(v->src.ufs, tmp, &id);
		if (r == 0) {
			view_journal_op_set(v->journal, rec, id);
			r = ufs_rename(v->src.ufs, tmp, path, RENAME_NOREPLACE);
		}
		if (r == -EINVAL) /* a filesystem without RENAME_NOREPLACE: not atomic */
			r = ufs_ident(v->src.ufs, path, &id) == 0
				? -EEXIST
				: ufs_rename(v->src.ufs, tmp, path, 0);
		if (r < 0)
			m->gone(m->arg, tmp);
	}
	free(tmp);
	if (r < 0) {
		view_journal_write_end(v->journal, rec);
		return r;
	}
	*ret_rec = rec;
	return 0;
}

struct create_arg {
	struct view *v;
	fuse_req_t req;
	struct view_creds *c; /* the reader's rights the create is made with */
	int flags;
	mode_t mode;
	int fd; /* out: the new file's descriptor */
};

/* The file this create made (ident; 0: what path names now, which must be no link) opened to
 * write again after a kill: with the daemon's rights, since a file made read-only (0444) may
 * not be opened to write by its creator once made, and then checked to be that very file.
 * Returns the descriptor or -errno (-ESTALE: another file has the name). */
static int create_reopen(struct create_arg *a, const char *path, uint64_t ident)
{
	struct view *v = a->v;
	int r = ident ? 0 : ufs_ident(v->src.ufs, path, &ident);
	if (r < 0)
		return r;
	bool was_on = a->c->on;
	view_creds_leave(a->c);
	int fd = ufs_open_write(v->src.ufs, path,
				a->flags & ~(O_APPEND | O_CREAT | O_EXCL | O_TRUNC), 0);
	if (was_on) {
		r = view_creds_enter(a->req, a->c);
		if (r < 0) {
			if (fd >= 0)
				close(fd);
			return r;
		}
	}
	struct stat st;
	if (fd >= 0 && (fstat(fd, &st) < 0 || (uint64_t)st.st_ino != ident)) {
		close(fd);
		fd = -ESTALE;
	}
	return fd;
}

static int create_make(void *arg, const char *tmp, uint64_t again)
{
	struct create_arg *a = arg;
	int fl = a->flags & ~(O_APPEND | O_CREAT | O_EXCL | O_TRUNC);
	int fd = again ? create_reopen(a, tmp, again)
		       : ufs_open_write(a->v->src.ufs, tmp, fl | O_CREAT | O_EXCL, a->mode);
	if (fd < 0)
		return fd;
	a->fd = fd;
	return 0;
}

static void create_gone(void *arg, const char *tmp)
{
	struct create_arg *a = arg;
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
	ufs_remove(a->v->src.ufs, tmp, false);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct view *v = fuse_req_userdata(req);
	struct inode *pin = writable_dir(req, v, parent);
	if (!pin)
		return;
	char *path = child_path(pin->path, name);
	mode &= ~(mode_t)(S_ISUID | S_ISGID); /* as in op_setattr: none reaches the host */
	/* With the reader's rights at a local:// source: the file is theirs as on the source. */
	struct view_creds c = {.on = false};
	int fd = path ? reader_enter(req, v, &c) : -ENOMEM, rec = -1;
	char *dir = fd == 0 ? strdup(pin->path) : NULL;
	if (fd == 0 && !dir)
		fd = -ENOMEM;
	if (fd == 0 && (fi->flags & O_EXCL)) {
		/* As a mkdir: a resent exclusive create finds the file it made. */
		struct create_arg ca = {v, req, &c, fi->flags, mode, -1};
		struct maker m = {create_make, create_gone, &ca};
		uint64_t ident = 0;
		fd = create_placed(v, parent, dir, path, VJ_OP_CREATE, &m, &rec, &ident);
		if (fd == 1) /* made before the kill: open it as made, not afresh */
			ca.fd = create_reopen(&ca, path, ident);
		fd = fd < 0 ? fd : ca.fd;
	} else if (fd == 0) {
		fd = ufs_open_write(v->src.ufs, path, (fi->flags & ~O_APPEND) | O_CREAT | O_EXCL,
				    mode);
	}
	free(dir);
	bool created = fd >= 0;
	if (fd == -EEXIST && !(fi->flags & O_EXCL)) { /* appeared at the source meanwhile */
		fd = writer_beneath(v, path);
		if (fd == 0)
			fd = ufs_open_write(v->src.ufs, path, fi->flags & ~(O_CREAT | O_APPEND),
					    mode);
	}
	bool as_reader = c.on;
	view_creds_leave(&c);
	/* Else the daemon created as root; a new file belongs to whoever asked, as on the
	 * source (one that existed keeps its owner). */
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	if (created && !as_reader && ctx->uid != 0 && fchown(fd, ctx->uid, ctx->gid) < 0)
		log_debug("chown of \"%s\" to %u:%u: %s", path, (unsigned)ctx->uid,
			  (unsigned)ctx->gid, strerror(errno));
	struct ufs_attr a;
	int r = fd < 0 ? fd : fd_attr(fd, &a);
	struct fuse_entry_param e;
	if (r == 0) {
		forget_cached(v, path);
		r = make_entry(v, path, &a, true, &e);
	}
	struct inode *in = r == 0 ? inode_get(v, e.ino) : NULL;
	struct handle *h = in ? write_handle_new(in, fd) : NULL;
	if (r == 0 && !h)
		r = -ENOMEM;
	free(path);
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		fuse_reply_err(req, -r);
		if (rec >= 0)
			view_journal_write_end(v->journal, rec);
		return;
	}
	h->dirty = true;
	h->open_flags = fi->flags & ~(O_CREAT | O_EXCL | O_TRUNC);
	writer_identity(fd, h->attr.etag, sizeof(h->attr.etag));
	if (handle_register(v, h, false) < 0) {
		close(fd);
		pthread_mutex_destroy(&h->lock);
		free(h->path);
		free(h);
		fuse_reply_err(req, ENOMEM);
		if (rec >= 0)
			view_journal_write_end(v->journal, rec);
		return;
	}
	e.attr_timeout = 0; /* a file open for writing: see current_attr */
	fi->fh = h->fh;
	fi->direct_io = 1;
	journal_handle_set(v, h, 0, h->fh);
	uint64_t fh = h->fh;
	atomic_fetch_add_explicit(&h->replies, 1, memory_order_release); /* see replies */
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		journal_handle_clear(v, fh);
		handle_close(v, h);
	}
	if (rec >= 0)
		view_journal_write_end(v->journal, rec);
}

/* Mode bits a write by req's sender takes off the file: setuid, and setgid where group execute
 * is set, unless root asks (the kernel's rule for a writer without CAP_FSETID). weir-node writes
 * as root, for which the source's filesystem keeps them: a user who may write a setuid file of
 * root's must not leave it setuid. Returns 0 or -errno. */
static int drop_privs(fuse_req_t req, int fd)
{
	struct stat st;
	if (fuse_req_ctx(req)->uid == 0)
		return 0;
	if (fstat(fd, &st) < 0)
		return -errno;
	mode_t kill = S_ISUID | ((st.st_mode & S_IXGRP) ? S_ISGID : 0);
	if ((st.st_mode & kill) && fchmod(fd, st.st_mode & 07777 & ~kill) < 0)
		return -errno;
	return 0;
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct view *v = fuse_req_userdata(req);
	struct handle *h = fh_file(v, fi->fh);
	if (!h || h->wfd < 0) {
		fuse_reply_err(req, EBADF);
		return;
	}
	int dr = drop_privs(req, h->wfd);
	if (dr < 0) {
		fuse_reply_err(req, -dr);
		return;
	}
	/* The source file is never opened O_APPEND: where an append goes is decided here, once,
	 * and recorded before the bytes are written, so the same WRITE resent to the next
	 * weir-node (this one killed after writing, before the reply) lands at the same place,
	 * not at the end a second time. The descriptor's flags as they are now (fcntl may have
	 * set or cleared O_APPEND since the open). The kernel lets one append of an inode at a
	 * time reach us (an exclusive inode lock until the reply), so nothing of this view
	 * comes between the fstat and the pwrite; a writer elsewhere (another view, the host)
	 * appending at that instant may be overwritten, as with any two writers of one offset. */
	int rec = -1;
	/* The version before, for the readers that follow this view's writes (note_written). */
	struct inode *in = h->ino;
	struct ufs_attr pre;
	write_begin(v, in);
	int sr = ufs_fd_stat(v->src.ufs, h->wfd, &pre);
	if (sr < 0) {
		write_abort(v, in);
		fuse_reply_err(req, -sr);
		return;
	}
	if (fi->flags & O_APPEND) {
		uint64_t unique = req_unique & ~FUSE_UNIQUE_RESEND;
		int64_t at;
		if ((req_unique & FUSE_UNIQUE_RESEND) && v->journal &&
		    view_journal_write_find(v->journal, unique, fi->fh, size, &at, &rec) == 0) {
			off = (off_t)at;
		} else {
			off = (off_t)pre.size;
			rec = v->journal
				  ? view_journal_write_begin(v->journal, unique, fi->fh, off, size)
				  : -1;
			if (rec < 0 && v->journal)
				log_warn("\"%s\": no room to record an append to \"%s\": were "
					 "weir-node to die before its reply, the next one would "
					 "append it again",
					 v->mountpoint, h->path);
		}
	}
	ssize_t n = pwrite(h->wfd, buf, size, off);
	if (n < 0) {
		int err = errno;
		write_abort(v, in);
		fuse_reply_err(req, err);
		if (rec >= 0)
			view_journal_write_end(v->journal, rec);
		return;
	}
	h->dirty = true;
	/* Before the reply: an open that comes after the write (the writer still open) must ask
	 * the source for the version, not take the one validated before it within the TTL;
	 * written (or write_abort) expires it, by the inode's path, not the handle's: the file
	 * may have been renamed since it was opened (handle_close forgets the blocks too, once
	 * the writer is done). */
	written(v, in, &pre, h->wfd, off, n);
	fuse_reply_write(req, (size_t)n);
	if (rec >= 0) /* after the reply: the kernel sends it no more */
		view_journal_write_end(v->journal, rec);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct handle *h = fh_file(fuse_req_userdata(req), fi->fh);
	int r = 0;
	if (h && h->wfd >= 0 && (datasync ? fdatasync(h->wfd) : fsync(h->wfd)) < 0)
		r = errno;
	else if (h && h->wfd < 0 && (h->open_flags & O_ACCMODE) != O_RDONLY)
		r = EIO; /* a writer whose file could not be reopened after a restart: nothing of
			  * its is safe to report */
	fuse_reply_err(req, r);
}

/* The access and modification times setattr asks for, on fd; 0 or -errno. */
static int set_times(int fd, const struct stat *attr, int to_set)
{
	if (!(to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)))
		return 0;
	struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_nsec = UTIME_OMIT}};
	if (to_set & FUSE_SET_ATTR_ATIME)
		ts[0] = (to_set & FUSE_SET_ATTR_ATIME_NOW) ? (struct timespec){.tv_nsec = UTIME_NOW}
							   : attr->st_atim;
	if (to_set & FUSE_SET_ATTR_MTIME)
		ts[1] = (to_set & FUSE_SET_ATTR_MTIME_NOW) ? (struct timespec){.tv_nsec = UTIME_NOW}
							   : attr->st_mtim;
	return futimens(fd, ts) < 0 ? -errno : 0;
}

/* chown/chgrp of fd (a file or directory of a read-write view's local source), when the
 * setattr asks for one; with the caller's rights entered: root may give it to anyone, its
 * owner may change its group to one of the reader's groups, nobody else may (the kernel's
 * rule once fsuid is not 0). 0 or -errno. */
static int set_owner(int fd, const struct stat *attr, int to_set)
{
	if (!(to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		return 0;
	uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1;
	gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1;
	return fchown(fd, uid, gid) < 0 ? -errno : 0;
}

/* chown, chmod and touch of a directory of a read-write view, done at the source: the
 * directory is reached beneath the source's root through no link (ufs_open_dir), and changed
 * with the reader's rights (only its owner may chmod it, as on the source). Leaves the
 * directory's attributes in ret. */
static int dir_setattr(fuse_req_t req, struct view *v, const char *path, const struct stat *attr,
		       int to_set, struct ufs_attr *ret)
{
	int pfd = ufs_open_dir(v->src.ufs, path);
	if (pfd == -ENOSYS)
		return -EROFS;
	if (pfd < 0)
		return pfd;
	int fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = fd < 0 ? -errno : 0;
	close(pfd);
	struct view_creds c = {.on = false};
	if (r == 0)
		r = reader_enter(req, v, &c);
	if (r == 0)
		r = set_owner(fd, attr, to_set);
	if (r == 0 && (to_set & FUSE_SET_ATTR_MODE) && fchmod(fd, attr->st_mode & 07777) < 0)
		r = -errno;
	if (r == 0)
		r = set_times(fd, attr, to_set);
	view_creds_leave(&c);
	if (r == 0)
		r = fd_attr(fd, ret);
	if (fd >= 0)
		close(fd);
	return r;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct view *v = fuse_req_userdata(req);
	struct inode *in = inode_get(v, ino);
	if (!in) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (!v->cfg.read_write) {
		fuse_reply_err(req, EROFS);
		return;
	}
	/* weir-node writes the source as root, on the host: a set-user/group-ID bit asked for
	 * through a view (a pod's root, or a uid of its choosing) would leave a privileged
	 * program in the host's directory, where no nosuid mount covers it. What is refused is
	 * adding one to a file: a bit the host set stays through a chmod g+w, and a directory's
	 * setgid (its files take its group) grants nothing. */
	if ((to_set & FUSE_SET_ATTR_MODE) && (attr->st_mode & (S_ISUID | S_ISGID))) {
		struct ufs_attr cur;
		int cr = meta_cache_getattr(v->src.meta, in->path, 0, &cur);
		mode_t may = cr == 0 && cur.has_owner ? (mode_t)cur.mode & (S_ISUID | S_ISGID) : 0;
		if (cr == 0 && cur.is_dir)
			may |= S_ISGID;
		if (attr->st_mode & (S_ISUID | S_ISGID) & ~may) {
			fuse_reply_err(req, EPERM);
			return;
		}
	}
	/* An owner is changed only where the source has owners (a local:// source, with the
	 * reader's rights): never an answer of success that changed nothing. */
	if ((to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) && !ufs_has_owners(v->src.ufs)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	struct handle *h = fi ? fh_file(v, fi->fh) : NULL;
	int fd = h && h->wfd >= 0 ? h->wfd : -1;
	bool own = false;
	int r = 0;
	struct view_creds c = {.on = false};
	struct ufs_attr a;
	if (fd < 0) {
		r = meta_cache_getattr(v->src.meta, in->path, v->cfg.metadata_ttl_ms, &a);
		if (r == 0 && a.is_dir) {
			r = dir_setattr(req, v, in->path, attr, to_set, &a);
			if (r < 0) {
				fuse_reply_err(req, -r);
				return;
			}
			forget_cached(v, in->path);
			struct stat st;
			fill_stat(v, ino, &a, &st);
			fuse_reply_attr(req, &st, v->ttl_s);
			return;
		}
		/* A truncate opens with the reader's rights (below); a chown, chmod or touch of a
		 * file they may not write opens as root, then acts with their rights. */
		if (r == 0)
			r = writer_beneath(v, in->path);
		if (r == 0 && (to_set & FUSE_SET_ATTR_SIZE))
			r = reader_enter(req, v, &c);
		fd = r == 0 ? ufs_open_write(v->src.ufs, in->path, O_WRONLY, 0) : r;
		view_creds_leave(&c);
		own = true;
	}
	/* With the reader's rights at a local:// source: the kernel checked the attributes it
	 * cached, the object at the path may since be another's (a name swapped for a link). */
	if (fd >= 0 && r == 0)
		r = reader_enter(req, v, &c);
	if (fd >= 0 && r == 0 && (to_set & FUSE_SET_ATTR_SIZE)) {
		struct ufs_attr pre;
		write_begin(v, in);
		bool known = ufs_fd_stat(v->src.ufs, fd, &pre) == 0;
		if (ftruncate(fd, attr->st_size) < 0)
			r = -errno;
		if (r == 0 && known)
			written(v, in, &pre, fd, 0, -1);
		else
			write_abort(v, in);
	}
	if (fd >= 0 && r == 0)
		r = set_owner(fd, attr, to_set);
	if (fd >= 0 && r == 0 && (to_set & FUSE_SET_ATTR_MODE)) {
		/* Taking setuid/setgid off only (the kernel asks so for a write by another
		 * user): whoever may write may; anything else is the owner's. */
		struct stat cur;
		bool drop_only = c.on && fstat(fd, &cur) == 0 &&
				 (attr->st_mode & 07777) ==
				     (cur.st_mode & 07777 & ~(mode_t)(S_ISUID | S_ISGID)) &&
				 (attr->st_mode & 07777) != (cur.st_mode & 07777);
		if (drop_only)
			view_creds_leave(&c);
		if (fchmod(fd, attr->st_mode & 07777) < 0)
			r = -errno;
		if (drop_only && r == 0)
			r = reader_enter(req, v, &c);
	}
	if (fd >= 0 && r == 0)
		r = set_times(fd, attr, to_set);
	view_creds_leave(&c);
	if (fd < 0)
		r = fd;
	if (r == 0)
		r = fd_attr(fd, &a);
	if (own && fd >= 0)
		close(fd);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	if (h)
		h->dirty = true;
	forget_cached(v, in->path);
	struct stat st;
	fill_stat(v, ino, &a, &st);
	fuse_reply_attr(req, &st, h || being_written(v, in) ? 0 : v->ttl_s);
}

struct mkdir_arg {
	struct view *v;
	mode_t mode;
};

/* Taken up again (create_placed checked its identity) only if it is still a directory. */
static int mkdir_make(void *arg, const char *tmp, uint64_t again)
{
	struct mkdir_arg *a = arg;
	if (!again)
		return ufs_mkdir(a->v->src.ufs, tmp, a->mode);
	struct ufs_attr at;
	int r = ufs_stat(a->v->src.ufs, tmp, &at);
	return r < 0 ? r : at.is_dir ? 0 : -ESTALE;
}

static void mkdir_gone(void *arg, const char *tmp)
{
	struct mkdir_arg *a = arg;
	ufs_remove(a->v->src.ufs, tmp, true);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct view *v = fuse_req_userdata(req);
	struct inode *pin = writable_dir(req, v, parent);
	if (!pin)
		return;
	char *path = child_path(pin->path, name);
	char *dir = path ? strdup(pin->path) : NULL;
	struct view_creds c = {.on = false};
	int r = dir ? reader_enter(req, v, &c) : -ENOMEM, rec = -1;
	struct mkdir_arg ma = {v, mode};
	struct maker m = {mkdir_make, mkdir_gone, &ma};
	if (r == 0)
		r = create_placed(v, parent, dir, path, VJ_OP_MKDIR, &m, &rec, &(uint64_t){0});
	free(dir);
	bool as_reader = c.on;
	view_creds_leave(&c);
	if (r == 1)
		r = 0;
	/* As for a file: a new directory belongs to whoever asked. */
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	char cause[sizeof(v->src.ufs->last_error)];
	if (r == 0 && !as_reader && ctx->uid != 0 &&
	    ufs_chown(v->src.ufs, path, ctx->uid, ctx->gid) < 0)
		log_debug("chown of \"%s\" to %u:%u: %s", path, (unsigned)ctx->uid,
			  (unsigned)ctx->gid, ufs_error_copy(v->src.ufs, cause, sizeof(cause)));
	struct fuse_entry_param e;
	if (r == 0) {
		forget_cached(v, path);
		struct ufs_attr a = {.is_dir = true, .mtime = time(NULL)};
		if (ufs_stat(v->src.ufs, path, &a) < 0) /* its owner and mode, where kept */
			a = (struct ufs_attr){.is_dir = true, .mtime = time(NULL)};
		r = make_entry(v, path, &a, true, &e);
	}
	free(path);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_entry(req, &e);
	if (rec >= 0) /* after the reply: the kernel sends it no more */
		view_journal_write_end(v->journal, rec);
}

/* Whether this request (a resend) removed or moved the object at path already: its record says
 * which object it was (ident), path no longer names it, and to (a rename's target; NULL for a
 * removal) does. *ret_rec: the record, taken up by this process, or a new one (-1: none); its
 * identity set to path's object when not done. */
static bool op_done(struct view *v, fuse_ino_t parent, const char *path, const char *to,
		    enum view_journal_op op, int *ret_rec)
{
	bool resent;
	uint64_t unique = req_op_unique(&resent), ident = 0, id = 0;
	*ret_rec = -1;
	if (!v->journal)
		return false;
	int rec = -1;
	if (resent && view_journal_op_find(v->journal, unique, op, parent, &ident, &rec) == 0) {
		int r = ufs_ident(v->src.ufs, path, &id);
		uint64_t tid = 0;
		if (ident != 0 && (r == -ENOENT || (r == 0 && id != ident)) &&
		    (!to || (ufs_ident(v->src.ufs, to, &tid) == 0 && tid == ident))) {
			*ret_rec = rec;
			return true;
		}
	} else {
		rec = view_journal_op_begin(v->journal, unique, op, parent);
	}
	*ret_rec = rec;
	if (rec < 0) {
		log_warn("\"%s\": no room to record the removal or rename of \"%s\": were "
			 "weir-node to die before its reply, the resent request would fail with "
			 "ENOENT",
			 v->mountpoint, path);
		return false;
	}
	view_journal_op_set(v->journal, rec, ufs_ident(v->src.ufs, path, &id) == 0 ? id : 0);
	return false;
}

/* An rmdir of path found it not empty. It may hold temporary objects (create_placed) no
 * request in flight owns: this view's, left by a weir-node killed before it recorded their
 * identity, or whose journal record was recycled, that no record names now; or another view's
 * (another journal's) that were there before this weir-node started the view, as those a
 * view whose weir-node and weir-keeper both died left (its journal is gone: the next view of
 * the source has another). No view lists them, so they are removed, with the reader's rights
 * (a directory only when empty). Another view's newer ones may be in flight: left. Returns
 * how many went. */
/* Whether name is exactly a temporary name weir makes (create_placed): the prefix, 16 hex digits
 * of a journal id, '-', the request's unique in hex, and "-1" for the spare. A host user's own
 * ".weir-tmp-notes" is none: never removed as one. */
static bool temp_name_parse(const char *name, unsigned long long *ret_jid,
			    unsigned long long *ret_unique)
{
	size_t pl = strlen(UFS_TEMP_PREFIX);
	if (strncmp(name, UFS_TEMP_PREFIX, pl) != 0)
		return false;
	const char *p = name + pl;
	for (int i = 0; i < 16; i++)
		if (!isxdigit((unsigned char)p[i]))
			return false;
	if (p[16] != '-' || !isxdigit((unsigned char)p[17]))
		return false;
	char *end;
	errno = 0;
	*ret_jid = strtoull(p, NULL, 16);
	*ret_unique = strtoull(p + 17, &end, 16);
	return errno == 0 && (!*end || strcmp(end, "-1") == 0);
}

static int temps_cleared(fuse_req_t req, struct view *v, const char *path)
{
	if (!v->journal)
		return 0;
	int pfd = ufs_open_dir(v->src.ufs, path);
	if (pfd < 0)
		return 0;
	int dfd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(pfd);
	if (dfd < 0)
		return 0;
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return 0;
	}
	int n = 0;
	for (struct dirent *de; (de = readdir(d));) {
		unsigned long long jid, unique;
		if (!temp_name_parse(de->d_name, &jid, &unique))
			continue;
		bool ours = jid == (unsigned long long)view_journal_id(v->journal);
		if (ours && view_journal_op_busy(v->journal, unique))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    (!ours && st.st_ctim.tv_sec >= v->started_s))
			continue;
		struct view_creds c;
		int r = reader_enter(req, v, &c);
		int flags = S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0;
		if (r == 0 && unlinkat(dirfd(d), de->d_name, flags) < 0)
			r = -errno;
		view_creds_leave(&c);
		if (r == 0) {
			n++;
			log_info("\"%s\": removed \"%s/%s\", a dead weir-node's leftover, for an "
				 "rmdir of its directory",
				 v->mountpoint, strcmp(path, "/") == 0 ? "" : path, de->d_name);
		}
	}
	closedir(d);
	return n;
}

static void do_remove(fuse_req_t req, fuse_ino_t parent, const char *name, bool dir)
{
	struct view *v = fuse_req_userdata(req);
	struct inode *pin = writable_dir(req, v, parent);
	if (!pin)
		return;
	char *path = child_path(pin->path, name);
	struct view_creds c = {.on = false};
	int r = path ? reader_enter(req, v, &c) : -ENOMEM, rec = -1;
	if (r == 0 && !op_done(v, parent, path, NULL, VJ_OP_REMOVE, &rec))
		r = ufs_remove(v->src.ufs, path, dir);
	view_creds_leave(&c);
	if (r == -ENOTEMPTY && dir && temps_cleared(req, v, path) > 0) {
		r = reader_enter(req, v, &c);
		if (r == 0)
			r = ufs_remove(v->src.ufs, path, dir);
		view_creds_leave(&c);
	}
	if (r == 0)
		forget_cached(v, path);
	free(path);
	fuse_reply_err(req, -r);
	if (rec >= 0)
		view_journal_write_end(v->journal, rec);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	do_remove(req, parent, name, false);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	do_remove(req, parent, name, true);
}

/* After a rename, inodes keep their numbers (the kernel keeps them) but answer to new paths:
 * the renamed entry and, for a directory, everything below it. */
static void repath_locked(struct view *v, const char *from, const char *to)
{
	size_t flen = strlen(from);
	for (size_t i = 0; i < v->ninodes; i++) {
		struct inode *in = v->inodes[i];
		if (in->detached || strncmp(in->path, from, flen) != 0 ||
		    (in->path[flen] && in->path[flen] != '/'))
			continue;
		/* an inode an earlier rename displaced keeps its old path but no longer answers
		 * to it: moving it would take the path from the inode that does */
		if (by_path_get(v, in->path) != in)
			continue;
		char *np;
		if (asprintf(&np, "%s%s", to, in->path + flen) < 0)
			continue;
		by_path_remove(v, in);
		struct inode *displaced = by_path_get(v, np);
		if (displaced) /* the target existed: its inode now names nothing */
			by_path_remove(v, displaced);
		free(in->path);
		in->path = np;
		in->heat_obj = 0;
		in->path_gen++;
		by_path_add(v, in);
	}
}

static void journal_rename(struct view *v, const char *from, const char *to)
{
	if (!v->journal)
		return;
	size_t fl = strlen(from) + 1, tl = strlen(to) + 1;
	char *blob = malloc(fl + tl);
	int r = -ENOMEM;
	if (blob) {
		memcpy(blob, from, fl);
		memcpy(blob + fl, to, tl);
		struct view_journal_rec rec = {.type = VJ_RENAME, .blob_len = (uint32_t)(fl + tl)};
		r = view_journal_append(v->journal, &rec, blob);
		free(blob);
	}
	if (r < 0)
		log_warn("journal of \"%s\": %s; a restarted weir-node will not know \"%s\" is "
			 "now \"%s\"",
			 v->mountpoint, strerror(-r), from, to);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct view *v = fuse_req_userdata(req);
	struct inode *p1 = inode_get(v, parent), *p2 = inode_get(v, newparent);
	if (!v->cfg.read_write || !p1 || !p2) {
		fuse_reply_err(req, p1 && p2 ? EROFS : ENOENT);
		return;
	}
	if (flags) {
		fuse_reply_err(req, EINVAL); /* RENAME_NOREPLACE/EXCHANGE: not through the UFS */
		return;
	}
	int br = writer_beneath(v, p1->path); /* as writable_dir, for both directories */
	if (br == 0)
		br = writer_beneath(v, p2->path);
	if (br < 0) {
		fuse_reply_err(req, errno_for_fuse(br));
		return;
	}
	char *from = child_path(p1->path, name), *to = child_path(p2->path, newname);
	/* the kernel looked the name up first: a file's inode says so (else: perhaps a dir) */
	bool dir = true;
	if (from) {
		pthread_mutex_lock(&v->lock);
		struct inode *fin = by_path_get(v, from);
		dir = !fin || !fin->told_known || fin->told_dir;
		pthread_mutex_unlock(&v->lock);
	}
	struct view_creds c = {.on = false};
	int r = from && to ? reader_enter(req, v, &c) : -ENOMEM, rec = -1;
	if (r == 0 && !op_done(v, parent, from, to, VJ_OP_RENAME, &rec))
		r = ufs_rename(v->src.ufs, from, to, 0);
	view_creds_leave(&c);
	if (r == 0) {
		forget_cached(v, from);
		forget_cached(v, to);
		/* A directory's: its old name's files are elsewhere now, and the names below its
		 * new one are its files, whatever was validated under them before. */
		if (dir) {
			meta_cache_invalidate_below(v->src.meta, from);
			meta_cache_invalidate_below(v->src.meta, to);
		}
		pthread_mutex_lock(&v->lock);
		repath_locked(v, from, to);
		pthread_mutex_unlock(&v->lock);
		journal_rename(v, from, to);
	}
	free(from);
	free(to);
	fuse_reply_err(req, -r);
	if (rec >= 0)
		view_journal_write_end(v->journal, rec);
}

/* The one step of an OPEN for reading that must not interleave with another open, lookup or
 * getattr of in: the version check, the binding of in's page cache to version a, the count and
 * the I/O mode. Returns 0, with *ret_keep (the page cache holds a already), *ret_pass (a
 * passthrough open is reserved) and *ret_inval (the kernel was told another size: make it ask
 * again); or -ESTALE when read handles of another version are open on in (or in left its path):
 * in is detached, and the kernel's VFS retries the open with a fresh lookup, which finds the
 * path's new inode.
 * In a read-write view (*writes not UINT64_MAX: in's count of noted writes when a was
 * validated) it first waits for the writes through v in flight on in, then returns -EAGAIN,
 * nothing done, when writes were noted since: a may be the version one started from, which
 * the readers' version would not follow (and a reader would make in a new inode that v's
 * writer never notes). *writes is then the count now and, when *ret_head_known, *ret_head
 * the version the last write left, to bind to instead. last (a writer that never pauses):
 * no wait and no -EAGAIN; writes noted since a was validated bind in and the reader to the
 * version the last of them left instead, which the next write follows from. */
static int open_bind(struct view *v, struct inode *in, const struct ufs_attr *a, uint64_t *writes,
		     const struct timespec *wait_until, bool last, bool may_pass, bool *ret_keep,
		     bool *ret_pass, bool *ret_inval, struct ufs_attr *ret_head,
		     bool *ret_head_known)
{
	bool detached_now = false, catch_up = false;
	pthread_mutex_lock(&v->lock);
	if (*writes != UINT64_MAX && last && in->writes != *writes && in->own &&
	    in->own->post_known && !in->detached &&
	    (in->opens_read == 0 || version_key_same(&in->cache_version, &in->own->last_post))) {
		/* The last round, and a writer that never pauses noted writes since a was
		 * validated: the reader takes the version the last of them left, as the readers
		 * that follow them do (follows_writes: h keeps a, older), and in the version the
		 * next write starts from. Bound at a, the first reader would make in a version
		 * no write follows: every later reader a new inode, all of them ESTALE. */
		if (!in->wrote)
			in->wrote = malloc(sizeof(*in->wrote));
		if (!in->wrote) {
			pthread_mutex_unlock(&v->lock);
			return -ENOMEM;
		}
		*in->wrote = in->own->last_post;
		in->cache_version = version_key_of(&in->own->last_post);
		catch_up = true;
	}
	if (*writes != UINT64_MAX && !last) {
		/* a write's few syscalls at the source; bounded (for the whole OPEN), for one
		 * stuck in I/O */
		while (in->writing > 0 && cond_wait_until(&v->write_cond, &v->lock, wait_until) == 0)
			;
		if (in->writes != *writes) {
			*writes = in->writes;
			*ret_head_known = in->own && in->own->post_known;
			if (*ret_head_known)
				*ret_head = in->own->last_post;
			pthread_mutex_unlock(&v->lock);
			return -EAGAIN;
		}
	}
	bool same = in->cache_known && version_key_same(&in->cache_version, a);
	/* rw views: readers open that follow the view's writes read the version the last one
	 * left; an open that could not catch up with a writer that never pauses (a taken
	 * before its last writes) joins them, reading that version too (follows_writes). */
	bool joins = catch_up ||
		     (!same && v->cfg.read_write && in->opens_read > 0 && !in->detached &&
		      follows_own_writes_locked(in, a) && in->wrote &&
		      version_key_same(&in->cache_version, in->wrote));
	same = same && !catch_up;
	if (!same && !joins && (in->opens_read > 0 || in->detached)) {
		detached_now = inode_detach_locked(v, in);
		pthread_mutex_unlock(&v->lock);
		if (detached_now) {
			journal_detach(v, in);
			atomic_fetch_add(&v->new_versions, 1);
			log_info("\"%s\" changed at the UFS while open (now %" PRIu64 " bytes): new "
				 "opens get a new inode, descriptors open on inode %llu keep their "
				 "version",
				 in->path, a->size, (unsigned long long)in->ino);
		}
		return -ESTALE;
	}
	if (!joins)
		in->cache_version = version_key_of(a);
	in->cache_known = true;
	in->opens_read++;
	/* The I/O mode is chosen and counted here too: a check here and a count later let a
	 * cached open slip in between and fail our passthrough open in the kernel (or the other
	 * way round). */
	*ret_pass = may_pass && in->opens_cached == 0;
	if (*ret_pass)
		in->opens_passthrough++;
	else
		in->opens_cached++;
	/* The kernel was given a size from a listing (or an older version): the object's own
	 * headers win, so it must ask again before it clips the reads at the wrong end. */
	uint64_t told = joins ? in->cache_version.size : a->size;
	*ret_inval = atomic_exchange(&in->told_size, told) != told;
	pthread_mutex_unlock(&v->lock);
	*ret_keep = same;
	return 0;
}

static void dir_stream(struct view *v, const char *path);
static int dir_listing_of(struct view *v, const char *path, char *dir, size_t dirlen,
			  struct meta_listing **l, long *idx);

/* Whether path is the file after the last one opened in this view, in listing order: a reader
 * going through a directory (cp -R, tar, rsync), which reads each file it opens whole. */
static bool stream_next(struct view *v, const char *path)
{
	char dir[4096];
	struct meta_listing *l;
	long idx;
	/* Only in the directory of the last open (whose listing dir_stream had then): any other
	 * open must not wait for a listing before its reply. */
	const char *slash = strrchr(path, '/');
	if (!slash)
		return false;
	snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	pthread_mutex_lock(&v->lock);
	bool here = v->seq_dir && strcmp(v->seq_dir, dir) == 0;
	pthread_mutex_unlock(&v->lock);
	if (!here || dir_listing_of(v, path, dir, sizeof(dir), &l, &idx) < 0)
		return false;
	pthread_mutex_lock(&v->lock);
	bool next =
	    v->seq_dir && strcmp(v->seq_dir, dir) == 0 && prefetch_dir_is_next(&v->seq, idx);
	pthread_mutex_unlock(&v->lock);
	meta_listing_unref(l);
	return next;
}

/* The open of the next file of a directory stream (stream_next) whose bytes fit the window a
 * stream fetches ahead (readahead_blocks: what dir_stream asked for as a guess when the file
 * before was opened): waits until every block of h's version is in the top tier, so that the
 * open passes through and the reader reads the tier file's pages (no READ, no reply, no page
 * cache of the view's own to fill). A cold cp -R otherwise sends every byte through READs: the
 * kernel allocates and fills a second page cache and weir-node copies each byte once more into
 * it (profiled: the larger part of cp's CPU on a cold copy). Blocks that cannot be had (the
 * version changed: ESTALE; no room in the tier) leave the open to READs, which report it. */
static bool fill_ask(struct view *v, struct handle *h);
static void fill_whole(struct view *v, struct handle *h);

static void stream_fill(struct view *v, struct handle *h)
{
	if (v->cfg.no_prefetch || !stream_next(v, h->path))
		return;
	/* The open's own file is asked for first, then the stream's next guess (the file after
	 * this one), and only then does this open wait: the guess takes the request slots this
	 * file's last requests leave idle, and never goes before the file the reader waits for
	 * (the guess may cost a HEAD first, and its requests would take the slots). Guessed only
	 * after the wait, the link idled at every file's tail and between files
	 * (bench/cold-warm.sh, throttled HTTP: cold cp -R 0.60x of the link's limit, 0.97x
	 * before the wait). dir_stream after the reply then finds this file already counted. */
	bool fill = fill_ask(v, h);
	dir_stream(v, h->path);
	if (fill)
		fill_whole(v, h);
}

static bool view_stopping(const void *arg)
{
	return atomic_load(&((const struct view *)arg)->stopping);
}

/* stream_fill's ask: every block of h's version, as a demand, if the file fits the window;
 * returns whether it did (fill_whole then waits for them; its own demand
 * finds them in flight). */
static bool fill_ask(struct view *v, struct handle *h)
{
	uint64_t nblocks;
	if (!prefetch_fill_fits(h->attr.size, v->block_size, v->cfg.readahead_blocks, &nblocks))
		return false;
	fetcher_demand(v->src.fetcher, h->obj, h->path, &h->attr, 0, nblocks);
	return true;
}

/* stream_fill's wait, for any open of a file within the window: every block of h's version
 * fetched into the top tier, or the first that cannot be (then nothing more is waited for).
 * Each block is fetched once, all at once: one that is gone by the time it is waited for
 * (evicted to make room for the file's later blocks, in a tier that cannot hold the file) ends
 * the wait instead of being fetched again, one after the other, while the opener waits. */
static void fill_whole(struct view *v, struct handle *h)
{
	uint64_t nblocks;
	if (!prefetch_fill_fits(h->attr.size, v->block_size, v->cfg.readahead_blocks, &nblocks))
		return;
	/* a view being removed does not wait for the fill: view_stop joins this thread */
	const struct fetch_halt halt = {.halted = view_stopping, .arg = v};
	fetcher_demand(v->src.fetcher, h->obj, h->path, &h->attr, 0, nblocks);
	for (uint64_t b = 0; b < nblocks; b++) {
		struct fetch_result fr;
		int r = fetcher_wait(v->src.fetcher, h->obj, h->path, &h->attr, b, &halt, &fr);
		if (r < 0) {
			log_debug("\"%s\": block %llu not fetched at open (%s): read through READs",
				  h->path, (unsigned long long)b, strerror(-r));
			return;
		}
		if (fr.mem) {
			fetcher_result_release(v->src.fetcher, &fr);
			return; /* not in the tier: nothing to pass through to */
		}
		block_store_release(v->src.store, h->obj, b);
	}
	log_debug("\"%s\": fetched whole at its open", h->path);
}

/* A passthrough reservation of in (open_bind) that did not pan out turns into a cached open,
 * if it is the inode's only one: checked and converted in one hold of the lock, so that no
 * other open reserves passthrough in between. Returns false, converting nothing, while other
 * handles hold or reserve passthrough on in (one may be waiting in stream_fill): the kernel
 * keeps one I/O mode per inode and fails the OPEN whose reply disagrees with EIO. */
static bool pass_reservation_drop(struct view *v, struct inode *in, bool only_if_alone)
{
	pthread_mutex_lock(&v->lock);
	bool alone = in->opens_passthrough == 1;
	if (alone || !only_if_alone) {
		in->opens_passthrough--;
		in->opens_cached++;
	}
	pthread_mutex_unlock(&v->lock);
	return alone || !only_if_alone;
}

/* The version an OPEN for reading of in gets (validated at the source when fresh, else within
 * the metadata TTL), once the reader's rights on it are checked, and its block-store object. */
static int open_version(fuse_req_t req, struct view *v, struct inode *in, bool fresh,
			struct ufs_attr *a, bool *changed, uint64_t *obj)
{
	bool again = false;
	int r = meta_cache_validate(v->src.meta, in->path, v->cfg.metadata_ttl_ms, fresh, a,
				    &again);
	*changed = *changed || again;
	if (r == 0)
		r = reader_may(req, v, in->path, R_OK, a);
	if (r == -ESTALE && !fresh) {
		/* The source changed within the TTL: this reader gets what is there now, once its
		 * rights on that are checked (a second change meanwhile: ESTALE, the kernel asks
		 * again). */
		again = false;
		r = meta_cache_validate(v->src.meta, in->path, v->cfg.metadata_ttl_ms, true, a,
					&again);
		*changed = *changed || again;
		if (r == 0)
			r = reader_may(req, v, in->path, R_OK, a);
	}
	if (r == 0)
		r = block_store_object_sync(v->src.store, in->path, a, obj);
	return r;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct view *v = fuse_req_userdata(req);
	atomic_fetch_add(&v->open_reqs, 1);
	if (atomic_load(&v->no_open) && !v->cfg.read_write) {
		/* The kernel takes ENOSYS as "this connection opens files by itself": this is
		 * the only OPEN it sends; the file opens with handle 0 and keep_cache. */
		fuse_reply_err(req, ENOSYS);
		return;
	}
	struct inode *in = inode_get(v, ino);
	if (!in) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		if (!v->cfg.read_write) {
			fuse_reply_err(req, EROFS);
			return;
		}
		open_for_write(req, v, in, fi);
		return;
	}
	struct handle *h = calloc(1, sizeof(*h));
	if (h)
		h->path = strdup(in->path);
	if (!h || !h->path) {
		free(h);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	h->wfd = -1;
	h->backing_fd = -1;
	h->open_flags = fi->flags;
	h->ino = in;
	struct ufs_attr a;
	bool changed = false, keep = false, may_pass = false, inval = false;
	uint64_t obj = 0;
	int r;
	/* In a read-write view a write through it may land between the validation and the
	 * binding: validated again then, so the reader holds the version it follows from. A
	 * writer that never pauses gets the binding without that check after a few rounds. */
	uint64_t writes = UINT64_MAX;
	if (v->cfg.read_write) {
		pthread_mutex_lock(&v->lock);
		writes = in->writes;
		pthread_mutex_unlock(&v->lock);
	}
	struct ufs_attr head;
	bool head_known = false;
	struct timespec wait_until = deadline_in(2);
	for (unsigned round = 0;; round++) {
		if (head_known) { /* what the last write through v left: no need to ask */
			a = head;
			r = block_store_object_sync(v->src.store, in->path, &a, &obj);
		} else {
			r = open_version(req, v, in, round > 0, &a, &changed, &obj);
		}
		if (r < 0)
			break;
		/* a writer that never pauses: the last round binds at once (open_bind) */
		r = open_bind(v, in, &a, &writes, &wait_until, round == 16,
			      atomic_load(&v->passthrough) && !v->cfg.read_write &&
				  a.size > VIEW_SMALL_FILE,
			      &keep, &may_pass, &inval, &head, &head_known);
		if (r != -EAGAIN)
			break;
	}
	if (r < 0) {
		log_debug("open of \"%s\" failed: %s", in->path, strerror(-r));
		free(h->path);
		free(h);
		fuse_reply_err(req, errno_for_fuse(r));
		return;
	}
	if (changed)
		log_info("\"%s\" changed at the UFS; its cached blocks were dropped", in->path);
	h->obj = obj;
	h->attr = a;
	pthread_mutex_init(&h->lock, NULL);
	prefetch_seq_init(&h->seq);
	h->reads_version = true;
	if (inval) {
		int rr = fuse_lowlevel_notify_inval_inode(v->se, ino, -1, 0);
		if (rr < 0 && rr != -ENOENT)
			log_debug("invalidating the attributes of \"%s\": %s", in->path,
				  strerror(-rr));
	}
	/* A passthrough reservation that does not pan out becomes a cached open, unless other
	 * passthrough opens hold the inode meanwhile: then this open waits for the whole version
	 * too (the other may be waiting for it in stream_fill: the same fetches) and passes
	 * through beside them. Only if even that fails (a fetch failed, no room in the tier) is it
	 * a cached open, which the kernel may refuse with EIO. */
	if (may_pass) {
		/* whose reads of the tier file these are, where two views pass it through (a
		 * restored handle's opener is not known: 0) */
		int cr = proc_cgroup_id(fuse_req_ctx(req)->pid, &h->pt_cgroup);
		if (cr < 0) {
			h->pt_cgroup = 0;
			static atomic_bool told;
			if ((cr == -EXDEV || cr == -ENODEV) && !atomic_exchange(&told, true))
				log_info("cannot tell the cgroups of passthrough openers (%s): a "
					 "tier file passed through by several views at once counts "
					 "on the view that opened it last",
					 cr == -EXDEV
					     ? "they lie outside weir-node's cgroup namespace, "
					       "and the host's tree cannot be read"
					     : "no cgroup2 file system is mounted");
		}
		stream_fill(v, h);
		try_passthrough(v, h);
		if (h->backing_id <= 0 && !pass_reservation_drop(v, in, true)) {
			fill_whole(v, h);
			try_passthrough(v, h);
			if (h->backing_id <= 0) {
				log_info("\"%s\": opened through READs while other descriptors "
					 "read it passed through: its whole version could not be "
					 "had in the tier; the kernel may fail this open (EIO)",
					 in->path);
				pass_reservation_drop(v, in, false);
			}
		}
	}
	/* After the reply (it may ask the UFS for the next file's version): a copy, since the
	 * inode may be forgotten once the reader has its descriptor. */
	char *stream_path = (fi->flags & O_ACCMODE) == O_RDONLY ? strdup(in->path) : NULL;
	if (handle_register(v, h, true) < 0) {
		handle_close(v, h); /* undoes the mode count too */
		fuse_reply_err(req, ENOMEM);
		free(stream_path);
		return;
	}
	fi->fh = h->fh;
	fi->keep_cache = keep;
	/* Its reads come from the view's page cache and never reach us; without eBPF watching
	 * (read_streams on: no eBPF, or eBPF refused the view), count the open as one read of the
	 * whole file for eviction's ranking, as a passthrough open is counted; its READs (page
	 * cache misses) then add nothing more. */
	if (keep && h->backing_id <= 0 && atomic_load(&v->read_streams)) {
		count_own(v, h->obj, h->attr.size);
		atomic_store(&h->counted_whole, true);
	}
	atomic_fetch_add(&v->opens, 1);
	journal_handle_set(v, h, 0, h->fh);
	uint64_t fh = h->fh;
	pt_reply_fh = fh;
	pt_reply_backing = h->backing_id;
	atomic_fetch_add_explicit(&h->replies, 1, memory_order_release); /* see replies */
	int rr = fuse_reply_open(req, fi);
	pt_reply_backing = 0;
	if (rr == -ENOENT) {
		/* the opener was interrupted: no release will come. Journaled before the slot
		 * is freed, or its next owner's OPEN could precede this RELEASE in the log. */
		journal_handle_clear(v, fh);
		handle_close(v, h);
	}
	if (stream_path)
		dir_stream(v, stream_path);
	free(stream_path);
}

/* Index of name in l (listings are sorted by name), or -1. */
static long listing_index(const struct meta_listing *l, const char *name)
{
	size_t lo = 0, hi = meta_listing_count(l);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(meta_listing_at(l, mid)->name, name);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Path's directory (into dir), its listing (a reference the caller puts) and path's index in
 * it (-1 when not listed); -1 when path has no directory or the listing cannot be had. */
static int dir_listing_of(struct view *v, const char *path, char *dir, size_t dirlen,
			  struct meta_listing **l, long *idx)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return -1;
	snprintf(dir, dirlen, "%.*s", slash == path ? 1 : (int)(slash - path), path);
	*l = NULL;
	if (meta_cache_list(v->src.meta, dir, v->cfg.metadata_ttl_ms, l) < 0)
		return -1;
	*idx = listing_index(*l, slash + 1);
	return 0;
}

/* Counts n blocks fetched ahead from block `first` of a file of attr->size bytes: whole blocks,
 * never past the file's end (its last block is short, a small file's only one too). */
static void count_ahead(struct view *v, const struct ufs_attr *attr, uint64_t first, unsigned n)
{
	uint64_t from = first * v->block_size;
	uint64_t left = attr->size > from ? attr->size - from : 0;
	uint64_t ahead = (uint64_t)n * v->block_size;
	atomic_fetch_add(&v->prefetch_bytes, ahead < left ? ahead : left);
}

/* A stream across files: a reader that opens a directory's files in listing order (cp -R, tar)
 * reads the next ones next, as a sequential reader reads its next blocks.
 * - After two such opens, the head of the next file (as many blocks as fill the source's
 *   connections) is fetched as a spare guess: on request slots nothing else wants, so it fills
 *   the slots that fall idle while this file's last blocks arrive. Its version is the one the
 *   next open binds to: the listing's where listings give exact versions (S3), else validated
 *   now (a HEAD, recorded for metadata_ttl_ms, which the open then reuses).
 * - After three, where listings give exact versions, the first block of each of the next
 *   readahead_blocks files is fetched ahead (small files: the listing is the stream).
 * Opens in any other order fetch nothing ahead. Runs after the open's reply. */
static void dir_stream(struct view *v, const char *path)
{
	if (v->cfg.no_prefetch)
		return;
	bool exact = ufs_listing_versions(v->src.ufs);
	char dir[4096];
	struct meta_listing *l;
	long idx;
	if (dir_listing_of(v, path, dir, sizeof(dir), &l, &idx) < 0)
		return;
	struct prefetch_dir_open in = {.idx = idx,
				       .count = meta_listing_count(l),
				       .exact = exact,
				       .readahead = v->cfg.readahead_blocks};
	struct prefetch_dir_plan plan;
	pthread_mutex_lock(&v->lock);
	in.same = v->seq_dir && strcmp(v->seq_dir, dir) == 0;
	prefetch_dir_open(&v->seq, &in, &plan);
	if (plan.new_dir) {
		free(v->seq_dir);
		v->seq_dir = idx >= 0 ? strdup(dir) : NULL;
	}
	pthread_mutex_unlock(&v->lock);
	size_t spare = plan.spare;
	for (size_t i = plan.from; i < plan.to; i++) {
		const struct ufs_dirent *e = meta_listing_at(l, i);
		if (e->attr.is_dir || !e->size_known || !e->attr.etag[0] || e->attr.size == 0 ||
		    (e->via_link && links_checked(v)))
			continue;
		char *p = child_path(dir, e->name);
		uint64_t obj;
		if (p && block_store_object_sync(v->src.store, p, &e->attr, &obj) >= 0) {
			if (fetcher_prefetch(v->src.fetcher, obj, p, &e->attr, 0, 1))
				atomic_fetch_add(&v->prefetch_bytes, e->attr.size < v->block_size
									 ? e->attr.size
									 : v->block_size);
		}
		free(p);
	}
	const struct ufs_dirent *e = spare ? meta_listing_at(l, spare) : NULL;
	if (e && !e->attr.is_dir && (!e->size_known || e->attr.size > 0) &&
	    !(e->via_link && links_checked(v))) {
		char *p = child_path(dir, e->name);
		struct ufs_attr a = e->attr;
		bool changed = false;
		uint64_t obj;
		int r = p ? 0 : -ENOMEM;
		if (r == 0 && !(exact && e->size_known && e->attr.etag[0]))
			r = meta_cache_validate(v->src.meta, p, v->cfg.metadata_ttl_ms, false, &a,
						&changed);
		if (r == 0 && !a.is_dir && a.size > 0 && !changed &&
		    block_store_object_sync(v->src.store, p, &a, &obj) >= 0) {
			unsigned n = fetcher_prefetch_spare(v->src.fetcher, obj, p, &a, 0,
							    v->cfg.readahead_blocks);
			count_ahead(v, &a, 0, n);
		}
		free(p);
	}
	meta_listing_unref(l);
}

/* Pushes one listed file's bytes into its inode's page cache (FUSE_NOTIFY_STORE): only a small
 * file whose inode the kernel holds, bound to the listed version, with that version's one block
 * in a tier, so the page cache holds the bytes its READ would have had. Outside every lock. */
static void push_one(struct view *v, const char *dir, const struct ufs_dirent *e)
{
	if (e->attr.is_dir || !e->size_known || e->attr.size == 0 ||
	    e->attr.size > VIEW_SMALL_FILE || e->attr.size > v->block_size)
		return;
	char *p = child_path(dir, e->name);
	if (!p)
		return;
	fuse_ino_t ino = 0;
	uint64_t obj = 0, size = 0;
	pthread_mutex_lock(&v->lock);
	struct inode *in = by_path_get(v, p);
	if (in && in->bound && !in->detached && atomic_load(in->nlookup) > 0 &&
	    ufs_attr_same_version(&in->bound->attr, &e->attr)) {
		ino = in->ino;
		obj = in->bound->obj;
		size = in->bound->attr.size;
	}
	pthread_mutex_unlock(&v->lock);
	free(p);
	struct block_ref ref;
	if (!ino || block_store_acquire(v->src.store, obj, 0, &ref) < 0)
		return;
	char *buf = ref.len == size ? malloc(size) : NULL;
	ssize_t n = buf ? pread(ref.fd, buf, size, (off_t)ref.off) : -1;
	block_store_release(v->src.store, obj, 0);
	if (n == (ssize_t)size) {
		struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);
		bv.buf[0].mem = buf;
		int r = fuse_lowlevel_notify_store(v->se, ino, 0, &bv, 0);
		if (r == 0)
			atomic_fetch_add(&v->pushed_bytes, size);
		else if (r != -ENOENT)
			log_debug("pushing inode %llu into the page cache: %s",
				  (unsigned long long)ino, strerror(-r));
	}
	free(buf);
}

/* A warm reader of a no-open view reads a directory's small files in listing order (cp -R,
 * a training epoch after a remount): each would cost a READ round trip, the reader waiting
 * for weir-node and weir-node for the reader. After three first READs in order, the bytes of
 * the next VIEW_PUSH_AHEAD cached files go into their page cache before they are read, and the
 * first READ of the first file not pushed continues the run; only what the kernel already
 * holds an inode for (READDIRPLUS, LOOKUP) and a tier holds whole is pushed. Called after the
 * READ's reply. */
static void dir_push(struct view *v, const char *path)
{
	if (v->cfg.no_prefetch)
		return;
	char dir[4096];
	struct meta_listing *l;
	long idx;
	if (dir_listing_of(v, path, dir, sizeof(dir), &l, &idx) < 0)
		return;
	size_t from = 0, to = 0;
	pthread_mutex_lock(&v->lock);
	bool same = idx >= 0 && v->push_dir && strcmp(v->push_dir, dir) == 0;
	if (same && ((size_t)idx == v->push_idx + 1 ||
		     (v->push_ahead && (size_t)idx == v->push_ahead))) {
		v->push_run++;
	} else if (!same || (size_t)idx != v->push_idx) {
		v->push_run = 0;
		v->push_ahead = 0;
		if (!same) {
			free(v->push_dir);
			v->push_dir = idx >= 0 ? strdup(dir) : NULL;
		}
	}
	if (idx >= 0)
		v->push_idx = (size_t)idx;
	if (idx >= 0 && v->push_run >= 2) {
		from = (size_t)idx + 1 > v->push_ahead ? (size_t)idx + 1 : v->push_ahead;
		to = (size_t)idx + 1 + VIEW_PUSH_AHEAD;
		if (to > meta_listing_count(l))
			to = meta_listing_count(l);
		if (to > from)
			v->push_ahead = to;
	}
	pthread_mutex_unlock(&v->lock);
	for (size_t i = from; i < to; i++)
		push_one(v, dir, meta_listing_at(l, i));
	meta_listing_unref(l);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct view *v = fuse_req_userdata(req);
	atomic_fetch_add(&v->release_reqs, 1);
	struct handle *h = fh_file(v, fi->fh);
	if (h) {
		/* see replies: before the journal slot (and then the number) is freed for reuse */
		(void)atomic_load_explicit(&h->replies, memory_order_acquire);
		journal_handle_clear(v, fi->fh); /* first: see op_open */
		handle_close(v, h);
	}
	fuse_reply_err(req, 0);
}

/* Sequential readers get a prefetch window that doubles with each read that continues the
 * last one, up to readahead_blocks; a seek resets it. */
static void maybe_prefetch(struct view *v, struct handle *h, uint64_t off, size_t len,
			   uint64_t last_block)
{
	struct prefetch_range p;
	if (v->cfg.no_prefetch || !atomic_load(&v->read_streams))
		return;
	pthread_mutex_lock(&h->lock);
	bool new_stream =
	    prefetch_seq_read(&h->seq, off, len, last_block, v->cfg.readahead_blocks, &p);
	pthread_mutex_unlock(&h->lock);
	if (new_stream)
		atomic_fetch_add(&v->streams, 1);
	if (p.count) {
		unsigned n =
		    fetcher_prefetch(v->src.fetcher, h->obj, h->path, &h->attr, p.first, p.count);
		count_ahead(v, &h->attr, p.first, n);
	}
}

/* A read at offset 0 most often starts a whole-file reader (cp, tar, a loader): the blocks
 * after it are fetched with it, as many as keep the source's connections busy, so the file's
 * first second is not spent on one block's few range requests while the stream detector (eBPF
 * or maybe_prefetch) waits for a second read. Once per descriptor; a reader that reads only
 * the head costs at most that many blocks. */
static void head_start(struct view *v, struct handle *h, uint64_t next)
{
	if (v->cfg.no_prefetch || atomic_exchange(&h->head_fetched, true))
		return;
	struct prefetch_range p = prefetch_head(next, fetcher_fill_blocks(v->src.fetcher));
	if (!p.count)
		return; /* this read alone fills them */
	unsigned n = fetcher_prefetch(v->src.fetcher, h->obj, h->path, &h->attr, p.first, p.count);
	count_ahead(v, &h->attr, p.first, n);
}

/* A fetch for h said its version is gone: ask the UFS what is there now, so the store and the
 * metadata move on to it, and bind h's fate to the answer. Returns 0 when h's version is still
 * the current one (the fetch may be retried), -ESTALE when it is gone for good (h stays stale:
 * a descriptor never reads another version's bytes), or -errno. */
static int revalidate(struct view *v, struct handle *h)
{
	struct ufs_attr a;
	bool changed;
	int r = meta_cache_validate(v->src.meta, h->path, 0, true, &a, &changed);
	if (r == -EISDIR || r == -ENOTDIR || r == -ENOENT) {
		/* the path holds a directory now, or nothing: h's version is gone as surely as
		 * when another file took its place */
		if (!atomic_exchange(&h->stale, true))
			log_notice("\"%s\" changed at the UFS while open (%s now): its open "
				   "descriptors fail with ESTALE",
				   h->path, r == -ENOENT ? "gone" : "a directory or under a file");
		return -ESTALE;
	}
	if (r < 0)
		return r;
	uint64_t obj;
	r = block_store_object_sync(v->src.store, h->path, &a, &obj);
	if (r < 0)
		return r;
	if (!ufs_attr_same_version(&a, &h->attr)) {
		if (atomic_exchange(&h->stale, true))
			return -ESTALE; /* said once per descriptor */
		if (h->fh == 0 && h->ino)
			forget_entry(v, h->path); /* a bound inode: see there */
		log_notice(
		    "\"%s\" changed at the UFS while open (%" PRIu64 " bytes, ETag %s; was %" PRIu64
		    " bytes, ETag %s): its open descriptors fail with ESTALE, new opens read "
		    "the new version",
		    h->path, a.size, a.etag[0] ? a.etag : "none", h->attr.size,
		    h->attr.etag[0] ? h->attr.etag : "none");
		return -ESTALE;
	}
	return 0;
}

static void release_held(struct view *v, uint64_t obj, uint64_t first, struct fetch_result *held,
			 size_t nheld)
{
	for (size_t i = 0; i < nheld; i++) {
		if (held[i].mem)
			fetcher_result_release(v->src.fetcher, &held[i]);
		else
			block_store_release(v->src.store, obj, first + i);
	}
}

/* A READ of a tier miss holds no thread while its block is fetched (issue #10): it parks as
 * a read_cont armed at the fetcher (fetcher_get_range_async) and its thread goes back to the
 * loop; when the range lands the fetcher calls read_ready, which queues it for reply_threads,
 * where read_run goes on with the next blocks and answers it. So N readers of cold blocks pin
 * none of libfuse's threads, not N of them.
 *
 * h stays valid as long as the continuation lives, as it did for the thread that waited in
 * the old blocking read: the kernel sends RELEASE only once every READ of the file has been
 * answered (the READ holds the file: fs/fuse/file.c, fuse_file_put after the answer), so
 * op_release (handle_close), the one place that frees an open's handle but view_stop, cannot
 * run before read_finish's reply; a no-open read's handle is its inode's bound version, never
 * replaced (inode_bind gives a changed version a new inode) and freed only by view_stop; and
 * view_stop answers every continuation (reply_drain) before it closes the handles left and
 * frees the inodes. The view registers no
 * INTERRUPT handler: an interrupted READ is answered like any other, once (read_finish is the
 * only reply of a continuation, and a continuation is in exactly one place: being run,
 * parked, or queued). */
struct read_cont {
	struct fetch_wait w; /* while parked: at the fetcher */
	struct view *v;
	fuse_req_t req;
	fuse_ino_t ino;
	uint64_t open_fh; /* fi->fh: 0 for a no-open read */
	struct handle *h;
	off_t off;
	size_t len;		     /* the READ's bytes within the file */
	uint64_t first, nblocks, b;  /* the blocks read, and the next one to take */
	bool revalidated;	     /* block b's fetch said ESTALE and h was revalidated once */
	bool cancelled;		     /* view_stop took it back from the fetcher: EIO */
	bool counted;		     /* under reply_lock: in nconts (parked once) until answered */
	bool waited;		     /* taken by a reply thread: finished there */
	uint32_t from, to;	     /* block b's bytes wanted */
	STAILQ_ENTRY(read_cont) q;   /* under reply_lock: in reply_queue */
	LIST_ENTRY(read_cont) plink; /* under reply_lock: in parked */
	size_t nheld, nsegs;
	/* nblocks of each, in the same allocation after the struct: sized by the READ, so the
	 * usual READ of a block or two is a small allocation that malloc's per-thread cache
	 * serves (arrays of VIEW_MAX_SEGS made it 7 KiB: +40% instructions per READ,
	 * bench/callgrind-read.sh) */
	struct fetch_result *held;
	struct range_seg *segs;
};

static void read_run(struct read_cont *c, int woke);
static void release_held(struct view *v, uint64_t obj, uint64_t first, struct fetch_result *held,
			 size_t nheld);
static void dir_push(struct view *v, const char *path);
static int revalidate(struct view *v, struct handle *h);

/* The fetcher's ready: on its thread, without its lock; only queues. */
static void read_ready(struct fetch_wait *w)
{
	struct read_cont *c = w->arg;
	struct view *v = c->v;
	pthread_mutex_lock(&v->reply_lock);
	LIST_REMOVE(c, plink);
	STAILQ_INSERT_TAIL(&v->reply_queue, c, q);
	pthread_cond_signal(&v->reply_cond);
	pthread_mutex_unlock(&v->reply_lock);
}

static void *reply_thread(void *arg)
{
	struct view *v = arg;
	/* A miss's reader waited for a fetch already; its reply (up to 1000 KiB copied) must not
	 * keep a hit's worker off a CPU (thread_class.h). */
	pthread_setname_np(pthread_self(), "weir-reply"); /* top -H, perf */
	thread_class_set(THREAD_CLASS_BULK);
	pthread_mutex_lock(&v->reply_lock);
	for (;;) {
		while (STAILQ_EMPTY(&v->reply_queue) && !v->reply_exit)
			pthread_cond_wait(&v->reply_cond, &v->reply_lock);
		struct read_cont *c = STAILQ_FIRST(&v->reply_queue);
		if (!c)
			break;
		STAILQ_REMOVE_HEAD(&v->reply_queue, q);
		pthread_mutex_unlock(&v->reply_lock);
		c->waited = true; /* c is this thread's now */
		read_run(c, c->cancelled ? -EIO : 1);
		pthread_mutex_lock(&v->reply_lock);
	}
	pthread_mutex_unlock(&v->reply_lock);
	return NULL;
}

/* Asks the fetcher for block c->b (after: once c's ready came, for its answer), c parked
 * meanwhile so that view_stop finds it while it may be armed; c stays parked only on
 * -EINPROGRESS, after which it is not the caller's any more. A new fetch once the view is
 * stopping: -EIO. */
static int read_fetch(struct read_cont *c, bool after, struct fetch_result *fr)
{
	struct view *v = c->v;
	struct handle *h = c->h;
	pthread_mutex_lock(&v->reply_lock);
	if (v->reply_stopping && !after) {
		pthread_mutex_unlock(&v->reply_lock);
		return -EIO;
	}
	LIST_INSERT_HEAD(&v->parked, c, plink);
	if (!c->counted) {
		c->counted = true;
		v->nconts++;
	}
	pthread_mutex_unlock(&v->reply_lock);
	int r =
	    after ? fetcher_wait_result(v->src.fetcher, h->obj, h->path, &h->attr, c->b, &c->w, fr)
		  : fetcher_get_range_async(v->src.fetcher, h->obj, h->path, &h->attr, c->b,
					    c->from, c->to, &c->w, fr);
	if (r == -EINPROGRESS)
		return r;
	pthread_mutex_lock(&v->reply_lock);
	LIST_REMOVE(c, plink);
	pthread_mutex_unlock(&v->reply_lock);
	return r;
}

/* view_stop, once no READ can come: takes back the continuations parked at the fetcher (they
 * are answered EIO by reply_threads), waits for every continuation to be answered (those whose
 * block arrived meanwhile are finished as usual, and park no more), then ends reply_threads.
 * A continuation armed again after a pass is taken back at the next, 50 ms later. */
static void reply_drain(struct view *v)
{
	pthread_mutex_lock(&v->reply_lock);
	v->reply_stopping = true;
	while (v->nconts > 0) {
		struct read_cont *c = LIST_FIRST(&v->parked), *nx;
		for (; c; c = nx) {
			nx = LIST_NEXT(c, plink);
			if (!fetcher_wait_cancel(v->src.fetcher, &c->w))
				continue; /* being armed, or its ready is coming */
			LIST_REMOVE(c, plink);
			c->cancelled = true;
			STAILQ_INSERT_TAIL(&v->reply_queue, c, q);
			pthread_cond_signal(&v->reply_cond);
		}
		struct timespec at = deadline_in(0.05);
		cond_wait_until(&v->reply_idle, &v->reply_lock, &at);
	}
	v->reply_exit = true;
	pthread_cond_broadcast(&v->reply_cond);
	pthread_mutex_unlock(&v->reply_lock);
	for (unsigned i = 0; i < v->nreply_threads; i++)
		pthread_join(v->reply_threads[i], NULL);
	v->nreply_threads = 0;
}

/* The fetch of block c->b ended with r (the result in *fr when 0): logs a failure as the READ
 * always has; returns 0 to go on with the next block, or r (< 0) to answer with it. */
static int read_took(struct read_cont *c, int r, struct fetch_result *fr)
{
	struct view *v = c->v;
	struct handle *h = c->h;
	uint64_t b = c->b;
	if (r == -ESTALE) {
		log_debug("read of \"%s\" at %lld: its version is gone", h->path,
			  (long long)c->off);
		return r;
	}
	if (r < 0) {
		/* once per descriptor, with the UFS's word on this block's fetch (naming the
		 * object and the server's answer), else its last failure (racy: a guess fetched
		 * ahead fails too) */
		char cause[256];
		if (!atomic_exchange(&h->read_failed, true)) {
			if (fetcher_failure_cause(v->src.fetcher, h->obj, b, cause, sizeof(cause)) <
			    0)
				ufs_error_copy(v->src.ufs, cause, sizeof(cause));
			log_warn("read of \"%s\" at %lld failed: %s (%.256s; further failures of "
				 "this descriptor at debug level)",
				 h->path, (long long)c->off, strerror(-r), cause);
		} else
			log_debug("read of \"%s\" at %lld failed: %s", h->path, (long long)c->off,
				  strerror(-r));
		return r;
	}
	(void)fr;
	return 0;
}

/* Answers c with r (< 0) or the segments it holds, then releases them and frees c. */
static void read_finish(struct read_cont *c, int r)
{
	struct view *v = c->v;
	struct handle *h = c->h;
	fuse_req_t req = c->req;
	/* Once replied, the reader may close the file: h can be freed by a RELEASE on another
	 * thread, so nothing after a reply may touch it. */
	uint64_t obj = h->obj;
	/* a no-open view's small file read from its start: perhaps a warm reader going through
	 * the directory (dir_push, after the reply). Never from a reply thread: the push's
	 * notify_store waits in the kernel for the next file's locked pages, which a READ parked
	 * here may hold until one of these same two threads answers it (both threads stuck, every
	 * parked READ of the view with them); a READ that had to wait is no warm reader anyway. */
	char *push_path = r == 0 && !c->waited && c->off == 0 && c->open_fh == 0 &&
				  atomic_load(&v->no_open) && h->attr.size <= VIEW_SMALL_FILE
			      ? strdup(h->path)
			      : NULL;
	atomic_fetch_add_explicit(&h->replies, 1, memory_order_release);
	if (r < 0) {
		fuse_reply_err(req, errno_for_fuse(r));
	} else {
		/* On the heap, not a struct of a bufvec and more fuse_bufs: there GCC knows
		 * vec.buf[1] is out of its one-element array and stops the loop below at the
		 * first segment (a READ across two blocks got a short reply: "EOF" mid-file). */
		size_t nsegs = c->nsegs;
		struct fuse_bufvec *vec = calloc(1, sizeof(*vec) + nsegs * sizeof(struct fuse_buf));
		if (!vec) {
			fuse_reply_err(req, ENOMEM);
			goto release;
		}
		vec->count = nsegs;
		size_t total = 0;
		for (size_t i = 0; i < nsegs; i++) {
			struct fuse_buf *fb = &vec->buf[i];
			fb->size = c->segs[i].len;
			if (c->segs[i].mem) {
				fb->mem = (void *)c->segs[i].mem;
			} else {
				fb->flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY;
				fb->fd = c->segs[i].fd;
				fb->pos = (off_t)c->segs[i].off;
			}
			total += c->segs[i].len;
		}
		atomic_fetch_add(&v->read_bytes, total);
		/* without eBPF watching, the READs weir answers are what it sees of the reads (of
		 * a descriptor whose open did not count its whole file already) */
		if (atomic_load(&v->read_streams) && total > 0 && !atomic_load(&h->counted_whole))
			count_own(v, obj, total);
		int rr = fuse_reply_data(req, vec, 0);
		free(vec);
		if (rr < 0 && rr != -ENOENT)
			log_debug("reply to a read of inode %llu: %s", (unsigned long long)c->ino,
				  strerror(-rr));
	}
release:
	release_held(v, obj, c->first, c->held, c->nheld);
	if (push_path)
		dir_push(v, push_path);
	free(push_path);
	bool counted = c->counted;
	free(c);
	if (counted) {
		pthread_mutex_lock(&v->reply_lock);
		if (--v->nconts == 0)
			pthread_cond_broadcast(&v->reply_idle);
		pthread_mutex_unlock(&v->reply_lock);
	}
}

/* Goes on with c from block c->b: woke 0 from op_read, 1 when c's fetch_wait became ready, or
 * -EIO when view_stop took c back. Answers c (read_finish) or parks it again; either way c is
 * not the caller's after. */
static void read_run(struct read_cont *c, int woke)
{
	struct view *v = c->v;
	struct handle *h = c->h;
	int r = 0;
	if (woke < 0) {
		read_finish(c, woke);
		return;
	}
	for (; c->b < c->first + c->nblocks; c->b++) {
		uint64_t b = c->b;
		struct fetch_result fr;
		bool hit = false;
		/* the bytes of block b this read wants: a miss waits for those only */
		uint64_t bstart = b * (uint64_t)v->block_size;
		uint64_t from = (uint64_t)c->off > bstart ? (uint64_t)c->off - bstart : 0;
		uint64_t to = (uint64_t)c->off + c->len - bstart;
		uint64_t whole =
		    h->attr.size - bstart < v->block_size ? h->attr.size - bstart : v->block_size;
		if (to > whole)
			to = whole;
		c->from = (uint32_t)from;
		c->to = (uint32_t)to;
		if (woke) {
			woke = 0;
			r = read_fetch(c, true, &fr);
		} else if (block_store_acquire(v->src.store, h->obj, b, &fr.ref) == 0) {
			fr.mem = NULL;
			fr.hold = NULL;
			fr.len = fr.ref.len;
			hit = true;
			atomic_fetch_add(&v->hits, 1);
			r = 0;
		} else {
			c->revalidated = false;
			r = read_fetch(c, false, &fr);
			/* Answered at once (a block from a peer kept in memory, or one that landed
			 * a moment ago and is on its way to the tier): the reader waited for no UFS
			 * and no peer, a hit as it sees it. Parked (-EINPROGRESS) or failed: a miss.
			 * Before, every block the store did not hold counted as a miss, so a node
			 * reading its peers' blocks from memory showed a hit ratio of 0. */
			atomic_fetch_add(r == 0 ? &v->hits : &v->misses, 1);
		}
		if (r == -ESTALE && !c->revalidated) {
			/* another read of h may have found out already; revalidate may ask the
			 * UFS: here, on an op_read or a reply thread, never on the fetcher's */
			c->revalidated = true;
			r = atomic_load(&h->stale) ? -ESTALE : revalidate(v, h);
			if (r == 0)
				r = read_fetch(c, false, &fr);
		}
		if (r == -EINPROGRESS)
			return; /* parked: read_ready queues c for a reply thread */
		/* not parked (any more): answered on this thread */
		r = read_took(c, r, &fr);
		if (r < 0)
			goto reply;
		c->held[c->nheld++] = fr;
		if (fr.len < whole) {
			/* Shorter than the version's size says: an error, never a short reply
			 * (the kernel would zero-fill it or shrink the file there). */
			log_warn("block %llu of \"%s\" holds %u bytes, less than its version's "
				 "size; failing the read",
				 (unsigned long long)b, h->path, fr.len);
			r = -EIO;
			goto reply;
		}
		atomic_fetch_add(hit ? &v->tier_bytes : &v->ufs_bytes, to - from);
		struct range_seg piece = {.fd = -1, .len = to - from};
		if (fr.mem)
			piece.mem = fr.mem + from;
		else {
			piece.fd = fr.ref.fd;
			piece.off = fr.ref.off + from;
		}
		c->nsegs = ranges_append(c->segs, c->nsegs, &piece);
	}
reply:
	read_finish(c, r);
}

/* A READ of a handle that follows the writes through its view (follows_writes), whose last
 * write left version head: straight from the source, as a writer reads (the block store keeps
 * versions a whole file at a time, for descriptors that keep theirs). The file is opened
 * again and must hold head: a change from elsewhere since gives ESTALE, as it would to any
 * descriptor. */
static void read_written(fuse_req_t req, struct view *v, struct handle *h,
			 const struct ufs_attr *head, size_t size, off_t off)
{
	char path[PATH_MAX];
	pthread_mutex_lock(&v->lock);
	snprintf(path, sizeof(path), "%s", h->ino->path);
	pthread_mutex_unlock(&v->lock);
	struct ufs_attr want = *head;
	int fd = ufs_open_read(v->src.ufs, path, &want);
	/* again: a write through this view between our look at the head and the file's */
	if (fd == -ESTALE && follows_writes(v, h, &want))
		fd = ufs_open_read(v->src.ufs, path, &want);
	int r = fd < 0 ? fd : 0;
	char *buf = r == 0 ? malloc(size ? size : 1) : NULL;
	ssize_t n = 0;
	if (r == 0 && !buf)
		r = -ENOMEM;
	if (r == 0 && (n = pread(fd, buf, size, off)) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	atomic_fetch_add_explicit(&h->replies, 1, memory_order_release); /* see replies */
	if (r < 0)
		fuse_reply_err(req, errno_for_fuse(r));
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct view *v = fuse_req_userdata(req);
	struct handle *h = fh_file(v, fi->fh);
	uint64_t first;
	size_t len;
	if (!h && fi->fh == 0 && atomic_load(&v->no_open)) {
		/* no-open: the kernel opened the file itself; the inode says which version */
		struct inode *in = inode_get(v, ino);
		h = in ? inode_bound(v, in) : NULL;
		if (!h) {
			log_warn("\"%s\": READ of inode %llu, which is bound to no version",
				 v->mountpoint, (unsigned long long)ino);
			fuse_reply_err(req, EIO);
			return;
		}
	}
	if (!h) {
		/* A handle no journal knew: the kernel had it from a weir-node that died before
		 * journaling it, which cannot happen (journaled before the reply), or a bug. */
		log_warn("\"%s\": READ of unknown handle %llu", v->mountpoint,
			 (unsigned long long)fi->fh);
		fuse_reply_err(req, EBADF);
		return;
	}
	struct ufs_attr head;
	if (follows_writes(v, h, &head)) {
		read_written(req, v, h, &head, size, off);
		return;
	}
	if (h->wfd >= 0) {
		/* A file open for writing reads its own bytes, straight from the UFS. */
		char *buf = malloc(size ? size : 1);
		ssize_t n = buf ? pread(h->wfd, buf, size, off) : -1;
		if (n < 0)
			fuse_reply_err(req, buf ? errno : ENOMEM);
		else
			fuse_reply_buf(req, buf, (size_t)n);
		free(buf);
		return;
	}
	uint64_t nblocks =
	    ranges_blocks((uint64_t)off, size, h->attr.size, v->block_size, &first, &len);
	atomic_fetch_add(&v->reads, 1);
	atomic_store(&h->ino->last_read_ns, mono_ns());
	if (atomic_load(&h->stale)) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (nblocks == 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	maybe_prefetch(v, h, (uint64_t)off, len, first + nblocks - 1);
	if (off == 0)
		head_start(v, h, first + nblocks);
	if (nblocks > VIEW_MAX_SEGS) {
		atomic_fetch_add_explicit(&h->replies, 1, memory_order_release);
		fuse_reply_err(req, EINVAL);
		return;
	}
	_Static_assert(sizeof(struct read_cont) % _Alignof(struct fetch_result) == 0 &&
			   sizeof(struct fetch_result) % _Alignof(struct range_seg) == 0,
		       "read_cont's arrays follow it aligned");
	struct read_cont *c = malloc(sizeof(*c) + nblocks * (sizeof(struct fetch_result) +
							    sizeof(struct range_seg)));
	if (!c) {
		atomic_fetch_add_explicit(&h->replies, 1, memory_order_release);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* field by field: held and segs are written as they fill */
	c->held = (struct fetch_result *)(c + 1);
	c->segs = (struct range_seg *)(c->held + nblocks);
	c->w = (struct fetch_wait){.ready = read_ready, .arg = c};
	c->v = v;
	c->req = req;
	c->ino = ino;
	c->open_fh = fi->fh;
	c->h = h;
	c->off = off;
	c->len = len;
	c->first = first;
	c->nblocks = nblocks;
	c->b = first;
	c->revalidated = c->cancelled = c->counted = c->waited = false;
	c->from = c->to = 0;
	c->nheld = c->nsegs = 0;
	read_run(c, 0);
}

static void dir_handle_free(struct dir_handle *d)
{
	if (d->l)
		meta_listing_unref(d->l);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

/* A request on d (its OPENDIR, a READDIR) is about to be answered: see replies. Nothing of d
 * may be touched after the reply but by its RELEASEDIR. */
static void dir_replied(struct dir_handle *d)
{
	atomic_fetch_add_explicit(&d->replies, 1, memory_order_release);
}

static void dir_close(struct view *v, uint64_t fh)
{
	struct dir_handle *open = fh_dir(v, fh);
	if (open) {
		/* first (see replies): the journal slot and the number are reused next */
		(void)atomic_load_explicit(&open->replies, memory_order_acquire);
		journal_handle_clear(v, fh); /* before the slot is free: op_open */
	}
	pthread_mutex_lock(&v->lock);
	struct dir_handle *d = fh >= 1 && fh <= v->nfhs ? v->fhs[fh - 1].dir : NULL;
	if (d)
		fh_release_locked(v, fh);
	pthread_mutex_unlock(&v->lock);
	if (!d)
		return;
	dir_handle_free(d);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct view *v = fuse_req_userdata(req);
	struct inode *in = inode_get(v, ino);
	if (!in) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	int r = reader_may(req, v, in->path, R_OK, NULL);
	if (r < 0) {
		fuse_reply_err(req, errno_for_fuse(r));
		return;
	}
	struct dir_handle *d = calloc(1, sizeof(*d));
	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	r = meta_cache_list(v->src.meta, in->path, v->cfg.metadata_ttl_ms, &d->l);
	if (r < 0) {
		free(d);
		log_debug("listing \"%s\" failed: %s", in->path, strerror(-r));
		fuse_reply_err(req, errno_for_fuse(r));
		return;
	}
	d->ino = ino;
	pthread_mutex_init(&d->lock, NULL);
	pthread_mutex_lock(&v->lock);
	uint64_t fh = fh_alloc_locked(v);
	if (fh)
		v->fhs[fh - 1].dir = d;
	pthread_mutex_unlock(&v->lock);
	if (!fh) {
		dir_handle_free(d);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fi->fh = fh;
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	journal_handle_set(v, NULL, ino, fh);
	dir_replied(d);
	if (fuse_reply_open(req, fi) == -ENOENT)
		dir_close(v, fh);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, bool plus)
{
	struct view *v = fuse_req_userdata(req);
	struct dir_handle *d = fh_dir(v, fi->fh);
	struct inode *dir = inode_get(v, ino);
	if (!d || !dir) {
		fuse_reply_err(req, d ? ENOENT : EBADF);
		return;
	}
	/* A handle restored after a restart lists its directory again (outside the lock: a
	 * listing may ask the UFS), once: the first listing stored wins. */
	pthread_mutex_lock(&d->lock);
	bool listed = d->l != NULL;
	pthread_mutex_unlock(&d->lock);
	if (!listed) {
		struct meta_listing *l;
		int lr = meta_cache_list(v->src.meta, dir->path, v->cfg.metadata_ttl_ms, &l);
		if (lr < 0) {
			dir_replied(d);
			fuse_reply_err(req, errno_for_fuse(lr));
			return;
		}
		pthread_mutex_lock(&d->lock);
		if (!d->l) {
			d->l = l;
			l = NULL;
		}
		pthread_mutex_unlock(&d->lock);
		if (l)
			meta_listing_unref(l);
	}
	char *buf = malloc(size);
	if (!buf) {
		dir_replied(d);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	size_t used = 0;
	size_t n = meta_listing_count(d->l);
	int view_fd = -1; /* link_leaves_view */
	for (size_t i = (size_t)off; i < n; i++) {
		const struct ufs_dirent *de = meta_listing_at(d->l, i);
		char *path = child_path(dir->path, de->name);
		if (!path)
			break;
		if (de->via_link && link_leaves_view(v, path, &view_fd)) {
			free(path);
			continue;
		}
		size_t need;
		if (plus) {
			struct fuse_entry_param e;
			struct ufs_attr a = de->attr;
			/* no-open: a file's inode is bound at its LOOKUP, which validates its
			 * version; the listing's word is not enough (here only when its version
			 * is known and its bytes cached: entry_bound_cached). Likewise a file
			 * whose inode has read handles open: the LOOKUP decides whether the
			 * listing's version is theirs. Node id 0: the name only. */
			bool name_only =
			    !a.is_dir && (atomic_load(&v->no_open) || path_busy(v, path));
			if (!de->size_known && !a.is_dir && !name_only &&
			    meta_cache_getattr(v->src.meta, path, v->cfg.metadata_ttl_ms, &a) < 0) {
				free(path);
				continue;
			}
			/* Measure first: an entry that does not fit must not count a lookup. */
			need = fuse_add_direntry_plus(req, NULL, 0, de->name, NULL, 0);
			if (used + need > size) {
				free(path);
				break;
			}
			if (name_only && atomic_load(&v->no_open) &&
			    entry_bound_cached(v, path, &e) == 0) {
				/* bound: as its LOOKUP would have answered */
			} else if (name_only) {
				struct inode *in = inode_for_path(v, path);
				memset(&e, 0, sizeof(e));
				fill_stat(v, in ? in->ino : 0xffffffffu, &a, &e.attr);
			} else if (make_entry(v, path, &a, false, &e) < 0) {
				free(path);
				break;
			}
			used += fuse_add_direntry_plus(req, buf + used, size - used, de->name, &e,
						       (off_t)i + 1);
		} else {
			struct inode *in = inode_for_path(v, path);
			struct stat st;
			fill_stat(v, in ? in->ino : 0xffffffffu, &de->attr, &st);
			need = fuse_add_direntry(req, buf + used, size - used, de->name, &st,
						 (off_t)i + 1);
			if (used + need > size) {
				free(path);
				break;
			}
			used += need;
		}
		free(path);
	}
	if (view_fd >= 0)
		close(view_fd);
	dir_replied(d);
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	dir_close(fuse_req_userdata(req), fi->fh);
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct view *v = fuse_req_userdata(req);
	struct block_store_stats bs;
	block_store_get_stats(v->src.store, &bs);
	uint64_t quota = 0, used = 0;
	for (unsigned i = 0; i < bs.ntiers; i++) {
		quota += bs.tiers[i].quota;
		used += bs.tiers[i].used;
	}
	struct statvfs st = {0};
	st.f_bsize = v->block_size;
	st.f_frsize = v->block_size;
	st.f_blocks = quota / v->block_size;
	st.f_bfree = used < quota ? (quota - used) / v->block_size : 0;
	st.f_bavail = st.f_bfree;
	pthread_mutex_lock(&v->lock);
	st.f_files = v->ninodes;
	pthread_mutex_unlock(&v->lock);
	st.f_namemax = 255;
	st.f_flag = v->cfg.read_write ? 0 : ST_RDONLY;
	fuse_reply_statfs(req, &st);
}

static const struct fuse_lowlevel_ops view_ops = {
    .init = op_init,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .open = op_open,
    .read = op_read,
    .release = op_release,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .releasedir = op_releasedir,
    .statfs = op_statfs,
    .create = op_create,
    .write = op_write,
    .fsync = op_fsync,
    .setattr = op_setattr,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .rename = op_rename,
};

static void *loop_thread(void *arg)
{
	struct view *v = arg;
	/* libfuse's workers, started from this thread and from each other, inherit it: a hit is
	 * answered on the worker that read its request (thread_class.h) */
	pthread_setname_np(pthread_self(), "weir-fuse"); /* top -H, perf */
	thread_class_set(THREAD_CLASS_REQUEST);
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	if (cfg) {
		fuse_loop_cfg_set_max_threads(cfg, 64);
		fuse_loop_cfg_set_idle_threads(cfg, 8);
	}
	int r = fuse_session_loop_mt(v->se, cfg);
	if (cfg)
		fuse_loop_cfg_destroy(cfg);
	log_debug("view at \"%s\": loop ended (%d)", v->mountpoint, r);
	atomic_store(&v->exited, true);
	return NULL;
}

/* The mountpoint as the kernel should resolve it: through the held parent directory, not the
 * path (whose directories someone may have swapped since). */
static const char *mp_path(const struct view *v, char *buf, size_t len)
{
	if (v->parent_fd < 0)
		return v->mountpoint;
	snprintf(buf, len, "/proc/self/fd/%d/%s", v->parent_fd, v->leaf);
	return buf;
}

/* Holds the mountpoint's parent directory. Returns 0 or -errno with a message. */
static int mp_hold(struct view *v, char *errbuf, size_t errlen)
{
	const char *slash = strrchr(v->mountpoint, '/');
	if (v->mountpoint[0] != '/' || !slash || !slash[1]) {
		snprintf(errbuf, errlen, "mountpoint \"%s\": not an absolute path to a directory",
			 v->mountpoint);
		return -EINVAL;
	}
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%.*s",
		 slash == v->mountpoint ? 1 : (int)(slash - v->mountpoint), v->mountpoint);
	v->leaf = strdup(slash + 1);
	if (!v->leaf)
		return -ENOMEM;
	v->parent_fd = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (v->parent_fd < 0) {
		int r = -errno;
		snprintf(errbuf, errlen, "mountpoint \"%s\": %s", v->mountpoint, strerror(-r));
		return r;
	}
	return 0;
}

int view_umount(struct view *v, int flags)
{
	char buf[PATH_MAX + 64];
	if (atomic_load(&v->unmounted))
		return 0;
	if (umount2(mp_path(v, buf, sizeof(buf)), flags | UMOUNT_NOFOLLOW) < 0)
		return -errno;
	atomic_store(&v->unmounted, true);
	return 0;
}

/* A daemon killed with its mount up leaves a dead mount ("Transport endpoint is not
 * connected"); detach it so the mountpoint can be used again. */
static void clear_dead_mount(struct view *v)
{
	char buf[PATH_MAX + 64];
	struct stat st;
	if (fstatat(v->parent_fd, v->leaf, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOTCONN)
		return;
	if (umount2(mp_path(v, buf, sizeof(buf)), MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
		log_notice("detached the dead mount left at \"%s\"", v->mountpoint);
}

static void raise_read_ahead(struct view *v)
{
	if (!v->cfg.read_ahead_kb)
		return;
	char path[128], val[32];
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", major(v->dev),
		 minor(v->dev));
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int n = snprintf(val, sizeof(val), "%u", v->cfg.read_ahead_kb);
	if (fd < 0 || write(fd, val, n) != n)
		log_notice("cannot raise read-ahead of \"%s\" (%s): sequential reads stay at the "
			   "kernel default",
			   v->mountpoint, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* ---- takeover: the tables a dead weir-node journaled, rebuilt before the loop starts (no other
 * thread runs yet; the lock is taken where helpers expect it) ---- */

/* Puts path at inode number ino; numbers the journal never named (inodes the kernel was never
 * told of) become placeholders that answer to no path. The first record naming an inode gives
 * it its path, and the path to it unless another inode holds it; a detached record (or one of
 * those) leaves it answering for its own descriptors only. */
static int inode_restore(struct view *v, uint64_t ino, const char *path, bool detached)
{
	if (ino == 0 || ino > VIEW_JOURNAL_MAX_INODES * 4ull)
		return -EINVAL;
	int r = 0;
	pthread_mutex_lock(&v->lock);
	while (v->ninodes < ino) {
		if (v->ninodes == v->cap) {
			size_t cap = v->cap ? v->cap * 2 : 256;
			struct inode **n = realloc(v->inodes, cap * sizeof(*n));
			if (!n) {
				r = -ENOMEM;
				goto out;
			}
			v->inodes = n;
			v->cap = cap;
		}
		struct inode *in = calloc(1, sizeof(*in));
		if (!in || !(in->path = strdup(""))) {
			free(in);
			r = -ENOMEM;
			goto out;
		}
		in->detached = true;
		v->inodes[v->ninodes++] = in;
		in->ino = v->ninodes;
		inode_init_locked(v, in);
	}
	struct inode *in = v->inodes[ino - 1];
	bool named_now = !in->path[0];
	if (named_now) {
		/* its path even when it does not get to answer for it: its descriptors read it */
		char *p = strdup(path);
		if (!p) {
			r = -ENOMEM;
			goto out;
		}
		free(in->path);
		in->path = p;
		in->heat_obj = 0;
		in->path_gen++;
	}
	if (detached) {
		by_path_remove(v, in);
		in->detached = true;
	} else if (named_now && !by_path_get(v, path)) {
		by_path_add(v, in);
		in->detached = false;
	}
	atomic_store(&in->journaled, true);
out:
	pthread_mutex_unlock(&v->lock);
	return r;
}

static int restore_open(void *arg, const struct view_journal_rec *rec)
{
	struct view *v = arg;
	if (rec->flags & VJ_OPEN_DIR) {
		struct dir_handle *d = calloc(1, sizeof(*d));
		if (!d)
			return -ENOMEM;
		d->ino = rec->ino;
		pthread_mutex_init(&d->lock, NULL);
		pthread_mutex_lock(&v->lock);
		int r = fh_claim_locked(v, rec->fh, NULL, d);
		pthread_mutex_unlock(&v->lock);
		if (r < 0)
			dir_handle_free(d);
		return r == -ENOMEM ? r : 0;
	}
	struct handle *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->obj = rec->obj;
	h->attr = rec->attr;
	h->backing_id = rec->backing_id;
	h->open_flags = (int)rec->flags;
	h->fh = rec->fh;
	h->wfd = -1;
	h->backing_fd = -1;
	prefetch_seq_init(&h->seq);
	h->ino = inode_get(v, rec->ino);
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_lock(&v->lock);
	/* a detached inode's handles too: they read their version until they close */
	int r = h->ino && h->ino->path[0] ? fh_claim_locked(v, rec->fh, h, NULL) : -ENOENT;
	pthread_mutex_unlock(&v->lock);
	if (r < 0) {
		/* A handle whose inode the journal lacks cannot be served; its reads get EBADF. */
		log_warn("\"%s\": journaled handle %llu of inode %llu cannot be restored: %s",
			 v->mountpoint, (unsigned long long)rec->fh, (unsigned long long)rec->ino,
			 strerror(-r));
		pthread_mutex_destroy(&h->lock);
		free(h);
	}
	return r == -ENOMEM ? r : 0;
}

/* A binding: inode rec->ino answers for path at its version, and takes the path from the
 * inode of an older version (a later record wins: the log is in reply order). */
static int bind_restore(struct view *v, const struct view_journal_rec *rec, const char *path)
{
	int r = inode_restore(v, rec->ino, path, false);
	if (r < 0)
		return r;
	struct handle *b = bound_new(path, rec->obj, &rec->attr);
	if (!b)
		return -ENOMEM;
	pthread_mutex_lock(&v->lock);
	struct inode *in = v->inodes[rec->ino - 1];
	struct inode *owner = by_path_get(v, path);
	if (owner != in) {
		char *p = strdup(path);
		if (!p) {
			r = -ENOMEM;
			goto out;
		}
		if (owner) {
			by_path_remove(v, owner);
			owner->detached = true;
		}
		by_path_remove(v, in); /* from its old path, if it had one */
		free(in->path);
		in->path = p;
		in->heat_obj = 0;
		in->path_gen++;
		by_path_add(v, in);
		in->detached = false;
	}
	if (!in->bound) {
		b->ino = in;
		in->bound = b;
		b = NULL;
	}
	atomic_store(&in->bind_journaled, true);
out:
	pthread_mutex_unlock(&v->lock);
	bound_free(b);
	return r;
}

static int restore_rec(void *arg, const struct view_journal_rec *rec, const void *blob)
{
	struct view *v = arg;
	switch (rec->type) {
	case VJ_INIT:
		if (rec->blob_len <
			sizeof(struct fuse_in_header) + offsetof(struct fuse_init_in, unused) ||
		    rec->blob_len > sizeof(v->init_req))
			return -EPROTO;
		memcpy(v->init_req, blob, rec->blob_len);
		v->init_len = rec->blob_len;
		/* copies, not casts: a blob is not aligned for the kernel's structs */
		struct fuse_in_header ih;
		struct fuse_init_in ii = {0};
		memcpy(&ih, v->init_req, sizeof(ih));
		memcpy(&ii, v->init_req + sizeof(ih),
		       v->init_len - sizeof(ih) < sizeof(ii) ? v->init_len - sizeof(ih)
							     : sizeof(ii));
		v->init_unique = ih.unique;
		bool ext = ii.flags & FUSE_INIT_EXT;
		atomic_store(&v->pt_offered, ext && (ii.flags2 & (FUSE_PASSTHROUGH >> 32)));
		v->resend = ext && (ii.flags2 & (FUSE_HAS_RESEND >> 32));
		atomic_store(&v->passthrough, (rec->flags & VJ_INIT_PASSTHROUGH) != 0);
		/* the kernel's no-open flag lives as long as the connection */
		atomic_store(&v->no_open, (rec->flags & VJ_INIT_NO_OPEN) != 0);
		return 0;
	case VJ_INODE:
		return inode_restore(v, rec->ino, blob, (rec->flags & VJ_INODE_DETACHED) != 0);
	case VJ_BIND:
		return bind_restore(v, rec, blob);
	case VJ_RENAME: {
		const char *from = blob, *to = from + strlen(from) + 1;
		if (strlen(from) + 1 >= rec->blob_len)
			return -EPROTO;
		pthread_mutex_lock(&v->lock);
		repath_locked(v, from, to);
		pthread_mutex_unlock(&v->lock);
		return 0;
	}
	}
	return -EPROTO;
}

/* Hands a restored passthrough handle's tier file to the hook again: its reads go on. */
static void pt_rehold(struct view *v, struct handle *h)
{
	h->pt_held = v->cfg.passthrough_hold(v->cfg.passthrough_hold_data, true, v->dev,
					     h->ino->ino, h->pt_cgroup, h->backing_fd);
	if (!h->pt_held)
		log_warn("\"%s\": reads of \"%s\", open in passthrough before the restart, go "
			 "uncounted",
			 v->mountpoint, h->ino->path);
}

/* Gives each restored file handle what the dead process held for it: its place in its inode's
 * I/O mode, its pins (the kernel reads a passthrough file's tier file directly: eviction must
 * not punch holes under it), the inode's shared backing id (still registered on the
 * connection, which outlived the process), a write descriptor. */
static void restore_finish(struct view *v)
{
	unsigned files = 0, dirs = 0, passthrough = 0;
	for (size_t i = 0; i < v->nfhs; i++) {
		struct handle *h = v->fhs[i].file;
		if (v->fhs[i].dir)
			dirs++;
		if (!h)
			continue;
		struct inode *in = h->ino;
		h->path = strdup(in->path);
		if ((h->open_flags & O_ACCMODE) != O_RDONLY) {
			h->wfd = ufs_open_write(
			    v->src.ufs, in->path,
			    h->open_flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_APPEND), 0);
			char id[sizeof(h->attr.etag)];
			if (h->wfd >= 0 && h->attr.etag[0]) {
				writer_identity(h->wfd, id, sizeof(id));
				if (strcmp(id, h->attr.etag) != 0) {
					/* renamed over or removed while open: the name is another
					 * file's now, which its writes must not reach */
					close(h->wfd);
					h->wfd = -ESTALE;
				}
			}
			if (h->wfd < 0) {
				log_warn("\"%s\": cannot reopen \"%s\" for its writer after the "
					 "restart: %s; its writes fail",
					 v->mountpoint, in->path,
					 h->wfd == -ESTALE ? "another file has that name now"
							   : strerror(-h->wfd));
				h->wfd = -1;
			}
			h->dirty = true;
			in->opens_write += h->wfd >= 0;
		} else {
			if (!in->cache_known) {
				in->cache_version = version_key_of(&h->attr);
				in->cache_known = true;
			} else if (!version_key_same(&in->cache_version, &h->attr)) {
				in->restored_mixed = true;
			}
			h->reads_version = true;
			in->opens_read++;
		}
		if (h->backing_id > 0) {
			uint64_t nb = (h->attr.size + v->block_size - 1) / v->block_size;
			h->backing_fd = -1;
			for (uint64_t b = 0; b < nb; b++) {
				struct block_ref ref;
				if (block_store_acquire(v->src.store, h->obj, b, &ref) < 0)
					break;
				h->pinned = b + 1;
				h->backing_fd = ref.fd;
			}
			/* its reads go on: map its tier file to it again, for eBPF */
			if (h->backing_fd >= 0 && v->cfg.passthrough_hold)
				pt_rehold(v, h);
			if (h->pinned < nb)
				log_warn(
				    "\"%s\": \"%s\" is read through passthrough but only %llu of "
				    "its %llu blocks are still in the tier",
				    v->mountpoint, in->path, (unsigned long long)h->pinned,
				    (unsigned long long)nb);
			if (in->backing_id <= 0) {
				in->backing_id = h->backing_id;
				in->backing_obj = h->obj;
			}
			in->backing_refs++;
			in->opens_passthrough++;
			passthrough++;
		} else {
			in->opens_cached++;
		}
		LIST_INSERT_HEAD(&v->handles, h, link);
		files++;
	}
	fh_rebuild_free_locked(v);
	/* A weir-node from before one inode, one version may have left read handles of two
	 * versions on one inode, sharing its page cache and its size: none of them can be trusted
	 * to read only its own bytes. They fail ESTALE (a reopen reads the current version, on a
	 * new inode). */
	unsigned mixed = 0;
	for (size_t i = 0; i < v->nfhs; i++) {
		struct handle *h = v->fhs[i].file;
		if (h && h->reads_version && h->ino->restored_mixed) {
			atomic_store(&h->stale, true);
			inode_detach_locked(v, h->ino);
			mixed++;
		}
	}
	if (mixed)
		log_warn("\"%s\": %u restored descriptors shared an inode with another version's; "
			 "they fail with ESTALE (reopening reads the current version)",
			 v->mountpoint, mixed);
	unsigned bound = 0;
	for (size_t i = 0; i < v->ninodes; i++)
		bound += v->inodes[i]->bound != NULL;
	log_info("\"%s\": restored %zu inodes (%u bound to a version: %s), %u open files (%u in "
		 "passthrough), %u open directories",
		 v->mountpoint, v->ninodes, bound, atomic_load(&v->no_open) ? "no-open" : "open",
		 files, passthrough, dirs);
}

/* Rebuilds the view from the journal of the connection it takes over. Returns 0 or -errno with
 * a message. */
static int adopt_connection(struct view *v, char *errbuf, size_t errlen)
{
	v->devfd = fcntl(v->cfg.adopt_fuse_fd, F_DUPFD_CLOEXEC, 3);
	if (v->devfd < 0) {
		snprintf(errbuf, errlen, "view \"%s\": the kept /dev/fuse descriptor: %s",
			 v->mountpoint, strerror(errno));
		return -errno;
	}
	int r = view_journal_replay(v->journal, restore_rec, v);
	if (r >= 0)
		r = view_journal_handles(v->journal, restore_open, v);
	if (r < 0) {
		snprintf(errbuf, errlen,
			 "view \"%s\": its journal %s; the view cannot be taken over",
			 v->mountpoint,
			 r == -EPROTO ? "was written by another weir-node version" : strerror(-r));
		return r;
	}
	if (v->init_len == 0) {
		/* Killed between the mount and its INIT reply: the kernel told nobody anything
		 * yet. Serve it as a new connection; the INIT the dead process may have read
		 * comes again once resent (resend_in_flight after the loop starts). */
		log_notice("\"%s\": taken over before its INIT was answered; asking the kernel "
			   "for it again",
			   v->mountpoint);
		v->resend = true; /* tried: a kernel without it says EINVAL, and logs say so */
		return 0;
	}
	restore_finish(v);
	atomic_store(&v->adopt_phase, ADOPT_INIT);
	return 0;
}

/* Mounts a new view at its mountpoint (held through its parent), with a /dev/fuse descriptor
 * of our own so the custom I/O sees every request and reply. Returns 0 or -errno with a message. */
static int mount_view(struct view *v, char *errbuf, size_t errlen)
{
	clear_dead_mount(v);
	struct stat st;
	if (fstatat(v->parent_fd, v->leaf, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)) {
		int r = fstatat(v->parent_fd, v->leaf, &st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno
										     : -ENOTDIR;
		snprintf(errbuf, errlen, "mountpoint \"%s\": %s", v->mountpoint,
			 r == -ENOTDIR ? "a symbolic link or not a directory" : strerror(-r));
		return r;
	}
	v->devfd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (v->devfd < 0) {
		int r = -errno;
		snprintf(errbuf, errlen,
			 "cannot open /dev/fuse: %s (is the fuse module loaded, "
			 "and are we root?)",
			 strerror(-r));
		return r;
	}
	char source[4200];
	snprintf(source, sizeof(source), "weir:%s", v->fsname);
	char mopts[256];
	/* max_read: a READ's reply (header, data, a page of slack per segment) must fit a pipe
	 * of pipe-max-size (1 MiB) for libfuse to splice it from the tier file; 1 MiB reads need
	 * a 2 MiB pipe, which takes CAP_SYS_RESOURCE, and without it every reply was a pread
	 * into a fresh buffer and a writev (profiled on a cold copy). */
	snprintf(mopts, sizeof(mopts),
		 "fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other,default_permissions,"
		 "max_read=%u",
		 v->devfd, VIEW_MAX_READ);
	unsigned long mflags = MS_NOSUID | MS_NODEV | (v->cfg.read_write ? 0 : MS_RDONLY);
	/* Onto the very directory checked above, through a descriptor of it. */
	int mfd = openat(v->parent_fd, v->leaf, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	char target[64];
	snprintf(target, sizeof(target), "/proc/self/fd/%d", mfd);
	if (mfd < 0 || mount(source, target, "fuse.weir", mflags, mopts) < 0) {
		int r = -errno;
		if (mfd >= 0)
			close(mfd);
		snprintf(errbuf, errlen, "cannot mount FUSE at \"%s\": %s (are we root?)",
			 v->mountpoint, strerror(-r));
		close(v->devfd);
		v->devfd = -1;
		return r;
	}
	close(mfd);
	return 0;
}

int view_start(const struct view_config *cfg, const struct view_source *src, struct view **ret,
	       char *errbuf, size_t errlen)
{
	struct view *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	int r = -ENOMEM;
	v->cfg = *cfg;
	v->src = *src;
	v->started_s = time(NULL);
	atomic_init(&v->read_streams, cfg->read_streams);
	atomic_init(&v->no_open, cfg->no_open);
	if (cfg->no_open && cfg->read_write && !cfg->adopt) {
		/* The kernel would open files for writing without us: no descriptor to write
		 * through. */
		snprintf(errbuf, errlen,
			 "view \"%s\": open mode no-open serves read-only views only; mount it "
			 "read-only or with open mode open",
			 cfg->mountpoint);
		free(v);
		return -EINVAL;
	}
	v->block_size = block_store_block_size(src->store);
	v->ttl_s = cfg->metadata_ttl_ms / 1000.0;
	v->mountpoint = strdup(cfg->mountpoint);
	v->subpath = strdup(cfg->subpath && *cfg->subpath ? cfg->subpath : "/");
	v->fsname = strdup(cfg->fsname ? cfg->fsname : "weir");
	LIST_INIT(&v->handles);
	int hr = htable_init(&v->by_path, 256, inode_path_hash);
	v->devfd = -1;
	v->parent_fd = -1;
	pthread_mutex_init(&v->lock, NULL);
	pthread_mutex_init(&v->reply_lock, NULL);
	pthread_cond_init(&v->reply_cond, NULL);
	pthread_cond_init(&v->reply_idle, NULL);
	STAILQ_INIT(&v->reply_queue);
	LIST_INIT(&v->parked);
	pthread_mutex_init(&v->adopt_lock, NULL);
	pthread_cond_init(&v->adopt_cond, NULL);
	pthread_cond_init(&v->write_cond, NULL);
	if (!v->mountpoint || !v->subpath || !v->fsname || hr < 0)
		goto fail;
	struct stat st;
	/* The journal first: the inodes made below keep their lookup counts in it. */
	if (cfg->adopt)
		r = view_journal_open(cfg->adopt_journal_fd, &v->journal);
	else if (cfg->keep)
		r = view_journal_new(cfg->mountpoint, &v->journal);
	else
		r = 0;
	if (r < 0) {
		snprintf(errbuf, errlen, "view \"%s\": its journal: %s", cfg->mountpoint,
			 r == -EPROTO ? "written by another weir-node version" : strerror(-r));
		goto fail;
	}
	r = -ENOMEM;
	v->cfg.mountpoint = v->mountpoint;
	v->cfg.subpath = v->subpath;
	v->cfg.fsname = v->fsname;
	if (!v->cfg.readahead_blocks)
		v->cfg.readahead_blocks = PREFETCH_READAHEAD_DEFAULT;
	/* The root (inode 1) is the subpath. Strip a trailing slash except for "/". */
	size_t sl = strlen(v->subpath);
	while (sl > 1 && v->subpath[sl - 1] == '/')
		v->subpath[--sl] = '\0';
	if (!inode_for_path(v, v->subpath))
		goto fail;
	/* A subdirectory of a local:// source is its own, not where a link on the way points: a
	 * grant of pub/ must not become the whole source through pub/up -> .. (ufs_open_dir). */
	if (sl > 1 && ufs_has_owners(src->ufs)) {
		int dfd = ufs_open_dir(src->ufs, v->subpath);
		if (dfd < 0) {
			r = dfd;
			snprintf(errbuf, errlen, "view \"%s\": subdirectory \"%s\" of %s: %s",
				 cfg->mountpoint, v->subpath, src->ufs->url,
				 r == -ELOOP ? "the path goes through a symbolic link, which weir does "
					       "not follow on the way to a view's root; name the real "
					       "directory"
					     : strerror(-r));
			goto fail;
		}
		close(dfd);
	}

	r = mp_hold(v, errbuf, errlen);
	if (r < 0)
		goto fail;
	if (cfg->adopt)
		/* The mount is live and waits for us: a stat of it now would wait forever. */
		r = adopt_connection(v, errbuf, errlen);
	else
		r = mount_view(v, errbuf, errlen);
	if (r < 0)
		goto fail;
	/* libfuse parses its options here; the mount (ours) has its own. */
	char *argv[] = {"weir-node", "-o", "ro,allow_other,default_permissions", NULL};
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	v->se = fuse_session_new(&args, &view_ops, sizeof(view_ops), v);
	fuse_opt_free_args(&args); /* parsing may have copied them */
	if (!v->se) {
		r = -EIO;
		snprintf(errbuf, errlen, "cannot create a FUSE session for \"%s\"", v->mountpoint);
		goto fail_mount;
	}
	/* Before any reply: from here on, a crash leaves the keeper what a new weir-node needs. */
	if (!cfg->adopt && cfg->keep) {
		r = cfg->keep(cfg->keep_arg, v->devfd, view_journal_fd(v->journal));
		if (r < 0) {
			snprintf(errbuf, errlen,
				 "view \"%s\": the keeper would not hold its descriptors: %s",
				 v->mountpoint, strerror(-r));
			goto fail_session;
		}
	}
	static const struct fuse_custom_io io = {
	    .read = io_read,
	    .writev = io_writev,
	    .splice_send = io_splice_send,
	};
	/* libfuse closes the descriptor it is given when the session ends: give it its own. */
	int sefd = fcntl(v->devfd, F_DUPFD_CLOEXEC, 3);
	r = sefd < 0 ? -errno : fuse_session_custom_io(v->se, &io, sefd);
	if (r < 0 && sefd >= 0)
		close(sefd);
	if (r < 0) {
		snprintf(errbuf, errlen, "cannot attach the FUSE session: %s", strerror(-r));
		goto fail_session;
	}
	for (; v->nreply_threads < VIEW_REPLY_THREADS; v->nreply_threads++) {
		r = -pthread_create(&v->reply_threads[v->nreply_threads], NULL, reply_thread, v);
		if (r < 0) {
			snprintf(errbuf, errlen, "cannot start the reply threads of \"%s\": %s",
				 v->mountpoint, strerror(-r));
			goto fail_session;
		}
	}
	r = -pthread_create(&v->thread, NULL, loop_thread, v);
	if (r < 0) {
		snprintf(errbuf, errlen, "cannot start the loop of \"%s\": %s", v->mountpoint,
			 strerror(-r));
		goto fail_session;
	}
	v->thread_started = true;
	if (cfg->adopt && v->init_len == 0)
		resend_in_flight(v); /* the INIT, if the dead process had read it */
	/* Only now: a stat of the mount waits for the loop to answer INIT and GETATTR. */
	if (fstatat(v->parent_fd, v->leaf, &st, 0) == 0)
		v->dev = st.st_dev;
	raise_read_ahead(v);
	*ret = v;
	return 0;

fail_session:
	fuse_session_destroy(v->se);
	v->se = NULL;
fail_mount:
	/* A view taken over stays mounted: the keeper still holds it for the next try. */
	if (!cfg->adopt)
		view_umount(v, MNT_DETACH);
fail:
	if (v->devfd >= 0)
		close(v->devfd);
	v->devfd = -1;
	view_stop(v);
	return r;
}

/* fusectl's abort: the connection ends, waiting requests fail, the loop returns. */
static void abort_connection(struct view *v)
{
	static const char ctl[] = "/sys/fs/fuse/connections";
	char path[128];
	snprintf(path, sizeof(path), "%s/%u/abort", ctl, (major(v->dev) << 20) | minor(v->dev));
	if (access(path, W_OK) < 0 && mount("fusectl", ctl, "fusectl", 0, NULL) < 0 &&
	    errno != EBUSY) {
		log_warn("cannot mount fusectl at %s (%s): \"%s\" ends when its last file closes",
			 ctl, strerror(errno), v->mountpoint);
		return;
	}
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "1", 1) != 1)
		log_debug("abort of the connection of \"%s\": %s", v->mountpoint, strerror(errno));
	if (fd >= 0)
		close(fd);
}

void view_stop(struct view *v)
{
	if (!v)
		return;
	if (v->se) {
		atomic_store(&v->stopping, true);
		fuse_session_exit(v->se);
		/* Unmounting ends the connection once no file is open; aborting it ends it now, so
		 * an open file cannot hold the loop (and the daemon) forever. */
		int ur = view_umount(v, MNT_DETACH);
		if (ur < 0 && ur != -EINVAL && ur != -ENOENT)
			log_debug("umount \"%s\": %s", v->mountpoint, strerror(-ur));
		if (v->thread_started && !atomic_load(&v->exited))
			abort_connection(v);
		if (v->thread_started)
			pthread_join(v->thread, NULL);
		/* No READ comes now; those parked (or being finished) hold their handles: answered
		 * first, before their handles are closed below. */
		reply_drain(v);
		/* Files still open when the connection ended get no RELEASE: close them here,
		 * or their pins would keep their blocks in the tier for good. */
		while (!LIST_EMPTY(&v->handles))
			handle_close(v, LIST_FIRST(&v->handles));
		fuse_session_unmount(v->se);
		fuse_session_destroy(v->se);
	}
	reply_drain(v); /* a view_start that failed after starting reply_threads: they end */
	for (size_t i = 0; i < v->ninodes; i++) {
		bound_free(v->inodes[i]->bound);
		free(v->inodes[i]->wrote);
		free(v->inodes[i]->own);
		free(v->inodes[i]->path);
		free(v->inodes[i]);
	}
	free(v->inodes);
	htable_fini(&v->by_path);
	for (size_t i = 0; i < v->nfhs; i++)
		if (v->fhs[i].dir)
			dir_handle_free(v->fhs[i].dir);
	free(v->fhs);
	free(v->free_fhs);
	view_journal_free(v->journal);
	if (v->devfd >= 0)
		close(v->devfd);
	pthread_mutex_destroy(&v->lock);
	pthread_mutex_destroy(&v->reply_lock);
	pthread_cond_destroy(&v->reply_cond);
	pthread_cond_destroy(&v->reply_idle);
	pthread_mutex_destroy(&v->adopt_lock);
	pthread_cond_destroy(&v->adopt_cond);
	if (v->parent_fd >= 0)
		close(v->parent_fd);
	free(v->leaf);
	free(v->seq_dir);
	free(v->push_dir);
	free(v->mountpoint);
	free(v->subpath);
	free(v->fsname);
	free(v);
}

void view_get_stats(struct view *v, struct view_stats *ret)
{
	ret->reads = atomic_load(&v->reads);
	ret->read_bytes = atomic_load(&v->read_bytes);
	ret->hits = atomic_load(&v->hits);
	ret->misses = atomic_load(&v->misses);
	ret->opens = atomic_load(&v->opens);
	ret->tier_bytes = atomic_load(&v->tier_bytes);
	ret->ufs_bytes = atomic_load(&v->ufs_bytes);
	ret->prefetch_bytes = atomic_load(&v->prefetch_bytes);
	ret->streams = atomic_load(&v->streams);
	ret->passthrough_opens = atomic_load(&v->passthrough_opens);
	ret->passthrough_bytes = atomic_load(&v->passthrough_bytes);
	ret->open_requests = atomic_load(&v->open_reqs);
	ret->release_requests = atomic_load(&v->release_reqs);
	ret->lookup_requests = atomic_load(&v->lookup_reqs);
	ret->getattr_requests = atomic_load(&v->getattr_reqs);
	ret->new_versions = atomic_load(&v->new_versions);
	ret->counted_bytes = atomic_load(&v->counted_bytes);
}

bool view_no_open(const struct view *v)
{
	return atomic_load(&v->no_open);
}

/* A walk of the inode table under the view's lock: memory only, no I/O, about a millisecond per
 * 100k inodes, and only when someone asks (weir stat). */
/* Inodes view_get_memory sizes per hold of the view's lock: the walk is O(inodes) (a view of
 * ten million files takes a second), and every request of the view waits for that lock; a
 * stat (weir top, weir stat, /metrics) must not stall them for the whole walk. */
#define VIEW_MEMORY_CHUNK 4096

void view_get_memory(struct view *v, struct view_memory *ret)
{
	size_t bytes = malloc_usable_size(v), files = 0;
	pthread_mutex_lock(&v->lock);
	ret->inodes = v->ninodes;
	bytes += malloc_usable_size(v->inodes) + htable_bytes(&v->by_path);
	/* inodes are only added (never renumbered), so a walk resumed at i after the lock was let
	 * go sizes what is there then: a figure of the moment, like any other of a live view */
	for (size_t i = 0; i < v->ninodes; i++) {
		if (i % VIEW_MEMORY_CHUNK == VIEW_MEMORY_CHUNK - 1) {
			pthread_mutex_unlock(&v->lock);
			pthread_mutex_lock(&v->lock);
		}
		if (i < v->ninodes && v->inodes[i]) {
			bytes += malloc_usable_size(v->inodes[i]) +
				 malloc_usable_size(v->inodes[i]->path);
			if (v->inodes[i]->bound)
				bytes += malloc_usable_size(v->inodes[i]->bound) +
					 malloc_usable_size(v->inodes[i]->bound->path);
		}
	}
	bytes += malloc_usable_size(v->fhs) + malloc_usable_size(v->free_fhs);
	const struct handle *h;
	LIST_FOREACH(h, &v->handles, link) {
		bytes += malloc_usable_size((void *)h) + malloc_usable_size(h->path);
		files++;
	}
	for (size_t i = 0; i < v->nfhs; i++)
		if (v->fhs[i].dir)
			bytes += malloc_usable_size(v->fhs[i].dir); /* its listing is the cache's */
	pthread_mutex_unlock(&v->lock);
	ret->open_files = files;
	ret->bytes = bytes;
}

int view_ino_object(struct view *v, uint64_t ino, bool again, uint64_t *ret_obj)
{
	pthread_mutex_lock(&v->lock);
	struct inode *in = (ino >= 1 && ino <= v->ninodes) ? v->inodes[ino - 1] : NULL;
	if (!in) {
		pthread_mutex_unlock(&v->lock);
		return -ENOENT;
	}
	uint64_t obj = in->heat_obj;
	if (obj && !again) {
		pthread_mutex_unlock(&v->lock);
		*ret_obj = obj;
		return 0;
	}
	/* once per inode (and per version of its path): by path, as the store names objects */
	char *path = strdup(in->path);
	unsigned gen = in->path_gen;
	pthread_mutex_unlock(&v->lock);
	if (!path)
		return -ENOMEM;
	int r = block_store_object_find(v->src.store, path, &obj);
	free(path);
	if (r < 0)
		return r;
	pthread_mutex_lock(&v->lock);
	if (in->path_gen == gen) /* a rename in between: its next summary looks again */
		in->heat_obj = obj;
	pthread_mutex_unlock(&v->lock);
	*ret_obj = obj;
	return 0;
}

unsigned view_stream(struct view *v, uint64_t ino, uint64_t next, uint64_t window, bool start)
{
	if (start)
		atomic_fetch_add(&v->streams, 1);
	if (v->cfg.no_prefetch || window == 0)
		return 0;
	struct inode *in = inode_get(v, ino);
	if (!in)
		return 0;
	/* A stream served by the page cache needs nothing from us: only a reader whose reads
	 * reach weir (it is past what the kernel holds) is fetched ahead of. */
	if (mono_ns() - atomic_load(&in->last_read_ns) > 2000000000u)
		return 0;
	/* The version the reader opened is validated and cached: this asks the UFS nothing. A
	 * bound inode (no-open) reads its own version, whatever the path holds now. */
	struct ufs_attr a;
	bool changed;
	uint64_t obj;
	const struct handle *b = inode_bound(v, in);
	pthread_mutex_lock(&v->lock);
	bool detached = in->detached;
	pthread_mutex_unlock(&v->lock);
	if (b) {
		a = b->attr;
		obj = b->obj;
	} else if (detached) {
		return 0; /* its path is another inode's version now: nothing of its own to fetch */
	} else if (meta_cache_validate(v->src.meta, in->path, v->cfg.metadata_ttl_ms, false, &a,
				       &changed) < 0 ||
		   a.is_dir || changed ||
		   block_store_object_sync(v->src.store, in->path, &a, &obj) < 0)
		return 0;
	struct prefetch_range p = prefetch_stream_blocks(next, window, v->block_size);
	unsigned n = fetcher_prefetch(v->src.fetcher, obj, in->path, &a, p.first, p.count);
	count_ahead(v, &a, p.first, n);
	return n;
}

const char *view_mountpoint(const struct view *v)
{
	return v->mountpoint;
}

dev_t view_dev(const struct view *v)
{
	return v->dev;
}

/* The hook runs under the view's lock here (bpf() calls, no I/O; once per takeover), so that
 * no handle closes between its registration and its hold. */
void view_track_passthrough(struct view *v,
			    bool (*hold)(void *, bool, dev_t, uint64_t, uint64_t, int), void *data)
{
	pthread_mutex_lock(&v->lock);
	v->cfg.passthrough_hold = hold;
	v->cfg.passthrough_hold_data = data;
	v->cfg.passthrough_unseen = false;
	struct handle *h;
	LIST_FOREACH(h, &v->handles, link)
	{
		if (h->backing_id > 0 && h->backing_fd >= 0 && !h->pt_held)
			pt_rehold(v, h);
	}
	pthread_mutex_unlock(&v->lock);
}

void view_set_read_streams(struct view *v, bool on)
{
	atomic_store(&v->read_streams, on);
}

void view_count_own_reads(struct view *v)
{
	pthread_mutex_lock(&v->lock);
	v->cfg.passthrough_hold = NULL;
	v->cfg.passthrough_hold_data = NULL;
	v->cfg.passthrough_unseen = true;
	pthread_mutex_unlock(&v->lock);
	atomic_store(&v->read_streams, true);
}

bool view_exited(struct view *v)
{
	return atomic_load(&v->exited);
}
