// SPDX-License-Identifier: Apache-2.0
// Runs the Check suites of daemon/: fork mode, per-test timeouts from CK_DEFAULT_TIMEOUT.
//   check_daemon                   every suite
//   check_daemon SUITE...          only these
//   check_daemon --except SUITE... all but these
// (meson runs the slow suites as tests of their own, beside the rest: tests/daemon/meson.build)
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"

static const struct {
	const char *name; /* as its suite_create() names it */
	Suite *(*make)(void);
} suites[] = {
    {"listing", listing_suite},
    {"block_store", block_store_suite},
    {"ranges", ranges_suite},
    {"cache_path", cache_path_suite},
    {"fetcher", fetcher_suite},
    {"http_version", http_version_suite},
    {"s3", s3_suite},
    {"uring_io", uring_io_suite},
    {"peer", peer_suite},
    {"meta_listing", meta_listing_suite},
    {"block_sum", block_sum_suite},
    {"http_url", http_url_suite},
    {"prefetch", prefetch_suite},
    {"view_grants", view_grants_suite},
};
#define N_SUITES (sizeof(suites) / sizeof(suites[0]))

int main(int argc, char **argv)
{
	bool except = argc > 1 && strcmp(argv[1], "--except") == 0;
	bool named[N_SUITES] = {false};
	for (int a = except ? 2 : 1; a < argc; a++) {
		size_t i = 0;
		while (i < N_SUITES && strcmp(suites[i].name, argv[a]) != 0)
			i++;
		if (i == N_SUITES) {
			fprintf(stderr, "check_daemon: no suite \"%s\"\n", argv[a]);
			return EXIT_FAILURE;
		}
		named[i] = true;
	}
	bool all = argc == 1;
	SRunner *sr = NULL;
	for (size_t i = 0; i < N_SUITES; i++) {
		if (!all && named[i] == except)
			continue;
		if (!sr)
			sr = srunner_create(suites[i].make());
		else
			srunner_add_suite(sr, suites[i].make());
	}
	if (!sr) {
		fprintf(stderr, "check_daemon: no suite left to run\n");
		return EXIT_FAILURE;
	}
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
