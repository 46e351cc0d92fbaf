// SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-only
/* Counts page accesses (read path, mmap faults, page-cache insertions, and
 * reads of files open in FUSE passthrough, which bypass the view's page cache)
 * on the devices of weir views, per view, per (view, cgroup) and per file,
 * detects sequential streams and reports them over a ring buffer. Nothing here
 * may block or allocate beyond the bounded LRU maps below. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "access.h"

#ifndef barrier
#define barrier() asm volatile("" ::: "memory")
#endif

/* Dual-licensed so it can use GPL-only helpers (bpf_probe_read_kernel). */
char LICENSE[] SEC("license") = "GPL";

/* Tunables, set by the loader between __open and __load. */
const volatile __u64 stream_min_pages = 64;	 /* run length that starts a stream */
const volatile __u64 stream_advance_pages = 256; /* ADVANCE every this many more pages */
const volatile __u64 stream_gap_pages = 8; /* a read may skip this many pages and stay sequential */
const volatile __u64 heat_half_life_ns = 30000000000ull;
const volatile __u64 heat_interval_ns = 1000000000ull; /* 0: no ACCESS_EV_HEAT */
/* ...or sooner, once a file was read this many pages since its last one */
const volatile __u64 heat_emit_pages = 256;
const volatile __u32 page_shift = 12;
/* a run of sequential reads is counted once it is this long (see "pending") */
const volatile __u64 coalesce_pages = 64;
/* weir-node's process: its own reads of tier files (answering READs, checksums, demotion) are
 * no reader's */
const volatile __u32 self_tgid = 0;
/* Records (heat summaries and stream START/ADVANCE/END alike) wake the consumer only once this
 * many bytes wait in "events" (a quarter of it, set by the loader); below, it takes them at its
 * next periodic drain, every access_tracker_wait_ms() (10 ms). A wakeup is an irq_work, a
 * self-IPI: in a VM an exit to the hypervisor, 20-25 us of the reader's CPU, which one per
 * stream record (a sequential reader sent one every stream_advance_pages, and the consumer,
 * having drained, was waiting for each) or per small file read cost more than all the
 * counting. A stream record waits at most the consumer's period: prefetch a few ms later. */
const volatile __u64 ring_wake_bytes = 65536;
/* ...and then at most once per this many ns (the consumer's period): a wakeup is only needed to
 * make the consumer runnable, and until it runs and drains the ring every later record also
 * finds a quarter waiting. Forcing a wakeup on each of them sent an IPI per record for as long
 * as weir-node's tracker thread waited for a CPU. Nothing is lost: the consumer drains at least
 * every period, and a quarter of the ring holds ~700 records. */
const volatile __u64 ring_wake_gap_ns = 10000000;
/* When a record last forced a wakeup (bpf_ktime_get_ns). Written by any CPU, unlocked: a
 * race costs one wakeup more. */
volatile __u64 ring_woken_ns = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ACCESS_MAX_VIEWS);
	__type(key, __u32);
	__type(value, __u32);
} watch_devs SEC(".maps");

/* Set by the loader when a watched device has a major number: FUSE views never do (their
 * devices are anonymous, major 0), so while this is 0 a read on any block-device file system
 * is dropped on one compare, before the hash lookup every read of the node would pay. */
volatile __u32 watch_nonanon = 0;

static __always_inline int dev_maybe_watched(__u32 dev)
{
	return (dev >> 20) == 0 || watch_nonanon;
}

/* Entries of "backing" whose tier file is on a block device (nonanon) or not (anon), kept by
 * user space: while one is 0 the programs skip the "backing" lookup for files of that kind. */
volatile __u32 backing_nonanon = 0;
volatile __u32 backing_anon = 0;
/* Bumped by user space when a view is added or removed: a pending run's view id stands for its
 * device (no "watch_devs" lookup) while its access_pending.views_gen is views_gen + 1. */
volatile __u32 views_gen = 0;
/* Bumped by user space when an entry of "backing" goes or changes: a pending run that took its
 * view file from "backing" keeps it while its access_pending.backed is backing_gen + 1. */
volatile __u32 backing_gen = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, ACCESS_MAX_VIEWS);
	__type(key, __u32);
	__type(value, struct access_view_stats);
} view_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 16384); /* resized by the loader */
	__type(key, struct access_cgroup_key);
	__type(value, struct access_cgroup_stats);
} cgroup_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536); /* resized by the loader */
	__type(key, struct access_file_key);
	__type(value, struct access_file_state);
} files SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct access_pending);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ACCESS_MAX_READERS);
	__type(key, __u32);
	__type(value, struct access_read_cursor);
} read_cursor SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct access_fault_slot);
} fault_slot SEC(".maps");

/* The current task, as a number: the one this CPU's sched_switch program saw switched in last
 * (it stays current until the next switch here), or the helper's answer before that program's
 * first run on this CPU, in the raw_tp build (btf 0), or should that task not be the one running
 * on this CPU now (on_cpu and its CPU: while a program runs here no switch is half done, so one
 * task only has both; never seen, a guard). A helper call is a call and a return, and a return
 * costs here (SRSO safe RET: bench/README.md); a read is told from its task on every run. */
static __always_inline __u64 current_task(const struct access_pending *p, const int btf)
{
	__u64 t = p->cur;

	if (btf && t) {
		struct task_struct *task =
		    bpf_rdonly_cast((void *)t, bpf_core_type_id_kernel(struct task_struct));
		if (task->on_cpu && task->thread_info.cpu == bpf_get_smp_processor_id())
			return t;
	}
	return bpf_get_current_task();
}

/* Read-path batches after the first one of a read(2) have the same thread, file and last page
 * and a later first page: already counted. For a thread whose read went on on another CPU, or
 * here after it left the CPU, its cursor (written when it left mid-read, see on_switch) says.
 * Lookups only: a cursor that does not match is spent. */
static __always_inline int read_cursor_continues(__u32 tid, __u32 dev, __u64 ino, __u64 index,
						 __u64 raw_last)
{
	struct access_read_cursor *c = bpf_map_lookup_elem(&read_cursor, &tid);

	if (!c)
		return 0;
	if (c->dev == dev && c->ino == ino && c->last_index == raw_last && index > c->index &&
	    index <= raw_last) {
		c->index = index;
		return 1;
	}
	c->index = 0;
	c->last_index = 0; /* no read's later batch matches it now (index > 0 && index <= 0) */
	return 0;
}

/* An update puts a new element in and hands the old one to the next update at once, under a
 * program that may still read it: the value names its own key, which the program checks after
 * taking what it wants. Only user space writes it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ACCESS_MAX_READERS);
	__type(key, struct access_file_key);
	__type(value, struct access_backing);
} backing SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024); /* resized by the loader */
} events SEC(".maps");

/* What an event reports of its file, copied under the file's lock and sent after it (the ring
 * buffer may not be touched while holding it). */
struct file_snap {
	__u64 heat;
	__u64 pages_total;
	__u64 heat_pages;
};

static __always_inline int emit(__u32 kind, __u32 source, __u32 dev, __u32 view_id, __u64 ino,
				 __u64 page, __u64 now, __u64 cgid, const struct file_snap *fs,
				 const struct access_stream_slot *slot,
				 struct access_view_stats *vs)
{
	struct access_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		if (vs)
			vs->events_dropped++;
		return -1;
	}
	e->ino = ino;
	e->cgroup_id = cgid;
	e->ts_ns = now;
	e->page = page;
	e->run_start_page = slot->run_start_page;
	e->run_pages = slot->next_page - slot->run_start_page;
	e->run_start_ns = slot->run_start_ns;
	e->heat = fs->heat;
	e->pages_total = fs->pages_total;
	e->heat_pages = fs->heat_pages;
	e->dev = dev;
	e->view_id = view_id;
	e->kind = kind;
	e->source = source;
	e->tgid = bpf_get_current_pid_tgid() >> 32;
	e->pad = 0;
	__u64 flags = BPF_RB_NO_WAKEUP; /* the consumer drains every ring_wake_gap_ns */
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= ring_wake_bytes &&
	    now - ring_woken_ns >= ring_wake_gap_ns) {
		ring_woken_ns = now;
		flags = BPF_RB_FORCE_WAKEUP;
	}
	bpf_ringbuf_submit(e, flags);
	if (vs)
		vs->events++;
	return 0;
}

