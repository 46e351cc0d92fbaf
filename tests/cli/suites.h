/* SPDX-License-Identifier: Apache-2.0 */
/* The Check suites of cli/, one per module. */
#pragma once
#include <check.h>

Suite *bench_args_suite(void);
Suite *bench_perm_suite(void);
Suite *bench_stats_suite(void);
Suite *bench_report_suite(void);
Suite *stat_json_suite(void);
