// SPDX-License-Identifier: Apache-2.0
// Paired measurement of what BPF programs cost a warm read: one thread reads FILE in blocks of
// BS (pread, then write to /dev/null, as dd does) in batches; before each batch one
// configuration is attached (nothing, or the programs of one object) and after it detached,
// configurations rotating batch by batch, so that a shared machine's drift hits them alike.
// CPU time of the thread (CLOCK_THREAD_CPUTIME_ID: the kernel's own account, syscalls
// included) per block; each configuration is compared with the "none" batches of its own round.
// Built and run by bench/bpf-overhead.sh, which pins it to one CPU at a real-time priority
// (taskset, chrt -f) so that the machine's other work cannot preempt a batch; it says how it
// runs. Prints one line per configuration: the median and the minimum over the rounds of its
// ns per block, and its overhead against "none": the median and quartiles over the rounds of
// the paired difference, and the ratio of the minimums (the least disturbed batch of each: the
// best estimate of CPU cost where disturbances only ever add) and of their 10th percentiles
// (as much, less at the mercy of one lucky batch).
// With BPF_PAIRED_PROG_STATS=1 in the environment the kernel's per-program statistics are on
// (kernel.bpf_stats_enabled: two clock reads per run, which the block times then include) and
// each program's own ns per run and runs per block are printed after the table: the cost of what
// a program does, apart from the attach point's floor.
// Each object's "events" ring buffer is drained as weir-node's tracker thread does
// (node/tracker.c): a thread on the other CPUs, at normal priority, polls it with a timeout of
// 10 ms (access_tracker_wait_ms()) and consumes what waits. Undrained, the ring filled in the
// first batches and every later record failed to reserve: the records' cost (and their
// wakeups) went unmeasured. BPF_PAIRED_DRAIN=0 keeps that old behaviour, for comparison.
// Usage: bpf_paired FILE BS ROUNDS BATCH_BLOCKS WATCH_DEV NAME=OBJ[:PROG,PROG...]...
//   WATCH_DEV: kernel s_dev to put in an object's "watch_devs" map as view 1 (0: none)
//   NAME= (no object): nothing attached, like "none": the noise of the pairing
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONFIGS 16
#define MAX_LINKS 16

struct config {
	const char *name;
	struct bpf_object *obj; /* NULL: "none" */
	struct bpf_program *progs[MAX_LINKS];
	int nprogs;
	double *ns; /* per round: CPU ns per block */
	/* with BPF_PAIRED_PROG_STATS: each program's run time and runs over all its batches */
	uint64_t run_ns[MAX_LINKS], run_cnt[MAX_LINKS];
};

/* Adds sign * the program's cumulative run time and count to its sums. */
static int prog_stats_add(struct config *c, int j, int sign)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_prog_get_info_by_fd(bpf_program__fd(c->progs[j]), &info, &len) < 0)
		return -errno;
	c->run_ns[j] += (uint64_t)((int64_t)sign * (int64_t)info.run_time_ns);
	c->run_cnt[j] += (uint64_t)((int64_t)sign * (int64_t)info.run_cnt);
	return 0;
}

static int drop_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	(void)data;
	(void)size;
	return 0;
}

struct drainer {
	struct ring_buffer *rb;
	volatile int stop;
	cpu_set_t cpus; /* all but the reader's */
};

/* weir-node's tracker thread: a poll of 10 ms at most, then whatever waits */
static void *drain_thread(void *arg)
{
	struct drainer *d = arg;
	struct sched_param sp = {0};
	pthread_setschedparam(pthread_self(), SCHED_OTHER, &sp);
	pthread_setaffinity_np(pthread_self(), sizeof(d->cpus), &d->cpus);
	while (!d->stop) {
		ring_buffer__poll(d->rb, 10);
		ring_buffer__consume(d->rb);
	}
	return NULL;
}

static uint64_t thread_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double quantile(double *v, int n, double q)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	double pos = q * (n - 1);
	int i = (int)pos;
	return i + 1 < n ? v[i] + (v[i + 1] - v[i]) * (pos - i) : v[i];
}