/* A lock on one file's state, taken by compare-and-swap: bpf_spin_lock is refused to the
 * raw_tp programs. The holder runs a few dozen instructions with no helper calls, so a short
 * bounded spin almost always wins; when it does not (the holder was interrupted on this very
 * CPU), the caller keeps its counts and skips the stream update. */
static __always_inline int file_lock(struct access_file_state *st)
{
	for (int i = 0; i < 64; i++)
		if (__sync_val_compare_and_swap(&st->lock, 0, 1) == 0)
			return 1;
	return 0;
}

static __always_inline void file_unlock(struct access_file_state *st)
{
	__sync_lock_test_and_set(&st->lock, 0);
}

/* Adds one CPU's tally to the maps and empties it (see struct access_tally). */
static __always_inline void tally_flush(struct access_tally *t)
{
	__u32 view_id = t->view_id;
	struct access_view_stats *vs = bpf_map_lookup_elem(&view_stats, &view_id);

	if (vs) {
		vs->read_calls += t->v.read_calls;
		vs->pages_read += t->v.pages_read;
		vs->pages_faulted += t->v.pages_faulted;
		vs->pages_mapped += t->v.pages_mapped;
		vs->streams_started += t->v.streams_started;
		vs->events += t->v.events;
		vs->events_dropped += t->v.events_dropped;
		vs->pages_passthrough += t->v.pages_passthrough;
		vs->lock_contended += t->v.lock_contended;
	}
	struct access_cgroup_key key = {.cgroup_id = t->cgroup_id, .view_id = view_id};
	struct access_cgroup_stats *cs = bpf_map_lookup_elem(&cgroup_stats, &key);
	if (!cs) {
		struct access_cgroup_stats zero = {};
		bpf_map_update_elem(&cgroup_stats, &key, &zero, BPF_NOEXIST);
		cs = bpf_map_lookup_elem(&cgroup_stats, &key);
	}
	if (cs) {
		cs->read_calls += t->v.read_calls;
		cs->pages_read += t->v.pages_read;
		cs->pages_faulted += t->v.pages_faulted;
		cs->pages_mapped += t->v.pages_mapped;
		cs->pages_passthrough += t->v.pages_passthrough;
	}
	__builtin_memset(&t->v, 0, sizeof(t->v));
	t->used = 0;
}

/* This CPU's tally, holding (view_id, cgid) now: another pair's goes to the maps first. */
static __always_inline struct access_tally *tally_get(__u32 view_id, __u64 cgid)
{
	__u32 zero = 0;
	struct access_pending *p = bpf_map_lookup_elem(&pending, &zero);

	if (!p)
		return 0;
	struct access_tally *t = &p->tally;
	if (t->used && t->view_id == view_id && t->cgroup_id == cgid)
		return t;
	if (t->used)
		tally_flush(t);
	t->view_id = view_id;
	t->cgroup_id = cgid;
	t->used = 1;
	return t;
}

static __always_inline void tally_count(struct access_view_stats *v, __u32 source, __u64 pages,
					__u32 calls)
{
	if (source == ACCESS_SRC_READ || source == ACCESS_SRC_PASSTHROUGH) {
		v->read_calls += calls;
		v->pages_read += pages;
		if (source == ACCESS_SRC_PASSTHROUGH)
			v->pages_passthrough += pages;
	} else if (source == ACCESS_SRC_FAULT) {
		v->pages_faulted += pages;
	} else {
		v->pages_mapped += pages;
	}
}

static __always_inline void decay_heat(struct access_file_state *st, __u64 now)
{
	__u64 hl = heat_half_life_ns;

	if (!hl || now - st->decay_ns < hl || now < st->decay_ns)
		return;
	__u64 n = (now - st->decay_ns) / hl;
	st->heat = n >= 64 ? 0 : st->heat >> n;
	st->decay_ns = n >= 64 ? now : st->decay_ns + n * hl;
}

/* One access to count: pages first..last of (dev, ino), by calls read calls (0: mmap). */
struct run {
	__u64 ino;
	__u64 first;
	__u64 last;
	__u64 pages; /* asked for by the run's reads: overlaps count again */
	__u64 cgid;
	__u32 dev;
	__u32 view_id;
	__u32 source;
	__u32 calls;
};

/* What a run did to its file (file_update), to report once the file is unlocked: the ring
 * buffer may not be touched while holding it. */
struct file_change {
	struct access_stream_slot ended; /* end: the stream the run broke */
	struct access_stream_slot cur;	 /* the run's slot after it */
	struct file_snap fs;
	__u32 end;  /* ended is a stream the run broke */
	__u32 kind; /* ACCESS_EV_STREAM_START or _ADVANCE to report, or 0 */
	__u32 heat; /* an ACCESS_EV_HEAT to report */
	__u32 pad;
};

/* The run's effect on its file's heat and stream slots; st is locked, or not yet in the map.
 * pages_total already counts the run. */
static __always_inline void file_update(struct access_file_state *st, const struct run *r,
					__u32 accesses, __u64 now, struct file_change *ch)
{
	__u64 index = r->first, last = r->last;

	decay_heat(st, now);
	st->heat += r->pages << ACCESS_HEAT_SHIFT;
	st->last_ns = now;
	st->cgroup_id = r->cgid;
	st->view_id = r->view_id;

	/* Sequential: starts at most stream_gap_pages past a run's end and
	 * reaches at least its last page (mmap fault-around windows overlap).
	 * Otherwise the access starts a run in the least recently used slot. */
	__u32 pick = ACCESS_STREAM_SLOTS, lru = 0;
	__u64 oldest = ~0ull;
	for (__u32 i = 0; i < ACCESS_STREAM_SLOTS; i++) {
		struct access_stream_slot *c = &st->slots[i];
		__u64 next = c->next_page;
		if (next && index <= next + stream_gap_pages && last + 1 >= next) {
			pick = i;
			break;
		}
		if (c->last_ns < oldest) {
			oldest = c->last_ns;
			lru = i;
		}
	}
	struct access_stream_slot *slot;
	ch->end = ch->kind = ch->heat = 0;
	if (pick < ACCESS_STREAM_SLOTS) {
		slot = &st->slots[pick & (ACCESS_STREAM_SLOTS - 1)];
		if (last + 1 > slot->next_page)
			slot->next_page = last + 1;
		slot->run_reads += accesses;
	} else {
		pick = lru;
		slot = &st->slots[pick & (ACCESS_STREAM_SLOTS - 1)];
		if (slot->active) {
			ch->end = 1;
			ch->ended = *slot;
		}
		slot->run_start_page = index;
		slot->next_page = last + 1;
		slot->run_start_ns = now;
		slot->run_reads = accesses;
		slot->active = 0;
		slot->emitted_page = 0;
	}
	slot->last_ns = now;
	st->last_slot = pick;
	if (!slot->active) {
		if (slot->next_page - slot->run_start_page >= stream_min_pages &&
		    slot->run_reads >= 2) {
			slot->active = 1;
			slot->emitted_page = slot->run_start_page + stream_min_pages;
			ch->kind = ACCESS_EV_STREAM_START;
		}
	} else if (slot->next_page - slot->emitted_page >= stream_advance_pages) {
		/* at whole steps from the start: runs are counted in pieces of any length (a reader
		 * that sleeps or moves has its piece counted then), which must not stretch the step
		 */
		slot->emitted_page += (slot->next_page - slot->emitted_page) /
				      stream_advance_pages * stream_advance_pages;
		ch->kind = ACCESS_EV_STREAM_ADVANCE;
	}
	ch->fs.heat = st->heat;
	ch->fs.pages_total = st->pages_total;
	ch->fs.heat_pages = 0;
	/* Heat reports carry the pages read since the previous one, so the daemon can add up
	 * what several views of one object read: sent at most every heat_interval_ns, or as soon
	 * as heat_emit_pages were read, or with a stream's START or ADVANCE, which carries it:
	 * one record instead of two (a sequential reader reaches heat_emit_pages and the next
	 * stream_advance_pages together), half the records of a stream. */
	if (heat_interval_ns && st->pages_total > st->heat_pages &&
	    (ch->kind || now - st->heat_emit_ns >= heat_interval_ns ||
	     st->pages_total - st->heat_pages >= heat_emit_pages)) {
		st->heat_emit_ns = now;
		ch->fs.heat_pages = st->pages_total - st->heat_pages;
		st->heat_pages = st->pages_total;
		ch->heat = !ch->kind; /* a record of its own only if no stream record goes */
	}
	ch->cur = *slot;
}

