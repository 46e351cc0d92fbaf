// SPDX-License-Identifier: Apache-2.0
// Reference resolution and grants: Fluid's open default, deny by default, allow-lists with
// subpaths and modes, and the errors for a missing or chained target.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "grant.h"
#include "objmodel.h"
#include "suites.h"
#include "yamltree.h"

static struct objmodel_list *parse(const char *text)
{
	char err[1024] = "";
	struct objmodel_list *l = NULL;
	int r = objmodel_parse_buffer("t.yaml", text, strlen(text), &l, err, sizeof(err));
	ck_assert_msg(r >= 0, "parse failed: %s", err);
	return l;
}

#define SOURCE                                                                                     \
	"apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {name: spark, namespace: "   \
	"development}\nspec:\n  mounts:\n  - mountPoint: https://mirrors.bit.edu.cn/apache/"       \
	"spark/\n"

#define ALLOW                                                                                      \
	"  sharing:\n    allow:\n    - namespace: production\n    - namespace: analytics\n"        \
	"      mode: rw\n      subPaths: [/spark-3.3.1, \"spark-3.2.3/\"]\n"

START_TEST(no_list_means_read_only_for_all)
{
	struct objmodel_list *l = parse(SOURCE);
	char reason[512] = "";
	bool rw = true;
	ck_assert_int_eq(
	    grant_check(l->items[0], "production", "", false, &rw, reason, sizeof(reason)), 0);
	ck_assert(!rw);
	rw = true;
	ck_assert_int_eq(
	    grant_check(l->items[0], "qa", "/spark-3.1.3", false, &rw, reason, sizeof(reason)), 0);
	ck_assert(!rw);
	objmodel_list_free(l);
}
END_TEST

START_TEST(no_list_with_deny_by_default)
{
	struct objmodel_list *l = parse(SOURCE);
	char reason[512] = "";
	bool rw = true;
	ck_assert_int_eq(
	    grant_check(l->items[0], "production", "", true, &rw, reason, sizeof(reason)), -EACCES);
	ck_assert(rw); /* untouched on failure */
	ck_assert_msg(strstr(reason, "dataset development/spark has no sharing.allow list"), "%s",
		      reason);
	ck_assert_msg(strstr(reason, "\"production\""), "%s", reason);
	/* The owner's own namespace is never locked out. */
	ck_assert_int_eq(
	    grant_check(l->items[0], "development", "", true, &rw, reason, sizeof(reason)), 0);
	ck_assert(!rw);
	objmodel_list_free(l);
}
END_TEST

