/* SPDX-License-Identifier: Apache-2.0 */
/* The Check suites of bpf/. */
#pragma once
#include <check.h>

Suite *access_tracker_suite(void);
