/* SPDX-License-Identifier: Apache-2.0 */
/* A FUSE view: one mount serving a source's tree (or a subdirectory of it) read-only, with
 * long attr/entry timeouts, keep_cache, 1 MiB requests and replies spliced from the tier files.
 * Each view is its own mount, so its device number identifies it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "block_store.h"
#include "fetcher.h"
#include "meta_cache.h"
#include "ufs.h"

/* Files up to this size are read through the view's page cache, never passed through (see
 * view.c); what open mode auto counts as small. */
#define VIEW_SMALL_FILE (1u << 20)

/* The source a view reads; borrowed, must outlive the view. */
struct view_source {
	struct ufs *ufs;
	struct block_store *store;
	struct fetcher *fetcher;
	struct meta_cache *meta;
};

/* Who owns the files of a view whose UFS has no owners (HTTP): Dataset spec.owner or
 * `weir mount --uid/--gid/--mode`. A UFS with owners (local://) shows its own. */
struct view_owner {
	uint32_t uid, gid; /* 0: root */
	uint32_t mode;	   /* files' permission bits, 0 = default; directories add x where r is */
};

struct view_config {
	const char *mountpoint;
	const char *subpath;	   /* root of the view in the source; NULL or "/" = whole */
	const char *fsname;	   /* shown in /proc/mounts, e.g. the UFS URL */
	unsigned metadata_ttl_ms;  /* listings and versions are trusted this long */
	unsigned readahead_blocks; /* largest prefetch window of a sequential reader */
	unsigned read_ahead_kb;	   /* kernel read-ahead set on the mount's bdi (0: leave) */
	bool no_prefetch;	   /* fetch only what readers wait for (for comparisons) */
	bool read_streams;	   /* detect streams from READs (when eBPF cannot) */
	bool no_passthrough;	   /* never hand reads of complete objects to the kernel */
	/* nothing counts passthrough reads (no eBPF): rank each passthrough open as a read of the
	 * whole file */
	bool passthrough_unseen;
	/* Called with hold true before an open of the view's file (dev, ino) is passed through
	 * to the tier file tier_fd (borrowed; returning false refuses passthrough for it: it is
	 * then read through the view, where it is counted), with hold false and the same
	 * arguments after that handle's release, and with hold true for each passthrough handle a
	 * taken-over view restores; from the view's threads, no view lock held. cgroup_id: the
	 * opener's cgroup (0: unknown, as for a restored handle). NULL: not called. */
	bool (*passthrough_hold)(void *data, bool hold, dev_t dev, uint64_t ino, uint64_t cgroup_id,
				 int tier_fd);
	void *passthrough_hold_data;
	/* Files are served without OPEN: the first OPEN of a file is answered ENOSYS, and the
	 * kernel then opens every file of the connection by itself (keep_cache, no OPEN, FLUSH or
	 * RELEASE). Each inode is bound to one version from its lookup; a new version of a path
	 * gets a new inode. No passthrough then. Read-only views only (view_start refuses it
	 * with read_write). A taken-over view keeps the mode its connection had. */
	bool no_open;
	bool read_write;    /* writes go through to the UFS (needs ufs_writable) */
	double heat_weight; /* the namespace's heat multiplier (0 = 1) */
	struct view_owner owner;
	bool private_source; /* the UFS needed credentials: without owner.mode, owner-only */
	/* Live recovery. keep (NULL: none) is called once the view's /dev/fuse descriptor and
	 * journal exist, before the kernel gets any reply, to hand both to the keeper that
	 * outlives this process; a non-zero return fails the start. With adopt, the view is
	 * not mounted: it takes over the live connection adopt_fuse_fd whose journal is
	 * adopt_journal_fd (both borrowed, duplicated), left by a weir-node that died. */
	int (*keep)(void *arg, int fuse_fd, int journal_fd);
	void *keep_arg;
	bool adopt;
	int adopt_fuse_fd, adopt_journal_fd;
};

