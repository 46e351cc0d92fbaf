// SPDX-License-Identifier: Apache-2.0
// The object model: the walkthrough's manifests field by field, hostile input, validation
// rules, JSON/YAML round trips and status arithmetic.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws_config.h"
#include "cron.h"
#include "objmodel.h"
#include "quantity.h"
#include "suites.h"
#include "yamltree.h"

#define EXAMPLES WEIR_SOURCE_DIR "/examples/walkthrough/"
#define LONG63 "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0"

static struct objmodel_list *parse_ok(const char *text)
{
	char err[1024] = "";
	struct objmodel_list *l = NULL;
	int r = objmodel_parse_buffer("t.yaml", text, strlen(text), &l, err, sizeof(err));
	ck_assert_msg(r >= 0, "parse failed: %s", err);
	ck_assert_ptr_nonnull(l);
	return l;
}

/* Parses text expecting failure with code want and a message containing msg. */
static void parse_fails(const char *text, size_t len, int want, const char *msg)
{
	char err[1024] = "";
	struct objmodel_list *l = (struct objmodel_list *)0x1;
	int r = objmodel_parse_buffer("t.yaml", text, len, &l, err, sizeof(err));
	ck_assert_msg(r == want, "want %d, got %d (%s)", want, r, err);
	ck_assert_msg(l == (struct objmodel_list *)0x1, "ret_list set on failure");
	ck_assert_msg(strstr(err, msg), "message \"%s\" lacks \"%s\"", err, msg);
}

static void parse_fails_str(const char *text, const char *msg)
{
	parse_fails(text, strlen(text), -EINVAL, msg);
}

START_TEST(walkthrough_dataset_and_runtime)
{
	char err[512];
	struct objmodel_list *l = NULL;
	int r = objmodel_parse_file(EXAMPLES "dataset.yaml", &l, err, sizeof(err));
	ck_assert_msg(r == 2, "%d: %s", r, err);
	ck_assert_uint_eq(l->n, 2);

	const struct objmodel *ds = l->items[0];
	ck_assert_int_eq(ds->kind, OBJMODEL_DATASET);
	ck_assert_str_eq(ds->kind_name, "Dataset");
	ck_assert_str_eq(ds->api_version, "data.fluid.io/v1alpha1");
	ck_assert_str_eq(ds->meta.name, "spark");
	ck_assert_str_eq(ds->meta.namespace, "development");
	ck_assert_uint_eq(ds->meta.labels.n, 0);
	ck_assert_uint_eq(ds->dataset.spec.n_mounts, 1);
	const struct dataset_mount *m = &ds->dataset.spec.mounts[0];
	ck_assert_str_eq(m->mount_point, "https://mirrors.bit.edu.cn/apache/spark/");
	ck_assert_str_eq(m->name, "spark");
	ck_assert_str_eq(m->path, "/");
	ck_assert(!m->read_only);
	ck_assert_uint_eq(m->options.n, 0);
	ck_assert_uint_eq(m->n_encrypt_options, 0);
	ck_assert(!ds->dataset.spec.has_allow_list);
	ck_assert(!dataset_is_reference(ds));
	ck_assert_int_eq(ds->dataset.status.phase, DATASET_PHASE_NONE);
	ck_assert_uint_eq(ds->n_warnings, 0);

	const struct objmodel *rt = l->items[1];
	ck_assert_int_eq(rt->kind, OBJMODEL_RUNTIME);
	ck_assert_str_eq(rt->kind_name, "AlluxioRuntime");
	ck_assert_str_eq(rt->meta.name, "spark");
	ck_assert_str_eq(rt->meta.namespace, "development");
	ck_assert_int_eq(rt->runtime.replicas, 1);
	ck_assert_uint_eq(rt->runtime.n_levels, 1);
	const struct tier_level *lv = &rt->runtime.levels[0];
	ck_assert_int_eq(lv->medium, MEDIUM_MEM);
	ck_assert_str_eq(lv->path, "/dev/shm");
	ck_assert_uint_eq(lv->quota, 4ULL << 30);
	ck_assert_double_eq_tol(lv->high, 0.95, 1e-9);
	ck_assert_double_eq_tol(lv->low, 0.7, 1e-9);
	ck_assert_uint_eq(rt->n_warnings, 0);
	objmodel_list_free(l);
}
END_TEST

START_TEST(walkthrough_dataload)
{
	char err[512];
	struct objmodel_list *l = NULL;
	ck_assert_int_eq(objmodel_parse_file(EXAMPLES "dataload.yaml", &l, err, sizeof(err)), 1);
	const struct objmodel *o = l->items[0];
	ck_assert_int_eq(o->kind, OBJMODEL_DATALOAD);
	ck_assert_str_eq(o->meta.name, "spark");
	ck_assert_str_eq(o->meta.namespace, "development");
	ck_assert_str_eq(o->dataload.spec.dataset_name, "spark");
	ck_assert_str_eq(o->dataload.spec.dataset_namespace, "development");
	ck_assert_uint_eq(o->dataload.spec.n_targets, 1);
	ck_assert_str_eq(o->dataload.spec.targets[0].path, "/spark-3.3.1");
	ck_assert_int_eq(o->dataload.spec.targets[0].replicas, 0);
	ck_assert(!o->dataload.spec.load_metadata);
	ck_assert_int_eq(o->dataload.spec.policy, DATALOAD_ONCE);
	ck_assert_ptr_null(o->dataload.spec.schedule);
	ck_assert_int_eq(o->dataload.status.phase, DATALOAD_PHASE_NONE);
	objmodel_list_free(l);
}
END_TEST

START_TEST(walkthrough_production_reference)
{
	char err[512];
	struct objmodel_list *l = NULL;
	struct dataset_ref ref;
	ck_assert_int_eq(
	    objmodel_parse_file(EXAMPLES "spark-production.yaml", &l, err, sizeof(err)), 1);
	const struct objmodel *o = l->items[0];
	ck_assert_str_eq(o->meta.namespace, "production");
	ck_assert(dataset_is_reference(o));
	ck_assert_uint_eq(o->dataset.spec.n_mounts, 1);
	ck_assert_ptr_null(o->dataset.spec.mounts[0].name);
	ck_assert_int_eq(
	    dataset_ref_parse(o->dataset.spec.mounts[0].mount_point, &ref, err, sizeof(err)), 0);
	ck_assert_str_eq(ref.namespace, "development");
	ck_assert_str_eq(ref.name, "spark");
	ck_assert_str_eq(ref.subpath, "");
	objmodel_list_free(l);

	ck_assert_int_eq(objmodel_parse_file(EXAMPLES "subdataset.yaml", &l, err, sizeof(err)), 1);
	ck_assert(dataset_is_reference(l->items[0]));
	ck_assert_int_eq(dataset_ref_parse(l->items[0]->dataset.spec.mounts[0].mount_point, &ref,
					   err, sizeof(err)),
			 0);
	ck_assert_str_eq(ref.subpath, "/spark-3.3.1");
	objmodel_list_free(l);
}
END_TEST

