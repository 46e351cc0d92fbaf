// SPDX-License-Identifier: Apache-2.0
// Runs every Check suite of lib/.
#include <check.h>
#include <stdlib.h>

#include "suites.h"

int main(void)
{
	SRunner *sr = srunner_create(quantity_suite());
	srunner_add_suite(sr, objmodel_suite());
	srunner_add_suite(sr, grant_suite());
	srunner_add_suite(sr, table_suite());
	srunner_add_suite(sr, describe_suite());
	srunner_add_suite(sr, redact_suite());
	srunner_add_suite(sr, safe_dir_suite());
	srunner_add_suite(sr, control_suite());
	srunner_add_suite(sr, rendezvous_suite());
	srunner_add_suite(sr, load_share_suite());
	srunner_add_suite(sr, cron_suite());
	srunner_add_suite(sr, secret_suite());
	srunner_add_suite(sr, fdstore_suite());
	srunner_add_suite(sr, strmap_suite());
	srunner_add_suite(sr, htable_suite());
	srunner_add_suite(sr, node_name_suite());
	srunner_add_suite(sr, thread_class_suite());
	srunner_add_suite(sr, timed_wait_suite());
	srunner_add_suite(sr, tier_roots_suite());
	srunner_add_suite(sr, tier_budget_suite());
	srunner_add_suite(sr, log_suite());
	srunner_add_suite(sr, conn_share_suite());
	srunner_add_suite(sr, node_id_suite());
	srunner_add_suite(sr, proc_cgroup_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
