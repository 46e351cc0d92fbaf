/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-only */
/* Map keys, map values and ring-buffer records shared by access.bpf.c and
 * access_tracker.c. Both sides must agree byte for byte: only __u8..__u64,
 * largest fields first, explicit padding; user space checks the sizes. */
#pragma once

#ifndef __bpf__
#include <linux/types.h>
#endif

/* Capacities of the fixed-size maps (the file and cgroup maps are sized by
 * the loader from its options). */
#define ACCESS_MAX_VIEWS 4096
#define ACCESS_MAX_READERS 16384

/* Heat is kept in fixed point: pages << ACCESS_HEAT_SHIFT, halved every
 * heat_half_life_ns. */
#define ACCESS_HEAT_SHIFT 8

/* access_event.kind */
#define ACCESS_EV_STREAM_START 1   /* a run of sequential reads reached stream_min_pages */
#define ACCESS_EV_STREAM_ADVANCE 2 /* an active stream grew by stream_advance_pages more */
#define ACCESS_EV_STREAM_END 3	   /* an active stream was broken by a non-sequential read */
#define ACCESS_EV_HEAT 4	   /* periodic per-file heat summary */

/* access_event.source: which tracepoint saw the access */
#define ACCESS_SRC_READ 1      /* filemap:mm_filemap_get_pages (read(2), splice) */
#define ACCESS_SRC_FAULT 2     /* filemap:mm_filemap_fault (mmap, page not mapped yet) */
#define ACCESS_SRC_MAP_PAGES 3 /* filemap:mm_filemap_map_pages (mmap fault-around) */
#define ACCESS_SRC_PASSTHROUGH                                                                     \
	4 /* a read of a view file open in FUSE passthrough (no view page cache): seen on its      \
	     tier file's filemap:mm_filemap_get_pages (SSD/HDD tiers), or, on a tmpfs tier, where  \
	     its syscall returns (raw_syscalls:sys_exit) or its io_uring read completes */

/* Map "watch_devs": key __u32 kernel s_dev (major << 20 | minor), value
 * __u32 view id. Writer: user space (add/remove view). Capacity ACCESS_MAX_VIEWS.
 * Accesses to devices not in this map are dropped before any other work. */

/* Map "view_stats" (per-CPU hash): key __u32 view id, value
 * struct access_view_stats. Writer: user space creates the zeroed entry when
 * a view is added (so the kernel never allocates here) and deletes it when the
 * view is removed, the kernel adds to its own CPU's copy. Capacity ACCESS_MAX_VIEWS. */
struct access_view_stats {
	__u64 read_calls;	 /* read(2)-path calls (one per read, not per batch) */
	__u64 pages_read;	 /* pages asked for by those reads, clamped to EOF; page-cache hits
				    included */
	__u64 pages_faulted;	 /* mmap faults that reached filemap_fault (one page each) */
	__u64 pages_mapped;	 /* mmap fault-around windows (upper bound of pages mapped) */
	__u64 pages_added;	 /* pages inserted into the page cache (misses + readahead) */
	__u64 streams_started;	 /* ACCESS_EV_STREAM_START events generated */
	__u64 events;		 /* ring-buffer records submitted */
	__u64 events_dropped;	 /* ring-buffer records lost because the buffer was full */
	__u64 pages_passthrough; /* of pages_read: read from a passthrough open (from the tier) */
	__u64 lock_contended;	 /* accesses whose stream update gave up waiting for the file */
};

/* Map "cgroup_stats" (LRU per-CPU hash): key struct access_cgroup_key,
 * value struct access_cgroup_stats. Writer: kernel. Capacity from
 * access_tracker_opts.max_cgroups; the least recently used pair is evicted. */
struct access_cgroup_key {
	__u64 cgroup_id; /* bpf_get_current_cgroup_id() of the reader (cgroup v2) */
	__u32 view_id;
	__u32 pad;
};

struct access_cgroup_stats {
	__u64 read_calls;
	__u64 pages_read; /* passthrough reads included */
	__u64 pages_faulted;
	__u64 pages_mapped;
	__u64 pages_passthrough;
};

/* Map "files" (LRU hash): key struct access_file_key, value
 * struct access_file_state. Writer: kernel; readers of one file on several
 * CPUs update its heat and stream slots under access_file_state.lock (a
 * compare-and-swap lock: bpf_spin_lock is refused to raw_tp programs), the
 * counters with atomic adds; user space reads it and deletes a removed view's
 * entries. Capacity access_tracker_opts.max_files. */
struct access_file_key {
	__u64 ino;
	__u32 dev; /* kernel s_dev encoding */
	__u32 pad;
};

/* One sequential run on a file. A file keeps ACCESS_STREAM_SLOTS of them so
 * readers at different offsets (threads, processes, pods of one view) each
 * keep their stream; a read that continues none replaces the least recently
 * used slot. The run covers run_start_page .. next_page - 1. */
