// SPDX-License-Identifier: Apache-2.0
// Tables as the walkthrough prints them: kubectl's padding, AGE and DURATION, sizes.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objmodel.h"
#include "suites.h"
#include "table.h"

#define EXAMPLES WEIR_SOURCE_DIR "/examples/walkthrough/"
#define NOW 1795990000LL

START_TEST(ages_like_kubectl)
{
	char b[32];
	static const struct {
		int64_t s;
		const char *want;
	} cases[] = {
	    {-5, "<invalid>"},
	    {-1, "0s"},
	    {0, "0s"},
	    {45, "45s"},
	    {119, "119s"},
	    {120, "2m"},
	    {121, "2m1s"},
	    {174, "2m54s"},
	    {347, "5m47s"},
	    {600, "10m"},
	    {79 * 60 + 5, "79m"},
	    {179 * 60, "179m"},
	    {3 * 3600, "3h"},
	    {5 * 3600 + 180, "5h3m"},
	    {14 * 3600 + 59, "14h"},
	    {47 * 3600, "47h"},
	    {3 * 86400 + 4 * 3600, "3d4h"},
	    {12 * 86400, "12d"},
	    {800 * 86400, "2y70d"},
	    {3000 * 86400, "8y"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_str_eq(table_format_age(cases[i].s, b, sizeof(b)), cases[i].want);
}
END_TEST

START_TEST(padding_like_tabwriter)
{
	const char *h[] = {"NAME", "READY", "X"};
	const char *r1[] = {"csi-nodeplugin-fluid-mwx59", "2/2", "5m46s"};
	const char *r2[] = {"a", NULL, "b"};
	struct table *t = table_new(3, h);
	char *out = NULL;
	ck_assert_int_eq(table_add_row(t, r1), 0);
	ck_assert_int_eq(table_add_row(t, r2), 0);
	ck_assert_int_eq(table_render(t, &out), 0);
	ck_assert_str_eq(out, "NAME                         READY   X\n"
			      "csi-nodeplugin-fluid-mwx59   2/2     5m46s\n"
			      "a                                    b\n");
	free(out);
	table_free(t);
	table_free(NULL);
}
END_TEST

static struct objmodel_list *load(const char *file)
{
	char err[512];
	struct objmodel_list *l = NULL;
	ck_assert_msg(objmodel_parse_file(file, &l, err, sizeof(err)) >= 0, "%s", err);
	return l;
}

START_TEST(dataset_tables_from_the_walkthrough)
{
	struct objmodel_list *l = load(EXAMPLES "dataset.yaml");
	struct objmodel *ds = l->items[0];
	struct dataset_status *st = &ds->dataset.status;
	char *out = NULL, want[1024];

	/* Step 4: kubectl get dataset -A */
	st->phase = DATASET_PHASE_BOUND;
	st->ufs_total_known = st->cache_known = true;
	st->ufs_total = 3661337788ULL;
	st->cache_capacity = 4ULL << 30;
	ds->meta.creation_timestamp = NOW - 174;
	ck_assert_int_eq(table_datasets(l->items, l->n, true, false, NOW, &out), 0);
	snprintf(want, sizeof(want),
		 "%-14s%-8s%-17s%-9s%-17s%-20s%-8s%s\n%-14s%-8s%-17s%-9s%-17s%-20s%-8s%s\n",
		 "NAMESPACE", "NAME", "UFS TOTAL SIZE", "CACHED", "CACHE CAPACITY",
		 "CACHED PERCENTAGE", "PHASE", "AGE", "development", "spark", "3.41GiB", "0.00B",
		 "4.00GiB", "0.0%", "Bound", "2m54s");
	ck_assert_str_eq(out, want);
	free(out);

	/* Step 9: kubectl get dataset -n development, after the load. */
	st->cached = 1406000000ULL;
	ds->meta.creation_timestamp = NOW - 79 * 60 - 3;
	ck_assert_int_eq(table_datasets(l->items, l->n, false, false, NOW, &out), 0);
	snprintf(want, sizeof(want),
		 "%-8s%-17s%-10s%-17s%-20s%-8s%s\n%-8s%-17s%-10s%-17s%-20s%-8s%s\n", "NAME",
		 "UFS TOTAL SIZE", "CACHED", "CACHE CAPACITY", "CACHED PERCENTAGE", "PHASE", "AGE",
		 "spark", "3.41GiB", "1.31GiB", "4.00GiB", "38.4%", "Bound", "79m");
	ck_assert_str_eq(out, want);
	free(out);

	/* Wide adds files and hit ratio; unknown sizes print as kubectl prints empty cells. */
	st->file_num_known = true;
	st->file_num = 23;
	ck_assert_int_eq(table_datasets(l->items, l->n, false, true, NOW, &out), 0);
	ck_assert_msg(strstr(out, "TOTAL FILES   CACHE HIT RATIO   CACHE NODES   AGE\n"), "%s",
		      out);
	ck_assert_msg(strstr(out, "23            "), "%s", out);
	free(out);
	/* ... and, in a cluster, how the cache is spread over the nodes */
	st->spread_known = true;
	st->cache_nodes = 3;
	st->node_cached_min = 400ULL << 20;
	st->node_cached_max = 1ULL << 30;
	ck_assert_int_eq(table_datasets(l->items, l->n, false, true, NOW, &out), 0);
	ck_assert_msg(strstr(out, "3 (400.00MiB-1.00GiB)"), "%s", out);
	free(out);
	st->spread_known = false;
	st->ufs_total_known = st->cache_known = false;
	st->phase = DATASET_PHASE_NOT_BOUND;
	ck_assert_int_eq(table_datasets(l->items, 1, false, false, NOW, &out), 0);
	ck_assert_msg(strstr(out, "\nspark   ") && strstr(out, "   NotBound   79m\n"), "%s", out);
	ck_assert_msg(!strstr(out, "B "), "unknown sizes printed: %s", out);
	free(out);

	/* No datasets: empty text, the caller says "No resources found". */
	ck_assert_int_eq(table_datasets(l->items + 1, 1, false, false, NOW, &out), 0);
	ck_assert_str_eq(out, "");
	free(out);

	/* Runtimes. */
	l->items[1]->meta.creation_timestamp = NOW - 174;
	ck_assert_int_eq(table_runtimes(l->items, l->n, false, false, NOW, &out), 0);
	snprintf(want, sizeof(want), "%-8s%-17s%-8s%-17s%-9s%-8s%s\n%-8s%-17s%-8s%-17s%-9s%-8s%s\n",
		 "NAME", "KIND", "TIERS", "CACHE CAPACITY", "CACHED", "PHASE", "AGE", "spark",
		 "AlluxioRuntime", "MEM", "4.00GiB", "", "", "2m54s");
	ck_assert_str_eq(out, want);
	free(out);
	objmodel_list_free(l);
}
END_TEST

START_TEST(dataload_table_from_the_walkthrough)
{
	struct objmodel_list *l = load(EXAMPLES "dataload.yaml");
	struct objmodel *dl = l->items[0];
	char *out = NULL, want[512];
	dl->meta.creation_timestamp = NOW - 347;
	dl->dataload.status.phase = DATALOAD_PHASE_EXECUTING;
	ck_assert_int_eq(table_dataloads(l->items, l->n, true, false, NOW, &out), 0);
	ck_assert_msg(strstr(out, "Executing   5m47s   Unfinished\n"), "%s", out);
	free(out);
	dl->dataload.status.phase = DATALOAD_PHASE_COMPLETE;
	dl->dataload.status.duration = 121;
	ck_assert_int_eq(table_dataloads(l->items, l->n, true, false, NOW, &out), 0);
	snprintf(want, sizeof(want), "%-14s%-8s%-10s%-11s%-8s%s\n%-14s%-8s%-10s%-11s%-8s%s\n",
		 "NAMESPACE", "NAME", "DATASET", "PHASE", "AGE", "DURATION", "development", "spark",
		 "spark", "Complete", "5m47s", "2m1s");
	ck_assert_str_eq(out, want);
	free(out);
	objmodel_list_free(l);
}
END_TEST

Suite *table_suite(void)
{
	Suite *s = suite_create("table");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, ages_like_kubectl);
	tcase_add_test(tc, padding_like_tabwriter);
	tcase_add_test(tc, dataset_tables_from_the_walkthrough);
	tcase_add_test(tc, dataload_table_from_the_walkthrough);
	suite_add_tcase(s, tc);
	return s;
}