/* A file's first state, built here before it enters "files" (per-CPU scratch: too large for
 * the stack beside the rest of count_run). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct access_file_state);
} file_init SEC(".maps");

/* Counts r everywhere: view, (view, cgroup) (through this CPU's tally), the file's heat and
 * streams (one "files" lookup; a file not in it yet is inserted whole, with no second one). A
 * subprogram, not inlined: a read can count two runs (the one it broke and its own). */
static __noinline int count_run(struct run *r)
{
	__u32 dev = r->dev, view_id = r->view_id, source = r->source;
	__u64 ino = r->ino, index = r->first, cgid = r->cgid;
	__u64 pages = r->pages;
	__u32 accesses = r->calls ? r->calls : 1; /* a coalesced run is its reads */
	__u64 now = bpf_ktime_get_ns();
	struct access_tally *t = tally_get(view_id, cgid);
	if (!t)
		return 0;
	struct access_view_stats *vs = &t->v;
	tally_count(vs, source, pages, r->calls);

	struct file_change ch;
	struct access_file_key key = {.ino = ino, .dev = dev};
	struct access_file_state *st = bpf_map_lookup_elem(&files, &key);
	if (!st) {
		__u32 zero = 0;
		struct access_file_state *init = bpf_map_lookup_elem(&file_init, &zero);
		if (!init)
			return 0;
		__builtin_memset(init, 0, sizeof(*init));
		init->pages_total = pages;
		file_update(init, r, accesses, now, &ch);
		if (bpf_map_update_elem(&files, &key, init, BPF_NOEXIST) == 0)
			goto report;
		/* another CPU inserted it meanwhile */
		st = bpf_map_lookup_elem(&files, &key);
		if (!st)
			return 0;
	}
	__sync_fetch_and_add(&st->pages_total, pages);
	if (!file_lock(st)) {
		__sync_fetch_and_add(&st->heat, pages << ACCESS_HEAT_SHIFT);
		vs->lock_contended++;
		return 0;
	}
	file_update(st, r, accesses, now, &ch);
	file_unlock(st);

report:
	if (ch.end)
		emit(ACCESS_EV_STREAM_END, source, dev, view_id, ino, index, now, cgid, &ch.fs,
		     &ch.ended, vs);
	int lost = 0;
	if (ch.kind) {
		if (ch.kind == ACCESS_EV_STREAM_START)
			vs->streams_started++;
		lost = emit(ch.kind, source, dev, view_id, ino, index, now, cgid, &ch.fs, &ch.cur,
			    vs) < 0;
	}
	if (ch.heat)
		lost = emit(ACCESS_EV_HEAT, source, dev, view_id, ino, index, now, cgid, &ch.fs,
			    &ch.cur, vs) < 0;
	/* A summary the full ring refused leaves its pages to the file's next one: dropped, they
	 * were lost to heat for good, so a reader flooding the ring (any view's: a walk through
	 * many small files) made the files other readers read meanwhile look cold to eviction. */
	if (lost && ch.fs.heat_pages) {
		if (!st)
			st = bpf_map_lookup_elem(&files, &key);
		if (st && file_lock(st)) { /* a file evicted and counted anew meanwhile: from 0 */
			__u64 hp = st->heat_pages;
			st->heat_pages = hp > ch.fs.heat_pages ? hp - ch.fs.heat_pages : 0;
			file_unlock(st);
		}
	}
	return 0;
}

static __always_inline void flush_pending(struct access_pending *p)
{
	struct run r = {.ino = p->ino,
			.first = p->first_page,
			.last = p->next_page - 1,
			.pages = p->pages,
			.cgid = p->cgroup_id,
			.dev = p->dev,
			.view_id = p->view_id,
			.source = p->source,
			.calls = p->reads};
	if (r.first > r.last)
		r.first = r.last; /* only re-reads of the page the run had reached */
	p->first_page = p->next_page;
	p->pages = 0;
	p->reads = 0;
	/* A view added or removed since the run began: a run of a removed view is counted
	 * nowhere. Its view's counters are gone, and its file's state, put back in "files" after
	 * the removal forgot the view's files, was inherited by the file of the same inode
	 * number in the next view on the device (the anonymous device numbers of FUSE mounts are
	 * reused at once): heat pages and stream slots of another file. */
	if (p->views_gen != views_gen + 1) {
		__u32 dev = r.dev;
		__u32 *v = bpf_map_lookup_elem(&watch_devs, &dev);
		if (!v || *v != r.view_id)
			return;
	}
	count_run(&r);
}

/* Everything after the device filter; the programs below differ only in how they read the
 * inode. Reads go through this CPU's pending run; mmap faults are counted at once. */
/* batched: (index, raw_last) come from filemap_get_pages, which a read(2) of many pages calls
 * once per folio batch with the same raw_last. */
/* raw_dev, raw_ino: the file the tracepoint named (backed: a tier file, else dev, ino). */
/* p: this CPU's pending run, task: bpf_get_current_task(), both taken once by the program. */
static __always_inline int on_access(struct access_pending *p, __u64 task, __u32 dev, __u32 view_id,
				     __u64 ino, __s64 isize, __u64 index, __u64 raw_last,
				     __u32 source, const int batched, __u32 raw_dev, __u64 raw_ino,
				     __u32 backed)
{
	if (isize <= 0)
		return 0;
	/* A read(2) asks for pos..pos+count, which may run past EOF. */
	__u64 last = raw_last;
	__u64 eof_last = ((__u64)isize - 1) >> page_shift;
	if (last > eof_last)
		last = eof_last;
	if (index > last)
		return 0;
	if (source != ACCESS_SRC_READ && source != ACCESS_SRC_PASSTHROUGH) {
		/* Counted here: a PMD mapping at the end of this fault is not another access. And
		 * a fault-around that mapped a whole large folio by PTEs was counted where it added
		 * to the RSS (see on_rss_stat()), before its tracepoint. */
		__u32 zero = 0;
		struct access_fault_slot *fs = bpf_map_lookup_elem(&fault_slot, &zero);
		if (fs && fs->task == task) {
			__u32 counted = fs->seen == 2 && fs->dev == dev && fs->ino == ino &&
					index >= fs->lo && last <= fs->hi;
			fs->seen = 1;
			if (counted)
				return 0;
		}
		struct run r = {.ino = ino,
				.first = index,
				.last = last,
				.pages = last - index + 1,
				.cgid = bpf_get_current_cgroup_id(),
				.dev = dev,
				.view_id = view_id,
				.source = source};
		return count_run(&r);
	}

	if (batched) {
		/* The later folio batches of one read(2): same thread, file and last page, a
		 * later first page. This CPU's copy of the thread's last read says while the
		 * thread has not left the CPU since; once it has (a cold read sleeps between
		 * batches and may wake anywhere), on_switch cleared p->task and left the read in
		 * the thread's cursor, which says instead. */
		if (p->task == task && p->ino == ino && p->dev == dev && p->raw_last == raw_last &&
		    index > p->last_index && index <= raw_last) {
			p->last_index = index;
			return 0;
		}
		if (p->task != task && read_cursor_continues((__u32)bpf_get_current_pid_tgid(), dev,
							     ino, index, raw_last))
			return 0;
	}
	if (p->task == task && p->ino == ino && p->dev == dev && p->source == source) {
		/* a read that goes on from the run (or from within its last page) */
		if (index <= p->next_page && index + 1 >= p->next_page) {
			if (last + 1 > p->next_page)
				p->next_page = last + 1;
			p->pages += last - index + 1;
			p->reads++;
			p->raw_last = batched ? raw_last : ~0ull;
			p->last_index = index;
			if (p->pages >= coalesce_pages)
				flush_pending(p);
			return 0;
		}
	}
	if (p->pages)
		flush_pending(p);
	p->ino = ino;
	p->dev = dev;
	p->view_id = view_id;
	p->source = source;
	p->tid = (__u32)bpf_get_current_pid_tgid();
	p->task = task;
	p->cgroup_id = bpf_get_current_cgroup_id();
	p->first_page = index;
	p->next_page = last + 1;
	p->pages = last - index + 1;
	p->reads = 1;
	p->raw_last = batched ? raw_last : ~0ull;
	p->last_index = index;
	p->raw_dev = raw_dev;
	p->raw_ino = raw_ino;
	p->backed = backed ? backing_gen + 1 : 0;
	p->views_gen =
	    views_gen + 1; /* read after the lookup: user space bumps it before and after */
	if (p->pages >= coalesce_pages)
		flush_pending(p);
	return 0;
}