START_TEST(allow_list_namespaces_and_subpaths)
{
	struct objmodel_list *l = parse(SOURCE ALLOW);
	const struct objmodel *src = l->items[0];
	char reason[512] = "";
	bool rw = true;

	/* Listed without subPaths: the whole dataset, read-only. */
	ck_assert_int_eq(grant_check(src, "production", "", false, &rw, reason, sizeof(reason)), 0);
	ck_assert(!rw);
	ck_assert_int_eq(
	    grant_check(src, "production", "/spark-3.1.3", false, &rw, reason, sizeof(reason)), 0);

	/* Not listed. */
	ck_assert_int_eq(grant_check(src, "qa", "", false, &rw, reason, sizeof(reason)), -EACCES);
	ck_assert_str_eq(reason, "namespace \"qa\" is not in the sharing.allow list of dataset "
				 "development/spark");
	/* A list overrides the deny-by-default switch either way. */
	ck_assert_int_eq(grant_check(src, "production", "", true, &rw, reason, sizeof(reason)), 0);

	/* Listed with subPaths: inside only, rw. */
	ck_assert_int_eq(
	    grant_check(src, "analytics", "/spark-3.3.1", false, &rw, reason, sizeof(reason)), 0);
	ck_assert(rw);
	rw = false;
	ck_assert_int_eq(grant_check(src, "analytics", "spark-3.3.1/python/", false, &rw, reason,
				     sizeof(reason)),
			 0);
	ck_assert(rw);
	ck_assert_int_eq(
	    grant_check(src, "analytics", "/spark-3.2.3", false, &rw, reason, sizeof(reason)), 0);
	ck_assert_int_eq(
	    grant_check(src, "analytics", "/spark-3.3.10", false, &rw, reason, sizeof(reason)),
	    -EACCES);
	ck_assert_msg(strstr(reason, "subpath \"/spark-3.3.10\" is outside what dataset "
				     "development/spark grants namespace \"analytics\" "
				     "(/spark-3.3.1, /spark-3.2.3)"),
		      "%s", reason);
	ck_assert_int_eq(grant_check(src, "analytics", "", false, &rw, reason, sizeof(reason)),
			 -EACCES);
	ck_assert_msg(strstr(reason, "not the whole dataset"), "%s", reason);
	ck_assert_int_eq(
	    grant_check(src, "analytics", "/spark-3.3.1/../..", false, &rw, reason, sizeof(reason)),
	    -EINVAL);
	objmodel_list_free(l);

	/* An empty list grants nobody; "*" grants everybody. */
	l = parse(SOURCE "  sharing: {allow: []}\n");
	ck_assert(l->items[0]->dataset.spec.has_allow_list);
	ck_assert_int_eq(
	    grant_check(l->items[0], "production", "", false, &rw, reason, sizeof(reason)),
	    -EACCES);
	objmodel_list_free(l);
	l = parse(SOURCE "  sharing: {allow: [{namespace: \"*\", mode: rw}]}\n");
	ck_assert_int_eq(
	    grant_check(l->items[0], "anyone", "/x", true, &rw, reason, sizeof(reason)), 0);
	ck_assert(rw);
	objmodel_list_free(l);

	char err[256];
	struct objmodel_list *bad = NULL;
	const char *t = SOURCE "  sharing: {allow: [{namespace: qa, mode: write}]}\n";
	ck_assert_int_eq(objmodel_parse_buffer("t.yaml", t, strlen(t), &bad, err, sizeof(err)),
			 -EINVAL);
	ck_assert_msg(strstr(err, "spec.sharing.allow[0].mode: bad mode \"write\" (want ro or rw)"),
		      "%s", err);
	t = SOURCE "  sharing: {allow: [{namespace: qa, subPaths: [/a/../..]}]}\n";
	ck_assert_int_eq(objmodel_parse_buffer("t.yaml", t, strlen(t), &bad, err, sizeof(err)),
			 -EINVAL);
	ck_assert_msg(strstr(err, "spec.sharing.allow[0].subPaths[0]: bad subpath"), "%s", err);
}
END_TEST

struct store {
	struct objmodel_list *lists[4];
	size_t n;
};

static const struct objmodel *lookup(void *userdata, const char *ns, const char *name)
{
	struct store *s = userdata;
	for (size_t i = 0; i < s->n; i++)
		for (size_t j = 0; j < s->lists[i]->n; j++) {
			const struct objmodel *o = s->lists[i]->items[j];
			if (o->kind == OBJMODEL_DATASET && !strcmp(o->meta.namespace, ns) &&
			    !strcmp(o->meta.name, name))
				return o;
		}
	return NULL;
}

#define REF(ns, name, mp)                                                                          \
	"apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {name: " name                \
	", namespace: " ns "}\nspec:\n  mounts:\n  - mountPoint: " mp "\n"

