// SPDX-License-Identifier: Apache-2.0
// control_connect talks only to a daemon of root or the caller's own user: a socket another user
// put at the path (in a state directory they could write) must not get the requests, which carry
// UFS URLs with their credentials.
#include <check.h>
#include <errno.h>
#include <grp.h>
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

/* Forks a client that becomes uid, sends a Ping on path and exits with 0 if the answer is a
 * Response with error -EPERM and a message naming "what", 1 for any other answer, 2+ when it
 * could not ask. */
static pid_t client_as(const char *path, uid_t uid, const char *what)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid)
		return pid;
	if (uid && (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 ||
		    setresuid(uid, uid, uid) < 0))
		_exit(2);
	Weir__Request req = WEIR__REQUEST__INIT;
	Weir__Empty ping = WEIR__EMPTY__INIT;
	req.body_case = WEIR__REQUEST__BODY_PING;
	req.ping = &ping;
	Weir__Response *resp = NULL;
	if (control_call_timeout(path, &req, 5000, &resp) < 0)
		_exit(3);
	int refused = resp->error == -EPERM && resp->message && strstr(resp->message, what) &&
		      strstr(resp->message, "permission denied");
	weir__response__free_unpacked(resp, NULL);
	_exit(refused ? 0 : 1);
}

/* The daemon side: control_listen's mode, and control_accept refusing a caller that is not
 * root by its kernel credentials, even through a socket file anyone may open. */
START_TEST(test_accept_checks_peer)
{
	char dir[] = "/tmp/check_control.XXXXXX", path[128];
	if (geteuid() != 0)
		ck_abort_msg("test_accept_checks_peer needs root (a client as nobody)");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chmod(dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/node.sock", dir);
	int lfd = control_listen(path);
	ck_assert_int_ge(lfd, 0);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_msg((st.st_mode & 07777) == 0600 || (st.st_mode & 07777) == 0660,
		      "the socket file is mode %o", (unsigned)(st.st_mode & 07777));
	ck_assert_uint_eq(st.st_mode & 0007, 0);

	/* opened up by mistake: the credentials still decide */
	ck_assert_int_eq(chmod(path, 0666), 0);
	pid_t pid = client_as(path, 65534, "weir-test");
	ck_assert_int_eq(control_accept(lfd, "weir-test"), -EPERM);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "nobody's client was not told it is refused (status %#x)", status);

	/* root is served: accept returns the connection, the request is there to read */
	pid = client_as(path, 0, "weir-test");
	int fd = control_accept(lfd, "weir-test");
	ck_assert_int_ge(fd, 0);
	ProtobufCMessage *m = NULL;
	ck_assert_int_eq(control_recv(fd, &weir__request__descriptor, &m), 0);
	ck_assert_int_eq(((Weir__Request *)m)->body_case, WEIR__REQUEST__BODY_PING);
	protobuf_c_message_free_unpacked(m, NULL);
	Weir__Response ok = WEIR__RESPONSE__INIT;
	ck_assert_int_eq(control_send(fd, &ok.base), 0);
	close(fd);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1,
		      "root's client did not get a plain answer (status %#x)", status);
	close(lfd);
	unlink(path);
	rmdir(dir);
}
END_TEST

/* control_peer_is_root: by the connection's kernel credentials, root is, nobody is not (the
 * group that may use a socket does not make its members root: member heartbeats need root). */
START_TEST(test_peer_is_root)
{
	char dir[] = "/tmp/check_control.XXXXXX", path[128];
	if (geteuid() != 0)
		ck_abort_msg("test_peer_is_root needs root (a client as nobody)");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chmod(dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/ctl.sock", dir);
	int lfd = control_listen(path);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(chmod(path, 0666), 0);
	const uid_t who[] = {65534, 0};
	for (size_t i = 0; i < 2; i++) {
		pid_t pid = client_as(path, who[i], "weir-test");
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC); /* not control_accept: it refuses
								  * nobody before we look */
		ck_assert_int_ge(fd, 0);
		ck_assert(control_peer_is_root(fd) == (who[i] == 0));
		close(fd);
		int status;
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	}
	close(lfd);
	unlink(path);
	rmdir(dir);
}
END_TEST

