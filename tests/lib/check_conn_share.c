// SPDX-License-Identifier: Apache-2.0
// conn_share: a client on this host is its uid, whatever loopback address it connects from;
// each client holds at most its share.
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn_share.h"
#include "suites.h"

static int lfd = -1;
static struct sockaddr_in laddr;

static void listen_setup(void)
{
	laddr = (struct sockaddr_in){.sin_family = AF_INET};
	laddr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&laddr, sizeof(laddr)), 0);
	socklen_t l = sizeof(laddr);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&laddr, &l), 0);
	ck_assert_int_eq(listen(lfd, 16), 0);
}

/* Connects from 127.0.0.<last> with a socket of uid (made with that fsuid: the kernel records
 * the creator's; -1: ours) and returns the server's side of the connection. */
static int connect_as(int last, int uid, int *ret_client)
{
	if (uid >= 0)
		setfsuid((uid_t)uid);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (uid >= 0)
		setfsuid(0);
	ck_assert_int_ge(c, 0);
	struct sockaddr_in src = {.sin_family = AF_INET};
	src.sin_addr.s_addr = htonl(0x7f000000u | (unsigned)last);
	ck_assert_int_eq(bind(c, (struct sockaddr *)&src, sizeof(src)), 0);
	ck_assert_int_eq(connect(c, (struct sockaddr *)&laddr, sizeof(laddr)), 0);
	int s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(s, 0);
	*ret_client = c;
	return s;
}

static int connect_from(int last, int *ret_client)
{
	return connect_as(last, -1, ret_client);
}

START_TEST(local_client_is_its_uid)
{
	listen_setup();
	for (int last = 1; last <= 3; last++) {
		int c, s = connect_from(last, &c);
		bool local = false;
		unsigned id = 0;
		ck_assert_int_eq(conn_share_client(s, &local, &id), 0);
		ck_assert_msg(local, "the client at 127.0.0.%d was not found on this host", last);
		ck_assert_uint_eq(id, geteuid());
		close(s);
		close(c);
	}
	int u = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool local;
	unsigned id;
	ck_assert_int_eq(conn_share_client(u, &local, &id), -ENOTCONN);
	close(u);
}
END_TEST

START_TEST(share_per_client)
{
	struct conn_share *cs;
	ck_assert_int_eq(conn_share_new(0, 4, &cs), -EINVAL);
	ck_assert_int_eq(conn_share_new(5, 4, &cs), -EINVAL);
	ck_assert_int_eq(conn_share_new(2, 4, &cs), 0);
	listen_setup();
	/* three addresses, one user: two slots, then refused, until one is given back */
	int c[3], s[3];
	for (int i = 0; i < 3; i++)
		s[i] = connect_from(1 + i, &c[i]);
	uint64_t a, b, t;
	ck_assert_int_eq(conn_share_take(cs, s[0], 0, &a), 0);
	ck_assert_int_eq(conn_share_take(cs, s[1], 0, &b), 0);
	ck_assert(a != b);
	ck_assert_int_eq(conn_share_take(cs, s[2], 0, &t), -EBUSY);
	conn_share_put(cs, a);
	ck_assert_int_eq(conn_share_take(cs, s[2], 0, &t), 0);
	ck_assert_int_eq(conn_share_take(cs, s[0], 0, &t), -EBUSY);
	for (int i = 0; i < 3; i++) {
		close(s[i]);
		close(c[i]);
	}
	conn_share_free(cs);
	conn_share_free(NULL);
}
END_TEST

/* All slots held: a newcomer takes the oldest slot of the client holding the most, when that
 * client holds at least two more than the newcomer; that connection is shut down. Users stand
 * for clients here (other hosts' addresses cannot be had on loopback): the eviction is the same
 * for addresses. */
START_TEST(full_evicts_the_heaviest)
{
	if (geteuid() != 0) {
		ck_abort_msg("full_evicts_the_heaviest needs root (sockets of other uids)");
		return;
	}
	struct conn_share *cs;
	ck_assert_int_eq(conn_share_new(2, 4, &cs), 0);
	listen_setup();
	int c[8], s[8];
	uint64_t t[8];
	/* users 1001 and 1002 take two each: full */
	for (int i = 0; i < 4; i++) {
		s[i] = connect_as(1, 1001 + i / 2, &c[i]);
		ck_assert_int_eq(conn_share_take(cs, s[i], 0, &t[i]), 0);
	}
	/* 1003 takes 1001's oldest, 1004 then 1002's oldest: those are shut down, their clients
	 * read EOF; the others stay */
	s[4] = connect_as(1, 1003, &c[4]);
	ck_assert_int_eq(conn_share_take(cs, s[4], 0, &t[4]), 0);
	s[5] = connect_as(1, 1004, &c[5]);
	ck_assert_int_eq(conn_share_take(cs, s[5], 0, &t[5]), 0);
	char b;
	ck_assert_int_eq(recv(c[0], &b, 1, MSG_DONTWAIT), 0);
	ck_assert_int_eq(recv(c[2], &b, 1, MSG_DONTWAIT), 0);
	ck_assert_int_eq(recv(c[1], &b, 1, MSG_DONTWAIT), -1);
	ck_assert_int_eq(recv(c[3], &b, 1, MSG_DONTWAIT), -1);
	/* an evicted connection's close gives back nothing of its newcomer's */
	conn_share_put(cs, t[0]);
	conn_share_put(cs, t[2]);
	/* everyone holds one now: a newcomer evicts nobody, until one is given back */
	s[6] = connect_as(1, 1005, &c[6]);
	ck_assert_int_eq(conn_share_take(cs, s[6], 0, &t[6]), -EMFILE);
	conn_share_put(cs, t[1]);
	ck_assert_int_eq(conn_share_take(cs, s[6], 0, &t[6]), 0);
	/* and 1001, with none left, evicts nobody either (all hold one) */
	ck_assert_int_eq(conn_share_take(cs, s[1], 0, &t[7]), -EMFILE);
	for (int i = 0; i < 7; i++) {
		close(s[i]);
		close(c[i]);
	}
	conn_share_free(cs);
}
END_TEST

