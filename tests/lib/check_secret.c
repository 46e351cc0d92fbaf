// SPDX-License-Identifier: Apache-2.0
// Secrets from hostile manifests: missing data, non-base64, bad keys, values past the limit, NUL
// bytes; the errors name the key and never a value; what weir-controller sends back (null
// values) parses and says it is redacted.
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objmodel.h"
#include "secret.h"
#include "suites.h"

#define HDR "apiVersion: v1\nkind: Secret\nmetadata: {name: s3-keys, namespace: team-a}\n"
#define VALUE "hunter2-S3cr3t"

static int parse(const char *yaml, struct objmodel_list **ret, char *err, size_t len)
{
	*ret = NULL;
	return objmodel_parse_buffer("t.yaml", yaml, strlen(yaml), ret, err, len);
}

START_TEST(data_and_string_data)
{
	struct objmodel_list *l;
	char err[512];
	/* "aHVudGVyMi1TM2NyM3Q=" is base64 of VALUE; stringData wins over data for one key */
	ck_assert_int_eq(parse(HDR "data:\n  access-key: QUtJQQ==\n  secret-key: eA==\n"
				   "stringData:\n  secret-key: " VALUE "\n  extra.key_1: \"\"\n",
			       &l, err, sizeof(err)),
			 1);
	const struct objmodel *o = l->items[0];
	ck_assert_int_eq(o->kind, OBJMODEL_SECRET);
	ck_assert_str_eq(o->meta.namespace, "team-a");
	ck_assert_str_eq(o->secret.type, "Opaque");
	ck_assert_uint_eq(o->secret.n_items, 3);
	const struct secret_item *a = secret_find(&o->secret, "access-key");
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->len, 4);
	ck_assert_mem_eq(a->value, "AKIA", 4);
	const struct secret_item *s = secret_find(&o->secret, "secret-key");
	ck_assert_str_eq((const char *)s->value, VALUE);
	ck_assert_uint_eq(secret_find(&o->secret, "extra.key_1")->len, 0);
	ck_assert(!secret_is_redacted(&o->secret));
	/* JSON round trip: data base64 again, values intact */
	char *json = NULL;
	ck_assert_int_eq(objmodel_to_json_string(o, false, &json), 0);
	ck_assert_ptr_nonnull(strstr(json, "\"access-key\":\"QUtJQQ==\""));
	struct objmodel *back = NULL;
	ck_assert_int_eq(objmodel_from_json(json, &back, err, sizeof(err)), 0);
	ck_assert_str_eq((const char *)secret_find(&back->secret, "secret-key")->value, VALUE);
	objmodel_free(back);
	free(json);
	objmodel_list_free(l);
}
END_TEST

/* The manifest fails and its message names want, never VALUE. */
static void refused(const char *yaml, const char *want)
{
	struct objmodel_list *l;
	char err[1024] = "";
	int r = parse(yaml, &l, err, sizeof(err));
	ck_assert_msg(r < 0, "accepted: %s", yaml);
	ck_assert_ptr_null(l);
	ck_assert_msg(strstr(err, want), "\"%s\" does not say \"%s\"", err, want);
	ck_assert_msg(!strstr(err, VALUE) && !strstr(err, "aHVudGVy"), "\"%s\" shows a value", err);
}

START_TEST(hostile_manifests)
{
	refused(HDR, "data: missing");
	refused(HDR "data: {}\n", "data: missing");
	refused(HDR "data:\n", "data: missing");
	refused(HDR "data: [a, b]\n", "data: expected a map");
	refused(HDR "stringData: " VALUE "\n", "stringData: expected a map");
	/* not base64: bad alphabet, unpadded, padding in the middle, whitespace, a space */
	refused(HDR "data:\n  k: " VALUE "\n", "data.k: not base64");
	refused(HDR "data:\n  k: aHVudGVyMi1TM2NyM3Q\n", "data.k: not base64");
	refused(HDR "data:\n  k: aHVu=GVy\n", "data.k: not base64");
	refused(HDR "data:\n  k: \"aHVu dGVy\"\n", "data.k: not base64");
	refused(HDR "data:\n  k: aHVudGVy===\n", "data.k: not base64");
	refused(HDR "data:\n  k: {nested: map}\n", "data.k: expected a string value");
	/* keys: slashes, "..", empty, too long */
	refused(HDR "stringData:\n  ../etc: x\n", "bad key");
	refused(HDR "stringData:\n  a/b: x\n", "bad key");
	refused(HDR "stringData:\n  \"..\": x\n", "bad key");
	refused(HDR "stringData:\n  \"\": x\n", "bad key");
	refused(HDR "spec: {a: 1}\ndata:\n  k: eA==\n", "unknown field \"spec\"");
	refused(HDR "data:\n  k: eA==\nbogus: 1\n", "unknown field \"bogus\"");
	refused("apiVersion: v2\nkind: Secret\nmetadata: {name: x}\ndata: {k: eA==}\n",
		"unknown apiVersion");
	refused(HDR "type: [x]\ndata: {k: eA==}\n", "type");
	refused("apiVersion: v1\nkind: Secret\nmetadata: {name: Bad_Name}\ndata: {k: eA==}\n",
		"metadata.name");
}
END_TEST