/* Forks a daemon at path that answers one request with a Response carrying error and message
 * (NULL: none); returns its pid once the socket listens. */
static pid_t answer_once(const char *path, int32_t error, const char *message)
{
	int lfd = control_listen(path);
	ck_assert_int_ge(lfd, 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = control_accept(lfd, "check_control");
		ProtobufCMessage *m = NULL;
		if (fd < 0 || control_recv(fd, &weir__request__descriptor, &m) < 0)
			_exit(2);
		protobuf_c_message_free_unpacked(m, NULL);
		Weir__Response resp = WEIR__RESPONSE__INIT;
		resp.error = error;
		resp.message = (char *)message;
		resp.pid = 4242;
		_exit(control_send(fd, &resp.base) < 0 ? 3 : 0);
	}
	close(lfd);
	return pid;
}

/* control_call_checked, as the controller and a weir-node's agent call weir-node: a Response is
 * handed over only without error; a daemon's error comes back as its code with its message (or
 * strerror), a positive one as -EIO, and no daemon as -EHOSTDOWN naming what and where. */
START_TEST(test_call_checked)
{
	static const struct {
		int32_t error;
		const char *message;
		int want;
		const char *want_err;
	} cases[] = {
	    {0, NULL, 0, ""},
	    {-ENOENT, "dataset \"ns/x\" is not there", -ENOENT, "dataset \"ns/x\" is not there"},
	    {-EACCES, NULL, -EACCES, "Permission denied"},
	    {-EACCES, "", -EACCES, "Permission denied"},
	    {7, "odd", -EIO, "odd"},
	};
	char dir[] = "/tmp/check_control.XXXXXX", path[128], err[1200];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/node.sock", dir);
	Weir__Request req = WEIR__REQUEST__INIT;
	Weir__Empty ping = WEIR__EMPTY__INIT;
	req.body_case = WEIR__REQUEST__BODY_PING;
	req.ping = &ping;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pid_t pid = answer_once(path, cases[i].error, cases[i].message);
		Weir__Response *resp = NULL;
		snprintf(err, sizeof(err), "untouched");
		int r =
		    control_call_checked(path, "weir-test", &req, 5000, &resp, err, sizeof(err));
		int status;
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			      "case %zu: the daemon did not answer (status %#x)", i, status);
		ck_assert_msg(r == cases[i].want, "case %zu: returned %d, want %d", i, r,
			      cases[i].want);
		if (cases[i].want == 0) {
			ck_assert_ptr_nonnull(resp);
			ck_assert_int_eq(resp->pid, 4242);
			weir__response__free_unpacked(resp, NULL);
		} else {
			ck_assert_ptr_null(resp);
			ck_assert_str_eq(err, cases[i].want_err);
		}
		unlink(path);
	}
	/* nothing listens: -EHOSTDOWN, the message names the daemon, the socket and the cause */
	Weir__Response *resp = NULL;
	int r = control_call_checked(path, "weir-test", &req, 5000, &resp, err, sizeof(err));
	ck_assert_int_eq(r, -EHOSTDOWN);
	ck_assert_ptr_null(resp);
	ck_assert_msg(strstr(err, "weir-test does not answer on \"") && strstr(err, path) &&
			  strstr(err, strerror(ENOENT)),
		      "message: %s", err);
	rmdir(dir);
}
END_TEST

Suite *control_suite(void)
{
	Suite *s = suite_create("control");
	TCase *tc = tcase_create("peer");
	tcase_add_test(tc, test_foreign_socket_refused);
	tcase_add_test(tc, test_accept_checks_peer);
	tcase_add_test(tc, test_peer_is_root);
	tcase_add_test(tc, test_call_times_out);
	tcase_add_test(tc, test_call_checked);
	suite_add_tcase(s, tc);
	return s;
}
