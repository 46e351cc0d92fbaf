// SPDX-License-Identifier: Apache-2.0
// Runs the unit suites of bpf/ that need no privilege. Run with LINK_HOLDER_ARG, this binary is
// the link holder its tests start (bpf/link_holder.h).
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "link_holder.h"
#include "units.h"

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], LINK_HOLDER_ARG) == 0)
		link_holder_main(3);
	SRunner *sr = srunner_create(backing_slots_suite());
	srunner_add_suite(sr, link_holder_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
