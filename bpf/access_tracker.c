// SPDX-License-Identifier: Apache-2.0
// Loader for access.bpf.c: opens the skeleton, sets tunables, loads what this
// kernel has, attaches, and reads the maps and ring buffer. Built as a stub
// returning -ENOTSUP when WEIR_HAVE_BPF is 0.
#include "access_tracker.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backing_slots.h"
#include "link_holder.h"
#include "log.h"

#define DEFAULT_STREAM_MIN_PAGES 64
#define DEFAULT_STREAM_ADVANCE_PAGES 256
#define DEFAULT_STREAM_GAP_PAGES 8
#define DEFAULT_HEAT_HALF_LIFE_MS 30000
#define DEFAULT_HEAT_INTERVAL_MS 1000
#define DEFAULT_MAX_FILES 65536
#define DEFAULT_MAX_CGROUPS 16384
#define DEFAULT_RING_BYTES (256 * 1024)
#define DEFAULT_COALESCE_PAGES 64
/* The consumer's period, and the least time between two forced wakeups (ring_wake_gap_ns) */
#define WAIT_MS 10

static void set_err(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *errbuf, size_t errlen, const char *fmt, ...)
{
	if (!errbuf || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
}

int access_tracker_wait_ms(void)
{
	return WAIT_MS;
}

#if WEIR_HAVE_BPF

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <pthread.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "access.skel.h"

_Static_assert(sizeof(struct access_view_stats) == 80, "access_view_stats layout");
_Static_assert(sizeof(struct access_cgroup_key) == 16, "access_cgroup_key layout");
_Static_assert(sizeof(struct access_cgroup_stats) == 40, "access_cgroup_stats layout");
_Static_assert(sizeof(struct access_file_key) == 16, "access_file_key layout");
_Static_assert(sizeof(struct access_stream_slot) == 48, "access_stream_slot layout");
_Static_assert(sizeof(struct access_file_state) == 72 + 48 * ACCESS_STREAM_SLOTS,
	       "access_file_state layout");
_Static_assert(sizeof(struct access_tally) == 96, "access_tally layout");
_Static_assert(sizeof(struct access_pending) == 112 + 96, "access_pending layout");
_Static_assert(sizeof(struct access_file_cache) == 56, "access_file_cache layout");
_Static_assert(sizeof(struct access_read_cursor) == 32, "access_read_cursor layout");
_Static_assert(sizeof(struct access_event) == 104, "access_event layout");
_Static_assert(sizeof(struct access_backing) == 24 + 24 * ACCESS_BACKING_SLOTS,
	       "access_backing layout");
_Static_assert(sizeof(struct access_fault_slot) == 64, "access_fault_slot layout");

/* The reading syscalls whose exits count passthrough reads from a tmpfs tier (access.bpf.c) */
#define N_SYSCALL_EXITS 8

struct access_tracker {
	struct access_bpf *skel;
	struct ring_buffer *rb;
	void (*on_stream)(void *userdata, const struct access_stream_event *ev);
	void (*on_heat)(void *userdata, const struct access_heat_event *ev);
	void *userdata;
	unsigned programs; /* ACCESS_PROG_* attached */
	int ncpus;	   /* possible CPUs: per-CPU values come in this many slots */
	size_t page_size;
	uint64_t heat_half_life_ns;
	/* The sys_exit program (NULL: not loaded) and its link while attached (while some view
	 * file is open in passthrough to a tmpfs tier file). pt_lock guards pt_link, pt_holds,
	 * pt_idle_ns, pt_detaching and the "backing" map with its counts in the programs' .bss;
	 * attaching and map updates (bpf() calls, no I/O) run under it, nothing else. Never
	 * detaching a syscall program: its link's release waits for an RCU tasks-trace grace
	 * period (syscall tracepoints may fault), ~70 ms each here, and passthrough opens would
	 * wait behind them (links_destroy, without the lock). */
	struct bpf_program *pt_prog;
	pthread_mutex_t pt_lock;
	/* With pt_lock: broadcast when a detach of the syscall programs is over. pt_detaching: one
	 * is under way; their next attach waits for it (the same program attached twice would
	 * count every read twice). */
	pthread_cond_t pt_detached;
	bool pt_detaching;
	/* The holder's processes outlived its end: the old links may still be attached, and the
	 * programs are never attached again (a tmpfs hold is refused). */
	bool pt_refused;
	/* Holds duplicates of the syscall programs' links (link_holder.h), so that a weir-node
	 * killed with them attached dies at once; started with the tracker (NULL: no
	 * link_holder_exe, or it could not be), never changed after. Sent to under pt_lock (a
	 * message that never blocks), dropped by the detacher only. */
	struct link_holder *holder;
	/* The thread that releases the syscall programs' links (detach_main) while pt_detaching;
	 * joinable: started and not joined yet. Under pt_lock; joined without it. */
	pthread_t pt_detacher;
	bool pt_detacher_joinable;
	struct bpf_link *pt_link;
	/* The same counting at the exits of the reading syscalls only (syscalls:sys_exit_*; not
	 * loaded: NULL), attached instead of sys_exit where all of them attach: a syscall that
	 * reads nothing then runs no program. Links under pt_lock. */
	struct bpf_program *pt_sys[N_SYSCALL_EXITS];
	struct bpf_link *pt_sys_link[N_SYSCALL_EXITS];
	bool pt_sys_failed; /* under pt_lock: some attached and a later one not: sys_exit only */
	uint64_t pt_holds;
	uint64_t pt_idle_ns; /* when pt_holds last fell to 0 */
	/* The programs that count folios mapped by PMD (page_fault_user, rss_stat; NULL: not
	 * loaded) and their links while attached: while some view file is open in passthrough
	 * (only tier files on block-device file systems come in PMD-sized folios here: a view's
	 * page cache does not), as they cost every page fault of the node. Under pt_lock. */
	struct bpf_program *pmd_prog[2];
	struct bpf_link *pmd_link[2];
	uint64_t pmd_holds;
	uint64_t pmd_idle_ns; /* when pmd_holds last fell to 0 */
};

/* One tracepoint, the programs that can serve it and whether we need it. */
struct prog_desc {
	const char *tracepoint; /* btf_trace_<tracepoint> is a typedef in vmlinux BTF */
	unsigned bit;		/* ACCESS_PROG_* */
	int required;
};

static const struct prog_desc prog_descs[] = {
    {"mm_filemap_get_pages", ACCESS_PROG_READ, 1},
    {"mm_filemap_fault", ACCESS_PROG_FAULT, 0},
    {"mm_filemap_map_pages", ACCESS_PROG_MAP_PAGES, 0},
    {"mm_filemap_add_to_page_cache", ACCESS_PROG_PAGE_CACHE_ADD, 0},
    {"sys_exit", ACCESS_PROG_PASSTHROUGH, 0},
    {"io_uring_complete", ACCESS_PROG_URING, 0},
    {"page_fault_user", ACCESS_PROG_PMD_ENTRY, 0},
    {"rss_stat", ACCESS_PROG_PMD, 0},
    {"sched_switch", ACCESS_PROG_SWITCH, 1},
};
#define N_PROGS (sizeof(prog_descs) / sizeof(prog_descs[0]))

/* The program for bit in the tp_btf (btf = 1) or raw_tp build, and its link
 * slot. The page-cache tracepoint has one classic-tracepoint program. */
static struct bpf_program *prog_of(struct access_bpf *skel, unsigned bit, int btf,
				   struct bpf_link ***ret_link)
{
	switch (bit) {
	case ACCESS_PROG_READ:
		*ret_link =
		    btf ? &skel->links.access_get_pages_btf : &skel->links.access_get_pages_raw;
		return btf ? skel->progs.access_get_pages_btf : skel->progs.access_get_pages_raw;
	case ACCESS_PROG_FAULT:
		*ret_link = btf ? &skel->links.access_fault_btf : &skel->links.access_fault_raw;
		return btf ? skel->progs.access_fault_btf : skel->progs.access_fault_raw;
	case ACCESS_PROG_MAP_PAGES:
		*ret_link =
		    btf ? &skel->links.access_map_pages_btf : &skel->links.access_map_pages_raw;
		return btf ? skel->progs.access_map_pages_btf : skel->progs.access_map_pages_raw;
	case ACCESS_PROG_PASSTHROUGH:
		*ret_link =
		    btf ? &skel->links.access_sys_exit_btf : &skel->links.access_sys_exit_raw;
		return btf ? skel->progs.access_sys_exit_btf : skel->progs.access_sys_exit_raw;
	case ACCESS_PROG_URING:
		*ret_link = btf ? &skel->links.access_uring_btf : &skel->links.access_uring_raw;
		return btf ? skel->progs.access_uring_btf : skel->progs.access_uring_raw;
	case ACCESS_PROG_PMD_ENTRY:
		*ret_link =
		    btf ? &skel->links.access_fault_entry_btf : &skel->links.access_fault_entry_raw;
		return btf ? skel->progs.access_fault_entry_btf
			   : skel->progs.access_fault_entry_raw;
	case ACCESS_PROG_PMD:
		*ret_link = btf ? &skel->links.access_rss_btf : &skel->links.access_rss_raw;
		return btf ? skel->progs.access_rss_btf : skel->progs.access_rss_raw;
	case ACCESS_PROG_SWITCH:
		*ret_link = btf ? &skel->links.access_switch_btf : &skel->links.access_switch_raw;
		return btf ? skel->progs.access_switch_btf : skel->progs.access_switch_raw;
	default:
		*ret_link = &skel->links.access_add_to_page_cache;
		return skel->progs.access_add_to_page_cache;
	}
}

/* The programs on syscalls:sys_exit_<name>, in access.bpf.c's order. */
static void syscall_exit_progs(struct access_bpf *skel, struct bpf_program **ret_progs)
{
	ret_progs[0] = skel->progs.access_sx_read;
	ret_progs[1] = skel->progs.access_sx_pread64;
	ret_progs[2] = skel->progs.access_sx_readv;
	ret_progs[3] = skel->progs.access_sx_preadv;
	ret_progs[4] = skel->progs.access_sx_preadv2;
	ret_progs[5] = skel->progs.access_sx_sendfile64;
	ret_progs[6] = skel->progs.access_sx_splice;
	ret_progs[7] = skel->progs.access_sx_copy_file_range;
}

/* Set while access_tracker_new() runs on this thread: a failed load makes
 * libbpf warn several times, but the caller logs the failure once (with
 * errbuf), so those warnings are demoted to debug. Thread-local because
 * libbpf's print hook is process-wide. */
static _Thread_local int libbpf_loading;

/* libbpf's output goes through our log: warnings at warning (debug while
 * loading), the rest at debug. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	int lvl = level == LIBBPF_WARN && !libbpf_loading ? LOG_WARNING : LOG_DEBUG;
	if (lvl > log_state.max_level)
		return 0;
	char buf[1024];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	if (n < 0)
		return 0;
	size_t len = strlen(buf);
	while (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	log_emit(lvl, __FILE__, __LINE__, "%s", buf);
	return n;
}

/* The kernel encodes s_dev as major << 20 | minor (MKDEV), not as glibc's dev_t. */
static int dev_to_kernel(dev_t dev, __u32 *ret)
{
	unsigned int ma = major(dev), mi = minor(dev);
	if (ma >= (1u << 12) || mi >= (1u << 20))
		return -EINVAL;
	*ret = (ma << 20) | mi;
	return 0;
}

static dev_t dev_from_kernel(__u32 kdev)
{
	return makedev(kdev >> 20, kdev & ((1u << 20) - 1));
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts); /* bpf_ktime_get_ns() is CLOCK_MONOTONIC */
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Heat as of `now`, with the same step decay the kernel applies on access. */
static double heat_at(const struct access_tracker *t, uint64_t heat, uint64_t decay_ns,
		      uint64_t now)
{
	if (t->heat_half_life_ns && now > decay_ns) {
		uint64_t n = (now - decay_ns) / t->heat_half_life_ns;
		heat = n >= 64 ? 0 : heat >> n;
	}
	return (double)heat / (double)(1u << ACCESS_HEAT_SHIFT);
}

static int on_ring_record(void *ctx, void *data, size_t size)
{
	struct access_tracker *t = ctx;
	const struct access_event *e = data;

	if (size < sizeof(*e))
		return 0;
	/* a START or ADVANCE with pages in heat_pages carries the file's heat summary too (it is
	 * sent in no record of its own then); an END's heat_pages is its START's or ADVANCE's */
	int heat = e->kind == ACCESS_EV_HEAT ||
		   (e->heat_pages > 0 &&
		    (e->kind == ACCESS_EV_STREAM_START || e->kind == ACCESS_EV_STREAM_ADVANCE));
	if (heat && t->on_heat) {
		struct access_heat_event h = {
		    .ino = e->ino,
		    .cgroup_id = e->cgroup_id,
		    .ts_ns = e->ts_ns,
		    .pages_total = e->pages_total,
		    .pages_since = e->heat_pages,
		    .heat = (double)e->heat / (double)(1u << ACCESS_HEAT_SHIFT),
		    .dev = dev_from_kernel(e->dev),
		    .view_id = e->view_id,
		};
		t->on_heat(t->userdata, &h);
	}
	if (e->kind == ACCESS_EV_HEAT || !t->on_stream)
		return 0;
	struct access_stream_event s = {
	    .ino = e->ino,
	    .cgroup_id = e->cgroup_id,
	    .ts_ns = e->ts_ns,
	    .page = e->page,
	    .run_start_page = e->run_start_page,
	    .next_page = e->run_start_page + e->run_pages,
	    .run_pages = e->run_pages,
	    .run_start_ns = e->run_start_ns,
	    .dev = dev_from_kernel(e->dev),
	    .view_id = e->view_id,
	    .kind = (enum access_stream_kind)e->kind,
	    .source = (enum access_source)e->source,
	    .pid = (pid_t)e->tgid,
	};
	t->on_stream(t->userdata, &s);
	return 0;
}

static int check_opts(const struct access_tracker_opts *o, long page, char *errbuf, size_t errlen)
{
	if (o->ring_bytes &&
	    ((o->ring_bytes & (o->ring_bytes - 1)) || o->ring_bytes < (unsigned long)page)) {
		set_err(errbuf, errlen,
			"access tracker: ring_bytes %u is not a power of 2 of at least the page "
			"size (%ld)",
			o->ring_bytes, page);
		return -EINVAL;
	}
	if (o->stream_min_pages > (1u << 30) || o->stream_advance_pages > (1u << 30) ||
	    o->stream_gap_pages > (1u << 30) || o->coalesce_pages > (1u << 30)) {
		set_err(errbuf, errlen,
			"access tracker: stream_*_pages and coalesce_pages must be at most 2^30");
		return -EINVAL;
	}
	return 0;
}

#define OR_DEFAULT(v, d) ((v) ? (v) : (d))

/* Opens the skeleton into t->skel, applies opts, enables the programs whose
 * tracepoints exist (the tp_btf or the raw_tp build) and loads. On failure
 * t->skel is NULL and errbuf says why. */
static int open_and_load(struct access_tracker *t, const struct access_tracker_opts *o,
			 const struct btf *vmlinux, int btf, char *errbuf, size_t errlen)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts, .btf_custom_path = o->btf_path);
	int r;

	t->skel = access_bpf__open_opts(&open_opts);
	if (!t->skel) {
		r = -errno;
		set_err(errbuf, errlen, "access tracker: cannot open the BPF object: %s",
			strerror(-r));
		return r;
	}

	struct access_bpf__rodata *ro = t->skel->rodata;
	ro->stream_min_pages = OR_DEFAULT(o->stream_min_pages, DEFAULT_STREAM_MIN_PAGES);
	ro->stream_advance_pages =
	    OR_DEFAULT(o->stream_advance_pages, DEFAULT_STREAM_ADVANCE_PAGES);
	ro->stream_gap_pages = OR_DEFAULT(o->stream_gap_pages, DEFAULT_STREAM_GAP_PAGES);
	ro->heat_half_life_ns = t->heat_half_life_ns;
	uint32_t interval_ms = OR_DEFAULT(o->heat_interval_ms, DEFAULT_HEAT_INTERVAL_MS);
	ro->heat_interval_ns = interval_ms == UINT32_MAX ? 0 : (uint64_t)interval_ms * 1000000ull;
	ro->page_shift = (__u32)__builtin_ctzl((unsigned long)t->page_size);
	ro->coalesce_pages = OR_DEFAULT(o->coalesce_pages, DEFAULT_COALESCE_PAGES);
	ro->self_tgid = (__u32)getpid();
	ro->ring_wake_bytes = OR_DEFAULT(o->ring_bytes, DEFAULT_RING_BYTES) / 4;
	ro->ring_wake_gap_ns = WAIT_MS * 1000000ull;

	struct {
		struct bpf_map *map;
		uint32_t size;
	} sizes[] = {
	    {t->skel->maps.files, OR_DEFAULT(o->max_files, DEFAULT_MAX_FILES)},
	    {t->skel->maps.cgroup_stats, OR_DEFAULT(o->max_cgroups, DEFAULT_MAX_CGROUPS)},
	    {t->skel->maps.events, OR_DEFAULT(o->ring_bytes, DEFAULT_RING_BYTES)},
	};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		r = bpf_map__set_max_entries(sizes[i].map, sizes[i].size);
		if (r < 0) {
			set_err(errbuf, errlen, "access tracker: cannot size map %s: %s",
				bpf_map__name(sizes[i].map), strerror(-r));
			goto err;
		}
	}

	for (size_t i = 0; i < N_PROGS; i++) {
		const struct prog_desc *d = &prog_descs[i];
		struct bpf_link **link;
		char name[128];
		snprintf(name, sizeof(name), "btf_trace_%s", d->tracepoint);
		int exists = btf__find_by_name_kind(vmlinux, name, BTF_KIND_TYPEDEF) >= 0;
		if (!exists && d->required) {
			r = -ENOTSUP;
			set_err(errbuf, errlen,
				"access tracker: kernel has no tracepoint %s (needs Linux 6.11 or "
				"later)",
				d->tracepoint);
			goto err;
		}
		if (!exists)
			log_debug("access tracker: kernel has no tracepoint %s; going without it",
				  d->tracepoint);
		struct bpf_program *mine = prog_of(t->skel, d->bit, btf, &link);
		struct bpf_program *other = prog_of(t->skel, d->bit, !btf, &link);
		if (other != mine)
			bpf_program__set_autoload(other, false);
		bpf_program__set_autoload(mine, exists);
	}
	/* the syscall-exit programs read through BTF pointers: with the tp_btf build only */
	struct bpf_program *sx[N_SYSCALL_EXITS];
	struct bpf_link **link_unused;
	syscall_exit_progs(t->skel, sx);
	for (size_t i = 0; i < N_SYSCALL_EXITS; i++)
		bpf_program__set_autoload(
		    sx[i], btf && bpf_program__autoload(
				      prog_of(t->skel, ACCESS_PROG_PASSTHROUGH, 1, &link_unused)));

	r = access_bpf__load(t->skel);
	if (r < 0) {
		if (r == -EPERM)
			set_err(errbuf, errlen,
				"access tracker: loading BPF programs: %s (needs root, or CAP_BPF, "
				"CAP_PERFMON and CAP_SYS_RESOURCE)",
				strerror(-r));
		else
			set_err(errbuf, errlen,
				"access tracker: loading BPF programs: %s (libbpf's reasons are "
				"logged at debug)",
				strerror(-r));
		goto err;
	}
	return 0;

