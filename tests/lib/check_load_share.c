// SPDX-License-Identifier: Apache-2.0
// DataLoad shares: the Lease JSON both ways, hostile reports refused with the field named, and
// the leader's sum: complete only when every node of the current set finished its share of that
// set, a dead node's share not counted, the first error failing the load.
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "load_share.h"
#include "suites.h"

static struct load_share share(const char *node, const char *run, const char *set, uint64_t done,
			       uint64_t total, bool finished, const char *error)
{
	struct load_share s;
	memset(&s, 0, sizeof(s));
	snprintf(s.node, sizeof(s.node), "%s", node);
	snprintf(s.run, sizeof(s.run), "%s", run);
	char buf[512], *save = NULL;
	snprintf(buf, sizeof(buf), "%s", set);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
		snprintf(s.nodes[s.n_nodes++], sizeof(s.nodes[0]), "%s", t);
	s.bytes_done = done;
	s.bytes_total = total;
	s.files_done = done ? 1 : 0;
	s.files_total = 1;
	s.ufs_bytes = done;
	s.finished = finished;
	snprintf(s.error, sizeof(s.error), "%s", error ? error : "");
	return s;
}

static const char set12[2][254] = {"node-1", "node-2"};
static const char set1[1][254] = {"node-1"};
#define RUN "2026-12-02T21:00:00Z"

START_TEST(json_round_trip)
{
	struct load_share s = share("node-2", RUN, "node-2,node-1", 7, 9, true, "\"/a\": EIO"), b;
	s.n_nodes = load_share_sort_nodes(s.nodes, s.n_nodes);
	json_object *o = load_share_to_json(&s);
	char err[256];
	ck_assert_int_eq(load_share_from_json(o, "node-2", &b, err, sizeof(err)), 0);
	ck_assert_str_eq(b.run, RUN);
	ck_assert_uint_eq(b.n_nodes, 2);
	ck_assert_str_eq(b.nodes[0], "node-1");
	ck_assert_uint_eq(b.bytes_done, 7);
	ck_assert_uint_eq(b.ufs_bytes, 7);
	ck_assert(b.finished);
	ck_assert_str_eq(b.error, "\"/a\": EIO");
	/* what the apiserver hands back is text: parse that too */
	json_object *t = json_tokener_parse(json_object_to_json_string(o));
	ck_assert_int_eq(load_share_from_json(t, "node-2", &b, err, sizeof(err)), 0);
	json_object_put(t);
	json_object_put(o);
}
END_TEST

START_TEST(hostile_reports)
{
	static const struct {
		const char *json, *field;
		int err;
	} cases[] = {
	    {"[]", "not an object", -EINVAL},
	    {"{\"nodes\":[],\"bytesDone\":1}", "\"run\"", -EINVAL},
	    {"{\"run\":\"r\",\"nodes\":\"node-1\"}", "\"nodes\"", -EINVAL},
	    {"{\"run\":\"r\",\"nodes\":[1]}", "\"nodes\"[0]", -EINVAL},
	    {"{\"run\":\"r\",\"nodes\":[],\"bytesDone\":-5,\"bytesTotal\":1,\"filesDone\":1,"
	     "\"filesTotal\":1,\"ufsBytes\":1,\"finished\":true}",
	     "\"bytesDone\"", -EINVAL},
	    {"{\"run\":\"r\",\"nodes\":[],\"bytesDone\":\"5\",\"bytesTotal\":1,\"filesDone\":1,"
	     "\"filesTotal\":1,\"ufsBytes\":1,\"finished\":true}",
	     "\"bytesDone\"", -EINVAL},
	    {"{\"run\":\"r\",\"nodes\":[],\"bytesDone\":1,\"bytesTotal\":1,\"filesDone\":1,"
	     "\"filesTotal\":1,\"ufsBytes\":1}",
	     "\"finished\"", -EINVAL},
	};
	char err[256];
	struct load_share b;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_object *o = json_tokener_parse(cases[i].json);
		err[0] = '\0';
		ck_assert_int_eq(load_share_from_json(o, "node-9", &b, err, sizeof(err)),
				 cases[i].err);
		ck_assert_msg(strstr(err, cases[i].field) && strstr(err, "node-9"),
			      "case %zu: \"%s\" does not name %s", i, err, cases[i].field);
		json_object_put(o);
	}
	/* more nodes than a report may list */
	json_object *o = json_object_new_object(), *a = json_object_new_array();
	json_object_object_add(o, "run", json_object_new_string("r"));
	for (int i = 0; i <= LOAD_SHARE_MAX_NODES; i++) {
		char n[32];
		snprintf(n, sizeof(n), "n%d", i);
		json_object_array_add(a, json_object_new_string(n));
	}
	json_object_object_add(o, "nodes", a);
	ck_assert_int_eq(load_share_from_json(o, "node-9", &b, err, sizeof(err)), -E2BIG);
	json_object_put(o);
	/* a node name too long for a node */
	char longname[400], text[600];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	snprintf(text, sizeof(text), "{\"run\":\"r\",\"nodes\":[\"%s\"]}", longname);
	o = json_tokener_parse(text);
	ck_assert_int_eq(load_share_from_json(o, "node-9", &b, err, sizeof(err)), -EINVAL);
	json_object_put(o);
}
END_TEST

