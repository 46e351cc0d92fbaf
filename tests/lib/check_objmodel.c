// SPDX-License-Identifier: Apache-2.0
// placeholder: being written
#include "suites.h"

Suite *objmodel_suite(void)
{
	return suite_create("objmodel");
}