err:
	access_bpf__destroy(t->skel);
	t->skel = NULL;
	return r;
}

/* The reading syscalls' exit tracepoints (syscalls/sys_exit_*) are perf events whose ids libbpf
 * reads from tracefs; a fresh machine or a node container may not have it mounted, and without it
 * passthrough reads of a tmpfs tier fall back to the raw sys_exit program, which runs at every
 * syscall of the node. Mounts tracefs where the kernel puts it when neither of libbpf's paths has
 * it; a failure only costs that fallback. */
static void tracefs_ensure(void)
{
	static const char *const events[] = {"/sys/kernel/tracing/events",
					     "/sys/kernel/debug/tracing/events"};
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
		if (access(events[i], F_OK) == 0)
			return;
	if (mount("tracefs", "/sys/kernel/tracing", "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL) == 0)
		log_info("access tracker: mounted tracefs on /sys/kernel/tracing (syscall "
			 "tracepoints need it)");
	else
		log_debug("access tracker: tracefs is not mounted and mounting it failed (%s): "
			  "passthrough reads of a tmpfs tier are counted at every syscall's exit",
			  strerror(errno));
}

int access_tracker_new(const struct access_tracker_opts *opts, struct access_tracker **ret,
		       char *errbuf, size_t errlen)
{
	static const struct access_tracker_opts no_opts;
	const struct access_tracker_opts *o = opts ? opts : &no_opts;
	long page = sysconf(_SC_PAGESIZE);
	struct btf *vmlinux = NULL;
	int r;

	if (page <= 0 || (page & (page - 1)))
		page = 4096;
	r = check_opts(o, page, errbuf, errlen);
	if (r < 0)
		return r;

	struct access_tracker *t = calloc(1, sizeof(*t));
	if (!t) {
		set_err(errbuf, errlen, "access tracker: out of memory");
		return -ENOMEM;
	}
	t->on_stream = o->on_stream;
	t->on_heat = o->on_heat;
	t->userdata = o->userdata;
	t->page_size = (size_t)page;
	pthread_mutex_init(&t->pt_lock, NULL);
	pthread_cond_init(&t->pt_detached, NULL);
	t->heat_half_life_ns =
	    (uint64_t)OR_DEFAULT(o->heat_half_life_ms, DEFAULT_HEAT_HALF_LIFE_MS) * 1000000ull;
	t->ncpus = libbpf_num_possible_cpus();
	if (t->ncpus <= 0) {
		r = t->ncpus < 0 ? t->ncpus : -EINVAL;
		set_err(errbuf, errlen, "access tracker: cannot count possible CPUs: %s",
			strerror(-r));
		goto err_free;
	}

	tracefs_ensure();
	libbpf_set_print(libbpf_print);
	libbpf_loading = 1;

	/* What this kernel has: every tracepoint has a btf_trace_<name> typedef. */
	vmlinux = o->btf_path ? btf__parse(o->btf_path, NULL) : btf__load_vmlinux_btf();
	if (!vmlinux) {
		r = -errno;
		set_err(errbuf, errlen, "access tracker: cannot read kernel BTF %s: %s",
			o->btf_path ? o->btf_path : "/sys/kernel/btf/vmlinux", strerror(-r));
		if (r == -ENOENT)
			r = -ENOTSUP;
		goto err_free;
	}

	/* tp_btf first: its loads are plain memory reads, cheaper than raw_tp's
	 * probe reads on every read(2) of the node. */
	r = o->no_tp_btf ? -ENOEXEC : open_and_load(t, o, vmlinux, 1, errbuf, errlen);
	if (r < 0 && r != -EPERM && r != -ENOTSUP) {
		log_debug("access tracker: tp_btf programs refused (%s); trying raw_tp",
			  strerror(-r));
		r = open_and_load(t, o, vmlinux, 0, errbuf, errlen);
	} else if (r == 0) {
		t->programs |= ACCESS_PROG_BTF;
	}
	if (r < 0)
		goto err_btf;

	for (size_t i = 0; i < N_PROGS; i++) {
		const struct prog_desc *d = &prog_descs[i];
		struct bpf_link **link;
		struct bpf_program *p =
		    prog_of(t->skel, d->bit, t->programs & ACCESS_PROG_BTF, &link);
		if (!bpf_program__autoload(p))
			continue;
		if (d->bit == ACCESS_PROG_PASSTHROUGH) {
			t->pt_prog = p; /* attached while held */
			t->programs |= d->bit;
			continue;
		}
		if (d->bit == ACCESS_PROG_PMD_ENTRY || d->bit == ACCESS_PROG_PMD) {
			t->pmd_prog[d->bit == ACCESS_PROG_PMD] = p; /* attached while held */
			t->programs |= d->bit;
			continue;
		}
		struct bpf_link *l = bpf_program__attach(p);
		if (!l) {
			r = -errno;
			if (d->required) {
				set_err(errbuf, errlen, "access tracker: attaching to %s: %s",
					d->tracepoint, strerror(-r));
				goto err_skel;
			}
			log_debug("access tracker: cannot attach to %s: %s; going without it",
				  d->tracepoint, strerror(-r));
			continue;
		}
		*link = l;
		t->programs |= d->bit;
	}

	if (t->pt_prog && (t->programs & ACCESS_PROG_BTF)) {
		syscall_exit_progs(t->skel, t->pt_sys);
		if (!bpf_program__autoload(t->pt_sys[0]))
			memset(t->pt_sys, 0, sizeof(t->pt_sys));
	}
	if (t->pt_prog && o->link_holder_exe) {
		r = link_holder_start(o->link_holder_exe, &t->holder);
		if (r < 0)
			log_warn("access tracker: no link holder (%s): a weir-node killed while a "
				 "MEM-tier file is open in passthrough takes ~0.6 s more to die",
				 strerror(-r));
	}

	t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.events), on_ring_record, t, NULL);
	if (!t->rb) {
		r = -errno;
		set_err(errbuf, errlen, "access tracker: cannot set up the ring buffer: %s",
			strerror(-r));
		goto err_skel;
	}
	btf__free(vmlinux);
	libbpf_loading = 0;
	*ret = t;
	return 0;

err_skel:
	link_holder_free(t->holder);
	access_bpf__destroy(t->skel);
err_btf:
	btf__free(vmlinux);
err_free:
	pthread_cond_destroy(&t->pt_detached);
	pthread_mutex_destroy(&t->pt_lock);
	free(t);
	libbpf_loading = 0;
	return r;
}

