// SPDX-License-Identifier: Apache-2.0
// weir bench's report: the metric each workload is judged by, the direction of FIRST/THIS, and
// the JSON fields a dashboard reads (null where a figure does not apply).
#include <check.h>
#include <string.h>

#include "bench_args.h"
#include "bench_report.h"
#include "suites.h"

static struct bench_epoch ep_view[2] = {
    {.seconds = 2.0,
     .files = 1000,
     .bytes = 100000000,
     .p50_ns = 1000000,
     .p99_ns = 3000000,
     .ufs_bytes = 100000000},
    {.seconds = 0.5, .files = 1000, .bytes = 100000000, .ufs_bytes = 0},
};
static struct bench_epoch ep_tmpfs[2] = {
    {.seconds = 0.25, .files = 1000, .bytes = 100000000, .ufs_bytes = -1},
    {.seconds = 0.25, .files = 1000, .bytes = 100000000, .ufs_bytes = -1},
};

static struct bench_report report(struct bench_result *r)
{
	r[0] = (struct bench_result){.workload = BENCH_FILES,
				     .dir = 0,
				     .path = "/mnt/view",
				     .files = 1000,
				     .bytes = 100000000,
				     .weir_view = true,
				     .epochs = ep_view};
	r[1] = (struct bench_result){.workload = BENCH_FILES,
				     .dir = 1,
				     .path = "/dev/shm/t",
				     .files = 1000,
				     .bytes = 100000000,
				     .epochs = ep_tmpfs};
	return (struct bench_report){.workers = 4, .epochs = 2, .seed = 1, .results = r, .n = 2};
}

START_TEST(test_metric_and_ratio)
{
	struct bench_result r[2];
	struct bench_report rep = report(r);
	ck_assert_double_eq_tol(bench_report_metric(BENCH_FILES, &ep_view[0]), 500.0, 1e-9);
	ck_assert_double_eq_tol(bench_report_metric(BENCH_SHARDS, &ep_view[0]), 50.0, 1e-9);
	/* FIRST/THIS: the view's files/s over tmpfs's: 500 / 4000 cold, 2000 / 4000 warm */
	ck_assert_double_eq_tol(bench_report_ratio(&rep, 1, 0), 0.125, 1e-9);
	ck_assert_double_eq_tol(bench_report_ratio(&rep, 1, 1), 0.5, 1e-9);
	ck_assert_double_eq_tol(bench_report_ratio(&rep, 0, 0), 0.0, 1e-9);
	struct bench_epoch zero = {0};
	ck_assert_double_eq_tol(bench_report_metric(BENCH_FILES, &zero), 0.0, 1e-9);
}
END_TEST

START_TEST(test_json_fields)
{
	struct bench_result r[2];
	struct bench_report rep = report(r);
	json_object *j = bench_report_json(&rep);
	ck_assert_ptr_nonnull(j);
	json_object *results, *dirs, *eps, *e, *v;
	ck_assert(json_object_object_get_ex(j, "results", &results));
	ck_assert_int_eq(json_object_array_length(results), 2);
	ck_assert(json_object_object_get_ex(j, "dirs", &dirs));
	ck_assert_int_eq(json_object_array_length(dirs), 2);
	json_object *view = json_object_array_get_idx(results, 0);
	ck_assert(json_object_object_get_ex(view, "epochs", &eps));
	e = json_object_array_get_idx(eps, 0);
	ck_assert(json_object_object_get_ex(e, "ufs_bytes", &v));
	ck_assert_int_eq(json_object_get_int64(v), 100000000);
	ck_assert(json_object_object_get_ex(e, "first_vs_this", &v));
	ck_assert_ptr_null(v); /* the first directory has no ratio */
	ck_assert(json_object_object_get_ex(e, "p99_ms", &v));
	ck_assert_double_eq_tol(json_object_get_double(v), 3.0, 1e-9);
	json_object *tmpfs = json_object_array_get_idx(results, 1);
	ck_assert(json_object_object_get_ex(tmpfs, "epochs", &eps));
	e = json_object_array_get_idx(eps, 1);
	ck_assert(json_object_object_get_ex(e, "ufs_bytes", &v));
	ck_assert_ptr_null(v); /* not a weir view */
	ck_assert(json_object_object_get_ex(e, "first_vs_this", &v));
	ck_assert_double_eq_tol(json_object_get_double(v), 0.5, 1e-9);
	ck_assert(json_object_object_get_ex(e, "files_per_s", &v));
	ck_assert_double_eq_tol(json_object_get_double(v), 4000.0, 1e-6);
	json_object_put(j);
}
END_TEST

Suite *bench_report_suite(void)
{
	Suite *s = suite_create("bench_report");
	TCase *tc = tcase_create("report");
	tcase_add_test(tc, test_metric_and_ratio);
	tcase_add_test(tc, test_json_fields);
	suite_add_tcase(s, tc);
	return s;
}