/* A run pending on a CPU belongs to the thread that read there last. When that thread leaves
 * the CPU (it sleeps on a miss, is preempted, or is moved), its run is counted before it can
 * read again anywhere: a thread that goes on reading its file on another CPU would otherwise
 * count its later reads before the earlier ones left here, and the file's stream slots would
 * see a gap where there is none (a new run, a new stream). Runs are thus per thread, kept on
 * the CPU it runs on. */
/* The reader leaving in the middle of a read that may come in more batches (raw_last past its
 * last batch) leaves that read in its cursor, for its next batch wherever it runs; and this
 * CPU forgets it was the last reader here (p->task), so that on its return the cursor, not a
 * stale copy here, decides. Reads pay no cursor write: only a thread leaving mid-read does. */
static __always_inline int on_switch(struct task_struct *prev, struct task_struct *next)
{
	__u32 zero = 0;
	struct access_pending *p = bpf_map_lookup_elem(&pending, &zero);

	if (!p)
		return 0;
	p->cur = (__u64)next;
	if (p->task == (__u64)prev) {
		if (p->raw_last != ~0ull && p->raw_last > p->last_index) {
			__u32 tid = p->tid;
			struct access_read_cursor c = {.ino = p->ino,
						       .index = p->last_index,
						       .last_index = p->raw_last,
						       .dev = p->dev};
			bpf_map_update_elem(&read_cursor, &tid, &c, BPF_ANY);
		}
		p->task = 0;
	}
	if (p->pages)
		flush_pending(p);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(access_switch_btf, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return on_switch(prev, next);
}

SEC("raw_tp/sched_switch")
int BPF_PROG(access_switch_raw, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return on_switch(prev, next);
}

/* The last device this CPU found in no view (see view_of_dev), valid while views_gen + 1 ==
 * gen: a node's reads of files of other file systems with anonymous devices (NFS, btrfs, other
 * FUSE mounts), which pass the device filter, pay one compare instead of a hash lookup each. */
struct dev_miss {
	__u32 dev;
	__u32 gen;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dev_miss);
} dev_miss SEC(".maps");

/* The view watching dev, into *view_id; returns 0 if none. This CPU's pending run p remembers
 * the last one while no view was added or removed since (views_gen), which spares the hash
 * lookup on every read of a reader going through a file; dev_miss the last device that is no
 * view's. */
static __always_inline int view_of_dev(const struct access_pending *p, __u32 dev, __u32 *view_id)
{
	__u32 gen =
	    views_gen + 1; /* read before the lookup: user space bumps it before and after */

	if (p->tid && p->dev == dev && p->views_gen == gen) {
		*view_id = p->view_id;
		return 1;
	}
	__u32 zero = 0;
	struct dev_miss *m = bpf_map_lookup_elem(&dev_miss, &zero);
	if (m && m->dev == dev && m->gen == gen)
		return 0;
	__u32 *v = bpf_map_lookup_elem(&watch_devs, &dev);
	if (!v) {
		if (m) {
			m->dev = dev;
			m->gen = gen;
		}
		return 0;
	}
	*view_id = *v;
	return 1;
}

/* A file that is no view's may be the tier file behind passthrough opens of one (see
 * "backing"): sets *view_id and *dev, *ino to the view file's. Returns 1 if so. */
static __always_inline int backing_view(const struct access_pending *p, __u32 *dev, __u64 *ino,
					__u32 *view_id)
{
	struct access_file_key key = {.ino = *ino, .dev = *dev};
	struct access_backing *b = bpf_map_lookup_elem(&backing, &key);

	if (!b || b->key_ino != key.ino || b->key_dev != key.dev)
		return 0;
	barrier(); /* the key before the slot: see struct access_backing */
	__u32 i = b->last;
	if (b->shared) {
		/* several views' files: the one an opener in the reader's cgroup holds */
		__u64 cg = bpf_get_current_cgroup_id();
		for (__u32 k = 0; k < ACCESS_BACKING_SLOTS; k++)
			if (b->slot[k].opens && b->slot[k].cgroup_id == cg) {
				i = k;
				break;
			}
	}
	struct access_backing_slot *s = &b->slot[i & (ACCESS_BACKING_SLOTS - 1)];
	__u32 vdev = s->dev;
	__u64 vino = s->ino;
	barrier();
	/* recycled for another tier file meanwhile (see "backing"): not this one's */
	if (b->key_ino != key.ino || b->key_dev != key.dev || !view_of_dev(p, vdev, view_id))
		return 0;
	*dev = vdev;
	*ino = vino;
	return 1;
}

/* Whose access this is: a file of a watched view (*source unchanged), or a tier file read or
 * faulted by a reader of a passthrough open (*dev, *ino become the view file's, *source
 * pt_source, *backed 1). Returns 0 for anything else. p: this CPU's pending run, task: the
 * current task. */
static __always_inline int access_view(const struct access_pending *p, __u64 task, __u32 *dev,
				       __u64 *ino, __u32 *view_id, __u32 *source, __u32 pt_source,
				       __u32 *backed)
{
	*backed = 0;
	/* The file this CPU's run reads, read on by the run's reader (the common case: a reader
	 * going through a file): its view file and view from the run, no hash lookup. A tier file
	 * (backed) while "backing" is unchanged; never weir-node's reads of tier files, which start
	 * no run. */
	if (p->task == task && p->raw_ino == *ino && p->raw_dev == *dev &&
	    p->views_gen == views_gen + 1 && (!p->backed || p->backed == backing_gen + 1)) {
		*view_id = p->view_id;
		if (p->backed) {
			*dev = p->dev;
			*ino = p->ino;
			*source = pt_source;
			*backed = 1;
		}
		return 1;
	}
	if (dev_maybe_watched(*dev) && view_of_dev(p, *dev, view_id))
		return 1;
	if (!((*dev >> 20) ? backing_nonanon : backing_anon))
		return 0;
	/* weir-node's own reads of its tier files (answering READs, checksums, demotion: most
	 * reads of a tier file it serves) before the "backing" lookup they would all miss on */
	if ((__u32)(bpf_get_current_pid_tgid() >> 32) == self_tgid ||
	    !backing_view(p, dev, ino, view_id))
		return 0;
	*source = pt_source;
	*backed = 1;
	return 1;
}

/* The page cache of a mapping is an xarray of folios (mm/filemap.c, lib/xarray.c): nodes of 64
 * slots, a large folio in the slot of its first page and sibling entries in the others. */
#define XA_CHUNK_SHIFT 6
#define XA_CHUNK_MASK 63
#define XA_MAX_DEPTH 6 /* 64^6 pages: 256 TiB files of 4 KiB pages */

static __always_inline int xa_is_node(unsigned long e)
{
	return (e & 3) == 2 && e > 4096;
}

static __always_inline int xa_is_sibling(unsigned long e)
{
	return (e & 3) == 2 && e < ((XA_CHUNK_MASK << 2) | 2);
}