static void *link_destroy_thread(void *arg)
{
	bpf_link__destroy(arg);
	return NULL;
}

/* Destroys links (NULLs skipped) at once, each on a thread of its own: releasing a syscall
 * program's link waits for an RCU tasks-trace grace period, and waits that overlap share one
 * (8 links: ~70 ms instead of ~560 ms one after the other). No lock held. */
static void links_destroy(struct bpf_link **links, size_t n)
{
	pthread_t th[N_SYSCALL_EXITS + 1];
	bool started[N_SYSCALL_EXITS + 1] = {false};
	if (n > N_SYSCALL_EXITS + 1)
		n = N_SYSCALL_EXITS + 1;
	for (size_t i = 0; i < n; i++)
		if (links[i] && pthread_create(&th[i], NULL, link_destroy_thread, links[i]) == 0)
			started[i] = true;
	for (size_t i = 0; i < n; i++) {
		if (started[i])
			pthread_join(th[i], NULL);
		else
			bpf_link__destroy(links[i]); /* no thread: here */
	}
}

void access_tracker_free(struct access_tracker *t)
{
	if (!t)
		return;
	ring_buffer__free(t->rb);
	/* a detach under way ends first (its thread uses t) */
	pthread_mutex_lock(&t->pt_lock);
	while (t->pt_detaching)
		pthread_cond_wait(&t->pt_detached, &t->pt_lock);
	bool join = t->pt_detacher_joinable;
	pthread_mutex_unlock(&t->pt_lock);
	if (join)
		pthread_join(t->pt_detacher, NULL);
	struct bpf_link *links[N_SYSCALL_EXITS + 1];
	size_t n = 0;
	links[n++] = t->pt_link;
	for (size_t i = 0; i < N_SYSCALL_EXITS; i++)
		links[n++] = t->pt_sys_link[i];
	links_destroy(links, n);
	link_holder_free(t->holder); /* it lets go of its copies on its own */
	bpf_link__destroy(t->pmd_link[1]);
	bpf_link__destroy(t->pmd_link[0]);
	access_bpf__destroy(t->skel);
	pthread_cond_destroy(&t->pt_detached);
	pthread_mutex_destroy(&t->pt_lock);
	free(t);
}

