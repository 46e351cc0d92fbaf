// SPDX-License-Identifier: Apache-2.0
// The embedded default's member table: in from the first heartbeat, out after the timeout, the
// answer sorted and its traffic the sum of the members that are in; hostile names and URLs
// refused with the field named; a full table refuses one more node.
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "members.h"
#include "suites.h"

/* identities (node_id.h's form) */
#define ID_A "aaaa000000000000000000000000000000000000000000000000000000000001"
#define ID_B "bbbb000000000000000000000000000000000000000000000000000000000002"

static Weir__NodeTraffic traffic(uint64_t ufs, uint64_t in, uint64_t out)
{
	Weir__NodeTraffic t = WEIR__NODE_TRAFFIC__INIT;
	t.ufs_bytes = ufs;
	t.peer_in_bytes = in;
	t.peer_out_bytes = out;
	t.hit_bytes = ufs + 1;
	t.miss_bytes = 2;
	return t;
}

START_TEST(test_join_answer_leave)
{
	struct members *m = NULL;
	char err[512] = "";
	ck_assert_int_eq(members_new(6, &m), 0);
	Weir__NodeTraffic t3 = traffic(30, 3, 300), t1 = traffic(10, 1, 100);
	ck_assert_int_eq(
	    members_beat(m, "n3", "http://10.0.0.3:7070", ID_A, &t3, 100.0, err, sizeof(err)), 0);
	ck_assert_int_eq(
	    members_beat(m, "n1", "http://10.0.0.1:7070", ID_A, &t1, 101.0, err, sizeof(err)), 0);
	Weir__Response resp = WEIR__RESPONSE__INIT;
	/* a controller that just started answers no set before every node had a second to beat */
	ck_assert_int_eq(members_answer(m, 100.9, &resp), -EAGAIN);
	ck_assert_uint_eq(resp.n_members, 0);
	ck_assert_int_eq(members_answer(m, 105.0, &resp), 2);
	ck_assert_uint_eq(resp.n_members, 2);
	ck_assert_str_eq(resp.members[0]->node, "n1");
	ck_assert_str_eq(resp.members[0]->peer_url, "http://10.0.0.1:7070");
	ck_assert_str_eq(resp.members[1]->node, "n3");
	ck_assert_ptr_nonnull(resp.cluster_traffic);
	ck_assert_uint_eq(resp.cluster_traffic->ufs_bytes, 40);
	ck_assert_uint_eq(resp.cluster_traffic->peer_in_bytes, 4);
	ck_assert_uint_eq(resp.cluster_traffic->peer_out_bytes, 400);
	ck_assert_uint_eq(resp.cluster_traffic->hit_bytes, 42);
	ck_assert_uint_eq(resp.cluster_traffic->miss_bytes, 4);
	/* n3 silent for more than 6 s: out, and its traffic no longer counts */
	Weir__Response later = WEIR__RESPONSE__INIT;
	ck_assert_int_eq(members_answer(m, 106.5, &later), 1);
	ck_assert_str_eq(later.members[0]->node, "n1");
	ck_assert_uint_eq(later.cluster_traffic->ufs_bytes, 10);
	/* it comes back with a new URL and counts again */
	ck_assert_int_eq(
	    members_beat(m, "n3", "http://10.0.0.9:7070", ID_A, NULL, 107.0, err, sizeof(err)), 0);
	Weir__Response back = WEIR__RESPONSE__INIT;
	ck_assert_int_eq(members_answer(m, 107.0, &back), 2);
	ck_assert_str_eq(back.members[1]->peer_url, "http://10.0.0.9:7070");
	ck_assert_uint_eq(back.cluster_traffic->ufs_bytes, 10);
	members_free(m);
}
END_TEST

START_TEST(test_hostile_heartbeats)
{
	struct members *m = NULL;
	char err[512], long_name[300], long_url[300];
	ck_assert_int_eq(members_new(6, &m), 0);
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	snprintf(long_url, sizeof(long_url), "http://%0280d", 1);
	static const struct {
		const char *node, *url, *field;
	} bad[] = {
	    {"", "http://10.0.0.1:1", "node \"\""},
	    {"a/b", "http://10.0.0.1:1", "node \"a/b\""},
	    {"a b", "http://10.0.0.1:1", "node \"a b\""},
	    {NULL, "http://10.0.0.1:1", "node \"\""},
	    {"n1", "file:///etc/passwd", "peer_url \"file:///etc/passwd\""},
	    {"n1", "", "peer_url \"\""},
	    {"n1", NULL, "peer_url \"\""},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_int_eq(
		    members_beat(m, bad[i].node, bad[i].url, ID_A, NULL, 1, err, sizeof(err)), -EINVAL);
		ck_assert_msg(strstr(err, bad[i].field), "case %zu: %s", i, err);
	}
	ck_assert_int_eq(members_beat(m, long_name, "http://10.0.0.1:1", ID_A, NULL, 1, err, sizeof(err)),
			 -EINVAL);
	ck_assert_int_eq(members_beat(m, "n1", long_url, ID_A, NULL, 1, err, sizeof(err)), -EINVAL);
	Weir__Response resp = WEIR__RESPONSE__INIT;
	ck_assert_int_eq(members_answer(m, 1, &resp), -EAGAIN); /* nobody heard: no set yet */
	/* a full table refuses one more node, and still takes heartbeats of its members */
	char name[16];
	for (int i = 0; i < MEMBERS_MAX; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		ck_assert_int_eq(
		    members_beat(m, name, "http://10.0.0.1:1", ID_A, NULL, 1, err, sizeof(err)), 0);
	}
	ck_assert_int_eq(
	    members_beat(m, "one-more", "http://10.0.0.1:1", ID_A, NULL, 1, err, sizeof(err)), -ENOSPC);
	ck_assert_ptr_nonnull(strstr(err, "\"one-more\""));
	ck_assert_int_eq(members_beat(m, "n7", "http://10.0.0.7:1", ID_A, NULL, 2, err, sizeof(err)), 0);
	ck_assert_int_eq(members_answer(m, 2, &resp), MEMBERS_MAX);
	members_free(m);
}
END_TEST