/* The pages first_page .. last_page of the large folio in mapping's page cache that holds page
 * index, if it is one: a fault maps a whole folio, not the page or window the tracepoints
 * report. Returns 0 if index holds no large folio. Probe reads under the RCU read lock the
 * tracepoint runs in; a folio split or freed meanwhile gives a wrong count, never a fault. */
static __always_inline int large_folio_span(struct address_space *mapping, __u64 index,
					    __u64 *first_page, __u64 *last_page)
{
	unsigned long e = (unsigned long)BPF_CORE_READ(mapping, i_pages.xa_head);

	if (xa_is_node(e)) {
		unsigned char shift = BPF_CORE_READ((struct xa_node *)(e - 2), shift);
		if ((index >> shift) > XA_CHUNK_MASK)
			return 0; /* past the tree */
	} else if (index) {
		return 0; /* one entry at the head holds page 0 only */
	}
	for (int depth = 0; depth < XA_MAX_DEPTH && xa_is_node(e); depth++) {
		struct xa_node *node = (struct xa_node *)(e - 2);
		unsigned char shift = BPF_CORE_READ(node, shift);
		unsigned long off = (index >> (shift & 63)) & XA_CHUNK_MASK;
		e = (unsigned long)BPF_CORE_READ(node, slots[off]);
		if (xa_is_sibling(e))
			e = (unsigned long)BPF_CORE_READ(node, slots[(e >> 2) & XA_CHUNK_MASK]);
	}
	if (!e || (e & 3))
		return 0; /* a hole, a value (shadow) entry or a node too deep */
	struct folio *folio = (struct folio *)e;
	unsigned long flags = 0;
	bpf_probe_read_kernel(&flags, sizeof(flags), folio); /* folio->flags: first word */
	if (!(flags & (1ul << bpf_core_enum_value(enum pageflags, PG_head))))
		return 0;
	unsigned long order = BPF_CORE_READ(folio, _flags_1) & 0xff;
	if (!order || order > 20)
		return 0;
	__u64 start = BPF_CORE_READ(folio, index);
	if (index < start || index - start >= (1ull << order))
		return 0; /* not the folio of index any more */
	*first_page = start;
	*last_page = start + (1ull << order) - 1;
	return 1;
}

/* Widens the pages first..last an mmap program reports to the large folios at both ends. */
static __always_inline void widen_to_folios(struct address_space *mapping, __u64 *first,
					    __u64 *last)
{
	__u64 a, b;

	if (large_folio_span(mapping, *first, &a, &b))
		*first = a;
	if (large_folio_span(mapping, *last, &a, &b) && b > *last)
		*last = b;
}

/* Two builds of each program: tp_btf (direct, BTF-checked loads: cheaper
 * on every read of every file on the node) and raw_tp (probe reads) for
 * kernels that refuse tp_btf. The loader enables one set. pt_source: what an access to a
 * passthrough open's tier file counts as. batched: a read (see on_access), else an mmap
 * fault, which maps whole folios. This CPU's pending run is looked up once per run and passed
 * down; the reader is told by its task, which current_task() knows with no helper call. */
