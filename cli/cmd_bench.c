// SPDX-License-Identifier: Apache-2.0
// weir bench: training-job access patterns (sharded sequential reads, small files in a new random
// order every epoch, one checkpoint read by every rank) against any directory, interleaved per
// epoch with the directories it is compared to, so the machine's noise hits them all alike.
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_args.h"
#include "bench_gen.h"
#include "bench_perm.h"
#include "bench_report.h"
#include "bench_run.h"
#include "bench_tree.h"
#include "bench_view.h"
#include "commands.h"
#include "quantity.h"

#define MAX_DIRS 16
#define MAX_GENERATE 8
#define MAX_WORKERS 1024
#define MAX_EPOCHS 1000

static void bench_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: weir bench [--workload shards|files|checkpoint|all] [--workers N] [--epochs "
	    "E]\n"
	    "                  [--compare DIR ...] [--drop-caches] [-o table|json] [--plot "
	    "out.png]\n"
	    "                  [--seed N] DIR\n"
	    "       weir bench --generate KIND:COUNTxSIZE [--generate ...] DIR\n"
	    "  files:      N worker processes open, read and close every file of DIR/files (else\n"
	    "              DIR) in a new random order each epoch; files/s, MB/s, p50/p99 per file\n"
	    "  shards:     N workers read whole files of DIR/shards (else DIR) sequentially, in a\n"
	    "              new random order each epoch; MB/s\n"
	    "  checkpoint: N processes read the largest file of DIR/checkpoint (else of the "
	    "shards)\n"
	    "              at once; time to all done and, on a weir view, bytes fetched from the "
	    "UFS\n"
	    "  --workers N     worker processes (default: the number of CPUs)\n"
	    "  --epochs E      epochs (default 3: the first cold, the others warm)\n"
	    "  --compare DIR   run the same workload on DIR too, interleaved per epoch; "
	    "repeatable;\n"
	    "                  FIRST/THIS is DIR's throughput over the compared one's\n"
	    "  --drop-caches   drop the kernel's page cache before each epoch (root only)\n"
	    "  --plot PNG      draw throughput per epoch with gnuplot\n"
	    "  --generate      write a data set (incompressible, reproducible) and exit, e.g.\n"
	    "                  files:100000x110KiB, shards:32x256MiB, checkpoint:1x2GiB;\n"
	    "                  a size range MIN-MAX spreads sizes over it: "
	    "files:20000x4KiB-16KiB\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "weir bench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	fprintf(stderr, "'weir bench --help' lists the options.\n");
	return 2;
}