/* One more or one fewer entry in "backing" for a tier file on device kdev: the programs skip
 * the map for files of a kind (block device or not) it has none of. Under pt_lock. */
static void backing_count_locked(struct access_tracker *t, __u32 kdev, int delta)
{
	volatile __u32 *n =
	    (kdev >> 20) ? &t->skel->bss->backing_nonanon : &t->skel->bss->backing_anon;
	*n += (__u32)delta;
}

/* An entry of "backing" went or names another view file: the runs that took their view file
 * from it (access_pending.backed) look it up again. Under pt_lock. */
static void backing_gen_bump_locked(struct access_tracker *t)
{
	__u32 g = t->skel->bss->backing_gen + 1;
	t->skel->bss->backing_gen = g == UINT32_MAX ? 0 : g; /* the programs add 1: never 0 */
}

/* Writes b for the tier file key (deletes the entry when no slot is in use); had: it was in the
 * map; moved: a slot changed its meaning. Under pt_lock. */
static int backing_store_locked(struct access_tracker *t, const struct access_file_key *key,
				const struct access_backing *b, bool had, bool moved)
{
	struct bpf_map *m = t->skel->maps.backing;
	int r;
	if (backing_empty(b)) {
		if (!had)
			return 0;
		r = bpf_map__delete_elem(m, key, sizeof(*key), 0);
		if (r == 0) {
			backing_count_locked(t, key->dev, -1);
			backing_gen_bump_locked(t);
		}
		return r;
	}
	if (!had)
		backing_count_locked(t, key->dev, 1); /* before the programs can find it */
	struct access_backing v = *b;
	v.key_ino = key->ino;
	v.key_dev = key->dev;
	r = bpf_map__update_elem(m, key, sizeof(*key), &v, sizeof(v), BPF_ANY);
	if (r < 0 && !had)
		backing_count_locked(t, key->dev, -1);
	if (r == 0 && had && moved)
		backing_gen_bump_locked(t);
	return r;
}

/* Registers (hold) or unregisters one passthrough open of the tier file key as view file
 * (vdev, view_ino), opened by a process of cgroup cg. Under pt_lock. */
