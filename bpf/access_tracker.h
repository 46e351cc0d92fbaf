/* SPDX-License-Identifier: Apache-2.0 */
/* The eBPF access tracker: counts every read of a weir view's files (page-cache
 * hits and FUSE passthrough reads included), per view, per (view, cgroup) and
 * per file, and reports sequential streams and file heat. Needs no libbpf
 * headers to use. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* In weir-node: access_tracker_new() once at start (on failure, log errbuf
 * once and track from the READs the daemon sees). After mounting a view,
 * access_tracker_add_view(stat(mountpoint).st_dev, view id); before
 * unmounting it, access_tracker_remove_view(). Put access_tracker_fd() in
 * the event loop and call access_tracker_consume() when it is readable and at
 * least once a second whether or not it is: the callbacks run there. Stream
 * events wake the fd; heat summaries only once a quarter of the ring waits,
 * then at most once a millisecond
 * (a wakeup per summary cost more than the counting). Counters and heat can be
 * read from any thread. */
struct access_tracker;

/* access_stream_event.kind */
enum access_stream_kind {
	/* a run of sequential reads reached stream_min_pages */
	ACCESS_STREAM_START = 1,
	/* the stream grew by stream_advance_pages since the last event */
	ACCESS_STREAM_ADVANCE = 2,
	/* the stream was displaced: a file tracks 4 runs, and a read that
	 * continued none of them took the least recently used one */
	ACCESS_STREAM_END = 3,
};

/* access_*_event.source */
enum access_source {
	ACCESS_SOURCE_READ = 1,	     /* read(2)/splice through the page cache */
	ACCESS_SOURCE_FAULT = 2,     /* mmap page fault */
	ACCESS_SOURCE_MAP_PAGES = 3, /* mmap fault-around */
	/* read/pread/readv/preadv(2)/sendfile/splice/copy_file_range or an io_uring read
	 * of a file open in FUSE passthrough, counted by the bytes it returned */
	ACCESS_SOURCE_PASSTHROUGH = 4,
};

/* A sequential stream on one file. Pages are the kernel's (page_size bytes).
 * Times are CLOCK_MONOTONIC nanoseconds. A stream that simply stops reading
 * gets no END: expire it when no ADVANCE came for a while. */
struct access_stream_event {
	uint64_t ino;
	uint64_t cgroup_id;	 /* reader's cgroup v2 id (name_to_handle_at on cgroupfs) */
	uint64_t ts_ns;		 /* when the access that produced this event happened */
	uint64_t page;		 /* first page of that access */
	uint64_t run_start_page; /* the stream covers run_start_page .. next_page - 1 */
	uint64_t next_page;	 /* where the reader will most likely read next */
	uint64_t run_pages;
	uint64_t run_start_ns; /* run_pages / (ts_ns - run_start_ns) is the stream's speed */
	dev_t dev;	       /* user-space encoding, as st_dev */
	uint32_t view_id;
	enum access_stream_kind kind;
	enum access_source source;
	pid_t pid; /* tgid of the reader */
};

/* Periodic summary for one file: at most one per file per heat_interval_ms
 * (sooner once 256 pages were read since the last), sent on an access (an
 * idle file sends none). */
struct access_heat_event {
	uint64_t ino;
	uint64_t cgroup_id; /* reader of the access that produced it */
	uint64_t ts_ns;
	uint64_t pages_total; /* pages accessed since the file entered the map */
	/* pages accessed since this file's previous heat event (through this view):
	 * add these up over views to rank an object read through several */
	uint64_t pages_since;
	double heat; /* decayed pages, as of ts_ns */
	dev_t dev;
	uint32_t view_id;
};

