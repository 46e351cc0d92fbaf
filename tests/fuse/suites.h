/* SPDX-License-Identifier: Apache-2.0 */
/* The Check suites of fuse/, one per module. */
#pragma once
#include <check.h>

Suite *view_journal_suite(void);