START_TEST(huge_values)
{
	/* one value past 1 MiB (base64), then two that pass it together (stringData) */
	size_t n = (SECRET_MAX_BYTES / 3 + 8) * 4;
	char *big = malloc(strlen(HDR) + n + 64), *p = big;
	p += sprintf(p, HDR "data:\n  k: ");
	memset(p, 'A', n);
	strcpy(p + n, "\n");
	refused(big, "data.k: value larger than");
	size_t half = SECRET_MAX_BYTES / 2 + 16;
	p = big + sprintf(big, HDR "stringData:\n  a: ");
	memset(p, 'x', half);
	p += half;
	p += sprintf(p, "\n  b: ");
	memset(p, 'y', half);
	strcpy(p + half, "\n");
	refused(big, "stringData.b:");
	free(big);
	/* secret_set: the same limit, and bad keys */
	struct secret s = {0};
	char err[256];
	char *v = calloc(1, SECRET_MAX_BYTES + 1);
	ck_assert_int_eq(secret_set(&s, "k", v, SECRET_MAX_BYTES + 1, err, sizeof(err)), -E2BIG);
	ck_assert_int_eq(secret_set(&s, "k", v, SECRET_MAX_BYTES, err, sizeof(err)), 0);
	ck_assert_int_eq(secret_set(&s, "k2", "x", 1, err, sizeof(err)), -E2BIG);
	ck_assert_int_eq(secret_set(&s, "k", "x", 1, err, sizeof(err)), 0); /* replaces */
	ck_assert_int_eq(secret_set(&s, "k2", "x", 1, err, sizeof(err)), 0);
	ck_assert_int_eq(secret_set(&s, "a b", "x", 1, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "bad key \"a b\""));
	secret_clear(&s);
	ck_assert_uint_eq(s.n_items, 0);
	free(v);
}
END_TEST

START_TEST(binary_and_nul)
{
	struct objmodel_list *l;
	char err[256];
	/* "AAEC/w==" is 00 01 02 ff: kept byte for byte */
	ck_assert_int_eq(parse(HDR "data: {bin: AAEC/w==}\n", &l, err, sizeof(err)), 1);
	const struct secret_item *it = secret_find(&l->items[0]->secret, "bin");
	ck_assert_uint_eq(it->len, 4);
	ck_assert_mem_eq(it->value, "\x00\x01\x02\xff", 4);
	objmodel_list_free(l);
}
END_TEST

START_TEST(redacted_from_controller)
{
	/* what weir-controller sends for `weir get secret`: values null */
	const char *json =
	    "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s3-keys\","
	    "\"namespace\":\"team-a\"},\"type\":\"Opaque\",\"data\":{\"access-key\":"
	    "null,\"secret-key\":null}}";
	struct objmodel *o = NULL;
	char err[256];
	ck_assert_int_eq(objmodel_from_json(json, &o, err, sizeof(err)), 0);
	ck_assert_uint_eq(o->secret.n_items, 2);
	ck_assert(secret_is_redacted(&o->secret));
	ck_assert_ptr_null(secret_find(&o->secret, "secret-key")->value);
	char *yaml = NULL;
	ck_assert_int_eq(objmodel_to_yaml(o, &yaml), 0);
	ck_assert_ptr_nonnull(strstr(yaml, "secret-key:"));
	free(yaml);
	objmodel_free(o);
}
END_TEST

Suite *secret_suite(void)
{
	Suite *s = suite_create("secret");
	TCase *tc = tcase_create("secret");
	tcase_add_test(tc, data_and_string_data);
	tcase_add_test(tc, hostile_manifests);
	tcase_add_test(tc, huge_values);
	tcase_add_test(tc, binary_and_nul);
	tcase_add_test(tc, redacted_from_controller);
	suite_add_tcase(s, tc);
	return s;
}