struct opts {
	unsigned workloads, workers, epochs;
	const char *dirs[MAX_DIRS];
	unsigned ndirs;
	bool drop_caches, json;
	const char *plot;
	uint64_t seed;
	struct bench_gen_spec gen[MAX_GENERATE];
	unsigned ngen;
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
	    {"workload", required_argument, NULL, 'w'},
	    {"workers", required_argument, NULL, 'j'},
	    {"epochs", required_argument, NULL, 'e'},
	    {"compare", required_argument, NULL, 'c'},
	    {"drop-caches", no_argument, NULL, 'd'},
	    {"output", required_argument, NULL, 'o'},
	    {"plot", required_argument, NULL, 'p'},
	    {"generate", required_argument, NULL, 'g'},
	    {"seed", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *compare[MAX_DIRS];
	unsigned ncompare = 0;
	char err[512];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	o->workers = cpus > 0 && cpus <= MAX_WORKERS ? (unsigned)cpus : 4;
	o->workloads = BENCH_ALL;
	o->epochs = 3;
	o->seed = 1;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'w':
			if (bench_args_workload(optarg, &o->workloads) < 0)
				return usage_error("unknown workload \"%s\" (shards, files, "
						   "checkpoint or all)",
						   optarg);
			break;
		case 'j':
		case 'e':
			if (bench_args_count(optarg, c == 'j' ? MAX_WORKERS : MAX_EPOCHS,
					     c == 'j' ? &o->workers : &o->epochs) < 0)
				return usage_error(
				    "--%s \"%s\" must be a whole number from 1 to %d",
				    c == 'j' ? "workers" : "epochs", optarg,
				    c == 'j' ? MAX_WORKERS : MAX_EPOCHS);
			break;
		case 'c':
			if (ncompare + 1 >= MAX_DIRS)
				return usage_error("at most %d --compare directories",
						   MAX_DIRS - 1);
			compare[ncompare++] = optarg;
			break;
		case 'd':
			o->drop_caches = true;
			break;
		case 'o':
			if (strcmp(optarg, "json") == 0)
				o->json = true;
			else if (strcmp(optarg, "table") != 0)
				return usage_error("unknown output \"%s\" (table or json)", optarg);
			break;
		case 'p':
			if (!*optarg)
				return usage_error("--plot needs a file name (out.png)");
			o->plot = optarg;
			break;
		case 'g':
			if (o->ngen >= MAX_GENERATE)
				return usage_error("at most %d --generate specs", MAX_GENERATE);
			if (bench_args_generate(optarg, &o->gen[o->ngen], err, sizeof(err)) < 0)
				return usage_error("%s", err);
			o->ngen++;
			break;
		case 's': {
			char *end;
			errno = 0;
			o->seed = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-')
				return usage_error("--seed \"%s\" must be a whole number", optarg);
			break;
		}
		case 'h':
			bench_usage(stdout);
			return 0;
		default:
			bench_usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 1) {
		if (argc == optind)
			return usage_error("which directory? (weir bench [options] DIR)");
		return usage_error("one DIR to bench, got %d (\"%s\", \"%s\"...); give each "
				   "directory to compare with its own --compare",
				   argc - optind, argv[optind], argv[optind + 1]);
	}
	o->dirs[0] = argv[optind];
	for (unsigned i = 0; i < ncompare; i++)
		o->dirs[i + 1] = compare[i];
	o->ndirs = ncompare + 1;
	return -1; /* go on */
}

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The tree a workload reads in dir: its generated subdirectory when there is one. */
static void workload_root(unsigned workload, const char *dir, char *out, size_t len)
{
	static const unsigned prefer[][2] = {
	    [BENCH_FILES] = {BENCH_FILES, 0},
	    [BENCH_SHARDS] = {BENCH_SHARDS, 0},
	    [BENCH_CHECKPOINT] = {BENCH_CHECKPOINT, BENCH_SHARDS},
	};
	for (int i = 0; i < 2 && prefer[workload][i]; i++) {
		snprintf(out, len, "%s/%s", dir, bench_gen_subdir(prefer[workload][i]));
		if (is_dir(out))
			return;
	}
	snprintf(out, len, "%s", dir);
}

static int generate(const struct opts *o)
{
	char err[1024], a[32];
	for (unsigned i = 0; i < o->ngen; i++) {
		const struct bench_gen_spec *g = &o->gen[i];
		if (bench_gen_run(o->dirs[0], g, isatty(STDERR_FILENO), err, sizeof(err)) < 0) {
			fprintf(stderr, "weir bench: %s\n", err);
			return 1;
		}
		char b[32] = "", c[32];
		if (g->size_max > g->size)
			snprintf(b, sizeof(b), "-%s", quantity_format(g->size_max, c, sizeof(c)));
		printf("generated %llu x %s%s under %s/%s\n", (unsigned long long)g->count,
		       quantity_format(g->size, a, sizeof(a)), b, o->dirs[0],
		       bench_gen_subdir(g->kind));
	}
	return 0;
}

struct run {
	struct opts o;
	struct bench_report rep;
	struct bench_tree **trees; /* one per result */
	char **views;		   /* the weir view of each result's directory, or NULL */
	bool ufs_warned;
};