static int backing_update_locked(struct access_tracker *t, const struct access_file_key *key,
				 int hold, __u32 vdev, uint64_t view_ino, uint64_t cg)
{
	struct bpf_map *m = t->skel->maps.backing;
	struct access_backing b = {0};
	bool have = bpf_map__lookup_elem(m, key, sizeof(*key), &b, sizeof(b), 0) == 0;
	int moved;

	if (!hold) {
		if (!have)
			return 0; /* its view was removed meanwhile */
		moved = backing_slot_release(&b, vdev, view_ino, cg);
	} else {
		moved = backing_slot_hold(&b, vdev, view_ino, cg);
		if (moved < 0)
			return moved;
	}
	return backing_store_locked(t, key, &b, have, moved > 0);
}

/* Attaches the programs on the reading syscalls' exits, all or none. Under pt_lock. On a
 * failure after some attached, their links are moved to undo (N_SYSCALL_EXITS slots, the rest
 * NULL), for the caller to release with links_destroy once it has let go of pt_lock (each
 * release waits for a grace period, see pt_lock). */
static int pt_sys_attach_locked(struct access_tracker *t, struct bpf_link **undo)
{
	if (!t->pt_sys[0] || t->pt_sys_failed)
		return -ENOTSUP;
	for (size_t i = 0; i < N_SYSCALL_EXITS; i++) {
		t->pt_sys_link[i] = bpf_program__attach(t->pt_sys[i]);
		if (!t->pt_sys_link[i]) {
			int r = -errno;
			log_debug("access tracker: cannot attach %s: %s; counting at sys_exit",
				  bpf_program__section_name(t->pt_sys[i]), strerror(-r));
			for (size_t j = 0; j < N_SYSCALL_EXITS; j++) {
				undo[j] = t->pt_sys_link[j];
				t->pt_sys_link[j] = NULL;
			}
			/* one that attached before a later one failed: not tried again (each
			 * try would cost the release of those), sys_exit from now on */
			if (undo[0]) {
				t->pt_sys_failed = true;
				log_notice("access tracker: %s did not attach after others had: "
					   "passthrough reads from MEM tiers are counted at every "
					   "syscall's exit from now on (sys_exit; ~100 ns each)",
					   bpf_program__section_name(t->pt_sys[i]));
			}
			return r;
		}
	}
	return 0;
}

/* Gives the holder duplicates of the syscall programs' links just attached: a weir-node killed
 * now is not the one to release them. Without a holder they are released where they are, as
 * before. Under pt_lock (a message that never blocks). */
static void pt_hand_to_holder_locked(struct access_tracker *t)
{
	if (!t->holder)
		return;
	int fds[N_SYSCALL_EXITS + 1];
	unsigned n = 0;
	if (t->pt_link)
		fds[n++] = bpf_link__fd(t->pt_link);
	for (size_t i = 0; i < N_SYSCALL_EXITS; i++)
		if (t->pt_sys_link[i])
			fds[n++] = bpf_link__fd(t->pt_sys_link[i]);
	int r = link_holder_keep(t->holder, fds, n);
	if (r < 0)
		log_debug(
		    "access tracker: the syscall programs' links stay with weir-node only: %s",
		    strerror(-r));
}

/* Attaches the PMD programs if they are loaded and not attached: the fault entry first, so the
 * RSS program never sees a fault whose start it missed. A failure leaves PMD mappings uncounted,
 * not the open refused. Under pt_lock. */
static void pmd_attach_locked(struct access_tracker *t)
{
	if (!t->pmd_prog[0] || !t->pmd_prog[1] || t->pmd_link[0])
		return;
	t->pmd_link[0] = bpf_program__attach(t->pmd_prog[0]);
	if (t->pmd_link[0])
		t->pmd_link[1] = bpf_program__attach(t->pmd_prog[1]);
	if (!t->pmd_link[1]) {
		log_debug("access tracker: cannot attach the PMD mapping programs: %s; folios "
			  "mapped by PMD go uncounted",
			  strerror(errno));
		bpf_link__destroy(t->pmd_link[0]);
		t->pmd_link[0] = NULL;
	}
}

int access_tracker_passthrough_hold(struct access_tracker *t, int hold, dev_t view_dev,
				    uint64_t view_ino, uint64_t cgroup_id, int tier_fd)
{
	struct access_file_key key = {0};
	struct bpf_link *undo[N_SYSCALL_EXITS] = {NULL}; /* released without pt_lock */
	struct stat st;
	struct statfs sfs;
	__u32 vdev;
	int r = dev_to_kernel(view_dev, &vdev);

	if (r < 0)
		return r;
	if (fstat(tier_fd, &st) < 0 || fstatfs(tier_fd, &sfs) < 0)
		return -errno;
	r = dev_to_kernel(st.st_dev, &key.dev);
	if (r < 0)
		return r;
	key.ino = st.st_ino;
	/* tmpfs reads pass no filemap tracepoint: counted at sys_exit (see access.bpf.c) */
	int shmem = sfs.f_type == TMPFS_MAGIC;
	if (hold && shmem && !t->pt_prog)
		return -ENOTSUP;

	pthread_mutex_lock(&t->pt_lock);
	if (!hold) {
		backing_update_locked(t, &key, 0, vdev, view_ino, cgroup_id);
		if (shmem && t->pt_holds > 0 && --t->pt_holds == 0)
			t->pt_idle_ns = now_ns();
		if (t->pmd_holds > 0 && --t->pmd_holds == 0)
			t->pmd_idle_ns = now_ns();
		goto out;
	}
	/* a detach under way ends first: attached again meanwhile, its links would count twice */
	while (shmem && t->pt_detaching)
		pthread_cond_wait(&t->pt_detached, &t->pt_lock);
	if (shmem && t->pt_refused) {
		r = -EBUSY;
		goto out;
	}
	if (shmem && !t->pt_link && !t->pt_sys_link[0]) {
		if (pt_sys_attach_locked(t, undo) < 0) {
			if (undo[0]) {
				/* the ones that attached go first, without the lock (other
				 * tmpfs holds wait on pt_detaching as for any detach): left
				 * beside sys_exit, their reads would count twice */
				t->pt_detaching = true;
				pthread_mutex_unlock(&t->pt_lock);
				links_destroy(undo, N_SYSCALL_EXITS);
				pthread_mutex_lock(&t->pt_lock);
				t->pt_detaching = false;
				pthread_cond_broadcast(&t->pt_detached);
			}
			t->pt_link = bpf_program__attach(t->pt_prog);
			if (!t->pt_link) {
				r = -errno;
				goto out;
			}
		}
		pt_hand_to_holder_locked(t);
	}
	r = backing_update_locked(t, &key, 1, vdev, view_ino, cgroup_id);
	if (r < 0)
		goto out; /* an attached sys_exit with no holds expires */
	if (shmem)
		t->pt_holds++;
	t->pmd_holds++;
	pmd_attach_locked(t);
out:
	pthread_mutex_unlock(&t->pt_lock);
	return r;
}

/* The syscall programs' links taken out of the tracker, being released (detach_main). */
struct detach_job {
	struct access_tracker *t;
	struct bpf_link *links[N_SYSCALL_EXITS + 1];
	size_t n;
};

/* Releases a job's links (ours first, then the holder's copies), then lets the next attach
 * go on (pt_detaching). No lock held while releasing: it takes ~70-600 ms. */
