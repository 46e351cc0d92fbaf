// SPDX-License-Identifier: Apache-2.0
// The forms of a weir bench report. The plot is gnuplot's: a data file per line and a script in
// a private temporary directory, removed afterwards; the PNG is checked to exist and be nonempty.
#include "bench_report.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_args.h"
#include "table.h"

double bench_report_metric(unsigned workload, const struct bench_epoch *e)
{
	if (e->seconds <= 0)
		return 0;
	if (workload == BENCH_FILES)
		return (double)e->files / e->seconds;
	return (double)e->bytes / e->seconds / 1e6;
}

double bench_report_ratio(const struct bench_report *rep, size_t r, unsigned e)
{
	const struct bench_result *res = &rep->results[r];
	if (res->dir == 0)
		return 0;
	/* the first directory of the same workload precedes r */
	for (size_t i = r; i-- > 0;) {
		if (rep->results[i].workload == res->workload && rep->results[i].dir == 0) {
			double first =
			    bench_report_metric(res->workload, &rep->results[i].epochs[e]);
			double mine = bench_report_metric(res->workload, &res->epochs[e]);
			return mine > 0 ? first / mine : 0;
		}
	}
	return 0;
}

int bench_report_table(const struct bench_report *rep, FILE *out)
{
	static const char *const headers[] = {"WORKLOAD", "EPOCH",  "SECONDS", "FILES/S",    "MB/S",
					      "P50-MS",	  "P99-MS", "UFS-MB",  "FIRST/THIS", "DIR"};
	enum { NCOL = sizeof(headers) / sizeof(headers[0]) };
	struct table *t = table_new(NCOL, headers);
	if (!t)
		return -ENOMEM;
	int r = 0;
	char cells[NCOL][64];
	/* rows by workload, then epoch, then directory: the rows a ratio compares are adjacent */
	for (size_t w0 = 0; w0 < rep->n;) {
		size_t w1 = w0;
		while (w1 < rep->n && rep->results[w1].workload == rep->results[w0].workload)
			w1++;
		for (unsigned e = 0; e < rep->epochs; e++) {
			for (size_t i = w0; i < w1; i++) {
				const struct bench_result *res = &rep->results[i];
				const struct bench_epoch *ep = &res->epochs[e];
				double ratio = bench_report_ratio(rep, i, e);
				snprintf(cells[0], 64, "%s",
					 bench_args_workload_name(res->workload));
				snprintf(cells[1], 64, "%u", e + 1);
				snprintf(cells[2], 64, "%.3f", ep->seconds);
				snprintf(cells[3], 64, "%.0f",
					 ep->seconds > 0 ? (double)ep->files / ep->seconds : 0.0);
				snprintf(cells[4], 64, "%.1f",
					 ep->seconds > 0 ? (double)ep->bytes / ep->seconds / 1e6
							 : 0.0);
				snprintf(cells[5], 64, "%.3f", (double)ep->p50_ns / 1e6);
				snprintf(cells[6], 64, "%.3f", (double)ep->p99_ns / 1e6);
				if (ep->ufs_bytes >= 0)
					snprintf(cells[7], 64, "%.1f", (double)ep->ufs_bytes / 1e6);
				else
					snprintf(cells[7], 64, "-");
				if (ratio > 0)
					snprintf(cells[8], 64, "%.2fx", ratio);
				else
					snprintf(cells[8], 64, "-");
				const char *row[NCOL];
				for (int c = 0; c < NCOL - 1; c++)
					row[c] = cells[c];
				row[NCOL - 1] = res->path;
				if ((r = table_add_row(t, row)) < 0)
					goto free_table;
			}
		}
		w0 = w1;
	}
	char *text;
	if ((r = table_render(t, &text)) < 0)
		goto free_table;
	fputs(text, out);
	free(text);
	fprintf(
	    out,
	    "%u workers; FILES/S and MB/S over the epoch's wall time; P50/P99: per file "
	    "(checkpoint: per reader); UFS-MB: fetched by a weir view's source during the epoch; "
	    "FIRST/THIS: the first directory's throughput over this one's\n",
	    rep->workers);
free_table:
	table_free(t);
	return r;
}

