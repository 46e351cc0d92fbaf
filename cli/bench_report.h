/* SPDX-License-Identifier: Apache-2.0 */
/* weir bench's results and their three forms: a table for people, JSON for dashboards, a PNG
 * drawn by gnuplot (epochs on x, throughput on y, one line per directory, one panel per
 * workload). */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>

#include "bench_run.h"

/* One workload on one directory, all epochs. */
struct bench_result {
	unsigned workload;	/* one enum bench_workload bit */
	unsigned dir;		/* index in the run's directories; 0 is the one benched */
	const char *path;	/* the directory */
	size_t files;		/* files in its tree (checkpoint: 1) */
	uint64_t bytes;		/* bytes one epoch must read (checkpoint: file size x readers) */
	const char *checkpoint; /* checkpoint: the file read */
	bool weir_view;
	struct bench_epoch *epochs; /* epochs long */
};

struct bench_report {
	unsigned workers, epochs;
	bool drop_caches;
	uint64_t seed;
	struct bench_result *results; /* by workload, then directory */
	size_t n;
};

/* The throughput a workload is judged by: files/s for files, MB/s (10^6) otherwise. */
double bench_report_metric(unsigned workload, const struct bench_epoch *e);

/* The ratio of the first directory's metric to r's in epoch e (0-based), or 0 when r is the
 * first directory or the ratio is not defined. */
double bench_report_ratio(const struct bench_report *rep, size_t r, unsigned e);

/* Prints the table. Returns 0 or -ENOMEM. */
int bench_report_table(const struct bench_report *rep, FILE *out);

/* Returns the report as a new JSON object (json_object_put), or NULL on ENOMEM. */
json_object *bench_report_json(const struct bench_report *rep);

/* Draws png with gnuplot. Returns 0, or -errno with a sentence in err (gnuplot missing, failed,
 * or wrote nothing). */
int bench_report_plot(const struct bench_report *rep, const char *png, char *err, size_t errlen);