/* EOF (the connection was shut down by its server) or not, on a client socket. */
static bool ended(int client)
{
	char b;
	return recv(client, &b, 1, MSG_DONTWAIT) == 0;
}

/* A client at its share takes over its own connection that completed no request within
 * CONN_SHARE_STALE_MS (a slowloris one) instead of being refused; one with a request in progress
 * goes last. The clock is the caller's: times in ms. */
START_TEST(stale_taken_over_within_a_client)
{
	struct conn_share *cs;
	ck_assert_int_eq(conn_share_new(2, 4, &cs), 0);
	listen_setup();
	int c[4], s[4];
	uint64_t t[4];
	for (int i = 0; i < 4; i++)
		s[i] = connect_from(1 + i, &c[i]);
	ck_assert_int_eq(conn_share_take(cs, s[0], 0, &t[0]), 0);
	ck_assert_int_eq(conn_share_take(cs, s[1], 0, &t[1]), 0);
	conn_share_request(cs, t[1], true, 100);
	conn_share_request(cs, t[1], false, 200);
	/* nothing stale yet: refused */
	ck_assert_int_eq(conn_share_take(cs, s[2], CONN_SHARE_STALE_MS - 1, &t[2]), -EBUSY);
	/* s[0] has completed nothing in time: s[2] takes its slot; s[1] (a request at 200) stays */
	ck_assert_int_eq(conn_share_take(cs, s[2], CONN_SHARE_STALE_MS, &t[2]), 0);
	ck_assert(ended(c[0]));
	ck_assert(!ended(c[1]));
	conn_share_put(cs, t[0]); /* the evicted one's close frees nothing */
	ck_assert_int_eq(conn_share_take(cs, s[0], CONN_SHARE_STALE_MS, &t[0]), -EBUSY);
	/* later both are stale, s[2] with a request in progress: s[1] goes, s[2] stays */
	conn_share_request(cs, t[2], true, CONN_SHARE_STALE_MS + 300);
	ck_assert_int_eq(conn_share_take(cs, s[3], 3 * CONN_SHARE_STALE_MS, &t[3]), 0);
	ck_assert(ended(c[1]));
	ck_assert(!ended(c[2]));
	for (int i = 0; i < 4; i++) {
		close(s[i]);
		close(c[i]);
	}
	conn_share_free(cs);
}
END_TEST

/* All slots held: a newcomer never takes a connection with a request in progress while another
 * may be taken, and takes a stale connection of anyone's before a fresh one of the client holding
 * the most. */
START_TEST(eviction_spares_requests_in_progress)
{
	if (geteuid() != 0) {
		ck_abort_msg(
		    "eviction_spares_requests_in_progress needs root (sockets of other uids)");
		return;
	}
	struct conn_share *cs;
	ck_assert_int_eq(conn_share_new(2, 4, &cs), 0);
	listen_setup();
	int c[6], s[6];
	uint64_t t[6];
	/* 1001 (the legitimate client, first) and 1002 hold two each */
	for (int i = 0; i < 4; i++) {
		s[i] = connect_as(1, 1001 + i / 2, &c[i]);
		ck_assert_int_eq(conn_share_take(cs, s[i], 0, &t[i]), 0);
	}
	/* 1001's oldest is mid-request, its other idle after one; 1002's both mid-request */
	conn_share_request(cs, t[0], true, 100);
	conn_share_request(cs, t[1], true, 200);
	conn_share_request(cs, t[1], false, 300);
	conn_share_request(cs, t[2], true, 400);
	conn_share_request(cs, t[3], true, 400);
	/* 1003 takes the only idle one (the old code cut 1001's oldest, mid-request) */
	s[4] = connect_as(1, 1003, &c[4]);
	ck_assert_int_eq(conn_share_take(cs, s[4], 1000, &t[4]), 0);
	ck_assert(ended(c[1]));
	ck_assert(!ended(c[0]) && !ended(c[2]) && !ended(c[3]));
	/* all complete their requests at 1500; 1003's has sent none by 6000: stale, and 1004 takes
	 * it rather than one of 1002's (the client holding the most, fresh) */
	conn_share_request(cs, t[0], false, 1500);
	conn_share_request(cs, t[2], false, 1500);
	conn_share_request(cs, t[3], false, 1500);
	s[5] = connect_as(1, 1004, &c[5]);
	ck_assert_int_eq(conn_share_take(cs, s[5], 1000 + CONN_SHARE_STALE_MS, &t[5]), 0);
	ck_assert(ended(c[4]));
	ck_assert(!ended(c[0]) && !ended(c[2]) && !ended(c[3]));
	for (int i = 0; i < 6; i++) {
		close(s[i]);
		close(c[i]);
	}
	conn_share_free(cs);
}
END_TEST

Suite *conn_share_suite(void)
{
	Suite *s = suite_create("conn_share");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, local_client_is_its_uid);
	tcase_add_test(tc, share_per_client);
	tcase_add_test(tc, full_evicts_the_heaviest);
	tcase_add_test(tc, stale_taken_over_within_a_client);
	tcase_add_test(tc, eviction_spares_requests_in_progress);
	suite_add_tcase(s, tc);
	return s;
}