#define ACCESS_STREAM_SLOTS 4

struct access_stream_slot {
	__u64 run_start_page; /* first page of the run */
	__u64 next_page;      /* page just after the run; 0: slot unused */
	__u64 run_start_ns;   /* when the run began */
	__u64 last_ns;	      /* last access that extended or started it */
	__u64 emitted_page;   /* run_start_page + stream_min_pages + k * stream_advance_pages: the
				 step the last START/ADVANCE reported */
	__u32 run_reads;      /* accesses in the run (a stream needs >= 2) */
	__u32 active;	      /* 1 between START and END */
};

struct access_file_state {
	__u64 pages_total;  /* pages accessed, all sources */
	__u64 heat;	    /* decayed pages, fixed point (ACCESS_HEAT_SHIFT) as of decay_ns */
	__u64 decay_ns;	    /* heat was last decayed to this time (multiple of half-lives) */
	__u64 last_ns;	    /* last access (bpf_ktime_get_ns, CLOCK_MONOTONIC) */
	__u64 heat_emit_ns; /* last ACCESS_EV_HEAT for this file */
	__u64 cgroup_id;    /* reader of the last access */
	__u64 heat_pages;   /* pages_total at the last ACCESS_EV_HEAT */
	__u32 view_id;
	__u32 last_slot; /* slot of the last access */
	__u32 lock;	 /* 1 while a CPU updates heat, decay_ns and slots */
	__u32 pad;
	struct access_stream_slot slots[ACCESS_STREAM_SLOTS];
};

/* Map "read_cursor" (LRU hash): key __u32 thread id, value
 * struct access_read_cursor. Writer: kernel. Capacity ACCESS_MAX_READERS.
 * One read(2) of several pages calls filemap_get_pages once per folio batch,
 * each time with the same last page; the cursor recognises the later batches
 * so a read is counted once. Per thread, not per CPU: a cold read sleeps
 * between batches and may wake on another CPU. */
struct access_read_cursor {
	__u64 ino;
	__u64 index;	  /* first page of the last batch */
	__u64 last_index; /* last page asked for, unclamped */
	__u32 dev;
	__u32 pad;
};

/* What a CPU counted of runs (see "pending") of one (view, cgroup) pair and has not yet added
 * to "view_stats" and "cgroup_stats": a reader going through many small files, or a file in many
 * runs, pays no hash lookup per run; the tally goes to the maps when a run of another pair is
 * counted on the CPU. Writer: kernel; user space adds it to the counters it reports. */
struct access_tally {
	__u64 cgroup_id;
	__u32 view_id;
	__u32 used; /* 1: holds counts of (view_id, cgroup_id) */
	/* what to add to view_id's "view_stats" (pages_added aside: counted there at once); its
	 * read and mmap counters are also what to add to the pair's "cgroup_stats" */
	struct access_view_stats v;
};

/* Map "pending" (per-CPU array, one entry): struct access_pending, the run of
 * sequential reads this CPU saw last and has not yet counted into the maps
 * above. Reads that continue it (the common case: a reader going through a
 * file) cost one array lookup; the run is counted as one access when another
 * read breaks it or it reaches coalesce_pages. Writer: kernel; user space adds
 * the runs' pages to the view and cgroup counters it reports. */
struct access_pending {
	__u64 ino;
	__u64 cgroup_id;  /* reader's, taken when the run began */
	__u64 first_page; /* not yet counted: first_page .. next_page - 1 */
	__u64 next_page;
	__u64 pages; /* not yet counted: pages asked for by its reads (overlaps included) */
	/* the tid's last read on this CPU, so that the later folio batches of a read(2) are
	 * told from new reads without the read_cursor hash */
	__u64 raw_last;	  /* last page it asked for, unclamped (~0: none) */
	__u64 last_index; /* first page of its last batch */
	__u64 task;	  /* reader's task_struct (bpf_get_current_task()): its identity here */
	/* the task this CPU's sched_switch program last switched in: the current one (0: none
	 * seen since the map was made), so that a read needs no helper call to tell its reader */
	__u64 cur;
	/* the file the tracepoint names: the view file, or the tier file of a passthrough open
	 * (backed), whose view file a read of the same task then takes from here, with no
	 * "watch_devs" or "backing" lookup while "backing" is unchanged (backing_gen) */
	__u64 raw_ino;
	__u32 raw_dev;
	__u32 backed; /* (raw_dev, raw_ino) is a tier file in "backing": backing_gen + 1; else 0 */
	__u32 dev;    /* kernel s_dev encoding; the run's file is (dev, ino) */
	__u32 view_id;
	__u32 tid;    /* reader thread; 0: none (user space zeroes a run it drops) */
	__u32 reads;  /* read calls not yet counted */
	__u32 source; /* ACCESS_SRC_READ or ACCESS_SRC_PASSTHROUGH */
	/* views_gen + 1 when view_id was taken from "watch_devs": the run's view stands for its
	 * device while views_gen is unchanged (user space bumps it at each view added or removed;
	 * it never writes this map, whose runs' pages are counted whatever happens to the view) */
	__u32 views_gen;
	struct access_tally tally; /* this CPU's, whatever thread's run is pending */
};

