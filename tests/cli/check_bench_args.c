// SPDX-License-Identifier: Apache-2.0
// weir bench's argument parsing: every workload name, counts at and past their limits, and
// --generate specs, including the messages that must name the bad part, and the sizes a range
// spec generates.
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench_args.h"
#include "bench_gen.h"
#include "suites.h"

START_TEST(test_workloads)
{
	unsigned m = 0;
	ck_assert_int_eq(bench_args_workload("files", &m), 0);
	ck_assert_uint_eq(m, BENCH_FILES);
	ck_assert_int_eq(bench_args_workload("shards", &m), 0);
	ck_assert_uint_eq(m, BENCH_SHARDS);
	ck_assert_int_eq(bench_args_workload("checkpoint", &m), 0);
	ck_assert_uint_eq(m, BENCH_CHECKPOINT);
	ck_assert_int_eq(bench_args_workload("all", &m), 0);
	ck_assert_uint_eq(m, BENCH_FILES | BENCH_SHARDS | BENCH_CHECKPOINT);
	m = 99;
	ck_assert_int_eq(bench_args_workload("file", &m), -EINVAL);
	ck_assert_int_eq(bench_args_workload("", &m), -EINVAL);
	ck_assert_int_eq(bench_args_workload("ALL", &m), -EINVAL);
	ck_assert_int_eq(bench_args_workload(NULL, &m), -EINVAL);
	ck_assert_uint_eq(m, 99); /* untouched on failure */
	ck_assert_str_eq(bench_args_workload_name(BENCH_SHARDS), "shards");
	ck_assert_str_eq(bench_args_workload_name(64), "?");
}
END_TEST

START_TEST(test_counts)
{
	unsigned v = 7;
	ck_assert_int_eq(bench_args_count("1", 1024, &v), 0);
	ck_assert_uint_eq(v, 1);
	ck_assert_int_eq(bench_args_count("1024", 1024, &v), 0);
	ck_assert_uint_eq(v, 1024);
	v = 7;
	ck_assert_int_eq(bench_args_count("0", 1024, &v), -EINVAL);
	ck_assert_int_eq(bench_args_count("1025", 1024, &v), -ERANGE);
	ck_assert_int_eq(bench_args_count("-1", 1024, &v), -EINVAL);
	ck_assert_int_eq(bench_args_count("+4", 1024, &v), -EINVAL);
	ck_assert_int_eq(bench_args_count(" 4", 1024, &v), -EINVAL);
	ck_assert_int_eq(bench_args_count("4x", 1024, &v), -EINVAL);
	ck_assert_int_eq(bench_args_count("", 1024, &v), -EINVAL);
	ck_assert_int_eq(bench_args_count(NULL, 1024, &v), -EINVAL);
	ck_assert_int_eq(bench_args_count("99999999999999999999999", 1024, &v), -ERANGE);
	ck_assert_uint_eq(v, 7);
}
END_TEST

START_TEST(test_generate_ok)
{
	struct bench_gen_spec g;
	char err[256];
	ck_assert_int_eq(bench_args_generate("files:100000x110KiB", &g, err, sizeof(err)), 0);
	ck_assert_uint_eq(g.kind, BENCH_FILES);
	ck_assert_uint_eq(g.count, 100000);
	ck_assert_uint_eq(g.size, 110 * 1024);
	ck_assert_int_eq(bench_args_generate("shards:32x256MiB", &g, err, sizeof(err)), 0);
	ck_assert_uint_eq(g.kind, BENCH_SHARDS);
	ck_assert_uint_eq(g.count, 32);
	ck_assert_uint_eq(g.size, 256ull << 20);
	ck_assert_int_eq(bench_args_generate("checkpoint:1x2Gi", &g, err, sizeof(err)), 0);
	ck_assert_uint_eq(g.kind, BENCH_CHECKPOINT);
	ck_assert_uint_eq(g.size, 2ull << 30);
	ck_assert_int_eq(bench_args_generate("files:3x1", &g, err, sizeof(err)), 0);
	ck_assert_uint_eq(g.size, 1);
	ck_assert_int_eq(bench_args_generate("shards:1x1TiB", &g, err, sizeof(err)), 0);
	ck_assert_uint_eq(g.size_max, 1ull << 40);
	ck_assert_int_eq(bench_args_generate("files:20000x4KiB-16KiB", &g, err, sizeof(err)), 0);
	ck_assert_uint_eq(g.count, 20000);
	ck_assert_uint_eq(g.size, 4096);
	ck_assert_uint_eq(g.size_max, 16384);
	ck_assert_int_eq(bench_args_generate("files:2x1-1", &g, err, sizeof(err)), 0);
	ck_assert_uint_eq(g.size, 1);
	ck_assert_uint_eq(g.size_max, 1);
}
END_TEST

