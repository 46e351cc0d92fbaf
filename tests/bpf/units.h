/* SPDX-License-Identifier: Apache-2.0 */
/* The unit suites of bpf/ that need no privilege (check_bpf's need root). */
#pragma once
#include <check.h>

Suite *backing_slots_suite(void);
Suite *link_holder_suite(void);
