// SPDX-License-Identifier: Apache-2.0
// Runs every Check suite of controller/, and the helpers they share.
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "suites.h"

struct store *test_store_new(char **ret_dir)
{
	char tmpl[] = "/tmp/weir-check-controller.XXXXXX";
	char *dir = mkdtemp(tmpl);
	ck_assert_ptr_nonnull(dir);
	char path[256], err[512] = "";
	snprintf(path, sizeof(path), "%s/controller.db", dir);
	struct store *st = NULL;
	ck_assert_msg(store_sqlite_open(path, &st, err, sizeof(err)) == 0, "%s", err);
	*ret_dir = strdup(dir);
	return st;
}

void test_store_free(struct store *st, char *dir)
{
	char cmd[512];
	store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
	free(dir);
}

struct objmodel_list *test_parse(const char *yaml)
{
	char err[1024] = "";
	struct objmodel_list *l = NULL;
	int r = objmodel_parse_buffer("t.yaml", yaml, strlen(yaml), &l, err, sizeof(err));
	ck_assert_msg(r >= 0, "parse failed: %s", err);
	return l;
}

char *test_json(const struct objmodel *o)
{
	char *text = NULL;
	ck_assert_int_eq(objmodel_to_json_string(o, false, &text), 0);
	return text;
}

int main(void)
{
	SRunner *sr = srunner_create(store_suite());
	srunner_add_suite(sr, apply_suite());
	srunner_add_suite(sr, reconcile_suite());
	srunner_add_suite(sr, config_suite());
	srunner_add_suite(sr, ufs_policy_suite());
	srunner_add_suite(sr, kube_suite());
	srunner_add_suite(sr, store_kube_suite());
	srunner_add_suite(sr, secrets_suite());
	srunner_add_suite(sr, members_suite());
	srunner_add_suite(sr, view_nodes_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