struct access_tracker_opts {
	/* Called from access_tracker_poll()/_consume(), on the caller's thread.
	 * The event is only valid during the call. NULL: not reported. */
	void (*on_stream)(void *userdata, const struct access_stream_event *ev);
	void (*on_heat)(void *userdata, const struct access_heat_event *ev);
	void *userdata;
	/* 0 picks the default in brackets. */
	uint32_t stream_min_pages;     /* run length (pages) that starts a stream [64] */
	uint32_t stream_advance_pages; /* ADVANCE every this many more pages [256] */
	uint32_t stream_gap_pages;     /* pages a read may skip and stay sequential [8] */
	uint32_t heat_half_life_ms;    /* heat halves after this long [30000] */
	uint32_t heat_interval_ms;     /* per-file heat summaries at most this often [1000];
					  UINT32_MAX: none */
	uint32_t max_files;	       /* (dev, ino) entries kept, LRU [65536] */
	uint32_t max_cgroups;	       /* (view, cgroup) entries kept, LRU [16384] */
	uint32_t ring_bytes;	       /* ring buffer size, a power of 2 >= page size [256 KiB] */
	/* a run of sequential reads by one thread is counted into the maps (heat, streams) once
	 * it is this many pages long, broken, or its thread leaves the CPU; the counters and a
	 * file's figures
	 * (access_tracker_file_heat()) include it at once [64] */
	uint32_t coalesce_pages;
	/* Kernel BTF to use instead of /sys/kernel/btf/vmlinux (NULL: the
	 * running kernel's); for kernels without built-in BTF. */
	const char *btf_path;
	/* Nonzero: use the raw_tp programs even where tp_btf loads (slower;
	 * for tests of that path). */
	int no_tp_btf;
	/* A program that runs link_holder_main() when given LINK_HOLDER_ARG (weir-node:
	 * "/proc/self/exe"; bpf/link_holder.h): it holds the syscall programs' links so that
	 * this process, killed, dies at once. NULL: none. */
	const char *link_holder_exe;
};

/* Which programs are attached (access_tracker_programs()). */
enum {
	ACCESS_PROG_READ = 1u << 0,	      /* filemap:mm_filemap_get_pages; always set */
	ACCESS_PROG_FAULT = 1u << 1,	      /* filemap:mm_filemap_fault */
	ACCESS_PROG_MAP_PAGES = 1u << 2,      /* filemap:mm_filemap_map_pages */
	ACCESS_PROG_PAGE_CACHE_ADD = 1u << 3, /* filemap:mm_filemap_add_to_page_cache */
	/* raw_syscalls:sys_exit: passthrough reads and mmaps; loaded, and attached only while
	 * held (access_tracker_passthrough_hold()) */
	ACCESS_PROG_PASSTHROUGH = 1u << 4,
	ACCESS_PROG_URING = 1u << 5, /* io_uring:io_uring_complete: passthrough reads */
	/* exceptions:page_fault_user and kmem:rss_stat: mmap faults that map a folio by PMD */
	ACCESS_PROG_PMD_ENTRY = 1u << 6,
	ACCESS_PROG_PMD = 1u << 7,
	ACCESS_PROG_BTF = 1u << 8, /* the filemap programs are tp_btf (else raw_tp, slower) */
	/* sched:sched_switch: a thread's pending reads are counted when it leaves its CPU, so a
	 * thread moved to another CPU keeps its streams; always set */
	ACCESS_PROG_SWITCH = 1u << 9,
};

/* Cumulative counters of one view, summed over CPUs. */
struct access_view_counters {
	uint64_t read_calls; /* read(2)-path calls, passthrough ones included */
	/* pages they asked for (page-cache reads) or got (passthrough reads, which bypass the
	 * view's page cache), clamped to EOF, page-cache hits included */
	uint64_t pages_read;
	uint64_t bytes_read;	    /* pages_read * page size */
	uint64_t pages_passthrough; /* of pages_read: from files open in passthrough */
	uint64_t bytes_passthrough; /* pages_passthrough * page size */
	uint64_t pages_faulted;	    /* mmap faults (one page each) */
	uint64_t pages_mapped;	    /* mmap fault-around windows (an upper bound) */
	uint64_t pages_added; /* pages inserted into the view's page cache: misses + readahead */
	uint64_t streams_started;
	uint64_t events;	 /* ring-buffer records sent */
	uint64_t events_dropped; /* lost: ring buffer full (poll more often or raise ring_bytes) */
	/* accesses counted but left out of stream detection: another CPU held the file */
	uint64_t lock_contended;
};