START_TEST(sort_nodes)
{
	char n[4][254] = {"node-2", "node-1", "node-2", "a"};
	ck_assert_uint_eq(load_share_sort_nodes(n, 4), 3);
	ck_assert_str_eq(n[0], "a");
	ck_assert_str_eq(n[1], "node-1");
	ck_assert_str_eq(n[2], "node-2");
}
END_TEST

START_TEST(total_two_nodes)
{
	struct load_share_total t;
	struct load_share r[3] = {0};
	/* nobody yet */
	load_share_total(RUN, set12, 2, r, 0, &t);
	ck_assert_int_eq(t.state, LOAD_SHARE_WAITING);
	/* node-1 finished, node-2 running: running, the figures add up */
	r[0] = share("node-1", RUN, "node-1,node-2", 60, 60, true, NULL);
	r[1] = share("node-2", RUN, "node-1,node-2", 10, 40, false, NULL);
	load_share_total(RUN, set12, 2, r, 2, &t);
	ck_assert_int_eq(t.state, LOAD_SHARE_RUNNING);
	ck_assert_uint_eq(t.bytes_done, 70);
	ck_assert_uint_eq(t.bytes_total, 100);
	ck_assert_uint_eq(t.shares, 2);
	ck_assert_uint_eq(t.finished, 1);
	/* both finished: complete */
	r[1] = share("node-2", RUN, "node-1,node-2", 40, 40, true, NULL);
	load_share_total(RUN, set12, 2, r, 2, &t);
	ck_assert_int_eq(t.state, LOAD_SHARE_COMPLETE);
	ck_assert_uint_eq(t.ufs_bytes, 100);
	/* one node missing its report is not complete */
	load_share_total(RUN, set12, 2, r, 1, &t);
	ck_assert_int_eq(t.state, LOAD_SHARE_RUNNING);
	/* a report of another run (an earlier Cron run) does not count */
	r[1] = share("node-2", "2026-12-01T00:00:00Z", "node-1,node-2", 40, 40, true, NULL);
	load_share_total(RUN, set12, 2, r, 2, &t);
	ck_assert_int_eq(t.state, LOAD_SHARE_RUNNING);
	ck_assert_uint_eq(t.bytes_total, 60);
	/* a node outside the set (its Lease expired) does not count, finished or not */
	r[1] = share("node-3", RUN, "node-1,node-2", 40, 40, true, NULL);
	load_share_total(RUN, set12, 2, r, 2, &t);
	ck_assert_int_eq(t.state, LOAD_SHARE_RUNNING);
}
END_TEST

