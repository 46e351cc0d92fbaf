// SPDX-License-Identifier: Apache-2.0
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proc_cgroup.h"
#include "suites.h"

/* parse(TEXT): proc_cgroup_parse of a copy; the path in out */
static int parse(const char *text, char *out, size_t len)
{
	char buf[512];
	snprintf(buf, sizeof(buf), "%s", text);
	const char *p = NULL;
	int r = proc_cgroup_parse(buf, &p);
	if (r == 0)
		snprintf(out, len, "%s", p);
	return r;
}

START_TEST(the_unified_line_is_found)
{
	char p[256];
	ck_assert_int_eq(parse("0::/kubepods/pod1/ctr\n", p, sizeof(p)), 0);
	ck_assert_str_eq(p, "/kubepods/pod1/ctr");
	/* a hybrid machine: v1 controllers first */
	ck_assert_int_eq(parse("4:memory:/x\n1:cpu:/\n0::/a b\n", p, sizeof(p)), 0);
	ck_assert_str_eq(p, "/a b");
	ck_assert_int_eq(parse("0::/\n", p, sizeof(p)), 0);
	ck_assert_str_eq(p, "/");
}
END_TEST

START_TEST(hostile_names_are_refused)
{
	char p[256];
	/* a v1 cgroup named "x\n0::/victim": its line comes before the kernel's */
	ck_assert_int_eq(parse("4:memory:/x\n0::/victim\n0::/attacker\n", p, sizeof(p)), -EINVAL);
	/* a unified cgroup named "a\n0::" with a child "victim", or "a\nb" */
	ck_assert_int_eq(parse("0::/a\n0::/victim\n", p, sizeof(p)), -EINVAL);
	ck_assert_int_eq(parse("0::/a\nb\n", p, sizeof(p)), -EINVAL);
	/* cut short, none, not a path */
	ck_assert_int_eq(parse("0::/kubepods/po", p, sizeof(p)), -EINVAL);
	ck_assert_int_eq(parse("1:cpu:/\n", p, sizeof(p)), -EINVAL);
	ck_assert_int_eq(parse("", p, sizeof(p)), -EINVAL);
	ck_assert_int_eq(parse("0::relative\n", p, sizeof(p)), -EINVAL);
	/* above a private namespace's root */
	ck_assert_int_eq(parse("0::/../../kubepods/pod2\n", p, sizeof(p)), -EXDEV);
	ck_assert_int_eq(parse("0::/..\n", p, sizeof(p)), -EXDEV);
	/* a name that merely starts with two dots is a name */
	ck_assert_int_eq(parse("0::/..x\n", p, sizeof(p)), 0);
	ck_assert_str_eq(p, "/..x");
}
END_TEST

START_TEST(this_process_has_a_cgroup)
{
	uint64_t id = 0;
	int r = proc_cgroup_id(getpid(), &id);
	ck_assert_msg(r != -ENODEV, "no cgroup2 file system is mounted here: this test needs one");
	ck_assert_int_eq(r, 0);
	ck_assert_uint_ne(id, 0);
	ck_assert_int_eq(proc_cgroup_id(0, &id), -ENOENT);
}
END_TEST

Suite *proc_cgroup_suite(void)
{
	Suite *s = suite_create("proc_cgroup");
	TCase *tc = tcase_create("proc_cgroup");
	tcase_add_test(tc, the_unified_line_is_found);
	tcase_add_test(tc, hostile_names_are_refused);
	tcase_add_test(tc, this_process_has_a_cgroup);
	suite_add_tcase(s, tc);
	return s;
}
