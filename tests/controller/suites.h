/* SPDX-License-Identifier: Apache-2.0 */
/* The Check suites of controller/, one per module; helpers shared by them. */
#pragma once
#include <check.h>

#include "objmodel.h"
#include "store_sqlite.h"

Suite *store_suite(void);
Suite *apply_suite(void);
Suite *reconcile_suite(void);
Suite *config_suite(void);
Suite *ufs_policy_suite(void);
Suite *kube_suite(void);
Suite *store_kube_suite(void);
Suite *secrets_suite(void);
Suite *members_suite(void);
Suite *view_nodes_suite(void);

/* A fresh SQLite store in a new temporary directory; *ret_dir (owned) holds it. */
struct store *test_store_new(char **ret_dir);
/* Closes the store and removes its directory. */
void test_store_free(struct store *st, char *dir);
/* Parses YAML manifests; fails the test when they do not parse. */
struct objmodel_list *test_parse(const char *yaml);
/* The object as JSON text (owned). */
char *test_json(const struct objmodel *o);