START_TEST(allow_list_example)
{
	char err[512];
	struct objmodel_list *l = NULL;
	ck_assert_int_eq(
	    objmodel_parse_file(EXAMPLES "dataset-allow-list.yaml", &l, err, sizeof(err)), 1);
	const struct dataset_spec *sp = &l->items[0]->dataset.spec;
	ck_assert(sp->has_allow_list);
	ck_assert_uint_eq(sp->n_allow, 2);
	ck_assert_str_eq(sp->allow[0].namespace, "production");
	ck_assert_int_eq(sp->allow[0].mode, GRANT_RO);
	ck_assert_uint_eq(sp->allow[0].n_sub_paths, 0);
	ck_assert_str_eq(sp->allow[1].namespace, "analytics");
	ck_assert_int_eq(sp->allow[1].mode, GRANT_RW);
	ck_assert_uint_eq(sp->allow[1].n_sub_paths, 1);
	ck_assert_str_eq(sp->allow[1].sub_paths[0], "/spark-3.3.1");
	objmodel_list_free(l);
}
END_TEST

START_TEST(every_dataset_field)
{
	struct objmodel_list *l = parse_ok(
	    "apiVersion: data.fluid.io/v1alpha1\n"
	    "kind: Dataset\n"
	    "metadata:\n"
	    "  name: imagenet\n"
	    "  labels: {team: vision}\n"
	    "  annotations: {note: \"x: y\"}\n"
	    "  creationTimestamp: \"2026-11-29T20:13:36Z\"\n"
	    "spec:\n"
	    "  mounts:\n"
	    "  - mountPoint: s3://bucket/imagenet\n"
	    "    name: imagenet\n"
	    "    path: /imagenet\n"
	    "    readOnly: true\n"
	    "    options: {aws.region: eu-west-1}\n"
	    "    encryptOptions:\n"
	    "    - name: aws.accessKeyId\n"
	    "      valueFrom: {secretKeyRef: {name: s3-creds, key: id}}\n"
	    "  accessModes: [ReadOnlyMany]\n"
	    "  owner: {uid: 1000, gid: 100, user: alice, group: users}\n"
	    "  placement: Shared\n"
	    "  sharedOptions: {a: b}\n"
	    "  nodeAffinity: {required: {}}\n"
	    "status:\n"
	    "  phase: Bound\n"
	    "  ufsTotal: 3.41GiB\n"
	    "  fileNum: \"7\"\n"
	    "  cacheStates: {cached: 0.00B, cacheCapacity: 4.00GiB, cachedPercentage: 0.0%,\n"
	    "                cacheHitRatio: 12.5%}\n"
	    "  conditions:\n"
	    "  - {type: Ready, status: \"True\", reason: DatasetReady, message: ok,\n"
	    "     lastTransitionTime: \"2026-11-29T20:14:00Z\"}\n"
	    "  datasetRef: [production/spark]\n");
	const struct objmodel *o = l->items[0];
	ck_assert_str_eq(o->meta.namespace, "default");
	ck_assert_str_eq(o->meta.labels.items[0].key, "team");
	ck_assert_str_eq(o->meta.labels.items[0].value, "vision");
	ck_assert_str_eq(o->meta.annotations.items[0].value, "x: y");
	ck_assert_int_eq(o->meta.creation_timestamp, 1795983216);
	const struct dataset_mount *m = &o->dataset.spec.mounts[0];
	ck_assert(m->read_only);
	ck_assert_str_eq(m->options.items[0].key, "aws.region");
	ck_assert_str_eq(m->encrypt_options[0].name, "aws.accessKeyId");
	ck_assert_str_eq(m->encrypt_options[0].secret_name, "s3-creds");
	ck_assert_str_eq(m->encrypt_options[0].secret_key, "id");
	ck_assert_str_eq(o->dataset.spec.access_modes[0], "ReadOnlyMany");
	ck_assert(o->dataset.spec.owner.set && o->dataset.spec.owner.uid_set);
	ck_assert_int_eq(o->dataset.spec.owner.uid, 1000);
	ck_assert_int_eq(o->dataset.spec.owner.gid, 100);
	ck_assert_str_eq(o->dataset.spec.owner.user, "alice");
	ck_assert_str_eq(o->dataset.spec.placement, "Shared");
	ck_assert_str_eq(o->dataset.spec.shared_options.items[0].value, "b");
	ck_assert_uint_eq(o->n_warnings, 1);
	ck_assert_str_eq(o->warnings[0], "spec.nodeAffinity: ignored by weir");
	const struct dataset_status *st = &o->dataset.status;
	ck_assert_int_eq(st->phase, DATASET_PHASE_BOUND);
	ck_assert(st->ufs_total_known && st->cache_known && st->hit_ratio_known);
	ck_assert_uint_eq(st->cache_capacity, 4ULL << 30);
	ck_assert_uint_eq(st->cached, 0);
	ck_assert_double_eq_tol(st->cache_hit_ratio, 0.125, 1e-9);
	ck_assert_uint_eq(st->file_num, 7);
	ck_assert_str_eq(st->conditions.items[0].reason, "DatasetReady");
	ck_assert_int_eq(st->conditions.items[0].last_transition_time, 1795983240);
	ck_assert_str_eq(st->dataset_ref[0], "production/spark");
	objmodel_list_free(l);
}
END_TEST

#define RT_HEAD                                                                                    \
	"apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {name: spark, namespace: "   \
	"development}\nspec:\n  mounts:\n  - mountPoint: https://h/\n---\n"                        \
	"apiVersion: data.fluid.io/v1alpha1\nkind: AlluxioRuntime\nmetadata:\n  name: spark\n"     \
	"  namespace: development\nspec:\n  replicas: 1\n  tieredstore:\n    levels:\n"

START_TEST(rejects_bad_runtime_values)
{
	parse_fails_str(RT_HEAD "    - {mediumtype: MEM, path: /dev/shm, quota: 4Gx}\n",
			"t.yaml: document 2 (AlluxioRuntime development/spark): "
			"spec.tieredstore.levels[0].quota: bad quantity \"4Gx\"");
	parse_fails_str(RT_HEAD "    - {mediumtype: MEM, path: /dev/shm, quota: 4Gi, high: 1.2}\n",
			"spec.tieredstore.levels[0].high: \"1.2\" is outside 0..1");
	parse_fails_str(RT_HEAD
			"    - {mediumtype: MEM, path: /dev/shm, quota: 4Gi, low: \"-0.1\"}\n",
			"spec.tieredstore.levels[0].low: \"-0.1\" is outside 0..1");
	parse_fails_str(RT_HEAD "    - {mediumtype: MEM, path: /dev/shm, quota: 4Gi, high: \"0.5\","
				" low: \"0.9\"}\n",
			"spec.tieredstore.levels[0].low: 0.90 is above high 0.50");
	parse_fails_str(RT_HEAD "    - {mediumtype: NVMe, path: /dev/shm, quota: 4Gi}\n",
			"spec.tieredstore.levels[0].mediumtype: bad mediumtype \"NVMe\"");
	parse_fails_str(RT_HEAD "    - {mediumtype: MEM, path: /dev/shm}\n",
			"spec.tieredstore.levels[0].quota: missing required field");
	parse_fails_str(RT_HEAD "    - {mediumtype: MEM, path: /dev/shm, quoat: 4Gi}\n",
			"spec.tieredstore.levels[0].quoat: unknown field \"quoat\"");
	parse_fails_str(RT_HEAD "      mediumtype: MEM\n",
			"spec.tieredstore.levels: expected a list, got a map");
	parse_fails_str(RT_HEAD "    - {mediumtype: MEM, path: /dev/shm, quota: 4Gi}\n"
				"  replicas: 2\n",
			"duplicate key \"replicas\"");
	/* replicas: 0 is Fluid's "no cache workers", not weir's old "every node": refused */
	parse_fails_str(
	    "apiVersion: data.fluid.io/v1alpha1\nkind: AlluxioRuntime\nmetadata: "
	    "{name: spark, namespace: development}\nspec:\n  replicas: 0\n"
	    "  tieredstore: {levels: [{mediumtype: MEM, path: /dev/shm, quota: 4Gi}]}\n",
	    "spec.replicas: 0 is refused: in Fluid it scales the Runtime's cache workers "
	    "to none");
	parse_fails_str(RT_HEAD "    - {mediumtype: MEM, path: /dev/shm, quota: [4Gi]}\n",
			"levels[0].quota: expected a scalar, got a list");
	parse_fails_str("apiVersion: data.fluid.io/v1alpha1\nkind: DataLoad\nmetadata: {name: a}\n"
			"spec: {dataset: {name: d}, target: [{path: /a, replicas: many}]}\n",
			"spec.target[0].replicas: expected an integer, got \"many\"");
	parse_fails_str("apiVersion: data.fluid.io/v1alpha1\nkind: DataLoad\nmetadata: {name: a}\n"
			"spec: {dataset: {name: d}, loadMetadata: maybe}\n",
			"spec.loadMetadata: expected true or false, got \"maybe\"");
}
END_TEST