static json_object *epoch_json(const struct bench_report *rep, size_t r, unsigned e)
{
	const struct bench_result *res = &rep->results[r];
	const struct bench_epoch *ep = &res->epochs[e];
	json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	double s = ep->seconds;
	json_object_object_add(o, "epoch", json_object_new_int((int)e + 1));
	json_object_object_add(o, "seconds", json_object_new_double(s));
	json_object_object_add(o, "files", json_object_new_uint64(ep->files));
	json_object_object_add(o, "bytes", json_object_new_uint64(ep->bytes));
	json_object_object_add(o, "files_per_s",
			       json_object_new_double(s > 0 ? (double)ep->files / s : 0));
	json_object_object_add(o, "mb_per_s",
			       json_object_new_double(s > 0 ? (double)ep->bytes / s / 1e6 : 0));
	json_object_object_add(o, "p50_ms", json_object_new_double((double)ep->p50_ns / 1e6));
	json_object_object_add(o, "p99_ms", json_object_new_double((double)ep->p99_ns / 1e6));
	json_object_object_add(o, "ufs_bytes",
			       ep->ufs_bytes >= 0 ? json_object_new_int64(ep->ufs_bytes) : NULL);
	double ratio = bench_report_ratio(rep, r, e);
	json_object_object_add(o, "first_vs_this",
			       ratio > 0 ? json_object_new_double(ratio) : NULL);
	return o;
}

json_object *bench_report_json(const struct bench_report *rep)
{
	json_object *o = json_object_new_object();
	json_object *results = json_object_new_array();
	if (!o || !results)
		goto fail;
	json_object_object_add(o, "workers", json_object_new_int((int)rep->workers));
	json_object_object_add(o, "epochs", json_object_new_int((int)rep->epochs));
	json_object_object_add(o, "drop_caches", json_object_new_boolean(rep->drop_caches));
	json_object_object_add(o, "seed", json_object_new_uint64(rep->seed));
	json_object *dirs = json_object_new_array();
	for (size_t i = 0; i < rep->n; i++)
		if (rep->results[i].workload == rep->results[0].workload)
			json_object_array_add(dirs, json_object_new_string(rep->results[i].path));
	json_object_object_add(o, "dirs", dirs);
	for (size_t i = 0; i < rep->n; i++) {
		const struct bench_result *res = &rep->results[i];
		json_object *ro = json_object_new_object();
		json_object_object_add(
		    ro, "workload",
		    json_object_new_string(bench_args_workload_name(res->workload)));
		json_object_object_add(ro, "dir", json_object_new_string(res->path));
		json_object_object_add(ro, "weir_view", json_object_new_boolean(res->weir_view));
		json_object_object_add(ro, "files", json_object_new_uint64(res->files));
		json_object_object_add(ro, "bytes_per_epoch", json_object_new_uint64(res->bytes));
		if (res->checkpoint) {
			json_object_object_add(ro, "checkpoint",
					       json_object_new_string(res->checkpoint));
			json_object_object_add(ro, "readers",
					       json_object_new_int((int)rep->workers));
		}
		json_object *eps = json_object_new_array();
		for (unsigned e = 0; e < rep->epochs; e++)
			json_object_array_add(eps, epoch_json(rep, i, e));
		json_object_object_add(ro, "epochs", eps);
		json_object_array_add(results, ro);
	}
	json_object_object_add(o, "results", results);
	return o;
fail:
	json_object_put(o);
	json_object_put(results);
	return NULL;
}

/* s in single quotes for gnuplot, where '' is a quote. */
static void gp_quote(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', f);
		if (*s != '\n')
			fputc(*s, f);
	}
	fputc('\'', f);
}

