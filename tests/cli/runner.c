// SPDX-License-Identifier: Apache-2.0
// Runs every Check suite of cli/.
#include <check.h>
#include <stdlib.h>

#include "suites.h"

int main(void)
{
	SRunner *sr = srunner_create(bench_args_suite());
	srunner_add_suite(sr, bench_perm_suite());
	srunner_add_suite(sr, bench_stats_suite());
	srunner_add_suite(sr, bench_report_suite());
	srunner_add_suite(sr, stat_json_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