/* Cumulative counters of one reader cgroup on one view. */
struct access_cgroup_counters {
	uint64_t cgroup_id;
	uint32_t view_id;
	uint64_t read_calls;
	uint64_t pages_read; /* passthrough reads included */
	uint64_t pages_faulted;
	uint64_t pages_mapped;
	uint64_t pages_passthrough;
};

/* Heat of one file, decayed to the time of the call. */
struct access_file_heat {
	uint64_t ino;
	dev_t dev;
	uint32_t view_id;
	double heat;		 /* decayed pages: halves every heat_half_life_ms */
	uint64_t pages_total;	 /* pages accessed since the file entered the map */
	uint64_t last_access_ns; /* CLOCK_MONOTONIC */
	uint64_t last_cgroup_id;
	/* streams started and not displaced (at most 4 per file); a reader that
	 * stopped still counts: compare last_access_ns with the clock */
	int streams_active;
	uint64_t next_page; /* page after the run the last access belonged to */
};

/* Loads and attaches the programs: tp_btf where the kernel takes it, else
 * raw_tp; the mmap and page-cache programs only where their tracepoints
 * exist (see access_tracker_programs()). Returns 0 and sets *ret (owned;
 * free with access_tracker_free()), or -errno with a one-line reason in
 * errbuf (if errlen > 0): -EPERM without root (or CAP_BPF, CAP_PERFMON and
 * CAP_SYS_RESOURCE), -ENOTSUP when weir was built without BPF or the kernel
 * lacks kernel BTF or filemap:mm_filemap_get_pages (Linux < 6.11), -EINVAL
 * for bad opts, other -errno from libbpf. opts may be NULL. libbpf's own
 * messages go to the log at debug while loading, so the caller logs the
 * failure once. Any thread; the caller owns the result. */
int access_tracker_new(const struct access_tracker_opts *opts, struct access_tracker **ret,
		       char *errbuf, size_t errlen);
/* Detaches everything and frees. NULL is fine. No other call may be running. */
void access_tracker_free(struct access_tracker *t);

/* ACCESS_PROG_* bits of the programs attached on this kernel. */
unsigned access_tracker_programs(const struct access_tracker *t);
/* Kernel page size that the page counts use. */
size_t access_tracker_page_size(const struct access_tracker *t);

/* Starts counting accesses to files on dev (st_dev of the mounted view) as
 * view_id. A dev already watched is re-pointed to view_id. The view's
 * counters start at zero the first time a view_id is seen and then live
 * until its device is removed. Returns 0, -EINVAL (dev not encodable), -E2BIG
 * (ACCESS_MAX_VIEWS views at once), -errno. Any thread. */
int access_tracker_add_view(struct access_tracker *t, dev_t dev, uint32_t view_id);
/* Stops watching dev and forgets its files' heat and its view's counters
 * (access_tracker_view_counters() then gives -ENOENT). Returns 0
 * or -ENOENT. Any thread; call it before unmounting so a new mount that
 * reuses the device number does not inherit the old view. */
int access_tracker_remove_view(struct access_tracker *t, dev_t dev);

