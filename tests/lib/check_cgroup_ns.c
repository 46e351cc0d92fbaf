// SPDX-License-Identifier: Apache-2.0
// proc_cgroup_id() from a cgroup namespace of its own (a container on cgroup v2): root, cgroups.
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc_cgroup.h"

/* writes pid into cgroup dir's cgroup.procs */
static int join_cgroup(const char *dir, pid_t pid)
{
	char path[600], num[32];
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int n = snprintf(num, sizeof(num), "%d", (int)pid);
	int r = write(fd, num, (size_t)n) == n ? 0 : -1;
	close(fd);
	return r;
}

/* weir-node in a container on cgroup v2 has a cgroup namespace of its own: the openers' cgroups
 * show as "/../x", and are found in the host's tree (through /proc/1/root) by where weir-node's
 * own cgroup lies there. A process in cgroup a with a new cgroup namespace asks for the cgroup of
 * one in b. */
START_TEST(a_cgroup_outside_a_private_namespace_is_found_in_the_hosts_tree)
{
	ck_assert_msg(geteuid() == 0, "this test needs root: it makes cgroups and a cgroup "
				      "namespace");
	const char *root = access("/sys/fs/cgroup/unified/cgroup.procs", F_OK) == 0
			       ? "/sys/fs/cgroup/unified"
			       : "/sys/fs/cgroup";
	ck_assert_msg(access(root, W_OK) == 0, "no writable cgroup2 hierarchy at %s", root);
	char base[300], a[400], b[400];
	snprintf(base, sizeof(base), "%s/weir-cgns-%d", root, (int)getpid());
	snprintf(a, sizeof(a), "%s/a", base);
	snprintf(b, sizeof(b), "%s/b", base);
	ck_assert_int_eq(mkdir(base, 0755), 0);
	ck_assert_int_eq(mkdir(a, 0755), 0);
	ck_assert_int_eq(mkdir(b, 0755), 0);
	int go[2];
	ck_assert_int_eq(pipe(go), 0);
	pid_t pb = fork();
	if (pb == 0) {
		if (join_cgroup(b, getpid()) < 0)
			_exit(1);
		close(go[0]);
		if (write(go[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(go[1]);
	char c;
	ck_assert_int_eq(read(go[0], &c, 1), 1); /* b joined */
	close(go[0]);
	pid_t pa = fork();
	if (pa == 0) {
		if (join_cgroup(a, getpid()) < 0 || unshare(CLONE_NEWCGROUP) < 0)
			_exit(2);
		uint64_t id = 0;
		struct stat st;
		int r = proc_cgroup_id(pb, &id);
		if (r < 0)
			_exit(10 + (-r & 0x7f));
		if (stat(b, &st) < 0 || id != (uint64_t)st.st_ino)
			_exit(3);
		/* its own cgroup, "/" in its namespace, where the mount shows the whole tree: a,
		 * not the tree's root */
		r = proc_cgroup_id(getpid(), &id);
		if (r < 0)
			_exit(10 + (-r & 0x7f));
		_exit(stat(a, &st) == 0 && id == (uint64_t)st.st_ino ? 0 : 4);
	}
	int status = 0;
	waitpid(pa, &status, 0);
	kill(pb, SIGKILL);
	waitpid(pb, NULL, 0);
	rmdir(a);
	rmdir(b);
	rmdir(base);
	ck_assert_msg(
	    WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "the cgroups of a process outside the namespace and of one inside: exit %d (2: "
	    "no namespace, 3: another cgroup's id for the one outside, 4: for the one "
	    "inside, 10+errno: proc_cgroup_id failed)",
	    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cgroup_ns");
	TCase *tc = tcase_create("cgroup_ns");
	tcase_add_test(tc, a_cgroup_outside_a_private_namespace_is_found_in_the_hosts_tree);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
