// SPDX-License-Identifier: Apache-2.0
// conn_share: a client on this host is its uid, whatever loopback address it connects from;
// each client holds at most its share.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
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

/* Connects from 127.0.0.<last> and returns the server's side of the connection. */
static int connect_from(int last, int *ret_client)
{
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
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
	int a = conn_share_take(cs, s[0]), b = conn_share_take(cs, s[1]);
	ck_assert_int_ge(a, 0);
	ck_assert_int_ge(b, 0);
	ck_assert_int_ne(a, b);
	ck_assert_int_eq(conn_share_take(cs, s[2]), -EBUSY);
	conn_share_put(cs, a);
	ck_assert_int_ge(conn_share_take(cs, s[2]), 0);
	ck_assert_int_eq(conn_share_take(cs, s[0]), -EBUSY);
	for (int i = 0; i < 3; i++) {
		close(s[i]);
		close(c[i]);
	}
	conn_share_free(cs);
	conn_share_free(NULL);
}
END_TEST

Suite *conn_share_suite(void)
{
	Suite *s = suite_create("conn_share");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, local_client_is_its_uid);
	tcase_add_test(tc, share_per_client);
	suite_add_tcase(s, tc);
	return s;
}