struct view_stats {
	uint64_t reads;	     /* READ requests */
	uint64_t read_bytes; /* bytes returned */
	uint64_t hits;	     /* blocks found in a tier */
	uint64_t misses;     /* blocks a reader waited for */
	uint64_t opens;
	uint64_t tier_bytes;	    /* bytes of READ replies that came from a tier */
	uint64_t ufs_bytes;	    /* bytes of READ replies a reader waited on the UFS for */
	uint64_t prefetch_bytes;    /* bytes this view's streams asked to fetch ahead */
	uint64_t streams;	    /* sequential streams seen (eBPF or READs) */
	uint64_t passthrough_opens; /* opens whose reads went straight to a tier file */
	uint64_t passthrough_bytes; /* their files' sizes: what those readers could read (eBPF
				       measures what they did read) */
	/* Requests that reached the daemon, by kind: what the kernel did not answer itself. */
	uint64_t open_requests;	   /* OPEN (answered ENOSYS in no-open mode: once) */
	uint64_t release_requests; /* RELEASE */
	uint64_t lookup_requests;  /* LOOKUP (revalidations included) */
	uint64_t getattr_requests; /* GETATTR */
	uint64_t new_versions;	   /* no-open: lookups that gave a path's new version a new inode */
	/* bytes the view counted toward heat itself (no eBPF for it): READ replies, and whole
	 * files at opens whose reads it does not see (page cache, passthrough) */
	uint64_t counted_bytes;
};

struct view;

/* Gives a view started without a passthrough hook (taken over before eBPF loaded) its hook:
 * later passthrough opens call it, and so does each passthrough handle it restored, now. The
 * view's own opens then stop counting as whole-file reads. Any thread. */
void view_track_passthrough(struct view *v,
			    bool (*hold)(void *, bool, dev_t, uint64_t, uint64_t, int), void *data);
/* Mounts the view (clearing a dead mount left at mountpoint by a killed daemon) and starts its
 * multi-threaded loop. Returns 0 and an owned *ret, or -errno with a message in errbuf. */
int view_start(const struct view_config *cfg, const struct view_source *src, struct view **ret,
	       char *errbuf, size_t errlen);
/* Unmounts, waits for the loop to end, frees. NULL is fine. */
void view_stop(struct view *v);
/* umount2 of the view's own mount (flags as umount2's: 0 fails with -EBUSY while files are
 * open), reached through the mountpoint's parent directory as it was at mount, so a path
 * someone redirected since cannot make it unmount another mount. Once it has succeeded it
 * does nothing (returns 0): the path then leads to the mount beneath the view's, not to the
 * view. Returns 0 or -errno. */
int view_umount(struct view *v, int flags);
void view_get_stats(struct view *v, struct view_stats *ret);

/* What a view's own tables hold on the heap (malloc_usable_size): inodes and their paths, the
 * path map, open files and directories, handle numbers. Not the listings (the metadata cache's)
 * nor the blocks (the store's). */
struct view_memory {
	uint64_t bytes;
	uint64_t inodes;     /* inodes the kernel was told of (live as long as the view) */
	uint64_t open_files; /* file handles open now */
};
/* Any thread; takes the view's lock for a walk of its tables (no I/O under it). */
void view_get_memory(struct view *v, struct view_memory *ret);
const char *view_mountpoint(const struct view *v);
/* The mount's device number (what eBPF sees as s_dev). */
dev_t view_dev(const struct view *v);
/* A reader of inode ino streams sequentially and will read at offset next: fetch up to
 * window bytes from there. Called by the eBPF tracker's thread. Returns blocks started. */
unsigned view_stream(struct view *v, uint64_t ino, uint64_t next, uint64_t window, bool start);
/* The block-store object recorded at inode ino's path (block_store_object_find), remembered on
 * the inode: O(1) after its first call, no path built or compared. It may name a version the
 * store has since replaced: with again, the path is looked up anew (and remembered). Returns 0,
 * -ENOENT (no such inode, nothing recorded at its path), -ENOMEM. Any thread; takes the view's
 * lock, and the store's without it. */
int view_ino_object(struct view *v, uint64_t ino, bool again, uint64_t *ret_obj);
/* Turns detection of streams from READs on or off (off once eBPF sees the view). Any thread. */
void view_set_read_streams(struct view *v, bool on);
/* For a view eBPF does not watch (it refused it): the view counts its own reads toward heat
 * and streams, as without eBPF: READs it answers, and each open it does not see the reads of
 * (page cache, passthrough) as a read of the whole file; it stops asking passthrough_hold.
 * Any thread. */
void view_count_own_reads(struct view *v);
/* True when the view serves files without OPEN (its config's no_open, or the mode of the
 * connection it took over). Any thread. */
bool view_no_open(const struct view *v);
/* True once the loop has ended (unmounted from outside). */
bool view_exited(struct view *v);