START_TEST(ignored_fields_are_reported_and_kept)
{
	char *json = NULL, *yaml = NULL;
	struct objmodel_list *l = parse_ok(
	    RT_HEAD "    - {mediumtype: SSD, path: /mnt/ssd, quota: 100G, volumeType: hostPath}\n"
		    "  fuse:\n    args: [-oro]\n  properties: {alluxio.user.block.size: 64MB}\n");
	const struct objmodel *rt = l->items[1];
	ck_assert_uint_eq(rt->n_warnings, 3);
	ck_assert_str_eq(rt->warnings[0], "spec.tieredstore.levels[0].volumeType: ignored by weir");
	ck_assert_str_eq(rt->warnings[1], "spec.fuse: ignored by weir");
	ck_assert_str_eq(rt->warnings[2], "spec.properties: ignored by weir");
	ck_assert_int_eq(rt->runtime.levels[0].medium, MEDIUM_SSD);
	ck_assert_uint_eq(rt->runtime.levels[0].quota, 100000000000ULL);
	ck_assert_int_eq(objmodel_to_json_string(rt, false, &json), 0);
	ck_assert_msg(strstr(json, "\"fuse\":{\"args\":[\"-oro\"]}"), "%s", json);
	ck_assert_msg(strstr(json, "\"volumeType\":\"hostPath\""), "%s", json);
	ck_assert_msg(strstr(json, "\"alluxio.user.block.size\":\"64MB\""), "%s", json);
	ck_assert_int_eq(objmodel_to_yaml(rt, &yaml), 0);
	ck_assert_msg(strstr(yaml, "  fuse:\n    args:\n    - -oro\n"), "%s", yaml);
	free(json);
	free(yaml);
	objmodel_list_free(l);
}
END_TEST

START_TEST(rejects_bad_documents)
{
	parse_fails_str("apiVersion: v1\nkind: Pod\nmetadata: {name: nginx}\nspec: {}\n",
			"t.yaml: document 1: kind: unknown kind \"Pod\"");
	parse_fails_str(
	    "apiVersion: data.fluid.io/v1beta9\nkind: Dataset\nmetadata: {name: a}\n"
	    "spec: {mounts: [{mountPoint: https://h/}]}\n",
	    "apiVersion: unknown apiVersion \"data.fluid.io/v1beta9\" for kind Dataset");
	parse_fails_str("kind: Dataset\nmetadata: {name: a}\n",
			"document 1: apiVersion: missing required field");
	parse_fails_str(
	    "apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {namespace: x}\n"
	    "spec: {mounts: [{mountPoint: https://h/}]}\n",
	    "document 1: metadata.name: missing required field");
	parse_fails_str("apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {name: a}\n",
			"(Dataset default/a): spec: missing required field");
	parse_fails_str("apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {name: a}\n"
			"spec: {mounts: {mountPoint: https://h/}}\n",
			"spec.mounts: expected a list, got a map");
	parse_fails_str("apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {name: a}\n"
			"spec: {mounts: [{name: x}]}\n",
			"spec.mounts[0].mountPoint: missing required field");
	parse_fails_str("apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {name: a}\n"
			"spec: {mounts: [{mountPoint: ftp://h/}]}\n",
			"spec.mounts[0].mountPoint: unsupported \"ftp://h/\"");
	parse_fails_str("apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {name: A_b}\n"
			"spec: {mounts: [{mountPoint: https://h/}]}\n",
			"metadata.name: bad name \"A_b\"");
	parse_fails_str("apiVersion: data.fluid.io/v1alpha1\nkind: DataLoad\nmetadata: {name: a}\n"
			"spec: {dataset: {name: d}, policy: Cron}\n",
			"spec.schedule: required with policy Cron");
	parse_fails_str("apiVersion: data.fluid.io/v1alpha1\nkind: DataLoad\nmetadata: {name: a}\n"
			"spec: {dataset: {name: d}, policy: Cron, schedule: \"61 * * * *\"}\n",
			"spec.schedule: schedule \"61 * * * *\": minute field \"61\" is not valid");
	parse_fails_str("apiVersion: data.fluid.io/v1alpha1\nkind: DataLoad\nmetadata: {name: a}\n"
			"spec: {dataset: {name: d}, policy: Sometimes}\n",
			"spec.policy: bad value \"Sometimes\" (want one of Once, Cron)");
	parse_fails_str("apiVersion: data.fluid.io/v1alpha1\nkind: DataLoad\nmetadata: {name: a}\n"
			"spec: {dataset: {name: d}, target: [{path: /a/../../etc}]}\n",
			"spec.target[0].path: bad path");
	parse_fails_str("- a\n- b\n", "document 1: expected a map with apiVersion");
	parse_fails_str("a: [1, 2\n", "t.yaml: line ");
	parse_fails_str("apiVersion: v1\nkind: Namespace\nmetadata: {name: dev}\n---\n"
			"apiVersion: v1\nkind: Namespace\nmetadata: {name: dev}\n",
			"document 2 (Namespace dev): the same object as document 1");
}
END_TEST

/* What apply accepts as a schedule is exactly what the controller can run. */
START_TEST(cron_agrees)
{
	static const char *const specs[] = {
	    "*/5 * * * *",
	    "0,30 * * * *",
	    "@hourly",
	    "@daily",
	    "@every 1h",
	    "0 0 * * * *",
	    "0 0 * * MON",
	    "61 * * * *",
	    "* * * 0 *",
	    "*/0 * * * *",
	    "5-1 * * * *",
	    "0 0 31 2 *",
	    "0 0 1-7/2 * 1-5",
	    "?",
	    "",
	    "0 0 * * 7",
	    "0 0 * * 8",
	    "@",
	};
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		char y[512], err[512];
		snprintf(y, sizeof(y),
			 "apiVersion: data.fluid.io/v1alpha1\nkind: DataLoad\nmetadata: {name: a}\n"
			 "spec: {dataset: {name: d}, policy: Cron, schedule: \"%s\"}\n",
			 specs[i]);
		struct objmodel_list *l = NULL;
		int applied = objmodel_parse_buffer("t.yaml", y, strlen(y), &l, err, sizeof(err));
		objmodel_list_free(l);
		struct cron c;
		int runs = cron_parse(specs[i], &c, err, sizeof(err));
		ck_assert_msg((applied >= 0) == (runs == 0), "\"%s\": apply %d, cron %d", specs[i],
			      applied, runs);
	}
}
END_TEST

