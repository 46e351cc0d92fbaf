// SPDX-License-Identifier: Apache-2.0
// control_connect talks only to a daemon of root or the caller's own user: a socket another user
// put at the path (in a state directory they could write) must not get the requests, which carry
// UFS URLs with their credentials.
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "suites.h"

/* Forks a child that listens at path as uid (and answers nothing); returns its pid once the
 * socket is there. */
static pid_t serve_as(const char *path, uid_t uid)
{
	int ready[2];
	ck_assert_int_eq(pipe(ready), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(ready[0]);
		if (uid && (setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0))
			_exit(2);
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0)
			_exit(3);
		if (write(ready[1], "x", 1) != 1)
			_exit(4);
		for (;;)
			pause();
	}
	close(ready[1]);
	char c;
	ck_assert_msg(read(ready[0], &c, 1) == 1, "the listener (uid %u) did not start",
		      (unsigned)uid);
	close(ready[0]);
	return pid;
}

static void stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

START_TEST(test_foreign_socket_refused)
{
	char dir[] = "/tmp/check_control.XXXXXX", path[128];
	if (geteuid() != 0)
		ck_abort_msg("test_foreign_socket_refused needs root (a listener as nobody)");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chmod(dir, 01777), 0);
	snprintf(path, sizeof(path), "%s/node.sock", dir);

	pid_t pid = serve_as(path, 65534);
	int fd = control_connect(path);
	stop(pid);
	unlink(path);
	ck_assert_int_eq(fd, -EPERM);

	pid = serve_as(path, 0);
	fd = control_connect(path);
	stop(pid);
	unlink(path);
	rmdir(dir);
	ck_assert_int_ge(fd, 0);
	close(fd);
}
END_TEST

/* A daemon that takes the connection and never answers must not hang its caller: the one client
 * gives up with -ETIMEDOUT near its deadline. */
START_TEST(test_call_times_out)
{
	char dir[] = "/tmp/check_control.XXXXXX", path[128];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/node.sock", dir);
	pid_t pid = serve_as(path, geteuid());

	Weir__Request req = WEIR__REQUEST__INIT;
	Weir__Empty ping = WEIR__EMPTY__INIT;
	req.body_case = WEIR__REQUEST__BODY_PING;
	req.ping = &ping;
	Weir__Response *resp = NULL;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int r = control_call_timeout(path, &req, 300, &resp);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	bool alive = control_ping(path, 200);
	stop(pid);
	unlink(path);
	rmdir(dir);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	ck_assert_int_eq(r, -ETIMEDOUT);
	ck_assert_ptr_null(resp);
	ck_assert_msg(ms >= 250 && ms < 5000, "gave up after %.0f ms, not near 300", ms);
	ck_assert_msg(!alive, "a silent daemon answered a ping");
}
END_TEST

Suite *control_suite(void)
{
	Suite *s = suite_create("control");
	TCase *tc = tcase_create("peer");
	tcase_add_test(tc, test_foreign_socket_refused);
	tcase_add_test(tc, test_call_times_out);
	suite_add_tcase(s, tc);
	return s;
}