static int64_t ufs_bytes(struct run *run, const char *mp, const struct global_opts *g)
{
	uint64_t b;
	if (!mp)
		return -1;
	int r = bench_view_ufs_bytes(g->state_dir, mp, &b);
	if (r < 0) {
		if (!run->ufs_warned)
			fprintf(stderr,
				"weir bench: \"%s\" is a weir view but its weir-node did not say "
				"its UFS bytes (%s); pass weir --state-dir if it runs elsewhere\n",
				mp, strerror(-r));
		run->ufs_warned = true;
		return -1;
	}
	return (int64_t)b;
}

static int run_workload(struct run *run, unsigned w, size_t first, const struct global_opts *g)
{
	const struct opts *o = &run->o;
	char err[1024], root[4096];
	for (unsigned d = 0; d < o->ndirs; d++) {
		struct bench_result *res = &run->rep.results[first + d];
		workload_root(w, o->dirs[d], root, sizeof(root));
		if (bench_tree_list(root, &run->trees[first + d], err, sizeof(err)) < 0) {
			fprintf(stderr, "weir bench: %s\n", err);
			return 1;
		}
		struct bench_tree *t = run->trees[first + d];
		if (t->n == 0) {
			fprintf(stderr,
				"weir bench: no files under \"%s\" for the %s workload; generate "
				"some with weir bench --generate %s\n",
				root, bench_args_workload_name(w),
				w == BENCH_FILES ? "files:10000x110KiB DIR"
						 : "shards:8x256MiB DIR");
			return 1;
		}
		char mp[PATH_MAX];
		if (bench_view_find(o->dirs[d], mp) == 1)
			run->views[first + d] = strdup(mp);
		res->workload = w;
		res->dir = d;
		res->path = o->dirs[d];
		res->weir_view = run->views[first + d] != NULL;
		if (w == BENCH_CHECKPOINT) {
			size_t big = bench_tree_largest(t);
			res->checkpoint = t->files[big].path;
			res->files = 1;
			res->bytes = t->files[big].size * o->workers;
		} else {
			res->files = t->n;
			res->bytes = t->bytes;
		}
		if (d > 0 && w != BENCH_CHECKPOINT && t->n != run->trees[first]->n)
			fprintf(stderr,
				"weir bench: warning: %s has %zu files for %s, %s has %zu: the "
				"ratios compare different work\n",
				o->dirs[d], t->n, bench_args_workload_name(w), o->dirs[0],
				run->trees[first]->n);
	}
	uint32_t *order = NULL;
	int rc = 0;
	for (unsigned e = 0; e < o->epochs; e++) {
		uint64_t seed = bench_perm_epoch_seed(o->seed, e);
		for (unsigned d = 0; d < o->ndirs; d++) {
			struct bench_result *res = &run->rep.results[first + d];
			struct bench_tree *t = run->trees[first + d];
			uint32_t *ord = realloc(order, (t->n ? t->n : 1) * sizeof(*order));
			if (!ord) {
				fprintf(stderr, "weir bench: out of memory\n");
				rc = 1;
				goto free_order;
			}
			order = ord;
			bench_perm_fill(order, t->n, seed);
			int dr = o->drop_caches ? bench_run_drop_caches() : 0;
			if (dr < 0) {
				fprintf(stderr, "weir bench: cannot drop the page cache: %s\n",
					strerror(-dr));
				rc = 1;
				goto free_order;
			}
			char label[256];
			snprintf(label, sizeof(label), "%s epoch %u/%u %s",
				 bench_args_workload_name(w), e + 1, o->epochs, o->dirs[d]);
			struct bench_job job = {
			    .workload = w,
			    .tree = t,
			    .order = order,
			    .checkpoint = w == BENCH_CHECKPOINT ? bench_tree_largest(t) : 0,
			    .workers = o->workers,
			    .progress_label = isatty(STDERR_FILENO) ? label : NULL,
			};
			int64_t before = ufs_bytes(run, run->views[first + d], g);
			if (bench_run_epoch(&job, &res->epochs[e], err, sizeof(err)) < 0) {
				fprintf(stderr, "weir bench: %s, epoch %u on %s: %s\n",
					bench_args_workload_name(w), e + 1, o->dirs[d], err);
				rc = 1;
				goto free_order;
			}
			int64_t after = before >= 0 ? ufs_bytes(run, run->views[first + d], g) : -1;
			res->epochs[e].ufs_bytes =
			    after >= before && before >= 0 ? after - before : -1;
		}
	}
free_order:
	free(order);
	return rc;
}