START_TEST(resolve_references)
{
	struct store s = {0};
	struct grant_result res;
	char reason[512];
	s.lists[s.n++] = parse(SOURCE ALLOW);
	s.lists[s.n++] = parse(REF("production", "spark", "dataset://development/spark"));
	s.lists[s.n++] =
	    parse(REF("analytics", "spark", "dataset://development/spark/spark-3.3.1"));
	s.lists[s.n++] = parse(REF("qa", "spark", "dataset://production/spark"));

	ck_assert_int_eq(
	    grant_resolve(s.lists[1]->items[0], lookup, &s, false, &res, reason, sizeof(reason)),
	    0);
	ck_assert_ptr_eq(res.source, s.lists[0]->items[0]);
	ck_assert_str_eq(res.ref.namespace, "development");
	ck_assert_str_eq(res.ref.subpath, "");
	ck_assert(!res.rw);

	ck_assert_int_eq(
	    grant_resolve(s.lists[2]->items[0], lookup, &s, false, &res, reason, sizeof(reason)),
	    0);
	ck_assert_str_eq(res.ref.subpath, "/spark-3.3.1");
	ck_assert(res.rw);

	/* The target is itself a reference. */
	ck_assert_int_eq(
	    grant_resolve(s.lists[3]->items[0], lookup, &s, false, &res, reason, sizeof(reason)),
	    -ELOOP);
	ck_assert_msg(strstr(reason, "production/spark is itself a reference"), "%s", reason);

	/* The target does not exist. */
	struct objmodel_list *missing = parse(REF("qa", "x", "dataset://development/nope"));
	ck_assert_int_eq(
	    grant_resolve(missing->items[0], lookup, &s, false, &res, reason, sizeof(reason)),
	    -ENOENT);
	ck_assert_msg(strstr(reason, "the referenced dataset development/nope does not exist"),
		      "%s", reason);
	objmodel_list_free(missing);

	/* Denied: the reason is what the Failed condition will say. */
	missing = parse(REF("qa", "y", "dataset://development/spark"));
	ck_assert_int_eq(
	    grant_resolve(missing->items[0], lookup, &s, false, &res, reason, sizeof(reason)),
	    -EACCES);
	ck_assert_msg(strstr(reason, "\"qa\" is not in the sharing.allow list"), "%s", reason);
	objmodel_list_free(missing);

	/* A readOnly mount keeps an rw grant read-only. */
	missing = parse(REF("analytics", "ro",
			    "dataset://development/spark/spark-3.3.1") "    readOnly: true\n");
	ck_assert_int_eq(
	    grant_resolve(missing->items[0], lookup, &s, false, &res, reason, sizeof(reason)), 0);
	ck_assert(!res.rw);
	objmodel_list_free(missing);

	/* Not a reference at all. */
	ck_assert_int_eq(
	    grant_resolve(s.lists[0]->items[0], lookup, &s, false, &res, reason, sizeof(reason)),
	    -EINVAL);
	for (size_t i = 0; i < s.n; i++)
		objmodel_list_free(s.lists[i]);
}
END_TEST

START_TEST(references_block_deletion)
{
	struct objmodel_list *l = parse(SOURCE);
	struct dataset_status *st = &l->items[0]->dataset.status;
	char err[512];
	ck_assert_int_eq(grant_delete_check(l->items[0], err, sizeof(err)), 0);
	ck_assert_int_eq(dataset_status_add_ref(st, "production", "spark"), 0);
	ck_assert_int_eq(dataset_status_add_ref(st, "analytics", "spark-331"), 0);
	ck_assert_int_eq(dataset_status_add_ref(st, "production", "spark"), 0);
	ck_assert_uint_eq(st->n_dataset_ref, 2);
	ck_assert_str_eq(st->dataset_ref[0], "analytics/spark-331");
	ck_assert_int_eq(grant_delete_check(l->items[0], err, sizeof(err)), -EBUSY);
	ck_assert_str_eq(err, "dataset development/spark is referenced by 2 datasets of other "
			      "namespaces; delete those datasets first (names of other namespaces "
			      "are not shown: a cluster admin sees them with `weir describe "
			      "dataset`)");
	ck_assert_int_eq(dataset_status_remove_ref(st, "analytics", "spark-331"), 1);
	ck_assert_int_eq(dataset_status_remove_ref(st, "analytics", "spark-331"), 0);
	ck_assert_int_eq(dataset_status_remove_ref(st, "production", "spar"), 0);
	ck_assert_int_eq(grant_delete_check(l->items[0], err, sizeof(err)), -EBUSY);
	ck_assert_str_eq(err, "dataset development/spark is referenced by 1 dataset of another "
			      "namespace; delete that dataset first (names of other namespaces are "
			      "not shown: a cluster admin sees them with `weir describe dataset`)");
	/* one of its own namespace is named: its owner's business */
	ck_assert_int_eq(dataset_status_add_ref(st, "development", "spark-b"), 0);
	ck_assert_int_eq(grant_delete_check(l->items[0], err, sizeof(err)), -EBUSY);
	ck_assert_str_eq(err, "dataset development/spark is referenced by development/spark-b and "
			      "1 dataset of another namespace; delete those datasets first (names "
			      "of other namespaces are not shown: a cluster admin sees them with "
			      "`weir describe dataset`)");
	ck_assert_int_eq(dataset_status_remove_ref(st, "development", "spark-b"), 1);
	/* a namespace whose name is a prefix of the source's is another namespace */
	ck_assert_int_eq(dataset_status_add_ref(st, "develop", "x"), 0);
	ck_assert_int_eq(grant_delete_check(l->items[0], err, sizeof(err)), -EBUSY);
	ck_assert_msg(!strstr(err, "develop/x"), "%s", err);
	ck_assert_int_eq(dataset_status_remove_ref(st, "develop", "x"), 1);
	ck_assert_int_eq(dataset_status_remove_ref(st, "production", "spark"), 1);
	ck_assert_int_eq(grant_delete_check(l->items[0], err, sizeof(err)), 0);
	objmodel_list_free(l);
}
END_TEST