/* Passthrough opens. A view passes an open of its file (view_dev, view_ino) through to the tier
 * file tier_fd: call _hold(1) before replying to that open, _hold(0) with the same arguments
 * after its release. The tracker maps the tier file to the view file, so that a reader's reads
 * of a tier file on a block-device file system (its page cache) and mmap faults of any tier
 * file count on the view. A tmpfs tier file's reads pass no such tracepoint: they are counted
 * where every syscall of the node returns, which costs each syscall of the node about 100 ns
 * whatever it is, so that program is attached only while such a file is held (attaching is a
 * few bpf() calls). Likewise the two programs that count folios mapped by PMD (tier files on
 * block-device file systems come in 2 MiB folios), which cost every page fault of the node,
 * are attached while any tier file is held. access_tracker_passthrough_expire() detaches them
 * once nothing was held for idle_ms (so a loader that opens and closes file after file does
 * not flap). cgroup_id: the opener's cgroup (0: unknown); where views' files of one tier file
 * are open at once (a source and its dataset:// reference), a read counts on the one an opener
 * in the reader's cgroup holds, else on the one opened last. Any thread; an
 * internal mutex serialises map updates, attach and detach. view_dev need not be watched yet
 * (a taken-over view restores its passthrough opens before it is added): its reads count once
 * it is. _hold(1) returns 0, -ENOTSUP (a tmpfs tier file and the sys_exit program did not
 * load: its reads would go uncounted), -E2BIG (ACCESS_MAX_READERS tier files held), -ENOSPC
 * (ACCESS_BACKING_SLOTS other views' files hold this tier file) or -errno;
 * _hold(0) returns 0 or -errno. */
int access_tracker_passthrough_hold(struct access_tracker *t, int hold, dev_t view_dev,
				    uint64_t view_ino, uint64_t cgroup_id, int tier_fd);
void access_tracker_passthrough_expire(struct access_tracker *t, unsigned idle_ms);
/* 1 while the passthrough program is attached. */
int access_tracker_passthrough_attached(struct access_tracker *t);

/* Dispatches ring-buffer events to the callbacks: those waiting, else the
 * next ones, waiting up to timeout_ms for them (-1: forever, 0: not at all).
 * Returns the number of events or -errno
 * (-EINTR when a signal arrived). One thread at a time. */
int access_tracker_poll(struct access_tracker *t, int timeout_ms);
/* How long a consumer may wait between drains, in ms (10). Records do not
 * wake access_tracker_fd() until a quarter of the ring waits (and then at
 * most once per this period): a consumer that polls the fd must use this as
 * its timeout and consume after every timeout, or stream records (prefetch)
 * and heat summaries wait until the ring fills. */
int access_tracker_wait_ms(void);
/* Dispatches what is ready without waiting; for use after the fd polled
 * readable. Returns the number of events or -errno. One thread at a time. */
int access_tracker_consume(struct access_tracker *t);
/* An epoll fd that turns readable when a quarter of the ring waits: add it
 * to the daemon's event loop with a timeout of access_tracker_wait_ms() and
 * call access_tracker_consume() on either. Borrowed. */
int access_tracker_fd(const struct access_tracker *t);

/* The lookups below read the maps through their fds and share no state:
 * any thread, concurrently with poll. */

/* Counters of view_id. Returns 0 or -ENOENT (never added). This and access_tracker_file_heat()
 * read the map and the CPUs' pending runs until no run moved into the map meanwhile (a run is
 * counted when its thread leaves the CPU, at any time); the foreach functions below read them
 * once, so a reader going to sleep during the call may be missing a run from them. */
int access_tracker_view_counters(struct access_tracker *t, uint32_t view_id,
				 struct access_view_counters *ret);
/* Heat of (dev, ino). Returns 0 or -ENOENT (not accessed, or evicted from
 * the LRU map). */
int access_tracker_file_heat(struct access_tracker *t, dev_t dev, uint64_t ino,
			     struct access_file_heat *ret);

/* Calls cb for every tracked file of view_id (UINT32_MAX: every view), in
 * no particular order; for ranking eviction. cb returns 0 to go on,
 * anything else to stop. Returns the number of files visited or -errno. */
int access_tracker_foreach_file(struct access_tracker *t, uint32_t view_id,
				int (*cb)(void *userdata, const struct access_file_heat *heat),
				void *userdata);
/* Same for (view, cgroup) counters. */
int access_tracker_foreach_cgroup(struct access_tracker *t, uint32_t view_id,
				  int (*cb)(void *userdata, const struct access_cgroup_counters *c),
				  void *userdata);
