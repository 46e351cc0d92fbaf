// SPDX-License-Identifier: Apache-2.0
// Runs the Check suites of bpf/: fork mode, per-test timeouts from CK_DEFAULT_TIMEOUT.
// Needs root (BPF, loop mounts); without it the tests fail and say so.
#include <check.h>
#include <stdlib.h>

#include "suites.h"

int main(void)
{
	SRunner *sr = srunner_create(access_tracker_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
