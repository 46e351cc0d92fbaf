// SPDX-License-Identifier: Apache-2.0
// `weir describe` text: kubectl's labels, sorting, sections and alignment.
#include <stdlib.h>
#include <string.h>

#include "describe.h"
#include "objmodel.h"
#include "suites.h"

START_TEST(labels_like_kubectl)
{
	char b[128];
	ck_assert_str_eq(describe_label("mountPoint", b, sizeof(b)), "Mount Point");
	ck_assert_str_eq(describe_label("apiVersion", b, sizeof(b)), "API Version");
	ck_assert_str_eq(describe_label("uid", b, sizeof(b)), "UID");
	ck_assert_str_eq(describe_label("cacheHitRatio", b, sizeof(b)), "Cache Hit Ratio");
	ck_assert_str_eq(describe_label("HTTPServer", b, sizeof(b)), "HTTP Server");
	ck_assert_str_eq(describe_label("hcfsURL", b, sizeof(b)), "Hcfs URL");
	ck_assert_str_eq(describe_label("aws.region", b, sizeof(b)), "aws.region");
	ck_assert_str_eq(describe_label("v1", b, sizeof(b)), "v1");
}
END_TEST

START_TEST(describes_a_dataset)
{
	static const char text[] = "apiVersion: data.fluid.io/v1alpha1\n"
				   "kind: Dataset\n"
				   "metadata:\n"
				   "  name: spark\n"
				   "  namespace: production\n"
				   "  labels: {b: \"2\", a: \"1\"}\n"
				   "spec:\n"
				   "  mounts:\n"
				   "  - mountPoint: dataset://development/spark\n";
	char err[256], *out = NULL;
	struct objmodel_list *l = NULL;
	ck_assert_int_eq(objmodel_parse_buffer("t.yaml", text, strlen(text), &l, err, sizeof(err)),
			 1);
	struct objmodel *o = l->items[0];
	o->dataset.status.phase = DATASET_PHASE_FAILED;
	ck_assert_int_eq(conditions_set(&o->dataset.status.conditions, "Ready", "False",
					"ReferenceDenied",
					"namespace \"production\" is not allowed", 0),
			 0);
	ck_assert_int_eq(describe_object(o, &out), 0);
	ck_assert_str_eq(out, "Name:         spark\n"
			      "Namespace:    production\n"
			      "Labels:       a=1\n"
			      "              b=2\n"
			      "Annotations:  <none>\n"
			      "API Version:  data.fluid.io/v1alpha1\n"
			      "Kind:         Dataset\n"
			      "Metadata:\n"
			      "Spec:\n"
			      "  Mounts:\n"
			      "    Mount Point:  dataset://development/spark\n"
			      "Status:\n"
			      "  Conditions:\n"
			      "    Message:  namespace \"production\" is not allowed\n"
			      "    Reason:   ReferenceDenied\n"
			      "    Status:   False\n"
			      "    Type:     Ready\n"
			      "  Phase:      Failed\n"
			      "Events:       <none>\n");
	free(out);
	objmodel_list_free(l);
}
END_TEST

/* A Secret's keys are the user's names, not fields: shown as they are, with their sizes, and
 * no value, whether the controller sent it or withheld it (null). */
START_TEST(describes_a_secret_by_sizes)
{
	static const char text[] = "apiVersion: v1\n"
				   "kind: Secret\n"
				   "metadata: {name: s3-keys, namespace: production}\n"
				   "stringData: {access-key: AKIAEXAMPLE, secret-key: s3cr3t-value}\n";
	char err[256], *out = NULL;
	struct objmodel_list *l = NULL;
	ck_assert_int_eq(objmodel_parse_buffer("t.yaml", text, strlen(text), &l, err, sizeof(err)),
			 1);
	ck_assert_int_eq(describe_object(l->items[0], &out), 0);
	ck_assert_msg(strstr(out, "\n  access-key:  11 bytes\n") &&
			  strstr(out, "\n  secret-key:  12 bytes\n"),
		      "%s", out);
	ck_assert_msg(!strstr(out, "AKIAEXAMPLE") && !strstr(out, "s3cr3t") &&
			  !strstr(out, "QUtJQUVYQU1QTEU") && !strstr(out, "Access - Key"),
		      "%s", out);
	free(out);
	objmodel_list_free(l);
}
END_TEST

Suite *describe_suite(void)
{
	Suite *s = suite_create("describe");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, labels_like_kubectl);
	tcase_add_test(tc, describes_a_dataset);
	tcase_add_test(tc, describes_a_secret_by_sizes);
	suite_add_tcase(s, tc);
	return s;
}
