// SPDX-License-Identifier: Apache-2.0
// status.viewNodes (controller/view_nodes.h): the nodes of the pods that mount a source or an
// allowed reference to it, and of a running DataLoad's shares; never a denied reference's pods,
// a claim of another namespace, nor an ended load's nodes.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reconcile.h"
#include "suites.h"
#include "view_nodes.h"
#include "fixtures.h"

#define LOAD(ns, phase)                                                                            \
	"apiVersion: data.fluid.io/v1alpha1\nkind: DataLoad\nmetadata: {name: warm, "              \
	"namespace: " ns "}\nspec:\n  dataset: {name: spark, namespace: " ns                       \
	"}\nstatus: {phase: " phase "}\n"

static size_t cached_on(void *arg, const char *source_id, char (*ret)[254], size_t max)
{
	ck_assert_str_eq(source_id, "development_spark");
	(void)arg;
	const char *n[] = {"cache-1", "cache-2"};
	for (size_t i = 0; i < 2 && i < max; i++)
		snprintf(ret[i], 254, "%s", n[i]);
	return 2;
}

/* "a,b,c" of the source's status.viewNodes */
static const char *view_nodes(const struct objmodel *ds, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < ds->dataset.status.n_view_nodes; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? "," : "",
				      ds->dataset.status.view_nodes[i]);
	return buf;
}

START_TEST(pods_of_the_source_and_its_allowed_references)
{
	struct objmodel_list *l = test_parse(SOURCE ALLOW_PROD "---\n" RUNTIME "---\n" REF(
	    "production", "development/spark") "---\n" REF("qa", "development/spark"));
	ck_assert_int_eq(reconcile_dataset_refs(l, false), 0);
	struct claim_nodes *c = claim_nodes_new();
	ck_assert_int_eq(claim_nodes_add(c, "development", "spark", "node-b"), 0);
	ck_assert_int_eq(claim_nodes_add(c, "development", "spark", "node-a"), 0);
	ck_assert_int_eq(claim_nodes_add(c, "development", "spark", "node-b"), 0);
	ck_assert_int_eq(claim_nodes_add(c, "production", "spark", "node-c"), 0);
	/* qa's reference is not in the allow list: its pods get nothing */
	ck_assert_int_eq(claim_nodes_add(c, "qa", "spark", "node-q"), 0);
	/* a claim of the same name in a namespace with no such Dataset, another claim name */
	ck_assert_int_eq(claim_nodes_add(c, "other", "spark", "node-o"), 0);
	ck_assert_int_eq(claim_nodes_add(c, "development", "sparkle", "node-s"), 0);
	ck_assert_int_eq(claim_nodes_add(c, "development", "spark", ""), 0);
	ck_assert_int_eq(view_nodes_apply(l, c, false, cached_on, NULL), 0);
	char b[512];
	ck_assert_str_eq(view_nodes(l->items[0], b, sizeof(b)), "node-a,node-b,node-c");
	/* references carry none of their own */
	ck_assert_uint_eq(l->items[2]->dataset.status.n_view_nodes, 0);
	ck_assert_uint_eq(l->items[3]->dataset.status.n_view_nodes, 0);
	/* a pass with fewer pods takes the grants away */
	claim_nodes_free(c);
	c = claim_nodes_new();
	ck_assert_int_eq(view_nodes_apply(l, c, false, cached_on, NULL), 0);
	ck_assert_uint_eq(l->items[0]->dataset.status.n_view_nodes, 0);
	claim_nodes_free(c);
	objmodel_list_free(l);
}
END_TEST

START_TEST(a_running_load_grants_its_cache_nodes)
{
	static const char *const phases[] = {"Pending", "Executing", "Complete", "Failed"};
	/* a Pending load (maybe never started) grants nothing yet */
	static const char *const want[] = {"node-a", "cache-1,cache-2,node-a", "node-a", "node-a"};
	for (size_t i = 0; i < 4; i++) {
		char yaml[4096];
		snprintf(yaml, sizeof(yaml), "%s---\n%s---\n" LOAD("development", "%s"), SOURCE,
			 RUNTIME, phases[i]);
		struct objmodel_list *l = test_parse(yaml);
		struct claim_nodes *c = claim_nodes_new();
		ck_assert_int_eq(claim_nodes_add(c, "development", "spark", "node-a"), 0);
		ck_assert_int_eq(view_nodes_apply(l, c, false, cached_on, NULL), 0);
		char b[512];
		ck_assert_msg(!strcmp(view_nodes(l->items[0], b, sizeof(b)), want[i]),
			      "a %s load: viewNodes %s, want %s", phases[i], b, want[i]);
		/* and the status says so */
		claim_nodes_free(c);
		objmodel_list_free(l);
	}
}
END_TEST

START_TEST(view_nodes_round_trip_through_status)
{
	struct objmodel_list *l =
	    test_parse(SOURCE "status:\n  phase: Bound\n  viewNodes: [node-a, node-b]\n");
	ck_assert_uint_eq(l->items[0]->dataset.status.n_view_nodes, 2);
	ck_assert_str_eq(l->items[0]->dataset.status.view_nodes[1], "node-b");
	json_object *j = NULL;
	ck_assert_int_eq(objmodel_to_json(l->items[0], &j), 0);
	json_object *st = NULL, *vn = NULL;
	ck_assert(json_object_object_get_ex(j, "status", &st));
	ck_assert(json_object_object_get_ex(st, "viewNodes", &vn));
	ck_assert_uint_eq(json_object_array_length(vn), 2);
	json_object_put(j);
	objmodel_list_free(l);
	/* not a list of names: refused */
	struct objmodel *o = NULL;
	char err[512];
	ck_assert_int_lt(objmodel_from_json("{\"apiVersion\":\"data.fluid.io/v1alpha1\",\"kind\":"
					    "\"Dataset\",\"metadata\":{\"name\":\"a\","
					    "\"namespace\":\"b\"},\"spec\":{\"mounts\":[{"
					    "\"mountPoint\":\"http://h/\"}]},\"status\":{"
					    "\"viewNodes\":{\"x\":1}}}",
					    &o, err, sizeof(err)),
			 0);
	objmodel_free(o);
}
END_TEST

Suite *view_nodes_suite(void)
{
	Suite *s = suite_create("view_nodes");
	TCase *tc = tcase_create("grants");
	tcase_add_test(tc, pods_of_the_source_and_its_allowed_references);
	tcase_add_test(tc, a_running_load_grants_its_cache_nodes);
	tcase_add_test(tc, view_nodes_round_trip_through_status);
	suite_add_tcase(s, tc);
	return s;
}
