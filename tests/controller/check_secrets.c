// SPDX-License-Identifier: Apache-2.0
// Secrets at rest: secret_box seals and refuses what it did not seal (another object, a flipped
// byte, another key, a key file others can read or a symlink); apply stores no value in clear
// (the raw SQLite file and its WAL are searched); get shows keys without values; a value is
// found only in its own namespace; a Dataset's encryptOptions become key references in its plan.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apply.h"
#include "mount_plan.h"
#include "reconcile.h"
#include "secret_box.h"
#include "secrets.h"
#include "suites.h"

#define VALUE "hunter2-S3cr3t/Value+"
#define VALUE_B64 "aHVudGVyMi1TM2NyM3QvVmFsdWUr"

static struct secret_box *box_in(const char *dir)
{
	char path[300], err[512] = "";
	snprintf(path, sizeof(path), "%s/secret.key", dir);
	struct secret_box *b = NULL;
	ck_assert_msg(secret_box_open(path, &b, err, sizeof(err)) == 0, "%s", err);
	return b;
}

START_TEST(box_seals_and_refuses)
{
	char *dir;
	struct store *st = test_store_new(&dir);
	struct secret_box *b = box_in(dir);
	char path[300];
	snprintf(path, sizeof(path), "%s/secret.key", dir);
	struct stat sb;
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 0777, 0600);
	ck_assert_int_eq(sb.st_size, 32);

	char *sealed = NULL;
	unsigned char *clear = NULL;
	ck_assert_int_eq(secret_box_seal(b, "Secret/a/k", VALUE, strlen(VALUE), &sealed), 0);
	ck_assert_ptr_null(strstr(sealed, VALUE));
	ck_assert_ptr_null(strstr(sealed, VALUE_B64));
	ck_assert_int_eq(secret_box_unseal(b, "Secret/a/k", sealed, &clear), (long)strlen(VALUE));
	ck_assert_str_eq((char *)clear, VALUE);
	free(clear);
	/* another object's name, a flipped byte, garbage: refused */
	ck_assert_int_eq(secret_box_unseal(b, "Secret/b/k", sealed, &clear), -EBADMSG);
	char *bad = strdup(sealed);
	bad[10] = bad[10] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(secret_box_unseal(b, "Secret/a/k", bad, &clear), -EBADMSG);
	ck_assert_int_eq(secret_box_unseal(b, "Secret/a/k", "v1:AAAA", &clear), -EBADMSG);
	ck_assert_int_eq(secret_box_unseal(b, "Secret/a/k", "v1:!!!!", &clear), -EBADMSG);
	ck_assert_int_eq(secret_box_unseal(b, "Secret/a/k", VALUE, &clear), -EBADMSG);
	free(bad);
	/* two seals of one value differ (fresh nonce) */
	char *again = NULL;
	ck_assert_int_eq(secret_box_seal(b, "Secret/a/k", VALUE, strlen(VALUE), &again), 0);
	ck_assert_str_ne(again, sealed);
	free(again);
	/* another key does not open it */
	char other[300], err[512];
	snprintf(other, sizeof(other), "%s/other.key", dir);
	struct secret_box *b2 = NULL;
	ck_assert_int_eq(secret_box_open(other, &b2, err, sizeof(err)), 0);
	ck_assert_int_eq(secret_box_unseal(b2, "Secret/a/k", sealed, &clear), -EBADMSG);
	secret_box_free(b2);
	/* a key file others can read, of the wrong size, or a symlink: refused */
	ck_assert_int_eq(chmod(other, 0644), 0);
	ck_assert_int_eq(secret_box_open(other, &b2, err, sizeof(err)), -EPERM);
	ck_assert_ptr_nonnull(strstr(err, "0644"));
	ck_assert_int_eq(truncate(other, 16), 0);
	ck_assert_int_eq(chmod(other, 0600), 0);
	ck_assert_int_eq(secret_box_open(other, &b2, err, sizeof(err)), -EINVAL);
	char link[300];
	snprintf(link, sizeof(link), "%s/link.key", dir);
	ck_assert_int_eq(symlink(path, link), 0);
	ck_assert_int_eq(secret_box_open(link, &b2, err, sizeof(err)), -ELOOP);
	free(sealed);
	secret_box_free(b);
	test_store_free(st, dir);
}
END_TEST

