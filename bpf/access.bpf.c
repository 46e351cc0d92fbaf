// SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-only
/* Counts page accesses (read path, mmap faults, page-cache insertions) on the
 * devices of weir views, per view, per (view, cgroup) and per file, detects
 * sequential streams and reports them over a ring buffer. Nothing here may
 * block or allocate beyond the bounded LRU maps below. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "access.h"

/* Dual-licensed so it can use GPL-only helpers (bpf_probe_read_kernel). */
char LICENSE[] SEC("license") = "GPL";

/* Tunables, set by the loader between __open and __load. */
const volatile __u64 stream_min_pages = 64;	 /* run length that starts a stream */
const volatile __u64 stream_advance_pages = 256; /* ADVANCE every this many more pages */
const volatile __u64 stream_gap_pages = 8; /* a read may skip this many pages and stay sequential */
const volatile __u64 heat_half_life_ns = 30000000000ull;
const volatile __u64 heat_interval_ns = 1000000000ull; /* 0: no ACCESS_EV_HEAT */
const volatile __u32 page_shift = 12;

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
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ACCESS_MAX_READERS);
	__type(key, __u32);
	__type(value, struct access_read_cursor);
} read_cursor SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024); /* resized by the loader */
} events SEC(".maps");

static __always_inline void emit(__u32 kind, __u32 source, __u32 dev, __u32 view_id, __u64 ino,
				 __u64 page, __u64 now, __u64 cgid, struct access_file_state *st,
				 struct access_stream_slot *slot, struct access_view_stats *vs)
{
	struct access_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		if (vs)
			vs->events_dropped++;
		return;
	}
	e->ino = ino;
	e->cgroup_id = cgid;
	e->ts_ns = now;
	e->page = page;
	e->run_start_page = slot->run_start_page;
	e->run_pages = slot->next_page - slot->run_start_page;
	e->run_start_ns = slot->run_start_ns;
	e->heat = st->heat;
	e->pages_total = st->pages_total;
	e->dev = dev;
	e->view_id = view_id;
	e->kind = kind;
	e->source = source;
	e->tgid = bpf_get_current_pid_tgid() >> 32;
	e->pad = 0;
	bpf_ringbuf_submit(e, 0);
	if (vs)
		vs->events++;
}

static __always_inline struct access_file_state *file_get(__u32 dev, __u64 ino, __u32 view_id)
{
	struct access_file_key key = {.ino = ino, .dev = dev};
	struct access_file_state *st = bpf_map_lookup_elem(&files, &key);

	if (st)
		return st;
	struct access_file_state init = {.view_id = view_id};
	bpf_map_update_elem(&files, &key, &init, BPF_NOEXIST);
	return bpf_map_lookup_elem(&files, &key);
}

/* Read-path batches after the first one of a read(2) have the same thread,
 * file and last page and a later first page: already counted. */
static __always_inline int read_is_continuation(__u32 dev, __u64 ino, __u64 index, __u64 raw_last)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct access_read_cursor *c = bpf_map_lookup_elem(&read_cursor, &tid);

	if (c && c->dev == dev && c->ino == ino && c->last_index == raw_last && index > c->index &&
	    index <= raw_last) {
		c->index = index;
		return 1;
	}
	if (c) {
		c->dev = dev;
		c->ino = ino;
		c->index = index;
		c->last_index = raw_last;
		return 0;
	}
	struct access_read_cursor n = {
	    .ino = ino, .index = index, .last_index = raw_last, .dev = dev};
	bpf_map_update_elem(&read_cursor, &tid, &n, BPF_ANY);
	return 0;
}

static __always_inline void count_view(struct access_view_stats *vs, __u32 source, __u64 pages)
{
	if (source == ACCESS_SRC_READ) {
		vs->read_calls++;
		vs->pages_read += pages;
	} else if (source == ACCESS_SRC_FAULT) {
		vs->pages_faulted += pages;
	} else {
		vs->pages_mapped += pages;
	}
}