static int load_config(struct config *c, char *spec, unsigned watch_dev)
{
	char *eq = strchr(spec, '=');
	if (!eq) {
		fprintf(stderr, "bpf_paired: \"%s\" is not NAME=OBJ[:PROGS]\n", spec);
		return -EINVAL;
	}
	*eq = '\0';
	c->name = spec;
	char *path = eq + 1, *progs = strchr(path, ':');
	if (progs)
		*progs++ = '\0';
	if (!*path)
		return 0; /* NAME=: nothing attached, "none" measured again (the noise) */
	c->obj = bpf_object__open_file(path, NULL);
	if (!c->obj) {
		fprintf(stderr, "bpf_paired: cannot open %s: %s\n", path, strerror(errno));
		return -errno;
	}
	struct bpf_program *p;
	if (progs) { /* load the named programs only */
		bpf_object__for_each_program(p, c->obj) bpf_program__set_autoload(p, false);
		for (char *tok = strtok(progs, ","); tok; tok = strtok(NULL, ",")) {
			p = bpf_object__find_program_by_name(c->obj, tok);
			if (!p || c->nprogs == MAX_LINKS) {
				fprintf(stderr, "bpf_paired: no program \"%s\" in %s\n", tok, path);
				return -ENOENT;
			}
			bpf_program__set_autoload(p, true);
			c->progs[c->nprogs++] = p;
		}
	}
	int r = bpf_object__load(c->obj);
	if (r < 0) {
		fprintf(stderr, "bpf_paired: cannot load %s: %s\n", path, strerror(-r));
		return r;
	}
	if (!progs)
		bpf_object__for_each_program(p, c->obj) if (c->nprogs < MAX_LINKS)
		    c->progs[c->nprogs++] = p;
	struct bpf_map *watch = bpf_object__find_map_by_name(c->obj, "watch_devs");
	struct bpf_map *stats = bpf_object__find_map_by_name(c->obj, "view_stats");
	if (watch_dev && watch && stats) { /* the file's device watched as view 1 */
		unsigned view = 1;
		int ncpus = libbpf_num_possible_cpus();
		size_t vsz = (bpf_map__value_size(stats) + 7) / 8 * 8 * (size_t)ncpus;
		void *zero = calloc(1, vsz);
		if (!zero || bpf_map__update_elem(stats, &view, sizeof(view), zero, vsz, 0) < 0 ||
		    bpf_map__update_elem(watch, &watch_dev, sizeof(watch_dev), &view, sizeof(view),
					 0) < 0) {
			fprintf(stderr, "bpf_paired: cannot watch device %u in %s\n", watch_dev,
				path);
			free(zero);
			return -EIO;
		}
		free(zero);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 7) {
		fprintf(stderr, "usage: bpf_paired FILE BS ROUNDS BATCH_BLOCKS WATCH_DEV "
				"NAME=OBJ[:PROG,...]...\n");
		return 2;
	}
	const char *file = argv[1];
	size_t bs = strtoul(argv[2], NULL, 0);
	int rounds = atoi(argv[3]);
	long batch = atol(argv[4]);
	unsigned watch_dev = (unsigned)strtoul(argv[5], NULL, 0);
	struct config cfg[MAX_CONFIGS] = {{.name = "none"}};
	int n = 1;

	if (bs == 0 || rounds < 1 || batch < 1 || argc - 6 + 1 > MAX_CONFIGS) {
		fprintf(stderr, "bpf_paired: bad arguments\n");
		return 2;
	}
	for (int i = 6; i < argc; i++)
		if (load_config(&cfg[n++], argv[i], watch_dev) < 0)
			return 1;
	const char *ps = getenv("BPF_PAIRED_PROG_STATS");
	int prog_stats = ps && strcmp(ps, "1") == 0;
	if (prog_stats && bpf_enable_stats(BPF_STATS_RUN_TIME) < 0) {
		fprintf(stderr, "bpf_paired: cannot enable BPF run-time statistics: %s\n",
			strerror(errno));
		return 1;
	}
	cpu_set_t cpus;
	int policy = sched_getscheduler(0);
	struct sched_param sp;
	if (sched_getaffinity(0, sizeof(cpus), &cpus) < 0 || policy < 0 ||
	    sched_getparam(0, &sp) < 0) {
		fprintf(stderr, "bpf_paired: cannot read its scheduling: %s\n", strerror(errno));
		return 1;
	}
	int cpu = -1;
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &cpus))
			cpu = i;
	printf("reader: %d CPU(s) allowed (last: %d), policy %s priority %d\n", CPU_COUNT(&cpus),
	       cpu,
	       policy == SCHED_FIFO ? "SCHED_FIFO"
	       : policy == SCHED_RR ? "SCHED_RR"
				    : "other",
	       sp.sched_priority);
	const char *de = getenv("BPF_PAIRED_DRAIN");
	struct drainer drainer = {0};
	pthread_t drain_th;
	int drain = !(de && strcmp(de, "0") == 0);
	for (int i = 1; drain && i < n; i++) {
		struct bpf_map *ev =
		    cfg[i].obj ? bpf_object__find_map_by_name(cfg[i].obj, "events") : NULL;
		if (!ev || bpf_map__type(ev) != BPF_MAP_TYPE_RINGBUF)
			continue;
		int r = drainer.rb
			    ? ring_buffer__add(drainer.rb, bpf_map__fd(ev), drop_record, NULL)
			    : 0;
		if (!drainer.rb) {
			drainer.rb = ring_buffer__new(bpf_map__fd(ev), drop_record, NULL, NULL);
			r = drainer.rb ? 0 : -errno;
		}
		if (r < 0) {
			fprintf(stderr, "bpf_paired: cannot drain the ring of %s: %s\n",
				cfg[i].name, strerror(-r));
			return 1;
		}
	}
	if (drainer.rb) {
		CPU_ZERO(&drainer.cpus);
		for (int i = 0; i < libbpf_num_possible_cpus() && i < CPU_SETSIZE; i++)
			if (i != cpu)
				CPU_SET(i, &drainer.cpus);
		if (CPU_COUNT(&drainer.cpus) == 0)
			CPU_SET(cpu, &drainer.cpus);
		if (pthread_create(&drain_th, NULL, drain_thread, &drainer) != 0) {
			fprintf(stderr, "bpf_paired: cannot start the drain thread\n");
			return 1;
		}
	}
	printf("ring buffers: %s\n",
	       drainer.rb ? "drained by a thread on the other CPUs, polling every 10 ms"
	       : drain	  ? "none"
			  : "not drained (BPF_PAIRED_DRAIN=0): full after the first batches");
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || null < 0 || fstat(fd, &st) < 0 || (size_t)st.st_size < bs) {
		fprintf(stderr, "bpf_paired: cannot read %s: %s\n", file, strerror(errno));
		return 1;
	}
	char *buf = aligned_alloc(4096, (bs + 4095) / 4096 * 4096);
	for (int i = 0; i < n; i++)
		cfg[i].ns = calloc((size_t)rounds, sizeof(double));
	off_t off = 0;
	for (int r = 0; r < rounds; r++) {
		for (int k = 0; k < n; k++) {
			struct config *c = &cfg[(k + r) % n];
			struct bpf_link *links[MAX_LINKS];
			for (int j = 0; j < c->nprogs; j++) {
				links[j] = bpf_program__attach(c->progs[j]);
				if (!links[j]) {
					fprintf(stderr, "bpf_paired: cannot attach %s of %s: %s\n",
						bpf_program__name(c->progs[j]), c->name,
						strerror(errno));
					return 1;
				}
			}
			for (int j = 0; prog_stats && j < c->nprogs; j++)
				if (prog_stats_add(c, j, -1) < 0) {
					fprintf(stderr, "bpf_paired: no statistics of %s: %s\n",
						bpf_program__name(c->progs[j]), strerror(errno));
					return 1;
				}
			uint64_t t0 = thread_ns();
			for (long b = 0; b < batch; b++) {
				if (off + (off_t)bs > st.st_size)
					off = 0;
				ssize_t got = pread(fd, buf, bs, off);
				if (got != (ssize_t)bs || write(null, buf, bs) != (ssize_t)bs) {
					fprintf(stderr, "bpf_paired: read of %s at %lld: %s\n",
						file, (long long)off,
						got < 0 ? strerror(errno) : "short");
					return 1;
				}
				off += (off_t)bs;
			}
			c->ns[r] = (double)(thread_ns() - t0) / (double)batch;
			for (int j = 0; prog_stats && j < c->nprogs; j++)
				prog_stats_add(c, j, 1);
			for (int j = 0; j < c->nprogs; j++)
				bpf_link__destroy(links[j]);
		}
	}
	if (drainer.rb) {
		drainer.stop = 1;
		pthread_join(drain_th, NULL);
		ring_buffer__free(drainer.rb);
	}
	/* each configuration against "none" of the same round */
	double *d = calloc((size_t)rounds, sizeof(double));
	double *none = calloc((size_t)rounds, sizeof(double));
	memcpy(none, cfg[0].ns, (size_t)rounds * sizeof(double));
	memcpy(d, none, (size_t)rounds * sizeof(double));
	double none_min = quantile(d, rounds, 0.0), none_p10 = quantile(d, rounds, 0.1);
	printf("%-24s %9s %8s %9s %8s %8s %8s %8s %8s\n", "config", "ns/block", "min", "extra ns",
	       "median", "q1", "q3", "min/min", "p10/p10");
	for (int i = 0; i < n; i++) {
		memcpy(d, cfg[i].ns, (size_t)rounds * sizeof(double));
		double med = quantile(d, rounds, 0.5), min = quantile(d, rounds, 0.0),
		       p10 = quantile(d, rounds, 0.1);
		for (int r = 0; r < rounds; r++)
			d[r] = cfg[i].ns[r] - none[r];
		double extra = quantile(d, rounds, 0.5);
		for (int r = 0; r < rounds; r++)
			d[r] = (cfg[i].ns[r] - none[r]) * 100.0 / none[r];
		double q1 = quantile(d, rounds, 0.25), m = quantile(d, rounds, 0.5),
		       q3 = quantile(d, rounds, 0.75);
		printf("%-24s %9.0f %8.0f %9.1f %7.1f%% %7.1f%% %7.1f%% %7.1f%% %7.1f%%\n",
		       cfg[i].name, med, min, extra, m, q1, q3, (min - none_min) * 100.0 / none_min,
		       (p10 - none_p10) * 100.0 / none_p10);
	}
	for (int i = 0; prog_stats && i < n; i++)
		for (int j = 0; j < cfg[i].nprogs; j++)
			if (cfg[i].run_cnt[j])
				printf("  %-16s %-30s %7.1f ns/run %7.3f runs/block\n", cfg[i].name,
				       bpf_program__name(cfg[i].progs[j]),
				       (double)cfg[i].run_ns[j] / (double)cfg[i].run_cnt[j],
				       (double)cfg[i].run_cnt[j] /
					   ((double)rounds * (double)batch));
	free(d);
	free(none);
	return 0;
}
