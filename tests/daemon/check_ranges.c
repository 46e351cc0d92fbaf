// SPDX-License-Identifier: Apache-2.0
// placeholder: being written
#include "suites.h"

Suite *ranges_suite(void)
{
	return suite_create("ranges");
}