/* spec must fail with want, and the message must quote needle */
static void bad(const char *spec, int want, const char *needle)
{
	struct bench_gen_spec g = {0};
	char err[256] = "";
	ck_assert_int_eq(bench_args_generate(spec, &g, err, sizeof(err)), want);
	ck_assert_msg(strstr(err, needle), "message \"%s\" does not name \"%s\"", err, needle);
	ck_assert_uint_eq(g.count, 0);
}

START_TEST(test_generate_bad)
{
	bad("files", -EINVAL, "\"files\" is not KIND:COUNTxSIZE");
	bad("", -EINVAL, "not KIND:COUNTxSIZE");
	bad("videos:10x1MiB", -EINVAL, "unknown kind \"videos\"");
	bad("all:10x1MiB", -EINVAL, "unknown kind \"all\"");
	bad("averyveryverylongkind:1x1", -EINVAL, "unknown kind");
	bad("files:100", -EINVAL, "\"100\" is not COUNTxSIZE");
	bad("files:0x1KiB", -EINVAL, "count \"0\"");
	bad("files:x1KiB", -EINVAL, "count \"\"");
	bad("files:-3x1KiB", -EINVAL, "count \"-3\"");
	bad("files:10000001x1KiB", -ERANGE, "count \"10000001\"");
	bad("files:10x0", -EINVAL, "size \"0\"");
	bad("files:10x", -EINVAL, "size \"\"");
	bad("files:10x12QB", -EINVAL, "size \"12QB\"");
	bad("files:10x2TiB", -ERANGE, "size \"2TiB\"");
	bad("files:10x99999999999999999999999", -ERANGE, "size");
	bad("files:10x16KiB-4KiB", -EINVAL, "range \"16KiB-4KiB\" ends below its start");
	bad("files:10x4KiB-", -EINVAL, "size \"\"");
	bad("files:10x-4KiB", -EINVAL, "size \"\"");
	bad("files:10x4KiB-2TiB", -ERANGE, "size \"2TiB\"");
	bad("files:10x4KiB-8KiB-16KiB", -EINVAL, "size \"8KiB-16KiB\"");
}
END_TEST

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(p);
}

/* A range spec's files all fall in the range, spread over it (both quarters reached), and a
 * second generation gives every file the same size again. */
START_TEST(test_generate_range_sizes)
{
	struct bench_gen_spec g;
	char err[256], dir[] = "/tmp/check_bench_gen.XXXXXX", path[512];
	static off_t first[300];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(bench_args_generate("files:300x4KiB-16KiB", &g, err, sizeof(err)), 0);
	for (int pass = 0; pass < 2; pass++) {
		unsigned low = 0, high = 0;
		ck_assert_msg(bench_gen_run(dir, &g, false, err, sizeof(err)) == 0, "%s", err);
		for (unsigned i = 0; i < 300; i++) {
			struct stat st;
			snprintf(path, sizeof(path), "%s/files/0000/%08u.bin", dir, i);
			ck_assert_int_eq(stat(path, &st), 0);
			ck_assert_msg(st.st_size >= 4096 && st.st_size <= 16384,
				      "file %u has %lld bytes", i, (long long)st.st_size);
			low += st.st_size < 7168;
			high += st.st_size > 13312;
			if (pass == 0)
				first[i] = st.st_size;
			else
				ck_assert_int_eq(st.st_size, first[i]);
		}
		ck_assert_msg(low > 30 && high > 30, "sizes not spread: %u low, %u high", low,
			      high);
	}
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
END_TEST

Suite *bench_args_suite(void)
{
	Suite *s = suite_create("bench_args");
	TCase *tc = tcase_create("parse");
	tcase_add_test(tc, test_workloads);
	tcase_add_test(tc, test_counts);
	tcase_add_test(tc, test_generate_ok);
	tcase_add_test(tc, test_generate_bad);
	tcase_add_test(tc, test_generate_range_sizes);
	suite_add_tcase(s, tc);
	return s;
}
