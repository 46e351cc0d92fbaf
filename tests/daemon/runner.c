// SPDX-License-Identifier: Apache-2.0
// Runs every Check suite of daemon/: fork mode, per-test timeouts from CK_DEFAULT_TIMEOUT.
#include <check.h>
#include <stdlib.h>

#include "suites.h"

int main(void)
{
	SRunner *sr = srunner_create(listing_suite());
	srunner_add_suite(sr, block_store_suite());
	srunner_add_suite(sr, ranges_suite());
	srunner_add_suite(sr, cache_path_suite());
	srunner_add_suite(sr, fetcher_suite());
	srunner_add_suite(sr, http_version_suite());
	srunner_add_suite(sr, s3_suite());
	srunner_add_suite(sr, uring_io_suite());
	srunner_add_suite(sr, peer_suite());
	srunner_add_suite(sr, meta_listing_suite());
	srunner_add_suite(sr, block_sum_suite());
	srunner_add_suite(sr, http_url_suite());
	srunner_add_suite(sr, prefetch_suite());
	srunner_add_suite(sr, view_grants_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
