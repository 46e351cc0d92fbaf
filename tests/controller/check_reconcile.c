// SPDX-License-Identifier: Apache-2.0
// Reconcile decisions that need no node: references to missing targets, denied grants, chains,
// datasetRef bookkeeping, delete refusal, mount plans and paths, SubDataset status.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reconcile.h"
#include "suites.h"

#include "fixtures.h"

static const char *ready_reason(const struct objmodel *ds)
{
	const struct conditions *c = &ds->dataset.status.conditions;
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->items[i].type, "Ready"))
			return c->items[i].reason;
	return "";
}

static const char *ready_message(const struct objmodel *ds)
{
	const struct conditions *c = &ds->dataset.status.conditions;
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->items[i].type, "Ready"))
			return c->items[i].message;
	return "";
}

START_TEST(reference_to_missing_target_fails)
{
	struct objmodel_list *l = test_parse(REF("production", "development/spark"));
	struct grant_result gr;
	ck_assert_int_eq(reconcile_reference(l->items[0], l, false, &gr, 10), -ENOENT);
	ck_assert_int_eq(l->items[0]->dataset.status.phase, DATASET_PHASE_FAILED);
	ck_assert_str_eq(ready_reason(l->items[0]), "ReferenceNotFound");
	ck_assert_msg(strstr(ready_message(l->items[0]), "development/spark"), "%s",
		      ready_message(l->items[0]));
	objmodel_list_free(l);
}
END_TEST

START_TEST(denied_grant_fails)
{
	struct objmodel_list *l = test_parse(SOURCE ALLOW_PROD "---\n" REF(
	    "qa", "development/spark") "---\n" REF("production", "development/spark"));
	struct grant_result gr;
	ck_assert_int_eq(reconcile_reference(l->items[1], l, false, &gr, 10), -EACCES);
	ck_assert_int_eq(l->items[1]->dataset.status.phase, DATASET_PHASE_FAILED);
	ck_assert_str_eq(ready_reason(l->items[1]), "ReferenceDenied");
	ck_assert_msg(strstr(ready_message(l->items[1]), "\"qa\""), "%s",
		      ready_message(l->items[1]));
	ck_assert_int_eq(reconcile_reference(l->items[2], l, false, &gr, 10), 0);
	ck_assert_ptr_eq(gr.source, l->items[0]);
	ck_assert(!gr.rw);
	/* datasetRef lists the granted reference only */
	ck_assert_int_eq(reconcile_dataset_refs(l, false), 0);
	ck_assert_uint_eq(l->items[0]->dataset.status.n_dataset_ref, 1);
	ck_assert_str_eq(l->items[0]->dataset.status.dataset_ref[0], "production/spark");
	objmodel_list_free(l);
}
END_TEST

START_TEST(deny_by_default_and_chains)
{
	struct objmodel_list *l = test_parse(SOURCE "---\n" REF(
	    "production", "development/spark") "---\n" REF("qa", "production/spark"));
	struct grant_result gr;
	ck_assert_int_eq(reconcile_reference(l->items[1], l, false, &gr, 10), 0);
	ck_assert_int_eq(reconcile_reference(l->items[1], l, true, &gr, 10), -EACCES);
	ck_assert_int_eq(reconcile_reference(l->items[2], l, false, &gr, 10), -ELOOP);
	ck_assert_str_eq(ready_reason(l->items[2]), "ReferenceToReference");
	objmodel_list_free(l);
}
END_TEST