int cmd_bench(int argc, char **argv, const struct global_opts *g)
{
	struct run run = {0};
	struct opts *o = &run.o;
	int rc = parse_opts(argc, argv, o);
	if (rc >= 0)
		return rc;
	for (unsigned d = 0; d < o->ndirs && o->ngen == 0; d++) {
		struct stat st;
		if (stat(o->dirs[d], &st) < 0)
			return usage_error("cannot open \"%s\": %s", o->dirs[d], strerror(errno));
		if (!S_ISDIR(st.st_mode))
			return usage_error("\"%s\" is not a directory", o->dirs[d]);
	}
	if (o->ngen)
		return generate(o);
	if (o->drop_caches && geteuid() != 0)
		return usage_error("--drop-caches writes /proc/sys/vm/drop_caches, which only root "
				   "may do: run weir bench as root or leave the flag out");
	if (o->plot) {
		/* fail now, not after the benchmark, when the image cannot be written */
		int fd = open(o->plot, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			return usage_error("cannot write the plot \"%s\": %s", o->plot,
					   strerror(errno));
		close(fd);
	}
	unsigned nworkloads = (unsigned)__builtin_popcount(o->workloads);
	size_t nres = (size_t)nworkloads * o->ndirs;
	run.rep.workers = o->workers;
	run.rep.epochs = o->epochs;
	run.rep.drop_caches = o->drop_caches;
	run.rep.seed = o->seed;
	run.rep.n = nres;
	run.rep.results = calloc(nres, sizeof(*run.rep.results));
	run.trees = calloc(nres, sizeof(*run.trees));
	run.views = calloc(nres, sizeof(*run.views));
	rc = 1;
	if (!run.rep.results || !run.trees || !run.views) {
		fprintf(stderr, "weir bench: out of memory\n");
		goto free_run;
	}
	for (size_t i = 0; i < nres; i++)
		if (!(run.rep.results[i].epochs = calloc(o->epochs, sizeof(struct bench_epoch)))) {
			fprintf(stderr, "weir bench: out of memory\n");
			goto free_run;
		}
	size_t first = 0;
	for (unsigned w = BENCH_FILES; w <= BENCH_CHECKPOINT; w <<= 1) {
		if (!(o->workloads & w))
			continue;
		if (run_workload(&run, w, first, g) != 0)
			goto free_run;
		first += o->ndirs;
	}
	if (o->json) {
		json_object *j = bench_report_json(&run.rep);
		if (!j) {
			fprintf(stderr, "weir bench: out of memory\n");
			goto free_run;
		}
		printf("%s\n", json_object_to_json_string_ext(
				   j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(j);
	} else if (bench_report_table(&run.rep, stdout) < 0) {
		fprintf(stderr, "weir bench: out of memory\n");
		goto free_run;
	}
	fflush(stdout);
	if (o->plot) {
		char err[1024];
		if (bench_report_plot(&run.rep, o->plot, err, sizeof(err)) < 0) {
			fprintf(stderr, "weir bench: --plot \"%s\": %s\n", o->plot, err);
			goto free_run;
		}
		if (!o->json)
			printf("plot: %s\n", o->plot);
	}
	rc = 0;
free_run:
	for (size_t i = 0; i < nres; i++) {
		if (run.rep.results)
			free(run.rep.results[i].epochs);
		if (run.trees)
			bench_tree_free(run.trees[i]);
		if (run.views)
			free(run.views[i]);
	}
	free(run.rep.results);
	free(run.trees);
	free(run.views);
	return rc;
}
