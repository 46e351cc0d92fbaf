// SPDX-License-Identifier: Apache-2.0
// placeholder: being written
#include "suites.h"

Suite *listing_suite(void)
{
	return suite_create("listing");
}
