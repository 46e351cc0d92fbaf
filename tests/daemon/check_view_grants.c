// SPDX-License-Identifier: Apache-2.0
// The table of which node may read which source (daemon/view_grants.h): lookups, a source listed
// twice, a wait that a replacement ends, a wait that times out, and close.
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "suites.h"
#include "view_grants.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

START_TEST(grants_name_their_nodes_only)
{
	struct view_grants *g = view_grants_new();
	ck_assert_ptr_nonnull(g);
	/* an empty table grants nothing, at once when asked not to wait */
	ck_assert_int_eq(view_grants_wait(g, "ns_a", "n1", 0), -EPERM);
	const char *a1[] = {"n1", "n2"}, *a2[] = {"n3", "n1", ""}, *b[] = {"n2"};
	struct view_grant t[] = {{"ns_a", a1, 2}, {"ns_b", b, 1}, {"ns_a", a2, 3}};
	ck_assert_int_eq(view_grants_replace(g, t, 3), 0);
	/* ns_a listed twice: the union */
	ck_assert_int_eq(view_grants_wait(g, "ns_a", "n1", 0), 0);
	ck_assert_int_eq(view_grants_wait(g, "ns_a", "n2", 0), 0);
	ck_assert_int_eq(view_grants_wait(g, "ns_a", "n3", 0), 0);
	ck_assert_int_eq(view_grants_wait(g, "ns_b", "n2", 0), 0);
	ck_assert_int_eq(view_grants_wait(g, "ns_b", "n1", 0), -EPERM);
	/* no prefix, no empty name, no other source */
	ck_assert_int_eq(view_grants_wait(g, "ns_a", "n", 0), -EPERM);
	ck_assert_int_eq(view_grants_wait(g, "ns_a", "n10", 0), -EPERM);
	ck_assert_int_eq(view_grants_wait(g, "ns_a", "", 0), -EPERM);
	ck_assert_int_eq(view_grants_wait(g, "ns_c", "n1", 0), -EPERM);
	ck_assert_int_eq(view_grants_wait(g, "ns_", "n1", 0), -EPERM);
	/* a replacement takes grants away */
	struct view_grant t2[] = {{"ns_a", b, 1}};
	ck_assert_int_eq(view_grants_replace(g, t2, 1), 0);
	ck_assert_int_eq(view_grants_wait(g, "ns_a", "n1", 0), -EPERM);
	ck_assert_int_eq(view_grants_wait(g, "ns_b", "n2", 0), -EPERM);
	ck_assert_int_eq(view_grants_wait(g, "ns_a", "n2", 0), 0);
	ck_assert_uint_eq(view_grants_generation(g), 2);
	view_grants_free(g);
}
END_TEST

struct later {
	struct view_grants *g;
	unsigned delay_ms;
	bool close;
};

static void *grant_later(void *arg)
{
	struct later *l = arg;
	usleep(l->delay_ms * 1000);
	if (l->close) {
		view_grants_close(l->g);
		return NULL;
	}
	const char *n[] = {"n2"};
	struct view_grant t[] = {{"ns_a", n, 1}};
	ck_assert_int_eq(view_grants_replace(l->g, t, 1), 0);
	return NULL;
}

START_TEST(a_wait_ends_when_the_grant_arrives)
{
	struct view_grants *g = view_grants_new();
	struct later l = {g, 200, false};
	pthread_t t;
	pthread_create(&t, NULL, grant_later, &l);
	double t0 = now_s();
	ck_assert_int_eq(view_grants_wait(g, "ns_a", "n2", 5000), 0);
	double took = now_s() - t0;
	ck_assert_msg(took >= 0.15 && took < 3, "waited %.3f s for a grant given after 0.2 s",
		      took);
	pthread_join(t, NULL);
	view_grants_free(g);
}
END_TEST

START_TEST(a_wait_outlasts_other_grants_then_says_no)
{
	struct view_grants *g = view_grants_new();
	struct later l = {g, 100, false}; /* grants n2, not n1 */
	pthread_t t;
	pthread_create(&t, NULL, grant_later, &l);
	double t0 = now_s();
	ck_assert_int_eq(view_grants_wait(g, "ns_a", "n1", 600), -EPERM);
	double took = now_s() - t0;
	ck_assert_msg(took >= 0.55 && took < 3, "a refused wait of 0.6 s took %.3f s", took);
	pthread_join(t, NULL);
	view_grants_free(g);
}
END_TEST

START_TEST(close_ends_every_wait)
{
	struct view_grants *g = view_grants_new();
	struct later l = {g, 100, true};
	pthread_t t;
	pthread_create(&t, NULL, grant_later, &l);
	double t0 = now_s();
	ck_assert_int_eq(view_grants_wait(g, "ns_a", "n1", 20000), -EPERM);
	ck_assert_msg(now_s() - t0 < 5, "a wait outlived close by %.3f s", now_s() - t0);
	pthread_join(t, NULL);
	/* closed: no more waiting, and a granted name is still answered */
	const char *n[] = {"n1"};
	struct view_grant tb[] = {{"ns_a", n, 1}};
	ck_assert_int_eq(view_grants_replace(g, tb, 1), 0);
	ck_assert_int_eq(view_grants_wait(g, "ns_a", "n1", 20000), 0);
	t0 = now_s();
	ck_assert_int_eq(view_grants_wait(g, "ns_a", "n2", 20000), -EPERM);
	ck_assert_msg(now_s() - t0 < 1, "a closed table waited %.3f s", now_s() - t0);
	view_grants_close(NULL);
	view_grants_free(g);
	view_grants_free(NULL);
}
END_TEST

Suite *view_grants_suite(void)
{
	Suite *s = suite_create("view_grants");
	TCase *tc = tcase_create("grants");
	tcase_add_test(tc, grants_name_their_nodes_only);
	tcase_add_test(tc, a_wait_ends_when_the_grant_arrives);
	tcase_add_test(tc, a_wait_outlasts_other_grants_then_says_no);
	tcase_add_test(tc, close_ends_every_wait);
	suite_add_tcase(s, tc);
	return s;
}