static void *detach_main(void *arg)
{
	struct detach_job *job = arg;
	struct access_tracker *t = job->t;
	uint64_t t0 = now_ns();
	links_destroy(job->links, job->n);
	/* the links' last holder now (ours are closed): it lets go, and then they are gone */
	int r = t->holder ? link_holder_drop(t->holder, 5000) : 0;
	if (r == 1)
		log_warn("access tracker: the link holder did not let go of the syscall programs "
			 "within 5 s: ended it");
	else if (r < 0)
		log_err(
		    "access tracker: the syscall programs' link holder was killed but some of "
		    "its processes still live: passthrough from MEM tiers stops (their files are "
		    "read through the views), so that no read counts twice");
	log_debug("access tracker: syscall programs detached in %.1f ms",
		  (double)(now_ns() - t0) / 1e6);
	free(job);
	pthread_mutex_lock(&t->pt_lock);
	if (r < 0)
		t->pt_refused = true;
	t->pt_detaching = false;
	pthread_cond_broadcast(&t->pt_detached);
	pthread_mutex_unlock(&t->pt_lock);
	return NULL;
}

void access_tracker_passthrough_expire(struct access_tracker *t, unsigned idle_ms)
{
	struct detach_job *job = NULL;
	pthread_t done;
	memset(&done, 0, sizeof(done));
	bool join = false;
	pthread_mutex_lock(&t->pt_lock);
	if (t->pt_detacher_joinable && !t->pt_detaching) {
		done = t->pt_detacher; /* finished: joined below, without the lock */
		t->pt_detacher_joinable = false;
		join = true;
	}
	if ((t->pt_link || t->pt_sys_link[0]) && t->pt_holds == 0 && !t->pt_detaching &&
	    !t->pt_detacher_joinable && now_ns() - t->pt_idle_ns >= idle_ms * 1000000ull &&
	    (job = calloc(1, sizeof(*job)))) {
		/* taken out here, released by detach_main without the lock (see pt_lock) */
		job->t = t;
		job->links[job->n++] = t->pt_link;
		t->pt_link = NULL;
		for (size_t i = 0; i < N_SYSCALL_EXITS; i++) {
			job->links[job->n++] = t->pt_sys_link[i];
			t->pt_sys_link[i] = NULL;
		}
		t->pt_detaching = true;
	}
	if (t->pmd_link[0] && t->pmd_holds == 0 &&
	    now_ns() - t->pmd_idle_ns >= idle_ms * 1000000ull) {
		bpf_link__destroy(t->pmd_link[1]);
		bpf_link__destroy(t->pmd_link[0]);
		t->pmd_link[0] = t->pmd_link[1] = NULL;
	}
	pthread_mutex_unlock(&t->pt_lock);
	if (join)
		pthread_join(done, NULL);
	if (!job)
		return;
	/* on a thread of its own: the caller (the tracker's event loop) reads on meanwhile */
	pthread_t th;
	if (pthread_create(&th, NULL, detach_main, job) != 0) {
		detach_main(job);
		return;
	}
	pthread_mutex_lock(&t->pt_lock);
	t->pt_detacher = th;
	t->pt_detacher_joinable = true;
	pthread_mutex_unlock(&t->pt_lock);
}

int access_tracker_passthrough_attached(struct access_tracker *t)
{
	pthread_mutex_lock(&t->pt_lock);
	int r = t->pt_link != NULL || t->pt_sys_link[0] != NULL;
	pthread_mutex_unlock(&t->pt_lock);
	return r;
}

unsigned access_tracker_programs(const struct access_tracker *t)
{
	return t->programs;
}

size_t access_tracker_page_size(const struct access_tracker *t)
{
	return t->page_size;
}

/* Every CPU's pending run (reads not yet counted in the maps), into an array of t->ncpus
 * (owned by the caller). Returns it or NULL. */
static struct access_pending *pending_get(struct access_tracker *t)
{
	size_t sz = (size_t)t->ncpus * sizeof(struct access_pending);
	struct access_pending *p = malloc(sz);
	__u32 zero = 0;
	if (p && bpf_map__lookup_elem(t->skel->maps.pending, &zero, sizeof(zero), p, sz, 0) < 0) {
		free(p);
		return NULL;
	}
	return p;
}

/* A view was added or removed: the programs stop taking a pending run's view id for its device
 * (see views_gen in access.bpf.c). Called before and after the change of "watch_devs", so that a
 * program that looked the device up before the change and reads the generation after it cannot
 * keep the old view. Pending runs are the kernel's alone: a run of a removed view keeps its
 * pages, counted when it ends (rewriting the per-CPU array from a snapshot would drop or repeat
 * the reads the programs add meanwhile, any view's). */
static void views_gen_bump(struct access_tracker *t)
{
	__atomic_add_fetch(&t->skel->bss->views_gen, 1, __ATOMIC_SEQ_CST);
}

int access_tracker_add_view(struct access_tracker *t, dev_t dev, uint32_t view_id)
{
	__u32 kdev;
	int r = dev_to_kernel(dev, &kdev);
	if (r < 0)
		return r;

	size_t sz = (size_t)t->ncpus * sizeof(struct access_view_stats);
	void *zero = calloc(1, sz);
	if (!zero)
		return -ENOMEM;
	r = bpf_map__update_elem(t->skel->maps.view_stats, &view_id, sizeof(view_id), zero, sz,
				 BPF_NOEXIST);
	free(zero);
	if (r < 0 && r != -EEXIST)
		return r;
	/* Before the device is watched: its reads must not be dropped by the major-0 shortcut. */
	if ((kdev >> 20) != 0)
		t->skel->bss->watch_nonanon = 1;
	views_gen_bump(t);
	r = bpf_map__update_elem(t->skel->maps.watch_devs, &kdev, sizeof(kdev), &view_id,
				 sizeof(view_id), BPF_ANY);
	views_gen_bump(t);
	return r < 0 ? r : 0;
}

int access_tracker_remove_view(struct access_tracker *t, dev_t dev)
{
	__u32 kdev;
	int r = dev_to_kernel(dev, &kdev);
	if (r < 0)
		return r;
	__u32 view_id;
	int have_id = bpf_map__lookup_elem(t->skel->maps.watch_devs, &kdev, sizeof(kdev), &view_id,
					   sizeof(view_id), 0) == 0;
	views_gen_bump(t);
	r = bpf_map__delete_elem(t->skel->maps.watch_devs, &kdev, sizeof(kdev), 0);
	views_gen_bump(t);
	if (r < 0)
		return r;
	/* Its counters go with it: view ids are never reused, and "view_stats" (ACCESS_MAX_VIEWS)
	 * kept every view a node ever had until new ones were refused. Its reads still pending on
	 * a CPU find no entry when counted and are dropped; its (view, cgroup) pairs age out of the
	 * LRU "cgroup_stats". */
	if (have_id)
		bpf_map__delete_elem(t->skel->maps.view_stats, &view_id, sizeof(view_id), 0);

	/* Forget the tier files passed through from it. */
	pthread_mutex_lock(&t->pt_lock);
	struct bpf_map *bmap = t->skel->maps.backing;
	struct access_file_key bkey, bnext;
	struct access_backing bval;
	int have_bkey = 0;
	for (;;) {
		/* its slots go; an entry left with none is deleted */
		struct access_file_key del[256];
		struct access_backing left[256];
		size_t n = 0;
		while (n < sizeof(del) / sizeof(del[0]) &&
		       bpf_map__get_next_key(bmap, have_bkey ? &bkey : NULL, &bnext,
					     sizeof(bnext)) == 0) {
			bkey = bnext;
			have_bkey = 1;
			if (bpf_map__lookup_elem(bmap, &bnext, sizeof(bnext), &bval, sizeof(bval),
						 0) < 0)
				continue;
			bool mine = false;
			for (int i = 0; i < ACCESS_BACKING_SLOTS; i++)
				if (bval.slot[i].opens && bval.slot[i].dev == kdev) {
					bval.slot[i] = (struct access_backing_slot){0};
					mine = true;
				}
			if (!mine)
				continue;
			backing_settle(&bval);
			del[n] = bnext;
			left[n++] = bval;
		}
		for (size_t i = 0; i < n; i++)
			backing_store_locked(t, &del[i], &left[i], true, true);
		if (n < sizeof(del) / sizeof(del[0]))
			break;
		have_bkey = 0; /* the next pass finds none of these again */
	}
	pthread_mutex_unlock(&t->pt_lock);

	/* Forget the files: deleting while walking may restart the walk, so
	 * collect a batch of keys first. */
	struct bpf_map *files = t->skel->maps.files;
	struct access_file_key keys[256], key, next;
	int have_key = 0;
	for (;;) {
		size_t n = 0;
		while (n < sizeof(keys) / sizeof(keys[0]) &&
		       bpf_map__get_next_key(files, have_key ? &key : NULL, &next, sizeof(next)) ==
			   0) {
			key = next;
			have_key = 1;
			if (next.dev == kdev)
				keys[n++] = next;
		}
		for (size_t i = 0; i < n; i++)
			bpf_map__delete_elem(files, &keys[i], sizeof(keys[i]), 0);
		if (n < sizeof(keys) / sizeof(keys[0]))
			break;
		have_key = 0; /* the last key may be gone: walk again from the start */
	}
	return 0;
}

