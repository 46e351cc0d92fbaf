// SPDX-License-Identifier: Apache-2.0
// create/apply/delete against a real SQLite store: all or nothing, namespaces, create vs apply,
// status kept across apply, deleting a referenced source refused.
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "suites.h"

#define DEV_NS "apiVersion: v1\nkind: Namespace\nmetadata: {name: development}\n"
#define PROD_NS "apiVersion: v1\nkind: Namespace\nmetadata: {name: production}\n"
#define SOURCE                                                                                     \
	"apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {name: spark, namespace: "   \
	"development}\nspec:\n  mounts:\n  - mountPoint: http://127.0.0.1:1/\n    name: spark\n"   \
	"    path: /\n"
#define RUNTIME                                                                                    \
	"apiVersion: data.fluid.io/v1alpha1\nkind: AlluxioRuntime\nmetadata: {name: spark, "       \
	"namespace: development}\nspec:\n  tieredstore:\n    levels:\n    - mediumtype: MEM\n"     \
	"      path: /dev/shm\n      quota: 4Gi\n"
#define REFERENCE                                                                                  \
	"apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {name: spark, namespace: "   \
	"production}\nspec:\n  mounts:\n  - mountPoint: dataset://development/spark\n"

/* Applies every object of yaml in one request. */
static int apply_yaml(struct store *st, const char *yaml, bool create, struct apply_result *res,
		      char *err, size_t errlen)
{
	struct objmodel_list *l = test_parse(yaml);
	const char **texts = calloc(l->n, sizeof(char *));
	for (size_t i = 0; i < l->n; i++)
		texts[i] = test_json(l->items[i]);
	int r = apply_objects(st, texts, l->n, create, "t.yaml", 1000, res, err, errlen);
	for (size_t i = 0; i < l->n; i++)
		free((char *)texts[i]);
	free(texts);
	objmodel_list_free(l);
	return r;
}

static size_t count(struct store *st)
{
	struct store_list l = {0};
	ck_assert_int_eq(store_list(st, NULL, NULL, &l), 0);
	size_t n = l.n;
	store_list_free(&l);
	return n;
}

START_TEST(batch_is_all_or_nothing)
{
	char *dir, err[1024] = "";
	struct store *st = test_store_new(&dir);
	struct objmodel_list *l = test_parse(DEV_NS "---\n" SOURCE);
	const char *texts[3] = {
	    test_json(l->items[0]), test_json(l->items[1]),
	    "{\"apiVersion\": \"data.fluid.io/v1alpha1\", \"kind\": \"Dataset\", "
	    "\"metadata\": {\"name\": \"bad\", \"namespace\": \"development\"}, "
	    "\"spec\": {\"mounts\": []}}"};
	struct apply_result res = {0};
	int r = apply_objects(st, texts, 3, false, "batch.yaml", 1000, &res, err, sizeof(err));
	ck_assert_int_eq(r, -EINVAL);
	ck_assert_msg(strstr(err, "batch.yaml: document 3"), "%s", err);
	ck_assert_uint_eq(count(st), 0);
	ck_assert_uint_eq(res.n, 0);
	/* the same batch without the bad object goes in whole */
	r = apply_objects(st, texts, 2, false, "batch.yaml", 1000, &res, err, sizeof(err));
	ck_assert_msg(r == 0, "%s", err);
	ck_assert_uint_eq(count(st), 2);
	ck_assert_uint_eq(res.n, 2);
	ck_assert_str_eq(res.lines[0], "namespace/development created");
	ck_assert_str_eq(res.lines[1], "dataset.data.fluid.io/spark created");
	apply_result_free(&res);
	free((char *)texts[0]);
	free((char *)texts[1]);
	objmodel_list_free(l);
	test_store_free(st, dir);
}
END_TEST

START_TEST(namespace_must_exist)
{
	char *dir, err[1024] = "";
	struct store *st = test_store_new(&dir);
	struct apply_result res = {0};
	ck_assert_int_eq(apply_yaml(st, SOURCE "---\n" RUNTIME, false, &res, err, sizeof(err)),
			 -ENOENT);
	ck_assert_msg(strstr(err, "namespace \"development\" not found"), "%s", err);
	ck_assert_msg(strstr(err, "weir create namespace development"), "%s", err);
	ck_assert_uint_eq(count(st), 0);
	/* in the same batch, before its objects, is fine */
	ck_assert_int_eq(
	    apply_yaml(st, DEV_NS "---\n" SOURCE "---\n" RUNTIME, false, &res, err, sizeof(err)),
	    0);
	ck_assert_str_eq(res.lines[2], "alluxioruntime.data.fluid.io/spark created");
	apply_result_free(&res);
	test_store_free(st, dir);
}
END_TEST