/* Map "file_cache" (per-CPU array, one entry): struct access_file_cache, the last file a
 * syscall-exit program found to be a view file open in passthrough from a tmpfs tier, so that
 * the next read of it (the common case: a reader going through a file) skips the walk from the
 * struct file to its view and tier file and the "watch_devs" lookup. Valid while views_gen is
 * unchanged and the file's inode and fuse_file and that one's backing file are the ones seen (a
 * struct file freed and reused for another open is told apart). Writer: kernel only. */
struct access_file_cache {
	__u64 file;	 /* struct file * of the view file; 0: none */
	__u64 inode;	 /* its f_inode */
	__u64 fuse_file; /* its private_data (struct fuse_file *) */
	__u64 backing;	 /* that one's passthrough (struct file * of the tier file) */
	__u64 ino;	 /* of the view file */
	__u32 dev;	 /* of the view, kernel s_dev encoding */
	__u32 view_id;
	__u32 views_gen; /* views_gen + 1 when it was filled */
	__u32 pad;
};

/* Map "fault_slot" (per-CPU array, one entry): struct access_fault_slot, the user page fault
 * this CPU is handling, so that a folio it maps by PMD (which passes no filemap tracepoint) is
 * seen where the fault adds to the process's file RSS. Writer: kernel. */
struct access_fault_slot {
	__u64 task;   /* the faulting task_struct (bpf_get_current_task()) */
	__u64 addr;   /* the faulting address */
	__s64 rss[2]; /* mm->rss_stat[MM_FILEPAGES, MM_SHMEMPAGES].count when it began */
	/* seen == 2: the folio the RSS program counted, pages lo..hi of (dev, ino) */
	__u64 ino;
	__u64 lo;
	__u64 hi;
	__u32 dev;
	__u32 seen; /* 1: a filemap fault program counted this fault; 2: the RSS program did */
};

/* Map "backing" (hash): key struct access_file_key of a tier file (the backing file of
 * passthrough opens), value struct access_backing: the view files passed through to it. Writer:
 * user space, when a view passes an open through and after its release (weir-node knows both
 * files then, and the opener's cgroup; no program runs at open). Tier files are private to
 * weir-node, so any other process's read or fault of one is a passthrough read or mmap fault of
 * one of those view files: of the only one (the common case, no helper call); else of the one
 * an opener in the reader's cgroup holds (a source and its dataset:// reference read by pods of
 * two namespaces); else of the one opened last. Capacity ACCESS_MAX_READERS. */
#define ACCESS_BACKING_SLOTS 4 /* a power of two */
struct access_backing_slot {
	__u64 ino;	 /* of the view file */
	__u64 cgroup_id; /* of its opener (0: unknown) */
	__u32 dev;   /* of the view, kernel s_dev encoding: its view is looked up in watch_devs */
	__u32 opens; /* passthrough opens of the tier file it stands for (0: slot free) */
};
struct access_backing {
	/* The tier file it is for (its key), first: the kernel copies a value front to back, so a
	 * program that reads the key, then a slot, then the key again, and finds it both times,
	 * read that slot before the element was recycled for another key (an update hands the old
	 * element to the next one at once). Two versions of one key's value may still mix: a read
	 * then counts on a view file of either. */
	__u64 key_ino;
	__u32 key_dev;
	__u32 last;   /* the slot of the last opener */
	__u32 shared; /* 1: the slots in use name more than one view file */
	__u32 pad;
	struct access_backing_slot slot[ACCESS_BACKING_SLOTS];
};

/* Map "events" (ring buffer): struct access_event records. Writer: kernel.
 * Capacity access_tracker_opts.ring_bytes. */
struct access_event {
	__u64 ino;
	__u64 cgroup_id;
	__u64 ts_ns;	      /* bpf_ktime_get_ns() of the access that produced it */
	__u64 page;	      /* first page of that access */
	__u64 run_start_page; /* stream events: where the run began */
	__u64 run_pages;      /* stream events: pages in the run so far */
	__u64 run_start_ns;   /* stream events: when the run began */
	__u64 heat;	      /* fixed point, decayed to ts_ns */
	__u64 pages_total;
	__u64 heat_pages; /* ACCESS_EV_HEAT, and a STREAM_START or _ADVANCE that carries the file's
			   * heat summary (then sent in no record of its own): pages accessed
			   * since the file's previous one; 0 in a stream record: none carried */
	__u32 dev;	  /* kernel s_dev encoding */
	__u32 view_id;
	__u32 kind;   /* ACCESS_EV_* */
	__u32 source; /* ACCESS_SRC_* */
	__u32 tgid;
	__u32 pad;
};