/* Greps a file's raw bytes for s. */
static bool file_has(const char *path, const char *s)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return false;
	size_t cap = 1 << 20, n = 0, got;
	char *buf = malloc(cap);
	while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap)
			buf = realloc(buf, cap *= 2);
	}
	fclose(f);
	bool hit = memmem(buf, n, s, strlen(s)) != NULL;
	free(buf);
	return hit;
}

static int apply_yaml(struct store *st, const char *yaml, char *err, size_t errlen)
{
	struct objmodel_list *l = test_parse(yaml);
	char **texts = calloc(l->n, sizeof(char *));
	for (size_t i = 0; i < l->n; i++)
		texts[i] = test_json(l->items[i]);
	struct apply_result res = {0};
	int r = apply_objects(st, (const char *const *)texts, l->n, false, "t.yaml", 1000, &res,
			      err, errlen);
	apply_result_free(&res);
	for (size_t i = 0; i < l->n; i++)
		free(texts[i]);
	free(texts);
	objmodel_list_free(l);
	return r;
}

#define SECRET_YAML                                                                                \
	"apiVersion: v1\nkind: Secret\nmetadata: {name: s3-keys, namespace: default}\n"            \
	"stringData:\n  access-key: AKIATEST\n  secret-key: " VALUE "\n"

START_TEST(store_keeps_no_clear_value)
{
	char *dir;
	struct store *st = test_store_new(&dir);
	struct secret_box *b = box_in(dir);
	char err[1024] = "";
	/* without a box (the Kubernetes store) Secrets are refused */
	ck_assert_int_eq(apply_yaml(st, SECRET_YAML, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "kubectl"));
	st->secret_box = b;
	ck_assert_msg(apply_yaml(st, SECRET_YAML, err, sizeof(err)) == 0, "%s", err);
	char *json = NULL;
	ck_assert_int_eq(store_get(st, "Secret", "default", "s3-keys", &json), 0);
	ck_assert_ptr_null(strstr(json, VALUE));
	ck_assert_ptr_null(strstr(json, VALUE_B64));
	ck_assert_msg(strstr(json, SECRETS_SEALED_ANNOTATION), "%s", json);
	/* shown: keys, no sealed data */
	char *shown = secrets_shown_json(json);
	ck_assert_ptr_null(strstr(shown, SECRETS_SEALED_ANNOTATION));
	ck_assert_ptr_nonnull(strstr(shown, "\"secret-key\":null"));
	struct objmodel *o = NULL;
	ck_assert_int_eq(objmodel_from_json(shown, &o, err, sizeof(err)), 0);
	ck_assert(secret_is_redacted(&o->secret));
	/* applying what get showed is refused, not stored as empty keys */
	char *again = test_json(o);
	struct apply_result res = {0};
	ck_assert_int_eq(apply_objects(st, (const char *const *)&again, 1, false, "get.yaml", 1000,
				       &res, err, sizeof(err)),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "no value"));
	free(again);
	objmodel_free(o);
	free(shown);
	/* the same apply again is unchanged, byte for byte */
	char *json2 = NULL;
	ck_assert_int_eq(apply_yaml(st, SECRET_YAML, err, sizeof(err)), 0);
	ck_assert_int_eq(store_get(st, "Secret", "default", "s3-keys", &json2), 0);
	ck_assert_str_eq(json, json2);
	free(json);
	free(json2);

	/* values come back to the controller, from their own namespace only */
	struct secrets_source src = {.store = st, .box = b};
	char *v = NULL;
	ck_assert_int_eq(
	    secrets_value(&src, "default", "s3-keys", "secret-key", &v, err, sizeof(err)),
	    (long)strlen(VALUE));
	ck_assert_str_eq(v, VALUE);
	free(v);
	ck_assert_int_eq(
	    secrets_value(&src, "team-b", "s3-keys", "secret-key", &v, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "not found in namespace \"team-b\""));
	ck_assert_int_eq(secrets_value(&src, "default", "s3-keys", "nope", &v, err, sizeof(err)),
			 -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "has no key \"nope\" (it has: access-key, secret-key)"));
	ck_assert_ptr_null(strstr(err, VALUE));
	/* a sealed blob moved to another row does not open there */
	ck_assert_int_eq(store_get(st, "Secret", "default", "s3-keys", &json), 0);
	ck_assert_int_eq(store_put(st, "Secret", "default", "copy", json, 1000), 0);
	free(json);
	ck_assert_int_eq(secrets_value(&src, "default", "copy", "secret-key", &v, err, sizeof(err)),
			 -EBADMSG);
	ck_assert_ptr_null(strstr(err, VALUE));
	/* nowhere in the file or its WAL */
	char path[300];
	const char *const files[] = {"controller.db", "controller.db-wal"};
	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		ck_assert_msg(!file_has(path, VALUE) && !file_has(path, VALUE_B64), "%s holds it",
			      path);
	}
	secret_box_free(b);
	st->secret_box = NULL;
	test_store_free(st, dir);
}
END_TEST

