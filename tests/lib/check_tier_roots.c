// SPDX-License-Identifier: Apache-2.0
// tier_roots (lib/tier_roots.h): where a Runtime's tiers may live and how large; bad settings
// fail naming the entry, and paths that only look inside a root are not.
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "suites.h"
#include "tier_roots.h"

#define GiB (1ULL << 30)

static struct tier_roots *roots(const char *spec)
{
	struct tier_roots *t = NULL;
	char err[512] = "";
	ck_assert_msg(tier_roots_parse(spec, &t, err, sizeof(err)) == 0, "parse \"%s\": %s", spec,
		      err);
	return t;
}

static void parse_fails(const char *spec, const char *want)
{
	struct tier_roots *t = (struct tier_roots *)1;
	char err[512] = "";
	ck_assert_int_eq(tier_roots_parse(spec, &t, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, want), "parse \"%s\" says \"%s\"; expected it to name \"%s\"",
		      spec, err, want);
}

static int check(const struct tier_roots *t, const char *path, uint64_t quota, char *err)
{
	err[0] = '\0';
	return tier_roots_check(t, path, quota, err, 1024);
}

START_TEST(bad_settings_name_the_entry)
{
	parse_fails("/dev/shm/weir", "\"/dev/shm/weir\" is not PATH:SIZE");
	parse_fails("/dev/shm/weir:8GiB,/var/cache/weir", "\"/var/cache/weir\" is not PATH:SIZE");
	parse_fails("dev/shm:8GiB", "\"dev/shm\" is not an absolute path");
	parse_fails("/var/cache/../lib:8GiB", "\"/var/cache/../lib\" is not an absolute path");
	parse_fails("/dev/shm:8Gx", "\"8Gx\" is not a size");
	parse_fails("/dev/shm:", "\"\" is not a size");
	parse_fails("/dev/shm:0", "\"0\" is not a size");
	parse_fails("/dev/shm:-1", "\"-1\" is not a size");
	/* PATH:SIZE:PER-NAMESPACE: the per-namespace size above 0 and at most the root's */
	parse_fails("/dev/shm:4GiB:8GiB",
		    "per-namespace size \"8GiB\" is not a size above 0 and at most");
	parse_fails("/dev/shm:4GiB:0", "per-namespace size \"0\"");
	parse_fails("/dev/shm:4GiB:2Gx", "\"2Gx\" is not a size");
	char err[512];
	struct tier_roots *t = roots("/dev/shm/weir:8GiB:2GiB,/var/cache/weir:200GiB");
	ck_assert_uint_eq(tier_roots_n(t), 2);
	ck_assert_str_eq(tier_roots_path(t, 0), "/dev/shm/weir");
	ck_assert_uint_eq(tier_roots_size(t, 0), 8 * GiB);
	ck_assert_uint_eq(tier_roots_ns_size(t, 0), 2 * GiB);
	ck_assert_uint_eq(tier_roots_ns_size(t, 1), 0);
	tier_roots_free(t);
	t = roots("");
	ck_assert_ptr_null(t); /* no roots: any path, today's behaviour */
	ck_assert_int_eq(tier_roots_check(NULL, "/", UINT64_MAX, err, sizeof(err)), 0);
	t = roots(" , ");
	ck_assert_ptr_null(t);
}
END_TEST

START_TEST(paths_and_quotas)
{
	char err[1024];
	struct tier_roots *t = roots(" /dev/shm/weir/:8GiB , /var/cache//weir:200Gi");
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(check(t, "/dev/shm/weir", 8 * GiB, err), 0);
	ck_assert_int_eq(check(t, "/dev/shm/weir/weir/team-a_spark", GiB, err), 0);
	ck_assert_int_eq(check(t, "/var/cache/weir/x//y/", 200 * GiB, err), 0);
	/* more than the root allows: the size is named */
	ck_assert_int_eq(check(t, "/dev/shm/weir/weir/team-a_spark", 8 * GiB + 1, err), -EACCES);
	ck_assert_msg(strstr(err, "at most 8.00GiB under /dev/shm/weir"), "%s", err);
	/* outside, or only looking inside */
	const char *out[] = {"/",
			     "/var/lib/kubelet/weir/a_b",
			     "/dev/shm",
			     "/dev/shm/weirx/weir/a_b",
			     "/dev/shm/weir/../../../etc/weir/a_b",
			     "/dev/shm/weir/./x",
			     "relative/weir/a_b",
			     ""};
	for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++) {
		ck_assert_msg(check(t, out[i], 1, err) == -EACCES, "\"%s\" allowed", out[i]);
		ck_assert_msg(strstr(err, out[i]) && strstr(err, "tier"), "\"%s\": %s", out[i],
			      err);
	}
	check(t, "/var/lib/kubelet/weir/a_b", 1, err);
	ck_assert_msg(strstr(err, "/dev/shm/weir (8.00GiB), /var/cache/weir (200.00GiB)"), "%s",
		      err);
	tier_roots_free(t);
}
END_TEST

START_TEST(no_symbolic_link_below_the_root)
{
	char dir[] = "/tmp/weir-check-tier-roots.XXXXXX", spec[128], p[256], err[1024];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(spec, sizeof(spec), "%s:1GiB", dir);
	struct tier_roots *t = roots(spec);
	snprintf(p, sizeof(p), "%s/link", dir);
	ck_assert_int_eq(symlink("/etc", p), 0);
	snprintf(p, sizeof(p), "%s/link/weir/a_b", dir);
	ck_assert_int_eq(check(t, p, 1, err), -EACCES);
	ck_assert_msg(strstr(err, "symbolic link"), "%s", err);
	snprintf(p, sizeof(p), "%s/real/weir/a_b", dir); /* not there yet: weir-node makes it */
	ck_assert_int_eq(check(t, p, 1, err), 0);
	tier_roots_free(t);
	snprintf(p, sizeof(p), "%s/link", dir);
	unlink(p);
	rmdir(dir);
}
END_TEST

Suite *tier_roots_suite(void)
{
	Suite *s = suite_create("tier_roots");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, bad_settings_name_the_entry);
	tcase_add_test(tc, paths_and_quotas);
	tcase_add_test(tc, no_symbolic_link_below_the_root);
	suite_add_tcase(s, tc);
	return s;
}