START_TEST(create_fails_when_exists_apply_keeps_status)
{
	char *dir, err[1024] = "";
	struct store *st = test_store_new(&dir);
	struct apply_result res = {0};
	ck_assert_int_eq(apply_yaml(st, DEV_NS "---\n" SOURCE, true, &res, err, sizeof(err)), 0);
	apply_result_free(&res);
	ck_assert_int_eq(apply_yaml(st, SOURCE, true, &res, err, sizeof(err)), -EEXIST);
	ck_assert_msg(strstr(err, "datasets.data.fluid.io \"spark\" already exists"), "%s", err);
	/* the controller writes a status */
	char *j = NULL;
	ck_assert_int_eq(store_get(st, "Dataset", "development", "spark", &j), 0);
	json_object *tree = json_tokener_parse(j);
	free(j);
	json_object *status = json_object_new_object();
	json_object_object_add(status, "phase", json_object_new_string("Bound"));
	json_object_object_add(tree, "status", status);
	ck_assert_int_eq(
	    store_put(st, "Dataset", "development", "spark", json_object_to_json_string(tree), 0),
	    0);
	json_object_put(tree);
	/* apply the same manifest: unchanged; a changed spec: configured, status kept */
	ck_assert_int_eq(apply_yaml(st, SOURCE, false, &res, err, sizeof(err)), 0);
	ck_assert_str_eq(res.lines[0], "dataset.data.fluid.io/spark unchanged");
	apply_result_free(&res);
	char changed[] = SOURCE "  accessModes: [ReadOnlyMany]\n";
	ck_assert_int_eq(apply_yaml(st, changed, false, &res, err, sizeof(err)), 0);
	ck_assert_str_eq(res.lines[0], "dataset.data.fluid.io/spark configured");
	apply_result_free(&res);
	ck_assert_int_eq(store_get(st, "Dataset", "development", "spark", &j), 0);
	ck_assert_msg(strstr(j, "\"phase\":\"Bound\""), "%s", j);
	ck_assert_msg(strstr(j, "ReadOnlyMany"), "%s", j);
	free(j);
	test_store_free(st, dir);
}
END_TEST

START_TEST(delete_referenced_source_refused)
{
	char *dir, err[1024] = "", line[256] = "";
	struct store *st = test_store_new(&dir);
	struct apply_result res = {0};
	ck_assert_int_eq(apply_yaml(st, DEV_NS "---\n" PROD_NS "---\n" SOURCE "---\n" REFERENCE,
				    true, &res, err, sizeof(err)),
			 0);
	apply_result_free(&res);
	int r = apply_delete(st, "Dataset", "development", "spark", false, line, sizeof(line), err,
			     sizeof(err));
	ck_assert_int_eq(r, -EBUSY);
	ck_assert_msg(strstr(err, "referenced by 1 dataset of another namespace"), "%s", err);
	/* nor its Runtime, which holds the cache the reference reads */
	struct apply_result res2 = {0};
	ck_assert_int_eq(apply_yaml(st, RUNTIME, true, &res2, err, sizeof(err)), 0);
	apply_result_free(&res2);
	ck_assert_int_eq(apply_delete(st, "Runtime", "development", "spark", false, line,
				      sizeof(line), err, sizeof(err)),
			 -EBUSY);
	ck_assert_msg(strstr(err, "AlluxioRuntime development/spark holds the cache of dataset "
				  "development/spark"),
		      "%s", err);
	ck_assert_int_eq(apply_delete(st, "Namespace", "", "production", false, line, sizeof(line),
				      err, sizeof(err)),
			 -EBUSY);
	ck_assert_int_eq(apply_delete(st, "Namespace", "", "default", false, line, sizeof(line),
				      err, sizeof(err)),
			 -EPERM);
	ck_assert_int_eq(apply_delete(st, "Dataset", "production", "spark", false, line,
				      sizeof(line), err, sizeof(err)),
			 0);
	ck_assert_str_eq(line, "dataset.data.fluid.io \"spark\" deleted");
	ck_assert_int_eq(apply_delete(st, "Dataset", "development", "spark", false, line,
				      sizeof(line), err, sizeof(err)),
			 0);
	ck_assert_int_eq(apply_delete(st, "Dataset", "development", "spark", false, line,
				      sizeof(line), err, sizeof(err)),
			 -ENOENT);
	ck_assert_msg(strstr(err, "datasets.data.fluid.io \"spark\" not found"), "%s", err);
	test_store_free(st, dir);
}
END_TEST

Suite *apply_suite(void)
{
	Suite *s = suite_create("apply");
	TCase *tc = tcase_create("apply");
	tcase_add_test(tc, batch_is_all_or_nothing);
	tcase_add_test(tc, namespace_must_exist);
	tcase_add_test(tc, create_fails_when_exists_apply_keeps_status);
	tcase_add_test(tc, delete_referenced_source_refused);
	suite_add_tcase(s, tc);
	return s;
}