START_TEST(delete_referenced_source_refused)
{
	struct objmodel_list *l =
	    test_parse(SOURCE ALLOW_PROD "---\n" REF("production", "development/spark"));
	char err[512] = "";
	ck_assert_int_eq(reconcile_delete_check(l, l->items[0], false, err, sizeof(err)), -EBUSY);
	ck_assert_msg(strstr(err, "referenced by 1 dataset of another namespace"), "%s", err);
	/* the reference itself may go */
	ck_assert_int_eq(reconcile_delete_check(l, l->items[1], false, err, sizeof(err)), 0);
	objmodel_list_free(l);
	l = test_parse(SOURCE);
	ck_assert_int_eq(reconcile_delete_check(l, l->items[0], false, err, sizeof(err)), 0);
	objmodel_list_free(l);
	/* A reference the owner never granted holds nothing: any namespace can write one, and
	 * the owner could not remove it, so it must not keep the owner from deleting. */
	l = test_parse(SOURCE ALLOW_PROD "---\n" REF("qa", "development/spark"));
	ck_assert_msg(reconcile_delete_check(l, l->items[0], false, err, sizeof(err)) == 0, "%s",
		      err);
	objmodel_list_free(l);
	l = test_parse(SOURCE "---\n" REF("qa", "development/spark"));
	ck_assert_int_eq(reconcile_delete_check(l, l->items[0], false, err, sizeof(err)), -EBUSY);
	ck_assert_msg(reconcile_delete_check(l, l->items[0], true, err, sizeof(err)) == 0, "%s",
		      err);
	objmodel_list_free(l);
}
END_TEST

START_TEST(mount_plan_s3_options_in_url)
{
	/* Fluid's S3 options reach weir-node as the URL's query; no keys are in it */
	struct objmodel_list *l = test_parse(
	    "apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {name: spark, "
	    "namespace: development}\nspec:\n  mounts:\n  - mountPoint: s3://training/imagenet\n"
	    "    options:\n      alluxio.underfs.s3.endpoint: http://127.0.0.1:8333\n"
	    "      alluxio.underfs.s3.endpoint.region: us-east-1\n"
	    "      alluxio.underfs.s3.disable.dns.buckets: \"true\"\n"
	    "---\n" RUNTIME);
	struct mount_plan p;
	char err[512] = "";
	ck_assert_msg(
	    mount_plan_make(l, "development", "spark", false, &p, err, sizeof(err)) == 0, "%s",
	    err);
	ck_assert_str_eq(p.ufs_url, "s3://training/imagenet?endpoint=http%3a%2f%2f127.0.0.1%3a8333"
				    "&region=us-east-1&path-style=true");
	objmodel_list_free(l);
	/* keys from a Secret: said to be unsupported, not silently ignored */
	l = test_parse("apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {name: spark, "
		       "namespace: development}\nspec:\n  mounts:\n  - mountPoint: s3://b\n"
		       "    encryptOptions:\n    - name: aws.secretKey\n"
		       "      valueFrom: {secretKeyRef: {name: s3-keys, key: secret-key}}\n"
		       "---\n" RUNTIME);
	ck_assert_int_eq(
	    mount_plan_make(l, "development", "spark", false, &p, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "encryptOptions"), "%s", err);
	objmodel_list_free(l);
}
END_TEST