int access_tracker_poll(struct access_tracker *t, int timeout_ms)
{
	/* records below the wake threshold are there without having woken the fd: waits at
	 * most a period at a time, and takes what came meanwhile */
	int n = ring_buffer__consume(t->rb);
	if (n != 0)
		return n;
	while (timeout_ms != 0) {
		int step = timeout_ms < 0 || timeout_ms > WAIT_MS ? WAIT_MS : timeout_ms;
		n = ring_buffer__poll(t->rb, step);
		if (n == 0)
			n = ring_buffer__consume(t->rb);
		if (n != 0)
			return n;
		if (timeout_ms > 0)
			timeout_ms -= step;
	}
	return 0;
}

int access_tracker_consume(struct access_tracker *t)
{
	return ring_buffer__consume(t->rb);
}

int access_tracker_fd(const struct access_tracker *t)
{
	return ring_buffer__epoll_fd(t->rb);
}

/* Whether no CPU's pending run changed between the snapshots a and b (either may be NULL). A
 * run is counted into the maps when its thread leaves the CPU, at any time: maps read between
 * two equal snapshots hold none of the pages the snapshot still has pending. */
static int pending_same(const struct access_tracker *t, const struct access_pending *a,
			const struct access_pending *b)
{
	return a && b && memcmp(a, b, (size_t)t->ncpus * sizeof(*a)) == 0;
}

/* Attempts at a consistent read of a map and the pending runs before taking the last one. */
#define PENDING_TRIES 8

/* Reads key's value from map together with the pending runs, retried until the pending runs
 * did not change across the read (at most PENDING_TRIES). On success *ret_pend is the last
 * pending snapshot (owned by the caller, may be NULL); on failure nothing is kept. */
static int lookup_with_pending(struct access_tracker *t, const struct bpf_map *map, const void *key,
			       size_t key_sz, void *val, size_t val_sz,
			       struct access_pending **ret_pend)
{
	struct access_pending *pend = NULL;
	int r = 0;
	for (int i = 0; i < PENDING_TRIES; i++) {
		struct access_pending *before = pending_get(t);
		r = bpf_map__lookup_elem(map, key, key_sz, val, val_sz, 0);
		free(pend);
		pend = pending_get(t);
		int same = pending_same(t, before, pend);
		free(before);
		if (r < 0 || same)
			break;
	}
	if (r < 0) {
		free(pend);
		return r;
	}
	*ret_pend = pend;
	return 0;
}

int access_tracker_view_counters(struct access_tracker *t, uint32_t view_id,
				 struct access_view_counters *ret)
{
	size_t sz = (size_t)t->ncpus * sizeof(struct access_view_stats);
	struct access_view_stats *per_cpu = malloc(sz);
	struct access_pending *pend;
	if (!per_cpu)
		return -ENOMEM;
	int r = lookup_with_pending(t, t->skel->maps.view_stats, &view_id, sizeof(view_id), per_cpu,
				    sz, &pend);
	if (r < 0) {
		free(per_cpu);
		return r;
	}
	struct access_view_counters c = {0};
	for (int i = 0; i < t->ncpus; i++) {
		const struct access_view_stats *s = &per_cpu[i];
		c.read_calls += s->read_calls;
		c.pages_read += s->pages_read;
		c.pages_faulted += s->pages_faulted;
		c.pages_mapped += s->pages_mapped;
		c.pages_added += s->pages_added;
		c.streams_started += s->streams_started;
		c.events += s->events;
		c.events_dropped += s->events_dropped;
		c.pages_passthrough += s->pages_passthrough;
		c.lock_contended += s->lock_contended;
	}
	free(per_cpu);
	for (int i = 0; pend && i < t->ncpus; i++) {
		const struct access_pending *p = &pend[i];
		const struct access_view_stats *tv = &p->tally.v;
		if (p->tally.used && p->tally.view_id == view_id) {
			c.read_calls += tv->read_calls;
			c.pages_read += tv->pages_read;
			c.pages_faulted += tv->pages_faulted;
			c.pages_mapped += tv->pages_mapped;
			c.streams_started += tv->streams_started;
			c.events += tv->events;
			c.events_dropped += tv->events_dropped;
			c.pages_passthrough += tv->pages_passthrough;
			c.lock_contended += tv->lock_contended;
		}
		if (!p->tid || p->view_id != view_id)
			continue;
		uint64_t pages = p->pages;
		c.read_calls += p->reads;
		c.pages_read += pages;
		if (p->source == ACCESS_SRC_PASSTHROUGH)
			c.pages_passthrough += pages;
	}
	free(pend);
	c.bytes_read = c.pages_read * t->page_size;
	c.bytes_passthrough = c.pages_passthrough * t->page_size;
	*ret = c;
	return 0;
}

static void fill_heat(const struct access_tracker *t, const struct access_file_key *k,
		      const struct access_file_state *st, uint64_t now, struct access_file_heat *h)
{
	*h = (struct access_file_heat){
	    .ino = k->ino,
	    .dev = dev_from_kernel(k->dev),
	    .view_id = st->view_id,
	    .heat = heat_at(t, st->heat, st->decay_ns, now),
	    .pages_total = st->pages_total,
	    .last_access_ns = st->last_ns,
	    .last_cgroup_id = st->cgroup_id,
	};
	for (int i = 0; i < ACCESS_STREAM_SLOTS; i++)
		h->streams_active += st->slots[i].active ? 1 : 0;
	h->next_page = st->slots[st->last_slot % ACCESS_STREAM_SLOTS].next_page;
}

/* Adds to h the reads of its file that CPUs hold in their pending runs, not yet counted in
 * "files" (up to coalesce_pages each), so a file's figures are as exact as the view's. */
static void pending_fold(const struct access_tracker *t, const struct access_pending *pend,
			 const struct access_file_key *k, struct access_file_heat *h)
{
	for (int i = 0; pend && i < t->ncpus; i++) {
		const struct access_pending *p = &pend[i];
		if (!p->tid || p->dev != k->dev || p->ino != k->ino || !p->pages)
			continue;
		h->pages_total += p->pages;
		h->heat += (double)p->pages;
		/* the run goes on from the one the file's last access belonged to */
		if (p->first_page <= h->next_page && p->next_page > h->next_page)
			h->next_page = p->next_page;
	}
}