START_TEST(s3_mount_options)
{
	/* Fluid's form, unchanged, and weir's short names; sharedOptions under the mount's */
	struct objmodel_list *l = parse_ok(
	    "apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {name: imagenet}\n"
	    "spec:\n  sharedOptions: {region: eu-west-1, alluxio.underfs.s3.inherit.acl: 'false'}\n"
	    "  mounts:\n  - mountPoint: s3://training/imagenet\n    options:\n"
	    "      alluxio.underfs.s3.endpoint: http://127.0.0.1:8333\n"
	    "      alluxio.underfs.s3.endpoint.region: us-east-1\n"
	    "      alluxio.underfs.s3.disable.dns.buckets: \"true\"\n"
	    "    encryptOptions:\n    - name: aws.accessKeyId\n"
	    "      valueFrom: {secretKeyRef: {name: s3-keys, key: access-key}}\n");
	struct aws_s3_options o;
	char err[300];
	ck_assert_int_eq(
	    dataset_mount_s3_options(&l->items[0]->dataset.spec, 0, &o, err, sizeof(err)), 0);
	ck_assert_str_eq(o.endpoint, "http://127.0.0.1:8333");
	ck_assert_str_eq(o.region, "us-east-1");
	ck_assert_int_eq(o.path_style, 1);
	objmodel_list_free(l);
	l = parse_ok("apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {name: a}\n"
		     "spec: {mounts: [{mountPoint: s3://b/p, options: {endpoint: https://s3.x, "
		     "path-style: 'false'}}]}\n");
	ck_assert_int_eq(
	    dataset_mount_s3_options(&l->items[0]->dataset.spec, 0, &o, err, sizeof(err)), 0);
	ck_assert_str_eq(o.endpoint, "https://s3.x");
	ck_assert_ptr_null(o.region);
	ck_assert_int_eq(o.path_style, 0);
	objmodel_list_free(l);
	parse_fails_str("apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {name: a}\n"
			"spec: {mounts: [{mountPoint: s3://b, options: "
			"{alluxio.underfs.s3.disable.dns.buckets: maybe}}]}\n",
			"spec.mounts[0].options: option alluxio.underfs.s3.disable.dns.buckets: "
			"\"maybe\" is not \"true\" or \"false\"");
	parse_fails_str("apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {name: a}\n"
			"spec: {mounts: [{mountPoint: s3://b, options: {endpoint: ftp://x}}]}\n",
			"option endpoint: \"ftp://x\" is not an http(s):// URL");
}
END_TEST

START_TEST(all_or_nothing)
{
	/* The first document is valid; the second is not: nothing is returned. */
	parse_fails_str(RT_HEAD "    - {mediumtype: MEM, path: /dev/shm, quota: 4Gx}\n",
			"document 2");
	struct objmodel_list *l = parse_ok("---\n# only a comment\n---\napiVersion: v1\n"
					   "kind: Namespace\nmetadata: {name: development}\n---\n");
	ck_assert_uint_eq(l->n, 1);
	ck_assert_int_eq(l->items[0]->kind, OBJMODEL_NAMESPACE);
	ck_assert_ptr_null(l->items[0]->meta.namespace);
	objmodel_list_free(l);
}
END_TEST