static __always_inline void count_cgroup(__u32 view_id, __u64 cgid, __u32 source, __u64 pages)
{
	struct access_cgroup_key key = {.cgroup_id = cgid, .view_id = view_id};
	struct access_cgroup_stats *cs = bpf_map_lookup_elem(&cgroup_stats, &key);

	if (!cs) {
		struct access_cgroup_stats zero = {};
		bpf_map_update_elem(&cgroup_stats, &key, &zero, BPF_NOEXIST);
		cs = bpf_map_lookup_elem(&cgroup_stats, &key);
		if (!cs)
			return;
	}
	if (source == ACCESS_SRC_READ) {
		cs->read_calls++;
		cs->pages_read += pages;
	} else if (source == ACCESS_SRC_FAULT) {
		cs->pages_faulted += pages;
	} else {
		cs->pages_mapped += pages;
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

/* Everything after the device filter; the programs below differ only in how
 * they read the inode (BTF-typed loads, or probe reads for raw_tp). */
static __always_inline int on_access(__u32 dev, __u32 view_id, __u64 ino, __s64 isize, __u64 index,
				     __u64 raw_last, __u32 source)
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
	if (source == ACCESS_SRC_READ && read_is_continuation(dev, ino, index, raw_last))
		return 0;

	__u64 pages = last - index + 1;
	__u64 now = bpf_ktime_get_ns();
	__u64 cgid = bpf_get_current_cgroup_id();
	struct access_view_stats *vs = bpf_map_lookup_elem(&view_stats, &view_id);
	if (vs)
		count_view(vs, source, pages);
	count_cgroup(view_id, cgid, source, pages);

	struct access_file_state *st = file_get(dev, ino, view_id);
	if (!st)
		return 0;
	__sync_fetch_and_add(&st->pages_total, pages);
	decay_heat(st, now);
	__sync_fetch_and_add(&st->heat, pages << ACCESS_HEAT_SHIFT);
	st->last_ns = now;
	st->cgroup_id = cgid;
	st->view_id = view_id;

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
	if (pick < ACCESS_STREAM_SLOTS) {
		slot = &st->slots[pick & (ACCESS_STREAM_SLOTS - 1)];
		if (last + 1 > slot->next_page)
			slot->next_page = last + 1;
		slot->run_reads++;
	} else {
		pick = lru;
		slot = &st->slots[pick & (ACCESS_STREAM_SLOTS - 1)];
		if (slot->active)
			emit(ACCESS_EV_STREAM_END, source, dev, view_id, ino, index, now, cgid, st,
			     slot, vs);
		slot->run_start_page = index;
		slot->next_page = last + 1;
		slot->run_start_ns = now;
		slot->run_reads = 1;
		slot->active = 0;
		slot->emitted_page = 0;
	}
	slot->last_ns = now;
	st->last_slot = pick;
	if (!slot->active) {
		if (slot->next_page - slot->run_start_page >= stream_min_pages &&
		    slot->run_reads >= 2) {
			slot->active = 1;
			slot->emitted_page = slot->next_page;
			if (vs)
				vs->streams_started++;
			emit(ACCESS_EV_STREAM_START, source, dev, view_id, ino, index, now, cgid,
			     st, slot, vs);
		}
	} else if (slot->next_page - slot->emitted_page >= stream_advance_pages) {
		slot->emitted_page = slot->next_page;
		emit(ACCESS_EV_STREAM_ADVANCE, source, dev, view_id, ino, index, now, cgid, st,
		     slot, vs);
	}

	if (heat_interval_ns && now - st->heat_emit_ns >= heat_interval_ns) {
		st->heat_emit_ns = now;
		emit(ACCESS_EV_HEAT, source, dev, view_id, ino, index, now, cgid, st, slot, vs);
	}
	return 0;
}

/* Two builds of each program: tp_btf (direct, BTF-checked loads: cheaper
 * on every read of every file on the node) and raw_tp (probe reads) for
 * kernels that refuse tp_btf. The loader enables one set. */
#define ACCESS_PROGS(tp, name, source, first, last, ...)                                           \
	SEC("tp_btf/" #tp)                                                                         \
	int BPF_PROG(name##_btf, struct address_space *mapping, __VA_ARGS__)                       \
	{                                                                                          \
		struct inode *host = mapping->host;                                                \
		if (!host)                                                                         \
			return 0;                                                                  \
		__u32 dev = host->i_sb->s_dev;                                                     \
		if (!dev_maybe_watched(dev))                                                       \
			return 0;                                                                  \
		__u32 *viewp = bpf_map_lookup_elem(&watch_devs, &dev);                             \
		if (!viewp)                                                                        \
			return 0;                                                                  \
		return on_access(dev, *viewp, host->i_ino, host->i_size, first, last, source);     \
	}                                                                                          \
	SEC("raw_tp/" #tp)                                                                         \
	int BPF_PROG(name##_raw, struct address_space *mapping, __VA_ARGS__)                       \
	{                                                                                          \
		struct inode *host = BPF_CORE_READ(mapping, host);                                 \
		if (!host)                                                                         \
			return 0;                                                                  \
		__u32 dev = BPF_CORE_READ(host, i_sb, s_dev);                                      \
		if (!dev_maybe_watched(dev))                                                       \
			return 0;                                                                  \
		__u32 *viewp = bpf_map_lookup_elem(&watch_devs, &dev);                             \
		if (!viewp)                                                                        \
			return 0;                                                                  \
		return on_access(dev, *viewp, BPF_CORE_READ(host, i_ino),                          \
				 BPF_CORE_READ(host, i_size), first, last, source);                \
	}

/* filemap_get_pages(): once per folio batch of a read(2)/splice, page-cache
 * hits included; (index, last_index) is what the reader asked for. */
ACCESS_PROGS(mm_filemap_get_pages, access_get_pages, ACCESS_SRC_READ, index, last_index,
	     unsigned long index, unsigned long last_index)
/* filemap_fault(): an mmap access to a page not yet mapped. */
ACCESS_PROGS(mm_filemap_fault, access_fault, ACCESS_SRC_FAULT, index, index, unsigned long index)
/* filemap_map_pages(): fault-around mapped the cached pages start..end. */
ACCESS_PROGS(mm_filemap_map_pages, access_map_pages, ACCESS_SRC_MAP_PAGES, start, end,
	     unsigned long start, unsigned long end)

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
