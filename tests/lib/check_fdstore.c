// SPDX-License-Identifier: Apache-2.0
// The keeper's protocol: entries and their descriptors cross whole; a peer that lies about
// lengths or counts gets -EBADMSG and leaks no descriptor.
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdstore.h"
#include "suites.h"

static int sv[2];

static void setup(void)
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

static void teardown(void)
{
	close(sv[0]);
	close(sv[1]);
}

/* Open descriptors of this process, counted in /proc/self/fd. */
static int open_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

START_TEST(test_roundtrip)
{
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	char blob[3000];
	for (size_t i = 0; i < sizeof(blob); i++)
		blob[i] = (char)(i * 7);
	int fds[2] = {p[0], p[1]};
	ck_assert_int_eq(fdstore_send(sv[0], FDSTORE_PUT, "/mnt/a b", blob, sizeof(blob), fds, 2),
			 0);
	struct fdstore_msg m;
	ck_assert_int_eq(fdstore_recv(sv[1], &m), 0);
	ck_assert_uint_eq(m.op, FDSTORE_PUT);
	ck_assert_str_eq(m.name, "/mnt/a b");
	ck_assert_uint_eq(m.blob_len, sizeof(blob));
	ck_assert_int_eq(memcmp(m.blob, blob, sizeof(blob)), 0);
	ck_assert_uint_eq(m.nfds, 2);
	/* The received descriptors are the same pipe, and close on exec. */
	ck_assert_int_eq(write(m.fds[1], "x", 1), 1);
	char c = 0;
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	ck_assert_int_eq(c, 'x');
	ck_assert_int_eq(fcntl(m.fds[0], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	fdstore_msg_clear(&m);
	close(p[0]);
	close(p[1]);
	/* No name, no blob, no descriptor. */
	ck_assert_int_eq(fdstore_send(sv[0], FDSTORE_END, NULL, NULL, 0, NULL, 0), 0);
	ck_assert_int_eq(fdstore_recv(sv[1], &m), 0);
	ck_assert_uint_eq(m.op, FDSTORE_END);
	ck_assert_str_eq(m.name, "");
	ck_assert_ptr_null(m.blob);
	ck_assert_uint_eq(m.nfds, 0);
	fdstore_msg_clear(&m);
}
END_TEST

START_TEST(test_limits)
{
	int fds[FDSTORE_MAX_FDS + 1] = {0, 0, 0, 0, 0};
	ck_assert_int_eq(fdstore_send(sv[0], FDSTORE_PUT, "x", NULL, 0, fds, FDSTORE_MAX_FDS + 1),
			 -EMSGSIZE);
	static char big[FDSTORE_MAX_MSG];
	ck_assert_int_eq(fdstore_send(sv[0], FDSTORE_PUT, "x", big, sizeof(big), NULL, 0),
			 -EMSGSIZE);
	/* The end of the stream is not an error of the message. */
	close(sv[0]);
	sv[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	struct fdstore_msg m;
	ck_assert_int_eq(fdstore_recv(sv[1], &m), -ENODATA);
}
END_TEST

/* Sends raw bytes (a hostile peer) with descriptor fd attached when >= 0. */
static void send_raw(const void *buf, size_t len, int fd)
{
	struct iovec iov = {(void *)buf, len};
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr a;
	} u;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.b;
		mh.msg_controllen = sizeof(u.b);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	ck_assert_int_eq(sendmsg(sv[0], &mh, 0), (ssize_t)len);
}

START_TEST(test_hostile)
{
	int before = open_fds();
	struct fdstore_msg m;
	/* Shorter than a header. */
	send_raw("abc", 3, -1);
	ck_assert_int_eq(fdstore_recv(sv[1], &m), -EBADMSG);
	/* Lengths that claim more than was sent, with a descriptor that must not leak. */
	uint32_t h[4] = {FDSTORE_PUT, 1000, 0, 1};
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	send_raw(h, sizeof(h), fd);
	close(fd);
	ck_assert_int_eq(fdstore_recv(sv[1], &m), -EBADMSG);
	/* A count of descriptors other than those attached. */
	uint32_t h2[4] = {FDSTORE_PUT, 0, 0, 3};
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	send_raw(h2, sizeof(h2), fd);
	close(fd);
	ck_assert_int_eq(fdstore_recv(sv[1], &m), -EBADMSG);
	/* Lengths whose sum wraps. */
	uint32_t h3[4] = {FDSTORE_PUT, 0xffffffffu, 17, 0};
	send_raw(h3, sizeof(h3), -1);
	ck_assert_int_eq(fdstore_recv(sv[1], &m), -EBADMSG);
	ck_assert_int_eq(open_fds(), before);
	/* A good message after the bad ones still passes. */
	ck_assert_int_eq(fdstore_send(sv[0], FDSTORE_DEL, "/mnt/x", NULL, 0, NULL, 0), 0);
	ck_assert_int_eq(fdstore_recv(sv[1], &m), 0);
	ck_assert_str_eq(m.name, "/mnt/x");
	fdstore_msg_clear(&m);
}
END_TEST

Suite *fdstore_suite(void)
{
	Suite *s = suite_create("fdstore");
	TCase *tc = tcase_create("fdstore");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_hostile);
	suite_add_tcase(s, tc);
	return s;
}
