/* SPDX-License-Identifier: Apache-2.0 */
/* The Check suites of lib/, one per module. */
#pragma once
#include <check.h>

Suite *quantity_suite(void);
Suite *objmodel_suite(void);
Suite *grant_suite(void);
Suite *table_suite(void);
Suite *describe_suite(void);
Suite *redact_suite(void);
Suite *safe_dir_suite(void);
Suite *control_suite(void);
Suite *rendezvous_suite(void);
Suite *load_share_suite(void);
Suite *cron_suite(void);
Suite *secret_suite(void);
Suite *fdstore_suite(void);
Suite *strmap_suite(void);
Suite *htable_suite(void);
Suite *node_name_suite(void);
Suite *thread_class_suite(void);
Suite *timed_wait_suite(void);
Suite *tier_roots_suite(void);
Suite *tier_budget_suite(void);
Suite *log_suite(void);
Suite *conn_share_suite(void);
Suite *node_id_suite(void);
Suite *proc_cgroup_suite(void);