int access_tracker_file_heat(struct access_tracker *t, dev_t dev, uint64_t ino,
			     struct access_file_heat *ret)
{
	struct access_file_key k = {.ino = ino};
	struct access_file_state st;
	struct access_pending *pend;
	int r = dev_to_kernel(dev, &k.dev);
	if (r < 0)
		return r;
	r = lookup_with_pending(t, t->skel->maps.files, &k, sizeof(k), &st, sizeof(st), &pend);
	if (r < 0)
		return r;
	struct access_file_heat h;
	fill_heat(t, &k, &st, now_ns(), &h);
	pending_fold(t, pend, &k, &h);
	free(pend);
	*ret = h;
	return 0;
}

int access_tracker_foreach_file(struct access_tracker *t, uint32_t view_id,
				int (*cb)(void *userdata, const struct access_file_heat *heat),
				void *userdata)
{
	struct bpf_map *files = t->skel->maps.files;
	struct access_file_key key, next;
	struct access_file_state st;
	uint64_t now = now_ns();
	int have_key = 0, n = 0;
	struct access_pending *pend = pending_get(t);

	while (bpf_map__get_next_key(files, have_key ? &key : NULL, &next, sizeof(next)) == 0) {
		key = next;
		have_key = 1;
		if (bpf_map__lookup_elem(files, &key, sizeof(key), &st, sizeof(st), 0) < 0)
			continue; /* evicted meanwhile */
		if (view_id != UINT32_MAX && st.view_id != view_id)
			continue;
		struct access_file_heat h;
		fill_heat(t, &key, &st, now, &h);
		pending_fold(t, pend, &key, &h);
		n++;
		if (cb(userdata, &h) != 0)
			break;
	}
	free(pend);
	return n;
}

/* Adds to c the pending runs and tallies of its (view, cgroup) and marks them used (tid = 0,
 * tally.used = 0 in pend). */
static void pending_add(const struct access_tracker *t, struct access_pending *pend,
			struct access_cgroup_counters *c)
{
	for (int i = 0; pend && i < t->ncpus; i++) {
		struct access_pending *p = &pend[i];
		const struct access_view_stats *tv = &p->tally.v;
		if (p->tally.used && p->tally.view_id == c->view_id &&
		    p->tally.cgroup_id == c->cgroup_id) {
			c->read_calls += tv->read_calls;
			c->pages_read += tv->pages_read;
			c->pages_faulted += tv->pages_faulted;
			c->pages_mapped += tv->pages_mapped;
			c->pages_passthrough += tv->pages_passthrough;
			p->tally.used = 0;
		}
		if (!p->tid || p->view_id != c->view_id || p->cgroup_id != c->cgroup_id)
			continue;
		uint64_t pages = p->pages;
		c->read_calls += p->reads;
		c->pages_read += pages;
		if (p->source == ACCESS_SRC_PASSTHROUGH)
			c->pages_passthrough += pages;
		p->tid = 0;
	}
}

int access_tracker_foreach_cgroup(struct access_tracker *t, uint32_t view_id,
				  int (*cb)(void *userdata, const struct access_cgroup_counters *c),
				  void *userdata)
{
	struct bpf_map *map = t->skel->maps.cgroup_stats;
	size_t sz = (size_t)t->ncpus * sizeof(struct access_cgroup_stats);
	struct access_cgroup_stats *per_cpu = malloc(sz);
	struct access_cgroup_key key, next;
	int have_key = 0, n = 0;

	if (!per_cpu)
		return -ENOMEM;
	struct access_pending *pend = pending_get(t);
	while (bpf_map__get_next_key(map, have_key ? &key : NULL, &next, sizeof(next)) == 0) {
		key = next;
		have_key = 1;
		if (view_id != UINT32_MAX && key.view_id != view_id)
			continue;
		if (bpf_map__lookup_elem(map, &key, sizeof(key), per_cpu, sz, 0) < 0)
			continue;
		struct access_cgroup_counters c = {.cgroup_id = key.cgroup_id,
						   .view_id = key.view_id};
		for (int i = 0; i < t->ncpus; i++) {
			c.read_calls += per_cpu[i].read_calls;
			c.pages_read += per_cpu[i].pages_read;
			c.pages_faulted += per_cpu[i].pages_faulted;
			c.pages_mapped += per_cpu[i].pages_mapped;
			c.pages_passthrough += per_cpu[i].pages_passthrough;
		}
		pending_add(t, pend, &c);
		n++;
		if (cb(userdata, &c) != 0)
			goto out;
	}
	/* runs and tallies of (view, cgroup) pairs not in the map yet */
	for (int i = 0; pend && i < t->ncpus; i++) {
		if (pend[i].tally.used &&
		    (view_id == UINT32_MAX || pend[i].tally.view_id == view_id)) {
			struct access_cgroup_counters c = {.cgroup_id = pend[i].tally.cgroup_id,
							   .view_id = pend[i].tally.view_id};
			pending_add(t, pend, &c);
			n++;
			if (cb(userdata, &c) != 0)
				break;
		}
		if (!pend[i].tid || !pend[i].pages ||
		    (view_id != UINT32_MAX && pend[i].view_id != view_id))
			continue;
		struct access_cgroup_counters c = {.cgroup_id = pend[i].cgroup_id,
						   .view_id = pend[i].view_id};
		pending_add(t, pend, &c);
		n++;
		if (cb(userdata, &c) != 0)
			break;
	}
out:
	free(pend);
	free(per_cpu);
	return n;
}

#else /* !WEIR_HAVE_BPF */

struct access_tracker {
	int unused;
};

int access_tracker_new(const struct access_tracker_opts *opts, struct access_tracker **ret,
		       char *errbuf, size_t errlen)
{
	set_err(errbuf, errlen, "weir was built without BPF support");
	return -ENOTSUP;
}

void access_tracker_free(struct access_tracker *t)
{
	free(t);
}

unsigned access_tracker_programs(const struct access_tracker *t)
{
	return 0;
}

size_t access_tracker_page_size(const struct access_tracker *t)
{
	return 0;
}

int access_tracker_add_view(struct access_tracker *t, dev_t dev, uint32_t view_id)
{
	return -ENOTSUP;
}

int access_tracker_remove_view(struct access_tracker *t, dev_t dev)
{
	return -ENOTSUP;
}

int access_tracker_passthrough_hold(struct access_tracker *t, int hold, dev_t view_dev,
				    uint64_t view_ino, uint64_t cgroup_id, int tier_fd)
{
	return hold ? -ENOTSUP : 0;
}

void access_tracker_passthrough_expire(struct access_tracker *t, unsigned idle_ms)
{
}

int access_tracker_passthrough_attached(struct access_tracker *t)
{
	return 0;
}

int access_tracker_poll(struct access_tracker *t, int timeout_ms)
{
	return -ENOTSUP;
}

int access_tracker_consume(struct access_tracker *t)
{
	return -ENOTSUP;
}

int access_tracker_fd(const struct access_tracker *t)
{
	return -ENOTSUP;
}

int access_tracker_view_counters(struct access_tracker *t, uint32_t view_id,
				 struct access_view_counters *ret)
{
	return -ENOTSUP;
}

int access_tracker_file_heat(struct access_tracker *t, dev_t dev, uint64_t ino,
			     struct access_file_heat *ret)
{
	return -ENOTSUP;
}

int access_tracker_foreach_file(struct access_tracker *t, uint32_t view_id,
				int (*cb)(void *userdata, const struct access_file_heat *heat),
				void *userdata)
{
	return -ENOTSUP;
}

int access_tracker_foreach_cgroup(struct access_tracker *t, uint32_t view_id,
				  int (*cb)(void *userdata, const struct access_cgroup_counters *c),
				  void *userdata)
{
	return -ENOTSUP;
}

#endif /* WEIR_HAVE_BPF */