/* The controller keeps the bounds every weir-node keeps (lib/node_name.h): a name of 63
 * characters and 64 members are in, 64 characters or a 65th member are refused with the field
 * and the limit named, and a full answer passes the node's own check of it. */
START_TEST(test_bounds_agree_with_the_nodes)
{
	struct members *m = NULL;
	char err[512], name[NODE_NAME_MAX + 2];
	ck_assert_int_eq(members_new(6, &m), 0);
	ck_assert_int_eq(MEMBERS_MAX, CLUSTER_MAX_NODES);
	memset(name, 'b', sizeof(name));
	name[NODE_NAME_MAX + 1] = '\0'; /* 64 characters */
	err[0] = '\0';
	ck_assert_int_eq(members_beat(m, name, "http://10.0.0.1:1", ID_A, NULL, 1, err, sizeof(err)),
			 -EINVAL);
	ck_assert_msg(strstr(err, "node \"bbbb") && strstr(err, "(64 bytes)") &&
			  strstr(err, "1 to 63"),
		      "%s", err);
	/* 63-character names, up to the 64th member */
	for (int i = 0; i < CLUSTER_MAX_NODES; i++) {
		snprintf(name, sizeof(name), "%02d%061d", i, 0);
		ck_assert_uint_eq(strlen(name), NODE_NAME_MAX);
		ck_assert_int_eq(
		    members_beat(m, name, "http://10.0.0.1:1", ID_A, NULL, 1, err, sizeof(err)), 0);
	}
	err[0] = '\0';
	ck_assert_int_eq(members_beat(m, "n65", "http://10.0.0.1:1", ID_A, NULL, 1, err, sizeof(err)),
			 -ENOSPC);
	ck_assert_msg(strstr(err, "\"n65\"") && strstr(err, "64 members"), "%s", err);
	Weir__Response resp = WEIR__RESPONSE__INIT;
	ck_assert_int_eq(members_answer(m, 2, &resp), CLUSTER_MAX_NODES);
	const char *names[CLUSTER_MAX_NODES];
	for (size_t i = 0; i < resp.n_members; i++)
		names[i] = resp.members[i]->node;
	ck_assert_int_eq(node_name_check_members("answer", names, resp.n_members, err, sizeof(err)),
			 0);
	members_free(m);
}
END_TEST

/* A table (timeout 6 s) whose members n1 and n2 beat every 0.5 s from 100 to 102. */
static struct members *two_members_beating(void)
{
	struct members *m = NULL;
	char err[512] = "";
	ck_assert_int_eq(members_new(6, &m), 0);
	for (double t = 100; t <= 102; t += 0.5) {
		ck_assert_int_eq(
		    members_beat(m, "n1", "http://10.0.0.1:1", ID_A, NULL, t, err, sizeof(err)), 0);
		ck_assert_int_eq(
		    members_beat(m, "n2", "http://10.0.0.2:1", ID_A, NULL, t, err, sizeof(err)), 0);
	}
	return m;
}

/* A busy controller (no heartbeat taken for 10 s) does not put the members out; a member that
 * stays silent after it is out a timeout later. */
START_TEST(test_controller_stall)
{
	struct members *m = two_members_beating();
	char err[512] = "";
	/* the server was busy from 102 to 112 (one request): n1's queued heartbeat comes first */
	members_credit(m, 10);
	ck_assert_int_eq(members_beat(m, "n1", "http://10.0.0.1:1", ID_A, NULL, 112, err, sizeof(err)),
			 0);
	Weir__Response resp = WEIR__RESPONSE__INIT;
	ck_assert_int_eq(members_answer(m, 112, &resp), 2);
	/* n2 died during the stall: only n1 beats from now on */
	for (double t = 112.5; t <= 117.5; t += 0.5)
		ck_assert_int_eq(
		    members_beat(m, "n1", "http://10.0.0.1:1", ID_A, NULL, t, err, sizeof(err)), 0);
	ck_assert_int_eq(members_answer(m, 117.5, &resp), 2);
	ck_assert_int_eq(members_beat(m, "n1", "http://10.0.0.1:1", ID_A, NULL, 118.3, err, sizeof(err)),
			 0);
	ck_assert_int_eq(members_answer(m, 118.3, &resp), 1);
	ck_assert_str_eq(resp.members[0]->node, "n1");
	members_free(m);
}
END_TEST