START_TEST(mount_plan_source_and_subdataset)
{
	struct objmodel_list *l = test_parse(
	    SOURCE "---\n" RUNTIME "---\n" REF("analytics", "development/spark/spark-3.3.1/"));
	struct mount_plan p;
	char err[512] = "";
	ck_assert_msg(
	    mount_plan_make(l, "development", "spark", false, &p, err, sizeof(err)) == 0, "%s",
	    err);
	ck_assert_str_eq(p.source_id, "development_spark");
	ck_assert_str_eq(p.ufs_url, "http://127.0.0.1:1/mirror/");
	ck_assert_str_eq(p.subpath, "");
	ck_assert(!p.read_write);
	ck_assert_uint_eq(p.n_tiers, 2);
	ck_assert_str_eq(p.tiers[0].medium, "mem");
	ck_assert_str_eq(p.tiers[0].path, "/dev/shm/weir/development_spark");
	ck_assert_uint_eq(p.tiers[0].quota, 4ull << 30);
	ck_assert_str_eq(p.tiers[1].medium, "ssd");
	ck_assert_str_eq(p.tiers[1].path, "/var/cache/weir/development_spark");
	ck_assert(p.high > 0.89 && p.high < 0.91 && p.low > 0.49 && p.low < 0.51);
	ck_assert_uint_eq(p.cache_replicas, 1); /* a Runtime's replicas default to 1 */
	ck_assert_msg(mount_plan_make(l, "analytics", "spark", false, &p, err, sizeof(err)) ==
			  0,
		      "%s", err);
	ck_assert_str_eq(p.source_id, "development_spark");
	ck_assert_str_eq(p.subpath, "/spark-3.3.1");
	ck_assert_int_eq(mount_plan_make(l, "analytics", "nope", false, &p, err, sizeof(err)),
			 -ENOENT);
	ck_assert_msg(strstr(err, "\"nope\""), "%s", err);
	objmodel_list_free(l);
	/* the Runtime's replicas: its cache nodes in a cluster, for the reference too */
	l = test_parse(SOURCE "---\n"
		       "apiVersion: data.fluid.io/v1alpha1\nkind: AlluxioRuntime\nmetadata: "
		       "{name: spark, namespace: development}\nspec:\n  replicas: 3\n"
		       "  tieredstore:\n    levels:\n    - mediumtype: MEM\n      path: /dev/shm/\n"
		       "      quota: 1Gi\n"
		       "---\n" REF("analytics", "development/spark/"));
	ck_assert_msg(mount_plan_make(l, "analytics", "spark", false, &p, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_uint_eq(p.cache_replicas, 3);
	/* replicas 0, as a store written before validation refused it holds: never "every
	 * node" (weir's old reading), refused with the reason */
	for (size_t i = 0; i < l->n; i++)
		if (l->items[i]->kind == OBJMODEL_RUNTIME)
			l->items[i]->runtime.replicas = 0;
	ck_assert_int_eq(mount_plan_make(l, "analytics", "spark", false, &p, err, sizeof(err)),
			 -EINVAL);
	ck_assert_msg(strstr(err, "spec.replicas: 0 is refused") &&
			  strstr(err, "development/spark"),
		      "%s", err);
	objmodel_list_free(l);
	/* no runtime: says which one to apply */
	l = test_parse(SOURCE);
	ck_assert_int_eq(
	    mount_plan_make(l, "development", "spark", false, &p, err, sizeof(err)), -ENOENT);
	ck_assert_msg(strstr(err, "has no Runtime yet"), "%s", err);
	objmodel_list_free(l);
}
END_TEST

START_TEST(mount_plan_of_failed_dataset)
{
	struct objmodel_list *l =
	    test_parse(SOURCE ALLOW_PROD "---\n" RUNTIME "---\n" REF("qa", "development/spark"));
	struct mount_plan p;
	char err[512] = "";
	ck_assert_int_eq(mount_plan_make(l, "qa", "spark", false, &p, err, sizeof(err)),
			 -EACCES);
	ck_assert_msg(strstr(err, "dataset qa/spark is Failed"), "%s", err);
	dataset_status_fail(&l->items[0]->dataset.status, "SourceFailed", "HTTP 404", 1);
	ck_assert_int_eq(
	    mount_plan_make(l, "development", "spark", false, &p, err, sizeof(err)), -EIO);
	ck_assert_msg(strstr(err, "HTTP 404"), "%s", err);
	objmodel_list_free(l);
}
END_TEST

/* The view's owner comes from spec.owner (a reference gets its source's); a source needing
 * credentials is marked, so its views default to owner-only. */
START_TEST(mount_plan_owner_and_credentials)
{
	struct objmodel_list *l = test_parse(
	    "apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {name: spark, namespace: "
	    "development}\nspec:\n  owner: {uid: 1000, gid: 2000}\n  mounts:\n"
	    "  - mountPoint: http://127.0.0.1:1/mirror/\n    name: spark\n"
	    "---\n" RUNTIME "---\n" REF("analytics", "development/spark"));
	struct mount_plan p;
	char err[512] = "";
	ck_assert_msg(
	    mount_plan_make(l, "development", "spark", false, &p, err, sizeof(err)) == 0, "%s",
	    err);
	ck_assert_uint_eq(p.uid, 1000);
	ck_assert_uint_eq(p.gid, 2000);
	ck_assert(!p.credentials);
	ck_assert_msg(mount_plan_make(l, "analytics", "spark", false, &p, err, sizeof(err)) ==
			  0,
		      "%s", err);
	ck_assert_uint_eq(p.uid, 1000);
	ck_assert_uint_eq(p.gid, 2000);
	objmodel_list_free(l);

	l = test_parse("apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {name: spark, "
		       "namespace: development}\nspec:\n  owner: {user: root}\n  mounts:\n"
		       "  - mountPoint: https://reader:s3cret@127.0.0.1:1/mirror/\n"
		       "    name: spark\n---\n" RUNTIME);
	ck_assert_msg(
	    mount_plan_make(l, "development", "spark", false, &p, err, sizeof(err)) == 0, "%s",
	    err);
	ck_assert_uint_eq(p.uid, 0);
	objmodel_list_free(l);

	l = test_parse(
	    "apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {name: spark, namespace: "
	    "development}\nspec:\n  mounts:\n  - mountPoint: https://127.0.0.1:1/mirror/\n"
	    "    name: spark\n    encryptOptions:\n    - name: password\n      valueFrom:\n"
	    "        secretKeyRef: {name: mirror-creds, key: password}\n---\n" RUNTIME);
	ck_assert_msg(
	    mount_plan_make(l, "development", "spark", false, &p, err, sizeof(err)) == 0, "%s",
	    err);
	ck_assert(p.credentials);
	ck_assert_uint_eq(p.uid, 0);
	objmodel_list_free(l);
}
END_TEST

START_TEST(join_paths)
{
	char b[256];
	ck_assert_int_eq(mount_plan_join_path("", "/spark-3.3.1", b, sizeof(b)), 0);
	ck_assert_str_eq(b, "/spark-3.3.1");
	ck_assert_int_eq(mount_plan_join_path("/spark-3.3.1", "/", b, sizeof(b)), 0);
	ck_assert_str_eq(b, "/spark-3.3.1");
	ck_assert_int_eq(mount_plan_join_path("/a", "b/c/", b, sizeof(b)), 0);
	ck_assert_str_eq(b, "/a/b/c");
	ck_assert_int_eq(mount_plan_join_path("", "/", b, sizeof(b)), 0);
	ck_assert_str_eq(b, "/");
	ck_assert_int_eq(mount_plan_join_path("/a", "../etc", b, sizeof(b)), -EINVAL);
	ck_assert_int_lt(mount_plan_join_path("/a", "x", b, 3), 0);
}
END_TEST

START_TEST(subdataset_status_arithmetic)
{
	struct objmodel_list *l = test_parse(SOURCE "---\n" REF("analytics", "development/spark/"
									     "spark-3.3.1"));
	struct dataset_status *src = &l->items[0]->dataset.status,
			      *dst = &l->items[1]->dataset.status;
	src->phase = DATASET_PHASE_BOUND;
	src->ufs_total_known = true;
	src->ufs_total = 3661000000ull;
	src->cached = 1406000000ull;
	src->cache_known = true;
	src->cache_capacity = 4ull << 30;
	struct subtree_totals sub = {.ufs_total_known = true,
				     .ufs_total = 1406000000ull,
				     .cached = 1406000000ull,
				     .file_num_known = true,
				     .file_num = 7};
	char pct[16];
	dataset_status_mirror(dst, src, &sub);
	ck_assert_int_eq(dst->phase, DATASET_PHASE_BOUND);
	ck_assert_uint_eq(dst->cache_capacity, 4ull << 30);
	ck_assert_str_eq(dataset_cached_percentage(dst, pct, sizeof(pct)), "100.0%");
	ck_assert_str_eq(dataset_cached_percentage(src, pct, sizeof(pct)), "38.4%");
	/* a whole-dataset reference shows the source's figures */
	dataset_status_mirror(dst, src, NULL);
	ck_assert_str_eq(dataset_cached_percentage(dst, pct, sizeof(pct)), "38.4%");
	objmodel_list_free(l);
}
END_TEST

/* The signature weir-controller and weir-node both compare: FNV-1a (its published vectors), equal
 * for equal plans, different when anything a SourceRequest asks changes. */
START_TEST(plan_signature)
{
	ck_assert_uint_eq(mount_plan_sig_add(MOUNT_PLAN_SIG_SEED, "", 0), 0xcbf29ce484222325ULL);
	ck_assert_uint_eq(mount_plan_sig_add(MOUNT_PLAN_SIG_SEED, "a", 1), 0xaf63dc4c8601ec8cULL);
	ck_assert_uint_eq(mount_plan_sig_add(MOUNT_PLAN_SIG_SEED, "foobar", 6),
			  0x85944171f73967e8ULL);
	struct mount_plan *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	snprintf(a->ufs_url, sizeof(a->ufs_url), "https://example.org/data/");
	a->n_tiers = 1;
	snprintf(a->tiers[0].medium, sizeof(a->tiers[0].medium), "mem");
	snprintf(a->tiers[0].path, sizeof(a->tiers[0].path), "/dev/shm");
	a->tiers[0].quota = 1 << 30;
	a->high = 0.95;
	a->low = 0.7;
	a->cache_replicas = 1;
	memcpy(b, a, sizeof(*a));
	uint64_t sig = mount_plan_sig(a);
	ck_assert_uint_eq(mount_plan_sig(b), sig);
	/* what the signature leaves out (the view's side) does not change it */
	snprintf(b->subpath, sizeof(b->subpath), "/train");
	b->read_write = true;
	ck_assert_uint_eq(mount_plan_sig(b), sig);
	/* each field a source is made of does */
	uint64_t seen[8];
	size_t n = 0;
#define CHANGED(stmt)                                                                              \
	do {                                                                                       \
		memcpy(b, a, sizeof(*a));                                                          \
		stmt;                                                                              \
		seen[n] = mount_plan_sig(b);                                                       \
		ck_assert_uint_ne(seen[n], sig);                                                   \
		for (size_t k = 0; k < n; k++)                                                     \
			ck_assert_uint_ne(seen[k], seen[n]);                                       \
		n++;                                                                               \
	} while (0)
	CHANGED(b->ufs_url[8] = 'E');
	CHANGED(b->tiers[0].medium[0] = 's');
	CHANGED(b->tiers[0].path[5] = 'm');
	CHANGED(b->tiers[0].quota++);
	CHANGED(b->high = 0.9);
	CHANGED(b->low = 0.6);
	CHANGED(b->cache_replicas = 2);
	CHANGED(b->n_tiers = 0);
#undef CHANGED
	/* folding keys in: another number per key */
	ck_assert_uint_ne(mount_plan_sig_add(sig, "k1", 3), mount_plan_sig_add(sig, "k2", 3));
	free(a);
	free(b);
}
END_TEST

Suite *reconcile_suite(void)
{
	Suite *s = suite_create("reconcile");
	TCase *tc = tcase_create("decisions");
	tcase_add_test(tc, reference_to_missing_target_fails);
	tcase_add_test(tc, denied_grant_fails);
	tcase_add_test(tc, deny_by_default_and_chains);
	tcase_add_test(tc, delete_referenced_source_refused);
	tcase_add_test(tc, mount_plan_source_and_subdataset);
	tcase_add_test(tc, mount_plan_s3_options_in_url);
	tcase_add_test(tc, mount_plan_of_failed_dataset);
	tcase_add_test(tc, mount_plan_owner_and_credentials);
	tcase_add_test(tc, join_paths);
	tcase_add_test(tc, plan_signature);
	tcase_add_test(tc, subdataset_status_arithmetic);
	suite_add_tcase(s, tc);
	return s;
}
