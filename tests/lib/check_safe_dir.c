// SPDX-License-Identifier: Apache-2.0
// safe_dir: created 0700, tightened to 0700, refused when others could write it or when it is a
// symlink or someone else's; safe_dir_open checks every component of the path.
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
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

/* A root-owned 0700 state directory is not enough when a directory above it is someone else's:
 * that user renames it away and puts a directory (and a control socket) of their own there. */
START_TEST(test_foreign_parent_refused)
{
	char p[128], s[160], err[1024] = "";
	if (geteuid() != 0)
		ck_abort_msg("test_foreign_parent_refused needs root to chown a directory");
	snprintf(p, sizeof(p), "%s/p", base);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	ck_assert_int_eq(chown(p, 65534, 65534), 0);
	snprintf(s, sizeof(s), "%s/state", p);
	ck_assert_int_eq(mkdir(s, 0700), 0);
	ck_assert_int_eq(safe_dir_ensure(s, err, sizeof(err)), -EPERM);
	ck_assert_msg(strstr(err, "/p\" is owned by uid 65534"), "message: %s", err);
	/* missing: not created under it either */
	snprintf(s, sizeof(s), "%s/new/state", p);
	ck_assert_int_eq(safe_dir_ensure(s, err, sizeof(err)), -EPERM);
	/* a group-writable directory above it, likewise */
	ck_assert_int_eq(chown(p, 0, 0), 0);
	ck_assert_int_eq(chmod(p, 0775), 0);
	snprintf(s, sizeof(s), "%s/state/", p);
	ck_assert_int_eq(safe_dir_ensure(s, err, sizeof(err)), -EPERM);
	ck_assert_msg(strstr(err, "writable by its group"), "message: %s", err);
	ck_assert_int_eq(chmod(p, 0755), 0);
	ck_assert_int_eq(safe_dir_ensure(s, err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_symlinked_parent_refused)
{
	char real[128], link[128], s[160], err[1024] = "";
	snprintf(real, sizeof(real), "%s/real", base);
	snprintf(link, sizeof(link), "%s/link", base);
	ck_assert_int_eq(mkdir(real, 0755), 0);
	ck_assert_int_eq(symlink(real, link), 0);
	snprintf(s, sizeof(s), "%s/state", link);
	ck_assert_int_eq(safe_dir_ensure(s, err, sizeof(err)), -EPERM);
	ck_assert_msg(strstr(err, "/link\" is a symbolic link"), "message: %s", err);
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

/* ---- safe_dir_open: the whole path checked, component by component ---- */

static char tmpdir[256];

static void open_setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/weir-safedir-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void open_teardown(void)
{
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* safe_dir_open of tmpdir/rel: the error, and the message in err. */
static int try_open(const char *rel, unsigned flags, char *err, size_t len)
{
	char path[512];
	int fd = -1, r;

	snprintf(path, sizeof(path), "%s%s%s", tmpdir, rel[0] ? "/" : "", rel);
	err[0] = '\0';
	r = safe_dir_open(path, flags, &fd, err, len);
	if (r == 0) {
		ck_assert_int_ge(fd, 0);
		close(fd);
	}
	return r;
}

static mode_t rel_mode(const char *rel)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	ck_assert_int_eq(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

START_TEST(test_create_and_reopen)
{
	char err[512];

	ck_assert_int_eq(try_open("a/b/c", 0, err, sizeof(err)), -ENOENT);
	ck_assert_msg(strstr(err, "/a\""), "%s", err);
	ck_assert_int_eq(try_open("a/b/c", SAFE_DIR_CREATE, err, sizeof(err)), 0);
	ck_assert_uint_eq(rel_mode("a"), 0700);
	ck_assert_uint_eq(rel_mode("a/b/c"), 0700);
	ck_assert_int_eq(try_open("a/b/c", 0, err, sizeof(err)), 0);
	ck_assert_int_eq(try_open("a//b/./c/", 0, err, sizeof(err)), 0);
	ck_assert_int_eq(try_open("a/../a/b", 0, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "\"..\""), "%s", err);
	ck_assert_int_eq(safe_dir_open("relative/path", 0, &(int){-1}, err, sizeof(err)), -EINVAL);
}
END_TEST

START_TEST(test_links_and_files)
{
	char err[512], path[512];
	int fd;

	ck_assert_int_eq(try_open("real", SAFE_DIR_CREATE, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/link", tmpdir);
	ck_assert_int_eq(symlink("real", path), 0);
	ck_assert_int_eq(try_open("link", SAFE_DIR_CREATE, err, sizeof(err)), -EPERM);
	ck_assert_msg(strstr(err, "/link\" is a symbolic link"), "%s", err);
	ck_assert_int_eq(try_open("link/sub", SAFE_DIR_CREATE, err, sizeof(err)), -EPERM);
	snprintf(path, sizeof(path), "%s/real/sub", tmpdir);
	ck_assert_int_eq(access(path, F_OK), -1); /* nothing made through the link */
	snprintf(path, sizeof(path), "%s/file", tmpdir);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(try_open("file/sub", SAFE_DIR_CREATE, err, sizeof(err)), -ENOTDIR);
	ck_assert_msg(strstr(err, "/file\" is not a directory"), "%s", err);
}
END_TEST

/* How many entries of tmpdir/sub start with prefix. */
static int count_prefixed(const char *sub, const char *prefix)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, sub);
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)))
		n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return n;
}

START_TEST(test_writable_and_owners)
{
	char err[512], path[512];

	if (geteuid() != 0)
		ck_abort_msg("test_writable_and_owners needs root (chown to nobody)");
	/* World-writable: refused, last or not; sticky: fine on the way, or last if allowed. */
	ck_assert_int_eq(try_open("w", SAFE_DIR_CREATE, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/w", tmpdir);
	ck_assert_int_eq(chmod(path, 0777), 0);
	ck_assert_int_eq(try_open("w", 0, err, sizeof(err)), -EPERM);
	ck_assert_msg(strstr(err, "writable by everyone"), "%s", err);
	ck_assert_int_eq(try_open("w/x", SAFE_DIR_CREATE, err, sizeof(err)), -EPERM);
	ck_assert_int_eq(chmod(path, 0770), 0);
	ck_assert_int_eq(try_open("w", SAFE_DIR_STICKY_OK, err, sizeof(err)), -EPERM);
	ck_assert_msg(strstr(err, "writable by its group"), "%s", err);
	ck_assert_int_eq(chmod(path, 01777), 0);
	ck_assert_int_eq(try_open("w", 0, err, sizeof(err)), -EPERM);
	ck_assert_int_eq(try_open("w", SAFE_DIR_STICKY_OK, err, sizeof(err)), 0);
	ck_assert_int_eq(try_open("w/x", SAFE_DIR_CREATE, err, sizeof(err)), 0);
	/* Owned by someone else, anywhere on the path. */
	snprintf(path, sizeof(path), "%s/w/x", tmpdir);
	ck_assert_int_eq(chown(path, 65534, 65534), 0);
	ck_assert_int_eq(try_open("w/x", 0, err, sizeof(err)), -EPERM);
	ck_assert_msg(strstr(err, "/w/x\" is owned by uid 65534"), "%s", err);
	/* Owned by someone else inside a non-sticky directory: refused, nothing made in it. */
	snprintf(path, sizeof(path), "%s/w/x/z", tmpdir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_int_eq(chown(path, 65534, 65534), 0);
	snprintf(path, sizeof(path), "%s/w/x", tmpdir);
	ck_assert_int_eq(chmod(path, 0755), 0);
	ck_assert_int_eq(chown(path, 0, 0), 0);
	ck_assert_int_eq(try_open("w/x/z/y", SAFE_DIR_CREATE, err, sizeof(err)), -EPERM);
	ck_assert_msg(strstr(err, "/w/x/z\" is owned by uid 65534"), "%s", err);
	snprintf(path, sizeof(path), "%s/w/x/z/y", tmpdir);
	ck_assert_int_eq(access(path, F_OK), -1);
	/* In the sticky, world-writable w (like /dev/shm) another user who made a directory
	 * root is to create cannot keep root out: with SAFE_DIR_CREATE the name is taken back,
	 * theirs kept aside; without it (only opening), refused as above. */
	snprintf(path, sizeof(path), "%s/w/x", tmpdir);
	ck_assert_int_eq(chown(path, 65534, 65534), 0);
	ck_assert_int_eq(try_open("w/x/y", SAFE_DIR_CREATE, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "/w\": \"x\" had been taken by uid 65534"), "%s", err);
	ck_assert_uint_eq(rel_mode("w/x"), 0700);
	snprintf(path, sizeof(path), "%s/w/x/y", tmpdir);
	ck_assert_int_eq(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/w/x/z", tmpdir);
	ck_assert_int_eq(access(path, F_OK), -1); /* theirs, moved aside whole */
	ck_assert_int_eq(count_prefixed("w", ".weir-taken-x-"), 1);
}
END_TEST

/* A source's directory in a shared sticky tier path (/dev/shm) is named by its id, which
 * anyone can work out: a directory, link or file another user made there first must not keep
 * the source out (nor be written through); in a directory only root writes, it is refused. */
START_TEST(test_claim_taken_name)
{
	char err[512], note[1024], path[512], victim[512];
	struct stat st;
	int pfd, fd;

	if (geteuid() != 0)
		ck_abort_msg("test_claim_taken_name needs root (entries of nobody's)");
	ck_assert_int_eq(try_open("shm", SAFE_DIR_CREATE, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/shm", tmpdir);
	ck_assert_int_eq(chmod(path, 01777), 0);
	snprintf(victim, sizeof(victim), "%s/victim", tmpdir);
	ck_assert_int_eq(mkdir(victim, 0755), 0);
	ck_assert_int_eq(safe_dir_open(path, SAFE_DIR_STICKY_OK, &pfd, err, sizeof(err)), 0);

	const char *kinds[] = {"dir", "link", "file"};
	for (int k = 0; k < 3; k++) {
		char name[32];
		snprintf(name, sizeof(name), "id%d", k);
		snprintf(path, sizeof(path), "%s/shm/%s", tmpdir, name);
		if (k == 0)
			ck_assert_int_eq(mkdir(path, 0777), 0);
		else if (k == 1)
			ck_assert_int_eq(symlink(victim, path), 0);
		else
			ck_assert_int_eq(close(open(path, O_CREAT | O_WRONLY, 0666)), 0);
		ck_assert_int_eq(lchown(path, 65534, 65534), 0);
		note[0] = '\0';
		ck_assert_msg(
		    safe_dir_claim(pfd, name, &fd, note, sizeof(note), err, sizeof(err)) == 0,
		    "%s: %s", kinds[k], err);
		ck_assert_int_eq(fstat(fd, &st), 0);
		ck_assert_uint_eq(st.st_uid, 0);
		ck_assert_uint_eq(st.st_mode & 07777, 0700);
		ck_assert_int_eq(lstat(path, &st), 0);
		ck_assert(S_ISDIR(st.st_mode) && st.st_uid == 0);
		ck_assert_msg(strstr(note, "taken by uid 65534"), "%s", note);
		/* what is written there lands in the new directory, not through the link */
		ck_assert_int_ge(openat(fd, "f", O_CREAT | O_WRONLY | O_CLOEXEC, 0600), 0);
		close(fd);
		char prefix[64];
		snprintf(prefix, sizeof(prefix), ".weir-taken-%s-", name);
		ck_assert_int_eq(count_prefixed("shm", prefix), 1);
		/* claimed again: ours already, nothing moved */
		note[0] = '\0';
		ck_assert_int_eq(
		    safe_dir_claim(pfd, name, &fd, note, sizeof(note), err, sizeof(err)), 0);
		close(fd);
		ck_assert_str_eq(note, "");
	}
	ck_assert_int_eq(count_prefixed("victim", ""), 2); /* "." and ".." */
	close(pfd);

	/* not shared: refused, left alone */
	ck_assert_int_eq(try_open("priv", SAFE_DIR_CREATE, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/priv", tmpdir);
	ck_assert_int_eq(safe_dir_open(path, 0, &pfd, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/priv/id", tmpdir);
	ck_assert_int_eq(symlink(victim, path), 0);
	ck_assert_int_eq(safe_dir_claim(pfd, "id", &fd, NULL, 0, err, sizeof(err)), -EPERM);
	ck_assert_msg(strstr(err, "symbolic link"), "%s", err);
	close(pfd);
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
	tcase_add_test(tc, test_foreign_parent_refused);
	tcase_add_test(tc, test_symlinked_parent_refused);
	tcase_add_test(tc, test_private_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("open");
	tcase_add_checked_fixture(tc, open_setup, open_teardown);
	tcase_add_test(tc, test_create_and_reopen);
	tcase_add_test(tc, test_links_and_files);
	tcase_add_test(tc, test_writable_and_owners);
	tcase_add_test(tc, test_claim_taken_name);
	suite_add_tcase(s, tc);
	return s;
}