START_TEST(total_node_lost)
{
	struct load_share_total t;
	struct load_share r[2];
	/* node-2 died: the set is node-1 alone; node-1's finished share of the old set is not the
	 * whole load */
	r[0] = share("node-1", RUN, "node-1,node-2", 60, 60, true, NULL);
	r[1] = share("node-2", RUN, "node-1,node-2", 10, 40, false, NULL);
	load_share_total(RUN, set1, 1, r, 2, &t);
	ck_assert_int_eq(t.state, LOAD_SHARE_WAITING);
	ck_assert_uint_eq(t.bytes_total, 0);
	/* node-1 redoes its share over the new set: running, then complete with the whole */
	r[0] = share("node-1", RUN, "node-1", 70, 100, false, NULL);
	load_share_total(RUN, set1, 1, r, 2, &t);
	ck_assert_int_eq(t.state, LOAD_SHARE_RUNNING);
	ck_assert_uint_eq(t.bytes_total, 100);
	r[0] = share("node-1", RUN, "node-1", 100, 100, true, NULL);
	load_share_total(RUN, set1, 1, r, 2, &t);
	ck_assert_int_eq(t.state, LOAD_SHARE_COMPLETE);
	ck_assert_uint_eq(t.bytes_done, 100);
}
END_TEST

START_TEST(total_failed)
{
	struct load_share_total t;
	struct load_share r[2];
	r[0] = share("node-2", RUN, "node-1,node-2", 5, 40, true, "\"/b\": Connection refused");
	r[1] = share("node-1", RUN, "node-1,node-2", 1, 60, true, "\"/a\": No space left");
	load_share_total(RUN, set12, 2, r, 2, &t);
	ck_assert_int_eq(t.state, LOAD_SHARE_FAILED);
	/* the first in node order, whatever the order of the Leases */
	ck_assert_str_eq(t.error, "node node-1: \"/a\": No space left");
	/* an error from a share of an older set still fails the load */
	r[0] = share("node-1", RUN, "node-1", 1, 60, true, "\"/a\": EIO");
	load_share_total(RUN, set12, 2, r, 1, &t);
	ck_assert_int_eq(t.state, LOAD_SHARE_FAILED);
}
END_TEST

START_TEST(total_plans_disagree)
{
	struct load_share_total t;
	struct load_share r[3];
	const char *pa = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	const char *pb = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
	/* both finished without error, over the same set, but planned over different trees
	 * (node-2's listing was stale): blocks may have had no fetcher, so never COMPLETE */
	r[0] = share("node-1", RUN, "node-1,node-2", 60, 60, true, NULL);
	r[1] = share("node-2", RUN, "node-1,node-2", 40, 40, true, NULL);
	snprintf(r[0].plan, sizeof(r[0].plan), "%s", pa);
	snprintf(r[1].plan, sizeof(r[1].plan), "%s", pb);
	load_share_total(RUN, set12, 2, r, 2, &t);
	ck_assert_int_eq(t.state, LOAD_SHARE_FAILED);
	ck_assert_msg(strstr(t.error, "nodes node-1 and node-2 planned the load over different "
				      "trees (plan aaaaaaaaaaaa vs bbbbbbbbbbbb)"),
		      "%s", t.error);
	/* a share without a plan (an older node) does not agree with one that has one */
	r[1].plan[0] = '\0';
	load_share_total(RUN, set12, 2, r, 2, &t);
	ck_assert_int_eq(t.state, LOAD_SHARE_FAILED);
	/* the same plan: complete */
	snprintf(r[1].plan, sizeof(r[1].plan), "%s", pa);
	load_share_total(RUN, set12, 2, r, 2, &t);
	ck_assert_int_eq(t.state, LOAD_SHARE_COMPLETE);
	/* the plan goes through the Lease's JSON; a malformed one is refused naming it */
	json_object *o = load_share_to_json(&r[1]);
	struct load_share b;
	char err[256];
	ck_assert_int_eq(load_share_from_json(o, "node-2", &b, err, sizeof(err)), 0);
	ck_assert_str_eq(b.plan, pa);
	json_object_object_add(o, "plan", json_object_new_string("abc"));
	ck_assert_int_eq(load_share_from_json(o, "node-2", &b, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "\"plan\""), "%s", err);
	json_object_put(o);
}
END_TEST

Suite *load_share_suite(void)
{
	Suite *s = suite_create("load_share");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, json_round_trip);
	tcase_add_test(tc, hostile_reports);
	tcase_add_test(tc, sort_nodes);
	tcase_add_test(tc, total_two_nodes);
	tcase_add_test(tc, total_node_lost);
	tcase_add_test(tc, total_failed);
	tcase_add_test(tc, total_plans_disagree);
	suite_add_tcase(s, tc);
	return s;
}
