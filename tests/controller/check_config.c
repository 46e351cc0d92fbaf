// SPDX-License-Identifier: Apache-2.0
// weir-controller's configuration: defaults, then the file, then flags over it.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "suites.h"

START_TEST(defaults_file_then_flags)
{
	char dir[] = "/tmp/weir-check-config.XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char path[256], err[512] = "";
	snprintf(path, sizeof(path), "%s/controller.conf", dir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "# a comment\ndeny-by-default = true\nresync-interval = 5\nlog-level = debug\n");
	fclose(f);
	struct config cfg;
	char *argv[] = {"weir-controller", "--state-dir", dir, "--resync-interval=0.5", NULL};
	ck_assert_msg(config_load(&cfg, 4, argv, err, sizeof(err)) == 0, "%s", err);
	ck_assert(cfg.deny_by_default);					     /* from the file */
	ck_assert_str_eq(cfg.log_level, "debug");			     /* from the file */
	ck_assert(cfg.resync_interval > 0.49 && cfg.resync_interval < 0.51); /* flag wins */
	char want[300];
	snprintf(want, sizeof(want), "%s/controller.sock", dir);
	ck_assert_str_eq(cfg.socket, want);
	snprintf(want, sizeof(want), "%s/node.sock", dir);
	ck_assert_str_eq(cfg.node_socket, want);
	/* a bad line names the file and line */
	f = fopen(path, "w");
	fprintf(f, "\nquoat = 3\n");
	fclose(f);
	ck_assert_int_eq(config_load(&cfg, 3, argv, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "controller.conf:2: unknown setting \"quoat\""), "%s", err);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(bad_flags)
{
	struct config cfg;
	char err[512] = "";
	char *a1[] = {"weir-controller", "--state-dir", "/nonexistent-weir", "--frob", NULL};
	ck_assert_int_eq(config_load(&cfg, 4, a1, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "unknown option \"--frob\""), "%s", err);
	char *a2[] = {"weir-controller",   "--state-dir", "/nonexistent-weir",
		      "--resync-interval", "soon",	  NULL};
	ck_assert_int_eq(config_load(&cfg, 5, a2, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "\"soon\""), "%s", err);
	char *a3[] = {"weir-controller",
		      "--state-dir",
		      "/nonexistent-weir",
		      "--deny-by-default",
		      "--log-level",
		      "loud",
		      NULL};
	ck_assert_int_eq(config_load(&cfg, 6, a3, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "\"loud\""), "%s", err);
	char *a4[] = {"weir-controller", "--state-dir", "/nonexistent-weir", "--deny-by-default",
		      NULL};
	ck_assert_msg(config_load(&cfg, 4, a4, err, sizeof(err)) == 0, "%s", err);
	ck_assert(cfg.deny_by_default);
	ck_assert(cfg.resync_interval > 0.99 && cfg.resync_interval < 1.01);
}
END_TEST

Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");
	tcase_add_test(tc, defaults_file_then_flags);
	tcase_add_test(tc, bad_flags);
	suite_add_tcase(s, tc);
	return s;
}