/* A silence of the nodes is theirs: the only live node beating every 1.5 s (slow, loaded) while
 * the controller takes each at once does not keep a dead member in. */
START_TEST(test_slow_survivor_does_not_keep_the_dead_in)
{
	struct members *m = two_members_beating();
	char err[512] = "";
	/* n2 died at 102; n1 beats every 1.5 s */
	Weir__Response resp = WEIR__RESPONSE__INIT;
	for (double t = 103.5; t <= 130; t += 1.5) {
		ck_assert_int_eq(
		    members_beat(m, "n1", "http://10.0.0.1:1", ID_A, NULL, t, err, sizeof(err)), 0);
		int n = members_answer(m, t, &resp);
		ck_assert_msg(n == (t - 102 > 6 ? 1 : 2), "%d members at %.1f", n, t);
	}
	ck_assert_str_eq(resp.members[0]->node, "n1");
	members_free(m);
}
END_TEST

/* A live member's identity is pinned: a heartbeat under its name with another identity is
 * refused and changes nothing (URL, identity) until the member has been silent for the timeout;
 * then the new identity is taken. A heartbeat without a valid identity is refused. */
START_TEST(test_identity_pinned_while_live)
{
	struct members *m = NULL;
	char err[512] = "";
	ck_assert_int_eq(members_new(6, &m), 0);
	ck_assert_int_eq(members_beat(m, "n1", "http://10.0.0.1:7070", ID_A, NULL, 100, err,
				      sizeof(err)),
			 0);
	ck_assert_int_eq(members_beat(m, "n2", "http://10.0.0.2:7070", ID_B, NULL, 100, err,
				      sizeof(err)),
			 0);
	/* another holder of the key claims n1 from another address */
	err[0] = '\0';
	ck_assert_int_eq(members_beat(m, "n1", "http://10.6.6.6:7070", ID_B, NULL, 103, err,
				      sizeof(err)),
			 -EPERM);
	ck_assert_msg(strstr(err, "another identity") && strstr(err, "aaaa000000000000"), "%s",
		      err);
	Weir__Response resp = WEIR__RESPONSE__INIT;
	ck_assert_int_eq(members_answer(m, 103, &resp), 2);
	ck_assert_str_eq(resp.members[0]->peer_url, "http://10.0.0.1:7070");
	ck_assert_str_eq(resp.members[0]->node_id, ID_A);
	ck_assert_str_eq(resp.members[1]->node_id, ID_B);
	/* the real n1 keeps beating: still refused at 108 (n1 heard at 105) */
	ck_assert_int_eq(members_beat(m, "n1", "http://10.0.0.1:7070", ID_A, NULL, 105, err,
				      sizeof(err)),
			 0);
	ck_assert_int_eq(members_beat(m, "n1", "http://10.6.6.6:7070", ID_B, NULL, 108, err,
				      sizeof(err)),
			 -EPERM);
	/* n1 silent for more than the timeout: a new identity (node-id.key replaced) is taken */
	ck_assert_int_eq(members_beat(m, "n2", "http://10.0.0.2:7070", ID_B, NULL, 111.5, err,
				      sizeof(err)),
			 0);
	ck_assert_int_eq(members_beat(m, "n1", "http://10.0.0.11:7070", ID_B, NULL, 111.5, err,
				      sizeof(err)),
			 0);
	Weir__Response later = WEIR__RESPONSE__INIT;
	ck_assert_int_eq(members_answer(m, 111.5, &later), 2);
	ck_assert_str_eq(later.members[0]->node_id, ID_B);
	ck_assert_str_eq(later.members[0]->peer_url, "http://10.0.0.11:7070");
	/* no identity, or not one: refused, naming the field */
	const char *bad[] = {"", "AAAA000000000000000000000000000000000000000000000000000000000001",
			     "aaaa", ID_A "00"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_int_eq(members_beat(m, "n3", "http://10.0.0.3:7070", bad[i], NULL, 112,
					      err, sizeof(err)),
				 -EINVAL);
		ck_assert_msg(strstr(err, "node_id"), "%s", err);
	}
	members_free(m);
}
END_TEST

Suite *members_suite(void)
{
	Suite *s = suite_create("members");
	TCase *tc = tcase_create("heartbeats");
	tcase_add_test(tc, test_join_answer_leave);
	tcase_add_test(tc, test_hostile_heartbeats);
	tcase_add_test(tc, test_bounds_agree_with_the_nodes);
	tcase_add_test(tc, test_controller_stall);
	tcase_add_test(tc, test_slow_survivor_does_not_keep_the_dead_in);
	tcase_add_test(tc, test_identity_pinned_while_live);
	suite_add_tcase(s, tc);
	return s;
}
