// SPDX-License-Identifier: Apache-2.0
// Reference resolution and grants: Fluid's open default, deny by default, allow-lists with
// subpaths and modes, and the errors for a missing or chained target.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "grant.h"
#include "objmodel.h"
#include "suites.h"

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

Suite *grant_suite(void)
{
	Suite *s = suite_create("grant");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, no_list_means_read_only_for_all);
	tcase_add_test(tc, no_list_with_deny_by_default);
	tcase_add_test(tc, allow_list_namespaces_and_subpaths);
	tcase_add_test(tc, resolve_references);
	suite_add_tcase(s, tc);
	return s;
}
