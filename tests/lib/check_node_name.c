// SPDX-License-Identifier: Apache-2.0
// The member bounds every side keeps (lib/node_name.h): at the limits and one past them, with
// the field and the limit named.
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "node_name.h"
#include "suites.h"

START_TEST(names_at_and_past_the_limit)
{
	char name[NODE_NAME_MAX + 2], err[512];
	memset(name, 'a', sizeof(name));
	name[NODE_NAME_MAX] = '\0';
	ck_assert_uint_eq(NODE_NAME_MAX, 63);
	const char *one[] = {name};
	ck_assert_int_eq(node_name_check_members("the list", one, 1, err, sizeof(err)), 0);
	name[NODE_NAME_MAX] = 'a';
	name[NODE_NAME_MAX + 1] = '\0'; /* 64 characters */
	err[0] = '\0';
	ck_assert_int_eq(node_name_check_members("the list", one, 1, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "the list: member 0's node \"aaaa") &&
			  strstr(err, "(64 bytes)") && strstr(err, "1 to 63"),
		      "%s", err);
	const char *bad[] = {"n1", "a/b"};
	ck_assert_int_eq(node_name_check_members("the list", bad, 2, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "member 1's node \"a/b\""), "%s", err);
	const char *none[] = {NULL};
	ck_assert_int_eq(node_name_check_members("the list", none, 1, err, sizeof(err)), -EINVAL);
}
END_TEST

START_TEST(members_at_and_past_the_limit)
{
	static char names[CLUSTER_MAX_NODES + 1][8];
	const char *p[CLUSTER_MAX_NODES + 1];
	char err[512];
	ck_assert_uint_eq(CLUSTER_MAX_NODES, 64);
	for (int i = 0; i <= CLUSTER_MAX_NODES; i++) {
		snprintf(names[i], sizeof(names[i]), "n%d", i);
		p[i] = names[i];
	}
	ck_assert_int_eq(
	    node_name_check_members("the list", p, CLUSTER_MAX_NODES, err, sizeof(err)), 0);
	err[0] = '\0';
	ck_assert_int_eq(
	    node_name_check_members("the list", p, CLUSTER_MAX_NODES + 1, err, sizeof(err)),
	    -E2BIG);
	ck_assert_msg(strstr(err, "the list lists 65 members; a cluster has at most 64"), "%s",
		      err);
}
END_TEST

Suite *node_name_suite(void)
{
	Suite *s = suite_create("node_name");
	TCase *tc = tcase_create("bounds");
	tcase_add_test(tc, names_at_and_past_the_limit);
	tcase_add_test(tc, members_at_and_past_the_limit);
	suite_add_tcase(s, tc);
	return s;
}