#define RUNTIME                                                                                    \
	"apiVersion: data.fluid.io/v1alpha1\nkind: AlluxioRuntime\nmetadata: {name: imagenet, "    \
	"namespace: team-a}\nspec:\n  tieredstore:\n    levels:\n    - {mediumtype: MEM, path: "   \
	"/dev/shm, quota: 1Gi}\n"
#define S3_DATASET(opts)                                                                           \
	"apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {name: imagenet, "           \
	"namespace: "                                                                              \
	"team-a}\nspec:\n  mounts:\n  - mountPoint: s3://bkt/data\n    options: {endpoint: "       \
	"'http://127.0.0.1:1'}\n    encryptOptions:\n" opts "---\n" RUNTIME

#define OPT(n, s, k)                                                                               \
	"    - name: " n "\n      valueFrom: {secretKeyRef: {name: " s ", key: " k "}}\n"

START_TEST(plan_names_keys)
{
	struct objmodel_list *l =
	    test_parse(S3_DATASET(OPT("aws.accessKeyId", "s3-keys", "access-key")
				      OPT("aws.secretKey", "s3-keys", "secret-key")
					  OPT("aws.sessionToken", "sts",
					      "token")) "---\n"
							"apiVersion: data.fluid.io/v1alpha1\nkind: "
							"Dataset\nmetadata: {name: ref, namespace: "
							"team-b}\nspec:\n  mounts:\n  - "
							"mountPoint: dataset://team-a/imagenet\n");
	struct mount_plan p;
	char err[512] = "";
	ck_assert_msg(mount_plan_make(l, "team-a", "imagenet", false, &p, err, sizeof(err)) ==
			  0,
		      "%s", err);
	ck_assert_str_eq(p.access_key.secret, "s3-keys");
	ck_assert_str_eq(p.secret_key.key, "secret-key");
	ck_assert_str_eq(p.session_token.secret, "sts");
	ck_assert(p.credentials);
	ck_assert_ptr_null(strstr(p.ufs_url, "@")); /* no keys in the URL */
	/* a reference is planned with its source's references, in the source's namespace */
	ck_assert_msg(mount_plan_make(l, "team-b", "ref", false, &p, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_str_eq(p.source_ns, "team-a");
	ck_assert_str_eq(p.access_key.secret, "s3-keys");
	objmodel_list_free(l);

	const char *const bad[][2] = {
	    {S3_DATASET(OPT("aws.secretKey", "s3-keys", "k")), "go together"},
	    {S3_DATASET(OPT("aws.accessKeyId", "s3-keys", "k")), "go together"},
	    {S3_DATASET(OPT("fs.s3a.access.key", "s3-keys", "k")), "unknown name"},
	    {S3_DATASET(OPT("aws.sessionToken", "s3-keys", "k")), "needs aws.accessKeyId"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		l = test_parse(bad[i][0]);
		err[0] = '\0';
		ck_assert_int_eq(
		    mount_plan_make(l, "team-a", "imagenet", false, &p, err, sizeof(err)),
		    -EINVAL);
		ck_assert_msg(strstr(err, bad[i][1]), "\"%s\" does not say \"%s\"", err, bad[i][1]);
		objmodel_list_free(l);
	}
}
END_TEST

Suite *secrets_suite(void)
{
	Suite *s = suite_create("secrets");
	TCase *tc = tcase_create("secrets");
	tcase_add_test(tc, box_seals_and_refuses);
	tcase_add_test(tc, store_keeps_no_clear_value);
	tcase_add_test(tc, plan_names_keys);
	suite_add_tcase(s, tc);
	return s;
}