#define ACCESS_PROGS(tp, name, source, pt_source, batched, first, last, ...)                       \
	SEC("tp_btf/" #tp)                                                                         \
	int BPF_PROG(name##_btf, struct address_space *mapping, __VA_ARGS__)                       \
	{                                                                                          \
		struct inode *host = mapping->host;                                                \
		if (!host)                                                                         \
			return 0;                                                                  \
		__u32 dev = host->i_sb->s_dev, view_id, src = source, backed;                      \
		__u64 ino = host->i_ino;                                                           \
		__u32 raw_dev = dev, zero = 0;                                                     \
		__u64 raw_ino = ino;                                                               \
		struct access_pending *p = bpf_map_lookup_elem(&pending, &zero);                   \
		if (!p)                                                                            \
			return 0;                                                                  \
		__u64 task = current_task(p, 1);                                                   \
		if (!access_view(p, task, &dev, &ino, &view_id, &src, pt_source, &backed))         \
			return 0;                                                                  \
		__u64 lo = first, hi = last;                                                       \
		if (!batched)                                                                      \
			widen_to_folios(mapping, &lo, &hi);                                        \
		return on_access(p, task, dev, view_id, ino, host->i_size, lo, hi, src, batched,   \
				 raw_dev, raw_ino, backed);                                        \
	}                                                                                          \
	SEC("raw_tp/" #tp)                                                                         \
	int BPF_PROG(name##_raw, struct address_space *mapping, __VA_ARGS__)                       \
	{                                                                                          \
		struct inode *host = BPF_CORE_READ(mapping, host);                                 \
		if (!host)                                                                         \
			return 0;                                                                  \
		__u32 dev = BPF_CORE_READ(host, i_sb, s_dev), view_id, src = source, backed;       \
		__u64 ino = BPF_CORE_READ(host, i_ino);                                            \
		__u32 raw_dev = dev, zero = 0;                                                     \
		__u64 raw_ino = ino;                                                               \
		struct access_pending *p = bpf_map_lookup_elem(&pending, &zero);                   \
		if (!p)                                                                            \
			return 0;                                                                  \
		__u64 task = current_task(p, 0);                                                   \
		if (!access_view(p, task, &dev, &ino, &view_id, &src, pt_source, &backed))         \
			return 0;                                                                  \
		__u64 lo = first, hi = last;                                                       \
		if (!batched)                                                                      \
			widen_to_folios(mapping, &lo, &hi);                                        \
		return on_access(p, task, dev, view_id, ino, BPF_CORE_READ(host, i_size), lo, hi,  \
				 src, batched, raw_dev, raw_ino, backed);                          \
	}

/* filemap_get_pages(): once per folio batch of a read(2)/splice, page-cache
 * hits included; (index, last_index) is what the reader asked for. */
ACCESS_PROGS(mm_filemap_get_pages, access_get_pages, ACCESS_SRC_READ, ACCESS_SRC_PASSTHROUGH, 1,
	     index, last_index, unsigned long index, unsigned long last_index)
/* filemap_fault(): an mmap access to a page not yet mapped. */
ACCESS_PROGS(mm_filemap_fault, access_fault, ACCESS_SRC_FAULT, ACCESS_SRC_FAULT, 0, index, index,
	     unsigned long index)
/* filemap_map_pages(): fault-around mapped the cached pages start..end (tmpfs too: shmem
 * maps pages through it, though its faults do not pass filemap_fault). */
ACCESS_PROGS(mm_filemap_map_pages, access_map_pages, ACCESS_SRC_MAP_PAGES, ACCESS_SRC_MAP_PAGES, 0,
	     start, end, unsigned long start, unsigned long end)

/* PMD-mapped folios. A fault in a file mapping first maps the folios already cached around the
 * address (filemap_map_pages()); a folio of PMD size at a PMD-aligned place is mapped whole by
 * one PMD and the function returns before its tracepoint, so such a fault passes no filemap
 * tracepoint at all. It does add the folio's pages to the process's file RSS, and the
 * kmem:rss_stat tracepoint fires there. So: at each user page fault the address and the file
 * RSS are noted (exceptions:page_fault_user); where the fault adds at least half a PMD of
 * pages to it and no filemap program counted the fault yet (a folio mapped by PMD after
 * filemap_fault() was counted there), the folio at the address, found through its VMA, is
 * counted as faulted. Fault-around maps a window of fault_around_bytes (64 KiB by default) by
 * PTEs, or a whole large folio (Linux 6.18), and its tracepoint fires after the RSS grew: when
 * the folio was counted here, that tracepoint is skipped. RSS counters are per-CPU with a
 * batch (32 pages, or twice the CPUs): the half-PMD threshold tells a PMD-sized folio from a
 * 64 KiB window below 240 CPUs. */
#define PMD_PAGES_4K 512

static __always_inline int on_fault_entry(unsigned long address, const int btf)
{
	__u32 zero = 0;
	struct access_fault_slot *s = bpf_map_lookup_elem(&fault_slot, &zero);

	if (!s || page_shift != 12)
		return 0;
	if (btf) {
		struct task_struct *task = bpf_get_current_task_btf();
		struct mm_struct *mm = task->mm;
		if (!mm)
			return 0;
		s->rss[0] = mm->rss_stat[0].count;
		s->rss[1] = mm->rss_stat[3].count;
		s->task = (__u64)task;
	} else {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		struct mm_struct *mm = BPF_CORE_READ(task, mm);
		if (!mm)
			return 0;
		s->rss[0] = BPF_CORE_READ(mm, rss_stat[0].count);
		s->rss[1] = BPF_CORE_READ(mm, rss_stat[3].count);
		s->task = (__u64)task;
	}
	s->addr = address;
	s->seen = 0;
	return 0;
}

struct vma_at {
	__u64 addr;
	__u64 file;  /* struct file * of the VMA at addr, or 0 */
	__u64 pgoff; /* the page of the file mapped at addr */
};

static long vma_at_cb(struct task_struct *task, struct vm_area_struct *vma, struct vma_at *c)
{
	c->file = (__u64)vma->vm_file;
	c->pgoff = vma->vm_pgoff + ((c->addr - vma->vm_start) >> page_shift);
	return 0;
}

/* member: MM_FILEPAGES (0) or MM_SHMEMPAGES (3) of mm grew or shrank */
static __always_inline int on_rss_stat(struct mm_struct *mm, int member, const int btf)
{
	if (member != 0 && member != 3)
		return 0;
	__u32 zero = 0;
	struct access_fault_slot *s = bpf_map_lookup_elem(&fault_slot, &zero);
	if (!s || s->seen || s->task != bpf_get_current_task())
		return 0;
	__s64 now;
	if (btf)
		now = member ? mm->rss_stat[3].count : mm->rss_stat[0].count;
	else
		now = member ? BPF_CORE_READ(mm, rss_stat[3].count)
			     : BPF_CORE_READ(mm, rss_stat[0].count);
	if (now - s->rss[member ? 1 : 0] < PMD_PAGES_4K / 2)
		return 0;
	s->seen = 1; /* once per fault */
	struct vma_at c = {.addr = s->addr};
	if (bpf_find_vma(bpf_get_current_task_btf(), s->addr, vma_at_cb, &c, 0) != 0 || !c.file)
		return 0;
	struct file *f = (struct file *)c.file;
	struct address_space *mapping = BPF_CORE_READ(f, f_mapping);
	struct inode *host = BPF_CORE_READ(mapping, host);
	if (!host)
		return 0;
	__u32 dev = BPF_CORE_READ(host, i_sb, s_dev), view_id, src = ACCESS_SRC_FAULT, backed;
	__u64 ino = BPF_CORE_READ(host, i_ino);
	__u32 raw_dev = dev;
	__u64 raw_ino = ino;
	struct access_pending *p = bpf_map_lookup_elem(&pending, &zero);
	if (!p)
		return 0;
	__u64 task = bpf_get_current_task();
	if (!access_view(p, task, &dev, &ino, &view_id, &src, ACCESS_SRC_FAULT, &backed))
		return 0;
	__u64 lo = c.pgoff, hi = c.pgoff;
	widen_to_folios(mapping, &lo, &hi);
	if (hi - lo + 1 < PMD_PAGES_4K / 2)
		return 0; /* no large folio there: not a PMD mapping */
	on_access(p, task, dev, view_id, ino, BPF_CORE_READ(host, i_size), lo, hi, src, 0, raw_dev,
		  raw_ino, backed);
	/* a filemap_map_pages tracepoint of this fault within this folio is the same mapping */
	s->dev = dev;
	s->ino = ino;
	s->lo = lo;
	s->hi = hi;
	s->seen = 2;
	return 0;
}

SEC("tp_btf/page_fault_user")
int BPF_PROG(access_fault_entry_btf, unsigned long address, struct pt_regs *regs,
	     unsigned long error_code)
{
	return on_fault_entry(address, 1);
}

SEC("raw_tp/page_fault_user")
int BPF_PROG(access_fault_entry_raw, unsigned long address, struct pt_regs *regs,
	     unsigned long error_code)
{
	return on_fault_entry(address, 0);
}

SEC("tp_btf/rss_stat")
int BPF_PROG(access_rss_btf, struct mm_struct *mm, int member)
{
	return on_rss_stat(mm, member, 1);
}

SEC("raw_tp/rss_stat")
int BPF_PROG(access_rss_raw, struct mm_struct *mm, int member)
{
	return on_rss_stat(mm, member, 0);
}

/* Passthrough from a tmpfs tier. A view file opened in FUSE passthrough is read by the kernel
 * from its tier file, bypassing the view's page cache. A tier file on a block device file
 * system is read through its own page cache, where the filemap programs above see it (see
 * "backing"); tmpfs reads pass no tracepoint at all. So reads of a passthrough file on a tmpfs
 * tier are counted where their syscall returns, on the view file the descriptor names, by the
 * bytes returned; io_uring reads where they complete. weir-node attaches sys_exit only while
 * such a file is open: it puts every syscall of the node on the tracing slow path. */

#define FUSE_SUPER_MAGIC 0x65735546
#define TMPFS_MAGIC 0x01021994

/* The one field of fuse_file wanted; CO-RE finds it in vmlinux or the fuse module. */
struct fuse_file___weir {
	struct file *passthrough;
} __attribute__((preserve_access_index));

struct io_kiocb___weir {
	struct file *file;
	__u8 opcode;
} __attribute__((preserve_access_index));

#if defined(__TARGET_ARCH_x86)
#define NR_READ 0
#define NR_PREAD64 17
#define NR_READV 19
#define NR_SENDFILE 40
#define NR_SPLICE 275
#define NR_PREADV 295
#define NR_COPY_FILE_RANGE 326
#define NR_PREADV2 327
#define SYSCALL_NR(regs) BPF_CORE_READ(regs, orig_ax)
#elif defined(__TARGET_ARCH_arm64)
#define NR_READ 63
#define NR_PREAD64 67
#define NR_READV 65
#define NR_SENDFILE 71
#define NR_SPLICE 76
#define NR_PREADV 69
#define NR_COPY_FILE_RANGE 285
#define NR_PREADV2 286
#define SYSCALL_NR(regs) BPF_CORE_READ(regs, syscallno)
#else
#error "syscall numbers of this architecture are not listed"
#endif

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

/* The helpers below come in two builds, picked by the constant btf: direct BTF-typed loads (the
 * tp_btf programs: plain memory reads) or probe reads (raw_tp). */

/* Above any descriptor number (fs.nr_open is at most 2^30): bounds the index for the verifier */
#define FD_MASK 0x3fffffff

/* Where a task's saved user registers sit above the base of its kernel stack: the same for
 * every task (task_pt_regs(): THREAD_SIZE less the pt_regs at the top), learnt from the helper
 * by the first program run, then one guarded load instead of a helper call per syscall. */
volatile __u64 regs_off = 0;

static __always_inline struct pt_regs *task_regs(struct task_struct *task)
{
	__u64 off = regs_off;

	if (!off) { /* task is the current one: the helper wants it trusted */
		struct task_struct *cur = bpf_get_current_task_btf();
		struct pt_regs *r = (struct pt_regs *)bpf_task_pt_regs(cur);
		regs_off = (__u64)r - (__u64)cur->stack;
		return r;
	}
	return bpf_rdonly_cast((void *)((__u64)task->stack + off),
			       bpf_core_type_id_kernel(struct pt_regs));
}

/* The file of the current task's descriptor fd, or NULL. task: the current task (current_task(),
 * a BTF pointer to it if btf). */
static __always_inline struct file *fd_file(struct task_struct *task, long fd, const int btf)
{
	struct file *f = 0;

	if (btf) {
		struct fdtable *fdt = task->files->fdt;
		if (fd < 0 || (unsigned long)fd >= fdt->max_fds)
			return 0;
		/* the descriptor array as untrusted memory (a cast to void): one load the JIT
		 * guards, where bpf_probe_read_kernel() cost a 4 KiB read 40 ns more here */
		struct file **fds = bpf_rdonly_cast(fdt->fd, 0);
		f = fds[fd & FD_MASK];
		return f ? bpf_rdonly_cast(f, bpf_core_type_id_kernel(struct file)) : 0;
	}
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	if (fd < 0 || (unsigned long)fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/* If f is a file of a watched view, open in passthrough to a tmpfs tier file: its view id, and
 * its device and inode in c (with what tells this open of it apart from a later one that reuses
 * its struct file), and gen (views_gen + 1, read before the walk); c is left alone if not. The
 * cheapest test first: most reads that reach here (pipes, sockets, files of other file
 * systems) are told "not ours" by their superblock's magic, with no hash lookup. */
static __always_inline int passthrough_view(const struct access_pending *p, struct file *f,
					    struct access_file_cache *c, __u32 gen, const int btf)
{
	struct inode *inode = btf ? f->f_inode : BPF_CORE_READ(f, f_inode);
	if (!inode)
		return 0;
	struct super_block *sb = btf ? inode->i_sb : BPF_CORE_READ(inode, i_sb);
	if ((btf ? sb->s_magic : BPF_CORE_READ(sb, s_magic)) != FUSE_SUPER_MAGIC)
		return 0;
	__u32 dev = btf ? sb->s_dev : BPF_CORE_READ(sb, s_dev);

	__u32 view_id;
	if (!dev_maybe_watched(dev) || !view_of_dev(p, dev, &view_id))
		return 0;
	if (!bpf_core_field_exists(struct fuse_file___weir, passthrough))
		return 0; /* a kernel without FUSE passthrough */
	struct fuse_file___weir *ff = btf ? f->private_data : BPF_CORE_READ(f, private_data);
	struct file *bfile;
	unsigned long magic;
	if (btf) {
		/* untrusted BTF pointers: plain loads the JIT guards, no helper call each */
		ff = bpf_rdonly_cast(ff, bpf_core_type_id_kernel(struct fuse_file___weir));
		if (!ff || !(bfile = ff->passthrough))
			return 0;
		bfile = bpf_rdonly_cast(bfile, bpf_core_type_id_kernel(struct file));
		magic = bfile->f_inode->i_sb->s_magic;
	} else {
		bfile = BPF_CORE_READ(ff, passthrough);
		if (!bfile)
			return 0;
		magic = BPF_CORE_READ(bfile, f_inode, i_sb, s_magic);
	}
	/* the filemap programs count reads of any other tier file */
	if (magic != TMPFS_MAGIC)
		return 0;
	c->file = 0; /* valid again once whole */
	c->inode = (__u64)inode;
	c->fuse_file = (__u64)ff;
	c->backing = (__u64)bfile;
	c->dev = dev;
	c->ino = btf ? inode->i_ino : BPF_CORE_READ(inode, i_ino);
	c->view_id = view_id;
	c->views_gen = gen;
	c->file = (__u64)f;
	return 1;
}

/* Whether c still describes f: the same view generation, and an open of the same inode with
 * the same fuse_file and backing file (a struct file, freed at close, may be reused for another
 * open at once: of another file, or of this one without passthrough). */
static __always_inline int file_cache_hit(const struct access_file_cache *c, struct file *f,
					  const int btf)
{
	if (c->file != (__u64)f || c->views_gen != views_gen + 1)
		return 0;
	if (btf) {
		struct fuse_file___weir *ff = f->private_data;
		if ((__u64)f->f_inode != c->inode || (__u64)ff != c->fuse_file)
			return 0;
		ff = bpf_rdonly_cast(ff, bpf_core_type_id_kernel(struct fuse_file___weir));
		return ff && (__u64)ff->passthrough == c->backing;
	}
	struct fuse_file___weir *ff = BPF_CORE_READ(f, private_data);
	return (__u64)BPF_CORE_READ(f, f_inode) == c->inode && (__u64)ff == c->fuse_file && ff &&
	       (__u64)BPF_CORE_READ(ff, passthrough) == c->backing;
}

/* Map "file_cache" in access.h. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct access_file_cache);
} file_cache SEC(".maps");

/* bytes read by a passthrough read of f that started at file offset start, by the current task
 * (task); p: this CPU's pending run */
static __always_inline int count_passthrough(struct access_pending *p, struct file *f, __s64 start,
					     __s64 bytes, __u64 task, const int btf)
{
	__u32 zero = 0;
	struct access_file_cache *c = bpf_map_lookup_elem(&file_cache, &zero);

	if (!c || start < 0)
		return 0;
	/* a miss leaves the entry of the last view file read here for its next read: a reader
	 * that also reads other files (its sockets, pipes, logs) keeps it */
	if (!file_cache_hit(c, f, btf)) {
		/* read before the walk: a view added or removed during it leaves the entry stale */
		__u32 gen = views_gen + 1;
		if (!passthrough_view(p, f, c, gen, btf))
			return 0;
	}
	/* the bytes were read, so they are within the file: its size (EOF) clamps nothing */
	return on_access(p, task, c->dev, c->view_id, c->ino, start + bytes,
			 (__u64)start >> page_shift,
			 ((__u64)start + (__u64)bytes - 1) >> page_shift, ACCESS_SRC_PASSTHROUGH, 0,
			 c->dev, c->ino, 0);
}

static __always_inline __s64 file_pos(struct file *f, const int btf)
{
	return btf ? f->f_pos : BPF_CORE_READ(f, f_pos);
}

/* The file offset a syscall's reading started at, given where it ended: from the user's
 * offset pointer if it passed one (updated to the end), else the file position. */
static __always_inline __s64 start_from(struct file *f, __u64 uoff, long ret)
{
	__s64 end = 0;

	/* probe reads both ways: clang would merge a direct load with the stack load below */
	if (uoff) {
		if (bpf_probe_read_user(&end, sizeof(end), (void *)uoff) < 0)
			return -1;
	} else {
		end = BPF_CORE_READ(f, f_pos);
	}
	return end - ret;
}

/* Syscall number and arguments: direct loads from a BTF pt_regs, or probe reads. */
#if defined(__TARGET_ARCH_x86)
#define REGS_NR(regs) ((regs)->orig_ax)
#define REGS_ARG(regs, n)                                                                          \
	((n) == 1   ? (regs)->di                                                                   \
	 : (n) == 2 ? (regs)->si                                                                   \
	 : (n) == 3 ? (regs)->dx                                                                   \
	 : (n) == 4 ? (regs)->r10                                                                  \
		    : (regs)->r8)
#else
#define REGS_NR(regs) ((regs)->syscallno)
#define REGS_ARG(regs, n) ((n) == 1 ? (regs)->orig_x0 : (regs)->regs[(n)-1])
#endif

static __always_inline long sys_arg(struct pt_regs *regs, int n, const int btf)
{
	if (btf)
		return REGS_ARG(regs, n);
	switch (n) {
	case 1:
		return PT_REGS_PARM1_CORE_SYSCALL(regs);
	case 2:
		return PT_REGS_PARM2_CORE_SYSCALL(regs);
	case 3:
		return PT_REGS_PARM3_CORE_SYSCALL(regs);
	case 4:
		return PT_REGS_PARM4_CORE_SYSCALL(regs);
	default:
		return PT_REGS_PARM5_CORE_SYSCALL(regs);
	}
}

/* p: this CPU's pending run; task: the current task (a BTF pointer if btf) */
static __always_inline int on_read_exit(struct access_pending *p, struct task_struct *task,
					struct pt_regs *regs, long nr, long ret, const int btf)
{
	struct file *f;
	__s64 start;

	switch (nr) {
	case NR_READ:
	case NR_READV:
		f = fd_file(task, sys_arg(regs, 1, btf), btf);
		if (!f)
			return 0;
		start = file_pos(f, btf) - ret;
		break;
	case NR_PREAD64:
	case NR_PREADV:
	case NR_PREADV2:
		f = fd_file(task, sys_arg(regs, 1, btf), btf);
		if (!f)
			return 0;
		start = sys_arg(regs, 4, btf);
		if (start == -1 && nr == NR_PREADV2) /* -1: at (and moving) the file position */
			start = file_pos(f, btf) - ret;
		break;
	case NR_SENDFILE:
		f = fd_file(task, sys_arg(regs, 2, btf), btf);
		if (!f)
			return 0;
		start = start_from(f, sys_arg(regs, 3, btf), ret);
		break;
	case NR_SPLICE:
	case NR_COPY_FILE_RANGE:
		f = fd_file(task, sys_arg(regs, 1, btf), btf);
		if (!f)
			return 0;
		start = start_from(f, sys_arg(regs, 2, btf), ret);
		break;
	default:
		return 0;
	}
	return count_passthrough(p, f, start, ret, (__u64)task, btf);
}

static __always_inline int is_read_nr(long nr)
{
	switch (nr) {
	case NR_READ:
	case NR_READV:
	case NR_PREAD64:
	case NR_PREADV:
	case NR_PREADV2:
	case NR_SENDFILE:
	case NR_SPLICE:
	case NR_COPY_FILE_RANGE:
		return 1;
	default:
		return 0;
	}
}

/* sys_exit runs for every syscall: the others leave at the syscall number */
static __always_inline int on_sys_exit(struct pt_regs *regs, long ret, const int btf)
{
	if (ret <= 0)
		return 0;
	long nr = btf ? REGS_NR(regs) : SYSCALL_NR(regs);
	if (!is_read_nr(nr))
		return 0;
	__u32 zero = 0;
	struct access_pending *p = bpf_map_lookup_elem(&pending, &zero);
	if (!p)
		return 0;
	void *task = (void *)current_task(p, btf);
	if (btf)
		task = bpf_rdonly_cast(task, bpf_core_type_id_kernel(struct task_struct));
	return on_read_exit(p, task, regs, nr, ret, btf);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(access_sys_exit_btf, struct pt_regs *regs, long ret)
{
	return on_sys_exit(regs, ret, 1);
}

SEC("raw_tp/sys_exit")
int BPF_PROG(access_sys_exit_raw, struct pt_regs *regs, long ret)
{
	return on_sys_exit(regs, ret, 0);
}

/* The same at the exits of the reading syscalls only (syscalls:sys_exit_<name>): every syscall
 * still takes the tracing slow path, but the other syscalls no longer run a program, only the
 * kernel's check of its bitmap of traced syscalls (bench/bpf-overhead.sh: a no-op program
 * costs a 4 KiB dd block 0-90 ns there, 100-235 ns on sys_exit, which runs for its write
 * too; our program costs the block about the same on either, 240 ns: a classic tracepoint's
 * program pays more per run). weir-node attaches these when all of them attach, else
 * sys_exit. The pt_regs come from the task (BTF): plain loads, as in the tp_btf build. nr: the
 * program's syscall, a constant, so that each program keeps the one case of on_read_exit() it
 * needs. */
static __always_inline int on_syscall_exit(struct syscall_trace_exit *ctx, const long nr)
{
	long ret = ctx->ret;

	if (ret <= 0)
		return 0;
	__u32 zero = 0;
	struct access_pending *p = bpf_map_lookup_elem(&pending, &zero);
	if (!p)
		return 0;
	struct task_struct *task = bpf_rdonly_cast((void *)current_task(p, 1),
						   bpf_core_type_id_kernel(struct task_struct));
	return on_read_exit(p, task, task_regs(task), nr, ret, 1);
}

#define ACCESS_SYSCALL_EXIT(name, nr)                                                              \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                                 \
	int access_sx_##name(struct syscall_trace_exit *ctx)                                       \
	{                                                                                          \
		return on_syscall_exit(ctx, nr);                                                   \
	}
ACCESS_SYSCALL_EXIT(read, NR_READ)
ACCESS_SYSCALL_EXIT(pread64, NR_PREAD64)
ACCESS_SYSCALL_EXIT(readv, NR_READV)
ACCESS_SYSCALL_EXIT(preadv, NR_PREADV)
ACCESS_SYSCALL_EXIT(preadv2, NR_PREADV2)
ACCESS_SYSCALL_EXIT(sendfile64, NR_SENDFILE)
ACCESS_SYSCALL_EXIT(splice, NR_SPLICE)
ACCESS_SYSCALL_EXIT(copy_file_range, NR_COPY_FILE_RANGE)

/* An io_uring SPLICE request (io_uring/splice.c), which starts the request as io_rw does: its
 * input descriptor and offset, taken at issue; the input file is put back before completion. */
struct io_splice___weir {
	__s64 off_in; /* -1: the file's position, moved past what was read */
	int splice_fd_in;
	unsigned int flags;
} __attribute__((preserve_access_index));

#define SPLICE_F_FD_IN_FIXED (1U << 31) /* splice_fd_in is a registered file's index */

/* An io_uring SPLICE from a passthrough view file into a pipe reads the tier file by
 * splice_read, without a syscall. Its input is found where it completes, by its descriptor in the
 * completing task's table (the submitter's, or its io-wq worker's, which shares it); a registered
 * input file (SPLICE_F_FD_IN_FIXED) is not looked up, nor one closed before the completion. */
static __always_inline int on_uring_splice(void *req, __s32 res)
{
	struct io_splice___weir *sp = req;
	if (BPF_CORE_READ(sp, flags) & SPLICE_F_FD_IN_FIXED)
		return 0;
	__u32 zero = 0;
	struct access_pending *p = bpf_map_lookup_elem(&pending, &zero);
	if (!p)
		return 0;
	__u64 task = current_task(p, 0);
	struct file *f = fd_file((struct task_struct *)task, BPF_CORE_READ(sp, splice_fd_in), 0);
	if (!f)
		return 0;
	/* do_splice() moved the offset (or the file's position) past what it read */
	__s64 end = BPF_CORE_READ(sp, off_in);
	if (end == -1)
		end = BPF_CORE_READ(f, f_pos);
	return count_passthrough(p, f, end - res, res, task, 0);
}

/* io_uring reads call the file's read_iter without a read syscall. */
static __always_inline int on_uring_complete(void *req, struct io_uring_cqe *cqe)
{
	__s32 res = BPF_CORE_READ(cqe, res);
	if (res <= 0)
		return 0;
	struct io_kiocb___weir *r = req;
	__u8 op = BPF_CORE_READ(r, opcode);
	if (op == IORING_OP_SPLICE)
		return on_uring_splice(req, res);
	if (op != IORING_OP_READ && op != IORING_OP_READV && op != IORING_OP_READ_FIXED &&
	    op != IORING_OP_READ_MULTISHOT && op != 60 /* IORING_OP_READV_FIXED, 6.15+ */)
		return 0;
	struct file *f = BPF_CORE_READ(r, file);
	if (!f)
		return 0;
	/* The request starts with its struct io_rw, whose kiocb's position has moved past
	 * what was read. */
	__s64 end = BPF_CORE_READ((struct kiocb *)req, ki_pos);
	__u32 zero = 0;
	struct access_pending *p = bpf_map_lookup_elem(&pending, &zero);
	if (!p)
		return 0;
	return count_passthrough(p, f, end - res, res, current_task(p, 0), 0);
}

SEC("tp_btf/io_uring_complete")
int BPF_PROG(access_uring_btf, struct io_ring_ctx *ring, void *req, struct io_uring_cqe *cqe)
{
	return on_uring_complete(req, cqe);
}

SEC("raw_tp/io_uring_complete")
int BPF_PROG(access_uring_raw, struct io_ring_ctx *ring, void *req, struct io_uring_cqe *cqe)
{
	return on_uring_complete(req, cqe);
}

/* A folio entered the page cache: a miss being filled (or readahead). */
SEC("tracepoint/filemap/mm_filemap_add_to_page_cache")
int access_add_to_page_cache(struct trace_event_raw_mm_filemap_op_page_cache *ctx)
{
	__u32 dev = ctx->s_dev;
	if (!dev_maybe_watched(dev))
		return 0;
	__u32 *viewp = bpf_map_lookup_elem(&watch_devs, &dev);

	if (!viewp)
		return 0;
	__u32 view_id = *viewp;
	struct access_view_stats *vs = bpf_map_lookup_elem(&view_stats, &view_id);
	if (!vs)
		return 0;
	__u32 order = 0;
	if (bpf_core_field_exists(ctx->order))
		order = ctx->order;
	vs->pages_added += 1ull << (order & 31);
	return 0;
}