#define LIST_HEAD "apiVersion: v1\nitems:\n- apiVersion: data.fluid.io/v1alpha1\n"

START_TEST(runtime_binding)
{
	char err[512];
	struct objmodel_list *l = parse(
	    SOURCE "---\napiVersion: data.fluid.io/v1alpha1\nkind: Runtime\nmetadata: {name: "
		   "spark, namespace: development}\nspec:\n  tieredstore:\n    levels:\n"
		   "    - {mediumtype: MEM, path: /dev/shm, quota: 4Gi}\n"
		   "    - {mediumtype: SSD, path: /var/cache/weir, quota: 100Gi, high: \"0.9\", "
		   "low: \"0.8\"}\n");
	struct objmodel_list *ref =
	    parse(REF("production", "spark", "dataset://development/spark"));
	const struct objmodel *rt = l->items[1];
	ck_assert_str_eq(rt->kind_name, "Runtime");
	ck_assert_int_eq(rt->runtime.replicas, 1);
	ck_assert_uint_eq(runtime_capacity(&rt->runtime), 104ULL << 30);
	ck_assert_double_eq_tol(rt->runtime.levels[1].low, 0.8, 1e-9);
	ck_assert_int_eq(runtime_bind_check(rt, l->items[0], err, sizeof(err)), 0);
	ck_assert_int_eq(runtime_bind_check(rt, NULL, err, sizeof(err)), -ENOENT);
	ck_assert_msg(strstr(err, "waits for Dataset development/spark"), "%s", err);
	ck_assert_int_eq(runtime_bind_check(rt, ref->items[0], err, sizeof(err)), -ENOENT);
	/* A runtime named like a reference. */
	struct objmodel *rt2 = NULL;
	ck_assert_int_eq(objmodel_dup(rt, &rt2), 0);
	free(rt2->meta.namespace);
	rt2->meta.namespace = strdup("production");
	ck_assert_int_eq(runtime_bind_check(rt2, ref->items[0], err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "Dataset production/spark is a reference to "
				  "dataset://development/spark"),
		      "%s", err);
	objmodel_free(rt2);

	/* kubectl's List wrapper for -o json / -o yaml. */
	json_object *j = NULL;
	char *y = NULL;
	ck_assert_int_eq(objmodel_list_to_json(l->items, l->n, &j), 0);
	ck_assert_int_eq(yamltree_emit_json(j, &y), 0);
	ck_assert_msg(!strncmp(y, LIST_HEAD, strlen(LIST_HEAD)), "%s", y);
	ck_assert_msg(strstr(y, "\nkind: List\nmetadata:\n  resourceVersion: \"\"\n"), "%s", y);
	free(y);
	json_object_put(j);
	objmodel_list_free(ref);
	objmodel_list_free(l);
}
END_TEST

Suite *grant_suite(void)
{
	Suite *s = suite_create("grant");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, no_list_means_read_only_for_all);
	tcase_add_test(tc, no_list_with_deny_by_default);
	tcase_add_test(tc, allow_list_namespaces_and_subpaths);
	tcase_add_test(tc, resolve_references);
	tcase_add_test(tc, references_block_deletion);
	tcase_add_test(tc, runtime_binding);
	suite_add_tcase(s, tc);
	return s;
}
