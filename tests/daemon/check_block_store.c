// SPDX-License-Identifier: Apache-2.0
// placeholder: being written
#include "suites.h"

Suite *block_store_suite(void)
{
	return suite_create("block_store");
}