START_TEST(hostile_input_fails_cleanly)
{
	/* More than 4 MiB. */
	size_t big = YAMLTREE_MAX_BYTES + 10;
	char *buf = malloc(big + 1);
	ck_assert_ptr_nonnull(buf);
	memset(buf, '#', big);
	buf[big] = '\0';
	parse_fails(buf, big, -E2BIG, "limit");
	free(buf);

	/* Deep nesting, block and flow. */
	char deep[4096];
	size_t o = 0;
	for (int i = 0; i < 200; i++)
		deep[o++] = '[';
	deep[o] = '\0';
	parse_fails(deep, o, -E2BIG, "nested deeper than 64 levels");
	o = 0;
	for (int i = 0; i < 100 && o + 8 < sizeof(deep); i++)
		o += snprintf(deep + o, sizeof(deep) - o, "- ");
	o += snprintf(deep + o, sizeof(deep) - o, "x\n");
	parse_fails(deep, o, -E2BIG, "nested deeper");

	/* A secretKeyRef is a Secret's name and key as Kubernetes spells them: nothing that
	 * would make another path of the apiserver's (".." names the namespace itself). */
	const char *const bad_refs[][2] = {
	    {"..", "k"},	 {"s3-keys?watch=1", "k"}, {"S3Keys", "k"}, {"a%2f..", "k"},
	    {"s3-keys", "../x"}, {"s3-keys", "a/b"},	   {"s3-keys", ""}};
	for (size_t i = 0; i < sizeof(bad_refs) / sizeof(bad_refs[0]); i++) {
		char doc[1024];
		for (int shared = 0; shared < 2; shared++) {
			const char *ref =
			    shared ? "  sharedEncryptOptions:\n" : "    encryptOptions:\n";
			const char *ind = shared ? "  " : "    ";
			snprintf(doc, sizeof(doc),
				 "apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: "
				 "{name: d, namespace: n}\nspec:\n  mounts:\n  - mountPoint: "
				 "s3://b/p\n%s%s- name: aws.accessKeyId\n%s  valueFrom: "
				 "{secretKeyRef: {name: \"%s\", key: \"%s\"}}\n",
				 ref, ind, ind, bad_refs[i][0], bad_refs[i][1]);
			parse_fails_str(doc, "valueFrom.secretKeyRef.");
		}
	}

	/* Billion laughs. */
	parse_fails_str("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
			"b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
			"c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
			"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n",
			"aliases (*a) are not supported");
	/* A status no node could have written: the field is named. */
	parse_fails_str("apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {name: d}\n"
			"spec: {mounts: [{mountPoint: 'http://x/'}]}\n"
			"status: {cacheStates: {cacheNodes: 4294967296}}\n",
			"cacheNodes");
	parse_fails_str("apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {name: d}\n"
			"spec: {mounts: [{mountPoint: 'http://x/'}]}\n"
			"status: {cacheStates: {nodeCachedMaxBytes: -5}}\n",
			"nodeCachedMaxBytes");
	/* Merge keys need aliases too. */
	parse_fails_str("x: &x {a: 1}\ny:\n  <<: *x\n", "aliases");

	/* Not UTF-8, and a NUL inside the text. */
	parse_fails("apiVersion: \xff\xfe\x80\n", 15, -EINVAL, "t.yaml: line");
	parse_fails("kind: Data\0set\n", 15, -EINVAL, "t.yaml:");

	/* Too many documents. */
	size_t cap = 300 * 40;
	char *docs = malloc(cap);
	o = 0;
	for (int i = 0; i < 300; i++)
		o += snprintf(docs + o, cap - o, "---\napiVersion: v1\n");
	parse_fails(docs, o, -E2BIG, "more than 256 documents");
	free(docs);

	/* Too many nodes in one document (under the byte limit). */
	cap = 3u << 20;
	docs = malloc(cap);
	o = snprintf(docs, cap, "a: [");
	while (o + 4 < cap)
		o += snprintf(docs + o, cap - o, "1,");
	docs[o - 1] = ']';
	parse_fails(docs, o, -E2BIG, "nodes");
	free(docs);

	/* Complex keys. */
	parse_fails_str("? [a]\n: b\n", "map keys must be scalars");

	/* Missing files. */
	char err[256];
	struct objmodel_list *l = NULL;
	ck_assert_int_eq(objmodel_parse_file("/nonexistent/x.yaml", &l, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_null(l);
}
END_TEST

#define DS_HEAD                                                                                    \
	"apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {name: spark, namespace: "   \
	"production}\nspec:\n"

START_TEST(reference_rules)
{
	parse_fails_str(DS_HEAD "  mounts:\n  - mountPoint: dataset://development/spark\n"
				"  - mountPoint: dataset://development/other\n",
			"spec.mounts: a dataset:// reference must have exactly one mount, found 2");
	parse_fails_str(DS_HEAD "  mounts:\n  - mountPoint: dataset://development/spark\n"
				"  - mountPoint: https://mirrors.bit.edu.cn/apache/spark/\n",
			"spec.mounts[1].mountPoint: \"https://mirrors.bit.edu.cn/apache/spark/\" "
			"cannot be combined with the dataset:// reference");
	parse_fails_str(DS_HEAD "  mounts:\n  - mountPoint: https://h/\n"
				"  - mountPoint: dataset://development/spark\n",
			"spec.mounts[0].mountPoint: \"https://h/\" cannot be combined with the "
			"dataset:// reference in spec.mounts[1]");
	parse_fails_str(DS_HEAD "  mounts:\n  - mountPoint: dataset://development/spark\n"
				"  owner: {uid: 0}\n",
			"spec.owner: not allowed on a dataset:// reference");
	parse_fails_str(DS_HEAD "  mounts:\n  - mountPoint: dataset://development/spark\n"
				"  nodeAffinity: {}\n",
			"spec.nodeAffinity: not allowed on a dataset:// reference");
	parse_fails_str(DS_HEAD "  mounts:\n  - mountPoint: dataset://development/spark\n"
				"    options: {a: b}\n",
			"spec.mounts[0].options: not allowed on a dataset:// reference");
	parse_fails_str(DS_HEAD "  mounts:\n  - mountPoint: dataset://development/spark\n"
				"  sharing: {allow: [{namespace: qa}]}\n",
			"spec.sharing: not allowed on a dataset:// reference");
	parse_fails_str(DS_HEAD "  mounts:\n  - mountPoint: dataset://development\n",
			"missing dataset name");
	parse_fails_str(DS_HEAD "  mounts:\n  - mountPoint: dataset://development/spark/../x\n",
			"bad subpath");
	parse_fails_str(DS_HEAD "  mounts:\n  - mountPoint: dataset://production/spark\n",
			"cannot reference itself");
	/* Mount paths as Fluid places them. */
	struct objmodel_list *ml =
	    parse_ok(DS_HEAD "  mounts:\n  - {mountPoint: https://a/, name: a}\n"
			     "  - {mountPoint: https://b/, name: b, path: /x/b}\n");
	char mp[64];
	ck_assert_str_eq(dataset_mount_path(&ml->items[0]->dataset.spec, 0, mp, sizeof(mp)), "/a");
	ck_assert_str_eq(dataset_mount_path(&ml->items[0]->dataset.spec, 1, mp, sizeof(mp)),
			 "/x/b");
	objmodel_list_free(ml);
	parse_fails_str(DS_HEAD "  mounts:\n  - {mountPoint: https://a/, name: a}\n"
				"  - {mountPoint: https://b/, name: b, path: /a}\n",
			"spec.mounts[1]: path \"/a\" is already used by spec.mounts[0]");
	parse_fails_str(DS_HEAD "  mounts:\n  - {mountPoint: https://a/, name: a}\n"
				"  - {mountPoint: https://b/}\n",
			"spec.mounts[1]: name or path is required when there are several mounts");
	/* A readOnly reference with a name is fine. */
	objmodel_list_free(parse_ok(DS_HEAD
				    "  mounts:\n  - mountPoint: dataset://development/spark/"
				    "a/b/\n    name: spark\n    readOnly: true\n"));

	struct dataset_ref ref;
	char err[256];
	ck_assert_int_eq(dataset_ref_parse("dataset://dev/spark//a//b/", &ref, err, sizeof(err)),
			 0);
	ck_assert_str_eq(ref.subpath, "/a/b");
	ck_assert_int_eq(dataset_ref_parse("dataset://Dev/spark", &ref, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(dataset_ref_parse("https://dev/spark", &ref, err, sizeof(err)), -EINVAL);
}
END_TEST

static void set_walkthrough_status(struct objmodel *ds)
{
	struct dataset_status *st = &ds->dataset.status;
	st->phase = DATASET_PHASE_BOUND;
	st->ufs_total_known = true;
	st->ufs_total = 3661337788ULL;
	st->cache_known = true;
	st->cached = 1406000000ULL;
	st->cache_capacity = 4ULL << 30;
	st->file_num_known = true;
	st->file_num = 23;
	ds->meta.creation_timestamp = 1795983216;
}

START_TEST(status_arithmetic)
{
	char buf[32];
	struct dataset_status st = {.ufs_total = 3661337788ULL, .cached = 1406000000ULL};
	ck_assert_str_eq(dataset_cached_percentage(&st, buf, sizeof(buf)), "38.4%");
	ck_assert_str_eq(quantity_format(st.cached, buf, sizeof(buf)), "1.31GiB");
	st.cached = 0;
	ck_assert_str_eq(dataset_cached_percentage(&st, buf, sizeof(buf)), "0.0%");
	st.ufs_total = 0;
	ck_assert_str_eq(dataset_cached_percentage(&st, buf, sizeof(buf)), "0.0%");
	st.ufs_total = 10;
	st.cached = 20;
	ck_assert_str_eq(dataset_cached_percentage(&st, buf, sizeof(buf)), "100.0%");

	/* A reference mirrors its source; a SubDataset sees its subtree's totals. */
	struct objmodel *src = objmodel_new(OBJMODEL_DATASET, "development", "spark");
	set_walkthrough_status(src);
	struct dataset_status dst = {0};
	dataset_status_mirror(&dst, &src->dataset.status, NULL);
	ck_assert_int_eq(dst.phase, DATASET_PHASE_BOUND);
	ck_assert_uint_eq(dst.ufs_total, 3661337788ULL);
	ck_assert_uint_eq(dst.cached, 1406000000ULL);
	ck_assert_uint_eq(dst.cache_capacity, 4ULL << 30);
	ck_assert_str_eq(dataset_cached_percentage(&dst, buf, sizeof(buf)), "38.4%");
	struct subtree_totals sub = {true, 1406000000ULL, 1406000000ULL, true, 7};
	dataset_status_mirror(&dst, &src->dataset.status, &sub);
	ck_assert_str_eq(dataset_cached_percentage(&dst, buf, sizeof(buf)), "100.0%");
	ck_assert_uint_eq(dst.file_num, 7);
	ck_assert_uint_eq(dst.cache_capacity, 4ULL << 30);
	objmodel_free(src);
}
END_TEST

START_TEST(json_round_trip)
{
	char err[512], *j1 = NULL, *j2 = NULL;
	struct objmodel_list *l = NULL;
	struct objmodel *back = NULL;
	ck_assert_int_eq(objmodel_parse_file(EXAMPLES "dataset.yaml", &l, err, sizeof(err)), 2);
	struct objmodel *ds = l->items[0];
	set_walkthrough_status(ds);
	ds->dataset.status.hit_ratio_known = true;
	ds->dataset.status.cache_hit_ratio = 0.5;
	ck_assert_int_eq(conditions_set(&ds->dataset.status.conditions, "Ready", "True",
					"DatasetReady", "bound to AlluxioRuntime development/spark",
					1795983300),
			 0);
	char *ref = strdup("production/spark");
	ds->dataset.status.dataset_ref = malloc(sizeof(char *));
	ds->dataset.status.dataset_ref[0] = ref;
	ds->dataset.status.n_dataset_ref = 1;
	/* how the cache is spread over a cluster's nodes */
	ds->dataset.status.spread_known = true;
	ds->dataset.status.cache_nodes = 3;
	ds->dataset.status.node_cached_min = 400000000ULL;
	ds->dataset.status.node_cached_max = 506000000ULL;

	ck_assert_int_eq(objmodel_to_json_string(ds, false, &j1), 0);
	ck_assert_msg(strstr(j1, "\"cacheNodes\":3,\"nodeCachedMinBytes\":400000000,"
				 "\"nodeCachedMaxBytes\":506000000"),
		      "%s", j1);
	ck_assert_msg(strstr(j1, "\"ufsTotal\":\"3.41GiB\""), "%s", j1);
	ck_assert_msg(strstr(j1, "\"cachedPercentage\":\"38.4%\""), "%s", j1);
	ck_assert_msg(strstr(j1, "\"creationTimestamp\":\"2026-11-29T20:13:36Z\""), "%s", j1);
	ck_assert_int_eq(objmodel_from_json(j1, &back, err, sizeof(err)), 0);
	ck_assert_uint_eq(back->dataset.status.ufs_total, 3661337788ULL);
	ck_assert_uint_eq(back->dataset.status.cached, 1406000000ULL);
	ck_assert_uint_eq(back->dataset.status.file_num, 23);
	ck_assert_double_eq_tol(back->dataset.status.cache_hit_ratio, 0.5, 1e-9);
	ck_assert_int_eq(back->dataset.status.conditions.items[0].last_transition_time, 1795983300);
	ck_assert_str_eq(back->dataset.status.dataset_ref[0], "production/spark");
	ck_assert(back->dataset.status.spread_known);
	ck_assert_uint_eq(back->dataset.status.cache_nodes, 3);
	ck_assert_uint_eq(back->dataset.status.node_cached_min, 400000000ULL);
	ck_assert_uint_eq(back->dataset.status.node_cached_max, 506000000ULL);
	ck_assert_int_eq(objmodel_to_json_string(back, false, &j2), 0);
	ck_assert_str_eq(j1, j2);
	free(j1);
	free(j2);
	objmodel_free(back);

	/* The runtime, pretty-printed, and a DataLoad with status. */
	ck_assert_int_eq(objmodel_to_json_string(l->items[1], true, &j1), 0);
	ck_assert_int_eq(objmodel_from_json(j1, &back, err, sizeof(err)), 0);
	ck_assert_uint_eq(back->runtime.levels[0].quota, 4ULL << 30);
	ck_assert_double_eq_tol(back->runtime.levels[0].high, 0.95, 1e-9);
	ck_assert_str_eq(back->kind_name, "AlluxioRuntime");
	free(j1);
	objmodel_free(back);
	objmodel_list_free(l);

	ck_assert_int_eq(objmodel_parse_file(EXAMPLES "dataload.yaml", &l, err, sizeof(err)), 1);
	struct objmodel *dl = l->items[0];
	dl->dataload.status.phase = DATALOAD_PHASE_COMPLETE;
	dl->dataload.status.duration = 121;
	dl->dataload.status.start_time = 1795983400;
	dl->dataload.status.completion_time = 1795983521;
	dl->dataload.status.bytes_done = dl->dataload.status.bytes_total = 1406000000ULL;
	dl->dataload.status.files_done = dl->dataload.status.files_total = 7;
	ck_assert_int_eq(objmodel_to_json_string(dl, false, &j1), 0);
	ck_assert_msg(strstr(j1, "\"duration\":\"2m1s\""), "%s", j1);
	ck_assert_int_eq(objmodel_from_json(j1, &back, err, sizeof(err)), 0);
	ck_assert_int_eq(back->dataload.status.phase, DATALOAD_PHASE_COMPLETE);
	ck_assert_int_eq(back->dataload.status.duration, 121);
	ck_assert_uint_eq(back->dataload.status.files_total, 7);
	ck_assert_int_eq(objmodel_to_json_string(back, false, &j2), 0);
	ck_assert_str_eq(j1, j2);
	free(j1);
	free(j2);
	objmodel_free(back);

	struct objmodel *copy = NULL;
	ck_assert_int_eq(objmodel_dup(dl, &copy), 0);
	ck_assert_str_eq(copy->dataload.spec.targets[0].path, "/spark-3.3.1");
	objmodel_free(copy);
	objmodel_list_free(l);

	/* Bad JSON fails with a message. */
	ck_assert_int_eq(objmodel_from_json("{\"kind\": ", &back, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(objmodel_from_json("{} x", &back, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(objmodel_from_json("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\"}", &back,
					    err, sizeof(err)),
			 -EINVAL);
	ck_assert_msg(strstr(err, "metadata: missing required field"), "%s", err);
}
END_TEST

START_TEST(yaml_output_reads_back)
{
	char err[512], *y = NULL, *j1 = NULL, *j2 = NULL;
	struct objmodel_list *l = NULL, *l2 = NULL;
	ck_assert_int_eq(objmodel_parse_file(EXAMPLES "dataset.yaml", &l, err, sizeof(err)), 2);
	set_walkthrough_status(l->items[0]);
	for (size_t i = 0; i < 2; i++) {
		ck_assert_int_eq(objmodel_to_yaml(l->items[i], &y), 0);
		if (i == 1)
			ck_assert_msg(strstr(y, "    - mediumtype: MEM\n") ||
					  strstr(y, "    levels:\n    - mediumtype: MEM\n"),
				      "%s", y);
		if (i == 1)
			ck_assert_msg(strstr(y, "high: \"0.95\""), "%s", y);
		if (i == 0)
			ck_assert_msg(
			    strstr(y, "apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\n"
				      "metadata:\n  name: spark\n  namespace: development\n"),
			    "%s", y);
		ck_assert_int_eq(
		    objmodel_parse_buffer("out.yaml", y, strlen(y), &l2, err, sizeof(err)), 1);
		ck_assert_int_eq(objmodel_to_json_string(l->items[i], false, &j1), 0);
		ck_assert_int_eq(objmodel_to_json_string(l2->items[0], false, &j2), 0);
		ck_assert_str_eq(j1, j2);
		free(y);
		free(j1);
		free(j2);
		objmodel_list_free(l2);
	}
	objmodel_list_free(l);
}
END_TEST

START_TEST(conditions_keep_transition_time)
{
	struct conditions cs = {0};
	ck_assert_int_eq(conditions_set(&cs, "Ready", "False", "NoRuntime", "waiting", 100), 0);
	ck_assert_int_eq(conditions_set(&cs, "Ready", "False", "NoRuntime", "still", 200), 0);
	ck_assert_uint_eq(cs.n, 1);
	ck_assert_int_eq(cs.items[0].last_transition_time, 100);
	ck_assert_str_eq(cs.items[0].message, "still");
	ck_assert_int_eq(conditions_set(&cs, "Ready", "True", "Bound", NULL, 300), 0);
	ck_assert_int_eq(cs.items[0].last_transition_time, 300);
	ck_assert_ptr_null(cs.items[0].message);
	/* Freed through an object so the test exercises objmodel_free too. */
	struct objmodel *o = objmodel_new(OBJMODEL_DATASET, NULL, "x");
	ck_assert_str_eq(o->meta.namespace, "default");
	o->dataset.status.conditions = cs;
	objmodel_free(o);
	objmodel_free(NULL);
	objmodel_list_free(NULL);

	int64_t t;
	ck_assert_int_eq(objmodel_parse_time("2026-11-29T21:13:36+01:00", &t), 0);
	ck_assert_int_eq(t, 1795983216);
	ck_assert_int_eq(objmodel_parse_time("2026-11-29T20:13:36.123Z", &t), 0);
	ck_assert_int_eq(t, 1795983216);
	ck_assert_int_eq(objmodel_parse_time("yesterday", &t), -EINVAL);
}
END_TEST

START_TEST(namespace_flag_like_kubectl)
{
	char err[256];
	struct objmodel_list *l =
	    parse_ok("apiVersion: data.fluid.io/v1alpha1\nkind: DataLoad\nmetadata: {name: a}\n"
		     "spec: {dataset: {name: spark}}\n---\n"
		     "apiVersion: data.fluid.io/v1alpha1\nkind: DataLoad\nmetadata: {name: b}\n"
		     "spec: {dataset: {name: spark, namespace: development}}\n---\n"
		     "apiVersion: data.fluid.io/v1alpha1\nkind: DataLoad\nmetadata: {name: c, "
		     "namespace: development}\nspec: {dataset: {name: spark}}\n");
	ck_assert(!l->items[0]->meta.namespace_set);
	ck_assert_str_eq(l->items[0]->dataload.spec.dataset_namespace, "default");
	ck_assert_int_eq(
	    objmodel_set_default_namespace(l->items[0], "production", err, sizeof(err)), 0);
	ck_assert_str_eq(l->items[0]->meta.namespace, "production");
	ck_assert_str_eq(l->items[0]->dataload.spec.dataset_namespace, "production");
	ck_assert_int_eq(
	    objmodel_set_default_namespace(l->items[1], "production", err, sizeof(err)), 0);
	ck_assert_str_eq(l->items[1]->dataload.spec.dataset_namespace, "development");
	ck_assert_int_eq(
	    objmodel_set_default_namespace(l->items[2], "production", err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "\"development\" does not match the namespace \"production\""),
		      "%s", err);
	ck_assert_int_eq(
	    objmodel_set_default_namespace(l->items[2], "development", err, sizeof(err)), 0);
	ck_assert_int_eq(objmodel_set_default_namespace(l->items[0], "Bad_NS", err, sizeof(err)),
			 -EINVAL);

	struct dataset_status st = {.phase = DATASET_PHASE_BOUND};
	ck_assert_int_eq(dataset_status_fail(&st, "ReferenceDenied",
					     "namespace \"qa\" is not "
					     "in the sharing.allow list",
					     100),
			 0);
	ck_assert_int_eq(st.phase, DATASET_PHASE_FAILED);
	ck_assert_str_eq(st.conditions.items[0].type, "Ready");
	ck_assert_str_eq(st.conditions.items[0].status, "False");
	ck_assert_str_eq(st.conditions.items[0].reason, "ReferenceDenied");
	struct objmodel *o = objmodel_new(OBJMODEL_DATASET, "qa", "spark");
	o->dataset.status = st;
	objmodel_free(o);
	objmodel_list_free(l);
}
END_TEST

/* Mutated manifests (bytes flipped, cut, duplicated) must parse or fail, never crash; run it
 * under -Db_sanitize=address,undefined to make that mean something. */
START_TEST(mutations_never_crash)
{
	static const char *const files[] = {"dataset.yaml", "dataload.yaml",
					    "spark-production.yaml", "dataset-allow-list.yaml"};
	static const char noise[] = "{}[]:-,&*!|>'\"%@`#\n\t ?~0.95Gi\xff\xc3";
	unsigned seed = 12345;
	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		char path[512], orig[4096], buf[8192], err[512];
		snprintf(path, sizeof(path), "%s%s", EXAMPLES, files[f]);
		FILE *fp = fopen(path, "r");
		ck_assert_ptr_nonnull(fp);
		size_t n = fread(orig, 1, sizeof(orig), fp);
		fclose(fp);
		for (int iter = 0; iter < 3000; iter++) {
			size_t len = n;
			memcpy(buf, orig, n);
			int edits = 1 + rand_r(&seed) % 4;
			for (int e = 0; e < edits && len > 0; e++) {
				size_t at = rand_r(&seed) % len;
				switch (rand_r(&seed) % 4) {
				case 0:
					buf[at] = noise[rand_r(&seed) % (sizeof(noise) - 1)];
					break;
				case 1:
					len = at;
					break;
				case 2:
					if (len + 16 < sizeof(buf)) {
						memmove(buf + at + 1, buf + at, len - at);
						buf[at] =
						    noise[rand_r(&seed) % (sizeof(noise) - 1)];
						len++;
					}
					break;
				default:
					memmove(buf + at, buf + at + 1, len - at - 1);
					len--;
					break;
				}
			}
			struct objmodel_list *l = NULL;
			int r = objmodel_parse_buffer("m.yaml", buf, len, &l, err, sizeof(err));
			if (r < 0) {
				ck_assert_ptr_null(l);
				ck_assert_msg(!strncmp(err, "m.yaml:", 7), "%s", err);
				continue;
			}
			/* Whatever parsed must serialize and read back, once it has the
			 * namespace `-n` would give it (a DataLoad without one may name its
			 * Dataset's) */
			for (size_t i = 0; i < l->n; i++) {
				char *j = NULL, *y = NULL;
				struct objmodel *back = NULL;
				if (l->items[i]->kind == OBJMODEL_DATALOAD &&
				    !l->items[i]->meta.namespace_set)
					objmodel_set_default_namespace(
					    l->items[i],
					    l->items[i]->dataload.spec.dataset_namespace, err,
					    sizeof(err));
				ck_assert_int_eq(objmodel_to_json_string(l->items[i], false, &j),
						 0);
				ck_assert_int_eq(objmodel_to_yaml(l->items[i], &y), 0);
				ck_assert_msg(objmodel_from_json(j, &back, err, sizeof(err)) == 0,
					      "%s: %s", err, j);
				objmodel_free(back);
				free(j);
				free(y);
			}
			objmodel_list_free(l);
		}
	}
}
END_TEST

/* A DataLoad fills the cache of the Dataset it names: a tenant's DataLoad naming another
 * namespace's Dataset would preheat (and evict for) a cache it was never granted. */
START_TEST(dataload_stays_in_its_namespace)
{
	char err[512];
	const char *a = "apiVersion: data.fluid.io/v1alpha1\nkind: DataLoad\nmetadata: {name: a, "
			"namespace: staging}\nspec: {dataset: {name: spark, namespace: "
			"development}}\n";
	parse_fails(a, strlen(a), -EINVAL,
		    "spec.dataset.namespace: \"development\" is not the DataLoad's namespace "
		    "\"staging\": a DataLoad loads a Dataset of its own namespace; to preheat "
		    "another namespace's cache, load a Dataset here with mountPoint "
		    "dataset://development/spark");
	struct objmodel_list *l = parse_ok(
	    "apiVersion: data.fluid.io/v1alpha1\nkind: DataLoad\nmetadata: {name: a, "
	    "namespace: staging}\nspec: {dataset: {name: spark}}\n"
	    "---\napiVersion: data.fluid.io/v1alpha1\nkind: DataLoad\nmetadata: {name: b}"
	    "\nspec: {dataset: {name: spark, namespace: "
	    "development}}\n---\napiVersion: data.fluid.io/v1alpha1\nkind: DataLoad\n"
	    "metadata: {name: c}\nspec: {dataset: {name: spark, namespace: development}}\n");
	ck_assert_int_eq(objmodel_validate(l->items[0], err, sizeof(err)), 0);
	ck_assert_str_eq(l->items[0]->dataload.spec.dataset_namespace, "staging");
	/* `weir apply -n production` of a DataLoad that names development's Dataset: parsed (the
	 * namespace may yet be development), refused where the controller reads it */
	ck_assert_int_eq(
	    objmodel_set_default_namespace(l->items[2], "production", err, sizeof(err)), 0);
	char *text = NULL;
	struct objmodel *back = NULL;
	ck_assert_int_eq(objmodel_to_json_string(l->items[2], false, &text), 0);
	ck_assert_int_eq(objmodel_from_json(text, &back, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "is not the DataLoad's namespace \"production\""), "%s", err);
	free(text);
	ck_assert_int_eq(
	    objmodel_set_default_namespace(l->items[1], "development", err, sizeof(err)), 0);
	ck_assert_int_eq(objmodel_to_json_string(l->items[1], false, &text), 0);
	ck_assert_int_eq(objmodel_from_json(text, &back, err, sizeof(err)), 0);
	objmodel_free(back);
	free(text);
	objmodel_list_free(l);
}
END_TEST

/* Names Kubernetes takes (253 characters, dots between labels) that weir's directory and
 * PersistentVolume names cannot hold are refused at apply, saying how long one may be, not
 * accepted and failed once a node opens the cache ("File name too long"). */
START_TEST(names_that_fit_weirs_paths)
{
	char err[512], name[254];
	/* 63.63.63.61: a valid Kubernetes name */
	snprintf(name, sizeof(name), "%s.%s.%s.%.61s", LONG63, LONG63, LONG63, LONG63);
	struct objmodel *o = objmodel_new(OBJMODEL_DATASET, "development", name);
	o->dataset.spec.mounts = calloc(1, sizeof(*o->dataset.spec.mounts));
	o->dataset.spec.n_mounts = 1;
	o->dataset.spec.mounts[0].mount_point = strdup("local:///data/spark");
	ck_assert_int_eq(objmodel_validate(o, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "is too long in namespace development") &&
			  strstr(err, "at most 214 characters"),
		      "%s", err);
	/* 214 fits; a namespace with '-' leaves less room (the PV name doubles them) */
	name[214] = '\0';
	if (name[213] == '.')
		name[213] = 'a';
	free(o->meta.name);
	o->meta.name = strdup(name);
	ck_assert_msg(objmodel_validate(o, err, sizeof(err)) == 0, "%s", err);
	free(o->meta.namespace);
	o->meta.namespace = strdup("a-b-c-d-e-f-g-h-i-j-k-l-m-n-o-p-q-r-s-t-u-v-w-x-y-z");
	ck_assert_int_eq(objmodel_validate(o, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "at most 171 characters"), "%s", err);
	objmodel_free(o);
	/* a DataLoad's name names no directory */
	o = objmodel_new(OBJMODEL_DATALOAD, "development", name);
	o->dataload.spec.dataset_name = strdup("spark");
	o->dataload.spec.dataset_namespace = strdup("development");
	ck_assert_msg(objmodel_validate(o, err, sizeof(err)) == 0, "%s", err);
	objmodel_free(o);
}
END_TEST

START_TEST(validate_built_objects)
{
	char err[256];
	struct objmodel *o = objmodel_new(OBJMODEL_DATASET, "development", "spark");
	ck_assert_int_eq(objmodel_validate(o, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "spec.mounts: at least one mount is required");
	o->dataset.spec.mounts = calloc(1, sizeof(*o->dataset.spec.mounts));
	o->dataset.spec.n_mounts = 1;
	ck_assert_int_eq(objmodel_validate(o, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "spec.mounts[0].mountPoint: missing required field");
	ck_assert(!dataset_is_reference(o));
	o->dataset.spec.mounts[0].mount_point = strdup("local:///data/spark");
	ck_assert_int_eq(objmodel_validate(o, err, sizeof(err)), 0);
	objmodel_free(o);

	o = objmodel_new(OBJMODEL_RUNTIME, "development", "spark");
	ck_assert_str_eq(o->kind_name, "Runtime");
	ck_assert_int_eq(objmodel_validate(o, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "spec.tieredstore.levels: at least one cache tier is required");
	o->runtime.levels = calloc(1, sizeof(*o->runtime.levels));
	o->runtime.n_levels = 1;
	ck_assert_int_eq(objmodel_validate(o, err, sizeof(err)), -EINVAL);
	o->runtime.levels[0].path = strdup("/dev/shm");
	o->runtime.levels[0].quota = 1 << 20;
	o->runtime.levels[0].high = 0.5;
	o->runtime.levels[0].low = 0.6;
	ck_assert_int_eq(objmodel_validate(o, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "spec.tieredstore.levels[0].low: 0.60 is above high 0.50");
	objmodel_free(o);

	o = objmodel_new(OBJMODEL_DATALOAD, NULL, "load");
	ck_assert_int_eq(objmodel_validate(o, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "spec.dataset.name: bad name"), "%s", err);
	objmodel_free(o);
	o = objmodel_new(OBJMODEL_NAMESPACE, "ignored", "production");
	ck_assert_ptr_null(o->meta.namespace);
	ck_assert_int_eq(objmodel_validate(o, err, sizeof(err)), 0);
	objmodel_free(o);
}
END_TEST

Suite *objmodel_suite(void)
{
	Suite *s = suite_create("objmodel");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, walkthrough_dataset_and_runtime);
	tcase_add_test(tc, walkthrough_dataload);
	tcase_add_test(tc, walkthrough_production_reference);
	tcase_add_test(tc, allow_list_example);
	tcase_add_test(tc, every_dataset_field);
	tcase_add_test(tc, rejects_bad_runtime_values);
	tcase_add_test(tc, ignored_fields_are_reported_and_kept);
	tcase_add_test(tc, rejects_bad_documents);
	tcase_add_test(tc, all_or_nothing);
	tcase_add_test(tc, hostile_input_fails_cleanly);
	tcase_add_test(tc, reference_rules);
	tcase_add_test(tc, status_arithmetic);
	tcase_add_test(tc, json_round_trip);
	tcase_add_test(tc, yaml_output_reads_back);
	tcase_add_test(tc, conditions_keep_transition_time);
	tcase_add_test(tc, namespace_flag_like_kubectl);
	tcase_add_test(tc, mutations_never_crash);
	tcase_add_test(tc, validate_built_objects);
	tcase_add_test(tc, dataload_stays_in_its_namespace);
	tcase_add_test(tc, names_that_fit_weirs_paths);
	tcase_add_test(tc, s3_mount_options);
	tcase_add_test(tc, cron_agrees);
	suite_add_tcase(s, tc);
	return s;
}
