// SPDX-License-Identifier: Apache-2.0
// safe_dir: created 0700, tightened to 0700, refused when others could write it or when it is a
// symlink or someone else's.
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safe_dir.h"
#include "suites.h"

static char base[64];

static void setup(void)
{
	snprintf(base, sizeof(base), "/tmp/check_safe_dir.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(base));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	ck_assert_int_eq(system(cmd), 0);
}

static unsigned mode_of(const char *p)
{
	struct stat st;
	ck_assert_int_eq(lstat(p, &st), 0);
	return st.st_mode & 07777;
}

START_TEST(test_created_0700)
{
	char p[128], err[256];
	snprintf(p, sizeof(p), "%s/a/b/state", base);
	ck_assert_int_eq(safe_dir_ensure(p, err, sizeof(err)), 0);
	ck_assert_uint_eq(mode_of(p), 0700);
}
END_TEST

START_TEST(test_tightened)
{
	char p[128], err[256];
	snprintf(p, sizeof(p), "%s/s", base);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	ck_assert_int_eq(safe_dir_ensure(p, err, sizeof(err)), 0);
	ck_assert_uint_eq(mode_of(p), 0700);
}
END_TEST

START_TEST(test_writable_refused)
{
	char p[128], err[256] = "";
	snprintf(p, sizeof(p), "%s/s", base);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	ck_assert_int_eq(chmod(p, 01777), 0);
	ck_assert_int_eq(safe_dir_ensure(p, err, sizeof(err)), -EPERM);
	ck_assert_msg(strstr(err, "writable by everyone"), "message: %s", err);
	ck_assert_int_eq(chmod(p, 0770), 0);
	ck_assert_int_eq(safe_dir_ensure(p, err, sizeof(err)), -EPERM);
	ck_assert_uint_eq(mode_of(p), 0770); /* refused, not silently "fixed" */
}
END_TEST

START_TEST(test_symlink_refused)
{
	char p[128], t[128], err[256];
	snprintf(t, sizeof(t), "%s/target", base);
	snprintf(p, sizeof(p), "%s/link", base);
	ck_assert_int_eq(mkdir(t, 0700), 0);
	ck_assert_int_eq(symlink(t, p), 0);
	ck_assert_int_lt(safe_dir_ensure(p, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "symlink"), "message: %s", err);
}
END_TEST

START_TEST(test_foreign_owner_refused)
{
	char p[128], err[256];
	if (geteuid() != 0) {
		ck_abort_msg("test_foreign_owner_refused needs root to chown a directory; run the "
			     "unit tests as root (scripts/test.sh does)");
	}
	snprintf(p, sizeof(p), "%s/s", base);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	ck_assert_int_eq(chown(p, 65534, 65534), 0);
	ck_assert_int_eq(safe_dir_ensure(p, err, sizeof(err)), -EPERM);
	ck_assert_msg(strstr(err, "belongs to uid 65534"), "message: %s", err);
}
END_TEST

START_TEST(test_private_file)
{
	char p[128];
	snprintf(p, sizeof(p), "%s/f", base);
	ck_assert_int_eq(safe_dir_private_file(p), 0);
	ck_assert_uint_eq(mode_of(p), 0600);
	ck_assert_int_eq(chmod(p, 0644), 0);
	ck_assert_int_eq(safe_dir_private_file(p), 0);
	ck_assert_uint_eq(mode_of(p), 0600);
}
END_TEST

Suite *safe_dir_suite(void)
{
	Suite *s = suite_create("safe_dir");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_created_0700);
	tcase_add_test(tc, test_tightened);
	tcase_add_test(tc, test_writable_refused);
	tcase_add_test(tc, test_symlink_refused);
	tcase_add_test(tc, test_foreign_owner_refused);
	tcase_add_test(tc, test_private_file);
	suite_add_tcase(s, tc);
	return s;
}
