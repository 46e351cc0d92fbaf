// SPDX-License-Identifier: Apache-2.0
// The SQLite store: put/get/list/delete, transactions that roll back, and objects that are
// still there after reopening the file.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_sqlite.h"
#include "suites.h"

START_TEST(put_get_list_delete)
{
	char *dir;
	struct store *st = test_store_new(&dir);
	char *j = NULL;
	ck_assert_int_eq(store_get(st, "Dataset", "dev", "spark", &j), -ENOENT);
	ck_assert_int_eq(store_put(st, "Dataset", "dev", "spark", "{\"a\":1}", 100), 0);
	ck_assert_int_eq(store_put(st, "Dataset", "prod", "spark", "{\"b\":2}", 101), 0);
	ck_assert_int_eq(store_put(st, "DataLoad", "dev", "spark", "{\"c\":3}", 102), 0);
	ck_assert_int_eq(store_get(st, "Dataset", "dev", "spark", &j), 0);
	ck_assert_str_eq(j, "{\"a\":1}");
	free(j);
	/* replace keeps the creation time */
	ck_assert_int_eq(store_put(st, "Dataset", "dev", "spark", "{\"a\":2}", 200), 0);
	struct store_list l = {0};
	ck_assert_int_eq(store_list(st, "Dataset", NULL, &l), 0);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_str_eq(l.items[0].namespace, "dev");
	ck_assert_str_eq(l.items[0].json, "{\"a\":2}");
	ck_assert_int_eq(l.items[0].created, 100);
	ck_assert_str_eq(l.items[1].namespace, "prod");
	store_list_free(&l);
	ck_assert_int_eq(store_list(st, NULL, "dev", &l), 0);
	ck_assert_uint_eq(l.n, 2);
	store_list_free(&l);
	ck_assert_int_eq(store_del(st, "Dataset", "dev", "spark"), 0);
	ck_assert_int_eq(store_del(st, "Dataset", "dev", "spark"), -ENOENT);
	ck_assert_int_eq(store_list(st, NULL, NULL, &l), 0);
	ck_assert_uint_eq(l.n, 2);
	store_list_free(&l);
	test_store_free(st, dir);
}
END_TEST

START_TEST(rollback_discards_everything)
{
	char *dir;
	struct store *st = test_store_new(&dir);
	ck_assert_int_eq(store_put(st, "Dataset", "dev", "keep", "{}", 1), 0);
	ck_assert_int_eq(store_begin(st), 0);
	ck_assert_int_eq(store_put(st, "Dataset", "dev", "a", "{}", 1), 0);
	ck_assert_int_eq(store_del(st, "Dataset", "dev", "keep"), 0);
	store_rollback(st);
	struct store_list l = {0};
	ck_assert_int_eq(store_list(st, NULL, NULL, &l), 0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_str_eq(l.items[0].name, "keep");
	store_list_free(&l);
	test_store_free(st, dir);
}
END_TEST

START_TEST(survives_reopen)
{
	char *dir;
	struct store *st = test_store_new(&dir);
	ck_assert_int_eq(store_begin(st), 0);
	ck_assert_int_eq(store_put(st, "Namespace", "", "development", "{\"n\":1}", 5), 0);
	ck_assert_int_eq(store_commit(st), 0);
	store_close(st);
	char path[256], err[512] = "";
	snprintf(path, sizeof(path), "%s/controller.db", dir);
	ck_assert_msg(store_sqlite_open(path, &st, err, sizeof(err)) == 0, "%s", err);
	char *j = NULL;
	ck_assert_int_eq(store_get(st, "Namespace", "", "development", &j), 0);
	ck_assert_str_eq(j, "{\"n\":1}");
	free(j);
	test_store_free(st, dir);
}
END_TEST

START_TEST(open_fails_with_message)
{
	struct store *st = NULL;
	char err[512] = "";
	ck_assert_int_lt(
	    store_sqlite_open("/nonexistent-dir/x/controller.db", &st, err, sizeof(err)), 0);
	ck_assert_ptr_null(st);
	ck_assert_msg(strstr(err, "/nonexistent-dir/x/controller.db"), "%s", err);
}
END_TEST

Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("sqlite");
	tcase_add_test(tc, put_get_list_delete);
	tcase_add_test(tc, rollback_discards_everything);
	tcase_add_test(tc, survives_reopen);
	tcase_add_test(tc, open_fails_with_message);
	suite_add_tcase(s, tc);
	return s;
}
