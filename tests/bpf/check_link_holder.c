// SPDX-License-Identifier: Apache-2.0
// The link holder (bpf/link_holder.h), with pipes for links: a pipe's read end sees its end
// once every copy of the write end is closed, as a link is released once every copy is.
// The test binary is its own holder (units.c).
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "link_holder.h"
#include "units.h"

/* whether every write end of the pipe read by rfd is closed within ms */
static bool ended_within(int rfd, int ms)
{
	struct pollfd p = {.fd = rfd, .events = POLLIN};
	if (poll(&p, 1, ms) != 1)
		return false;
	char b;
	return read(rfd, &b, 1) == 0;
}

START_TEST(a_drop_returns_once_all_is_let_go)
{
	struct link_holder *h;
	ck_assert_int_eq(link_holder_start("/proc/self/exe", &h), 0);
	int p[3][2], w[3];
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(pipe2(p[i], O_CLOEXEC), 0);
		w[i] = p[i][1];
	}
	ck_assert_int_eq(link_holder_keep(h, w, 3), 0);
	for (int i = 0; i < 3; i++)
		close(p[i][1]); /* ours: the holder's copies keep them open */
	for (int i = 0; i < 3; i++)
		ck_assert_msg(!ended_within(p[i][0], 100), "pipe %d ended while held", i);
	ck_assert_int_eq(link_holder_drop(h, 5000), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_msg(ended_within(p[i][0], 0), "pipe %d still open after the drop", i);
	/* again: the holder serves on */
	int q[2];
	ck_assert_int_eq(pipe2(q, O_CLOEXEC), 0);
	ck_assert_int_eq(link_holder_keep(h, &q[1], 1), 0);
	close(q[1]);
	ck_assert(!ended_within(q[0], 100));
	link_holder_free(h); /* it lets go on its own */
	ck_assert(ended_within(q[0], 5000));
}
END_TEST

START_TEST(a_holder_that_does_not_answer_is_ended)
{
	struct link_holder *h;
	ck_assert_int_eq(link_holder_start("/proc/self/exe", &h), 0);
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_eq(link_holder_keep(h, &p[1], 1), 0);
	close(p[1]);
	ck_assert(!ended_within(p[0], 100));
	ck_assert_int_eq(kill(link_holder_pid(h), SIGSTOP), 0);
	ck_assert_int_eq(link_holder_drop(h, 200), 1); /* let go of, by its end */
	/* killed and waited for: what it held is let go of when the drop returns */
	ck_assert(ended_within(p[0], 0));
	/* a dead holder keeps nothing and says so */
	ck_assert_int_eq(link_holder_keep(h, &p[0], 1), -EPIPE);
	ck_assert_int_eq(link_holder_drop(h, 200), 0);
	link_holder_free(h);
}
END_TEST

START_TEST(the_holder_keeps_nothing_else)
{
	/* a descriptor of ours without close-on-exec is not kept alive by the holder */
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	struct link_holder *h;
	ck_assert_int_eq(link_holder_start("/proc/self/exe", &h), 0);
	close(p[1]);
	ck_assert(ended_within(p[0], 5000));
	link_holder_free(h);
}
END_TEST

Suite *link_holder_suite(void)
{
	Suite *s = suite_create("link_holder");
	TCase *tc = tcase_create("link_holder");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, a_drop_returns_once_all_is_let_go);
	tcase_add_test(tc, a_holder_that_does_not_answer_is_ended);
	tcase_add_test(tc, the_holder_keeps_nothing_else);
	suite_add_tcase(s, tc);
	return s;
}