static int run_gnuplot(const char *script, char *err, size_t errlen)
{
	pid_t pid = fork();
	if (pid < 0) {
		int r = -errno;
		snprintf(err, errlen, "cannot start gnuplot: %s", strerror(-r));
		return r;
	}
	if (pid == 0) {
		execlp("gnuplot", "gnuplot", script, (char *)NULL);
		_exit(errno == ENOENT ? 127 : 126);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
		snprintf(err, errlen,
			 "gnuplot is not installed: install it (apt-get install "
			 "gnuplot-nox) or leave out --plot");
		return -ENOENT;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(err, errlen, "gnuplot failed (its message is above)");
		return -EIO;
	}
	return 0;
}

int bench_report_plot(const struct bench_report *rep, const char *png, char *err, size_t errlen)
{
	int r = 0;
	char dir[] = "/tmp/weir-bench-plot.XXXXXX";
	if (!mkdtemp(dir)) {
		r = -errno;
		snprintf(err, errlen, "cannot create a temporary directory: %s", strerror(-r));
		return r;
	}
	char path[PATH_MAX], script[PATH_MAX];
	snprintf(script, sizeof(script), "%s/plot.gp", dir);
	FILE *gp = fopen(script, "we");
	if (!gp) {
		r = -errno;
		snprintf(err, errlen, "cannot write \"%s\": %s", script, strerror(-r));
		goto remove_dir;
	}
	unsigned panels = 0, workloads = 0;
	for (size_t i = 0; i < rep->n; i++)
		if (!(workloads & rep->results[i].workload)) {
			workloads |= rep->results[i].workload;
			panels++;
		}
	fprintf(gp,
		"if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
		"  set terminal pngcairo noenhanced size %u,520\n"
		"} else {\n"
		"  set terminal png noenhanced size %u,520\n"
		"}\nset output ",
		520 * panels, 520 * panels);
	gp_quote(gp, png);
	fprintf(gp,
		"\nset multiplot layout 1,%u title 'weir bench, %u workers'\n"
		"set xlabel 'epoch'\nset xtics 1\nset yrange [0:*]\nset offsets 0.2,0.2,0,0\n"
		"set key below\nset grid\n",
		panels, rep->workers);
	for (unsigned w = BENCH_FILES; w <= BENCH_CHECKPOINT; w <<= 1) {
		if (!(workloads & w))
			continue;
		fprintf(gp, "set title '%s'\nset ylabel '%s'\nplot ", bench_args_workload_name(w),
			w == BENCH_FILES ? "files/s" : "MB/s");
		bool first = true;
		for (size_t i = 0; i < rep->n; i++) {
			const struct bench_result *res = &rep->results[i];
			if (res->workload != w)
				continue;
			snprintf(path, sizeof(path), "%s/%zu.dat", dir, i);
			FILE *d = fopen(path, "we");
			if (!d) {
				r = -errno;
				snprintf(err, errlen, "cannot write \"%s\": %s", path,
					 strerror(-r));
				fclose(gp);
				goto remove_files;
			}
			for (unsigned e = 0; e < rep->epochs; e++)
				fprintf(d, "%u %.6g\n", e + 1,
					bench_report_metric(w, &res->epochs[e]));
			fclose(d);
			fprintf(gp, "%s'%s' using 1:2 with linespoints lw 2 title ",
				first ? "" : ", ", path);
			gp_quote(gp, res->path);
			first = false;
		}
		fprintf(gp, "\n");
	}
	fprintf(gp, "unset multiplot\n");
	if (fclose(gp) != 0) {
		r = -errno;
		snprintf(err, errlen, "cannot write \"%s\": %s", script, strerror(-r));
		goto remove_files;
	}
	if ((r = run_gnuplot(script, err, errlen)) < 0)
		goto remove_files;
	struct stat st;
	if (stat(png, &st) < 0 || st.st_size == 0) {
		r = -EIO;
		snprintf(err, errlen, "gnuplot wrote no image to \"%s\"", png);
	}
remove_files:
	for (size_t i = 0; i < rep->n; i++) {
		snprintf(path, sizeof(path), "%s/%zu.dat", dir, i);
		unlink(path);
	}
	unlink(script);
remove_dir:
	rmdir(dir);
	return r;
}
