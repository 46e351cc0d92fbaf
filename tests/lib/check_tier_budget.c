// SPDX-License-Identifier: Apache-2.0
// tier_budget (lib/tier_budget.h): a tier root's SIZE bounds the sum of the tiers open under
// it, not each alone; a share comes back when released; racing commits never oversubscribe.
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "suites.h"
#include "tier_budget.h"
#include "tier_roots.h"

#define GiB (1ULL << 30)

static struct tier_roots *roots(const char *spec)
{
	struct tier_roots *t = NULL;
	char err[512] = "";
	ck_assert_msg(tier_roots_parse(spec, &t, err, sizeof(err)) == 0, "%s", err);
	return t;
}

static int commit1(struct tier_budget *b, const char *owner, const char *path, uint64_t q,
		   char *err)
{
	struct tier_share s = {.path = path, .quota = q};
	err[0] = '\0';
	return tier_budget_commit(b, owner, NULL, &s, 1, false, err, 1024);
}

START_TEST(commit_refuse_release)
{
	struct tier_roots *t = roots("/dev/shm:4GiB,/var/cache/weir:200GiB");
	struct tier_budget *b = NULL;
	char err[1024];
	ck_assert_int_eq(tier_budget_new(t, &b), 0);
	/* two Runtimes of 3GiB under a 4GiB root: the first fits, the second does not */
	ck_assert_int_eq(commit1(b, "a_one", "/dev/shm/x/weir/a_one", 3 * GiB, err), 0);
	ck_assert_uint_eq(tier_budget_committed(b, 0), 3 * GiB);
	ck_assert_int_eq(commit1(b, "b_two", "/dev/shm/y/weir/b_two", 3 * GiB, err), -EDQUOT);
	ck_assert_msg(strstr(err, "/dev/shm") && strstr(err, "4.00GiB") &&
			  strstr(err, "already have 3.00GiB"),
		      "%s", err);
	ck_assert_uint_eq(tier_budget_committed(b, 0), 3 * GiB);
	/* what is left still fits, and another root's budget is its own */
	ck_assert_int_eq(commit1(b, "b_two", "/dev/shm/y/weir/b_two", 1 * GiB, err), 0);
	ck_assert_int_eq(commit1(b, "c", "/var/cache/weir/c", 100 * GiB, err), 0);
	ck_assert_uint_eq(tier_budget_committed(b, 0), 4 * GiB);
	ck_assert_uint_eq(tier_budget_committed(b, 1), 100 * GiB);
	/* a tier outside every root is not counted (tier_roots_check refuses it elsewhere) */
	ck_assert_int_eq(commit1(b, "d", "/dev/shmx/d", 50 * GiB, err), 0);
	ck_assert_uint_eq(tier_budget_committed(b, 0), 4 * GiB);
	/* an owner's new share replaces its old one: a_one shrinking to 2GiB frees 1GiB */
	ck_assert_int_eq(commit1(b, "a_one", "/dev/shm/x/weir/a_one", 2 * GiB, err), 0);
	ck_assert_uint_eq(tier_budget_committed(b, 0), 3 * GiB);
	/* a refused new share leaves the old one committed */
	ck_assert_int_eq(commit1(b, "a_one", "/dev/shm/x/weir/a_one", 4 * GiB, err), -EDQUOT);
	ck_assert_uint_eq(tier_budget_committed(b, 0), 3 * GiB);
	/* two tiers of one source under one root count together */
	struct tier_share two[] = {{"/dev/shm/e1", GiB}, {"/dev/shm/e2", GiB}};
	ck_assert_int_eq(tier_budget_commit(b, "e", NULL, two, 2, false, err, sizeof(err)),
			 -EDQUOT);
	/* release gives the share back; releasing an unknown owner is nothing */
	tier_budget_release(b, "a_one");
	tier_budget_release(b, "nobody");
	ck_assert_uint_eq(tier_budget_committed(b, 0), 1 * GiB);
	ck_assert_int_eq(tier_budget_commit(b, "e", NULL, two, 2, false, err, sizeof(err)), 0);
	ck_assert_uint_eq(tier_budget_committed(b, 0), 3 * GiB);
	/* force (a tier already open) is counted, never refused; then nothing more fits */
	struct tier_share big = {"/dev/shm/f", 2 * GiB};
	ck_assert_int_eq(tier_budget_commit(b, "f", NULL, &big, 1, true, err, sizeof(err)), 0);
	ck_assert_uint_eq(tier_budget_committed(b, 0), 5 * GiB);
	ck_assert_int_eq(commit1(b, "g", "/dev/shm/g", 1, err), -EDQUOT);
	tier_budget_free(b);
	tier_roots_free(t);
}
END_TEST

START_TEST(nested_roots_count_in_each)
{
	struct tier_roots *t = roots("/dev/shm:4GiB,/dev/shm/weir:8GiB");
	struct tier_budget *b = NULL;
	char err[1024];
	ck_assert_int_eq(tier_budget_new(t, &b), 0);
	ck_assert_int_eq(commit1(b, "a", "/dev/shm/weir/a", 3 * GiB, err), 0);
	ck_assert_uint_eq(tier_budget_committed(b, 0), 3 * GiB);
	ck_assert_uint_eq(tier_budget_committed(b, 1), 3 * GiB);
	/* fits /dev/shm/weir's 8GiB, not /dev/shm's 4GiB, which it is under too */
	ck_assert_int_eq(commit1(b, "b", "/dev/shm/weir/b", 3 * GiB, err), -EDQUOT);
	ck_assert_msg(strstr(err, "tier root /dev/shm ") != NULL, "%s", err);
	tier_budget_free(b);
	tier_roots_free(t);
	/* no roots: everything allowed, nothing counted */
	ck_assert_int_eq(tier_budget_new(NULL, &b), 0);
	ck_assert_int_eq(commit1(b, "a", "/dev/shm/a", UINT64_MAX, err), 0);
	tier_budget_free(b);
}
END_TEST

START_TEST(shared_path_counts_once)
{
	/* root's `weir mount` of two sources with one --tier path: one directory, one pool, one
	 * quota (tier_pool.h), so the root's budget holds it once, however it is spelled */
	struct tier_roots *t = roots("/dev/shm:4GiB");
	struct tier_budget *b = NULL;
	char err[1024];
	ck_assert_int_eq(tier_budget_new(t, &b), 0);
	ck_assert_int_eq(commit1(b, "url-a", "/dev/shm/weir", 3 * GiB, err), 0);
	ck_assert_msg(commit1(b, "url-b", "/dev/shm//weir/", 3 * GiB, err) == 0, "%s", err);
	ck_assert_uint_eq(tier_budget_committed(b, 0), 3 * GiB);
	/* a later source asking less shares the pool's quota: still 3GiB */
	ck_assert_msg(commit1(b, "url-c", "/dev/shm/weir", 1 * GiB, err) == 0, "%s", err);
	ck_assert_uint_eq(tier_budget_committed(b, 0), 3 * GiB);
	/* the budget still counts: another directory of 2GiB does not fit beside it */
	ck_assert_int_eq(commit1(b, "url-d", "/dev/shm/other", 2 * GiB, err), -EDQUOT);
	ck_assert_msg(strstr(err, "already have 3.00GiB"), "%s", err);
	/* the path stays charged while anyone holds it; its last release gives it back */
	tier_budget_release(b, "url-a");
	tier_budget_release(b, "url-c");
	ck_assert_uint_eq(tier_budget_committed(b, 0), 3 * GiB);
	ck_assert_int_eq(commit1(b, "url-d", "/dev/shm/other", 2 * GiB, err), -EDQUOT);
	/* an owner moving off the shared path leaves it to the others */
	ck_assert_int_eq(commit1(b, "url-a", "/dev/shm/weir", 3 * GiB, err), 0);
	ck_assert_int_eq(commit1(b, "url-a", "/dev/shm/a", 1 * GiB, err), 0);
	ck_assert_uint_eq(tier_budget_committed(b, 0), 4 * GiB);
	tier_budget_release(b, "url-b");
	ck_assert_uint_eq(tier_budget_committed(b, 0), 1 * GiB);
	/* the sole holder asking again with another quota is charged the new one */
	ck_assert_int_eq(commit1(b, "url-a", "/dev/shm/a", 2 * GiB, err), 0);
	ck_assert_uint_eq(tier_budget_committed(b, 0), 2 * GiB);
	ck_assert_int_eq(commit1(b, "url-d", "/dev/shm/other", 2 * GiB, err), 0);
	ck_assert_uint_eq(tier_budget_committed(b, 0), 4 * GiB);
	/* one source naming one directory twice holds it once */
	tier_budget_release(b, "url-d");
	struct tier_share twice[] = {{"/dev/shm/x", GiB}, {"/dev/shm/x/", GiB}};
	ck_assert_int_eq(tier_budget_commit(b, "e", NULL, twice, 2, false, err, sizeof(err)), 0);
	ck_assert_uint_eq(tier_budget_committed(b, 0), 3 * GiB);
	tier_budget_free(b);
	tier_roots_free(t);
}
END_TEST

static int commit_ns(struct tier_budget *b, const char *owner, const char *ns, const char *path,
		     uint64_t q, char *err)
{
	struct tier_share s = {.path = path, .quota = q};
	err[0] = '\0';
	return tier_budget_commit(b, owner, ns, &s, 1, false, err, 1024);
}

START_TEST(namespace_share_of_a_root)
{
	/* an 8GiB root, 3GiB per namespace: team-a cannot take the whole root */
	struct tier_roots *t = roots("/dev/shm:8GiB:3GiB,/var/cache/weir:100GiB");
	struct tier_budget *b = NULL;
	char err[1024];
	ck_assert_int_eq(tier_budget_new(t, &b), 0);
	ck_assert_int_eq(
	    commit_ns(b, "team-a_one", "team-a", "/dev/shm/weir/team-a_one", 2 * GiB, err), 0);
	ck_assert_int_eq(
	    commit_ns(b, "team-a_two", "team-a", "/dev/shm/weir/team-a_two", 2 * GiB, err),
	    -EDQUOT);
	ck_assert_msg(strstr(err, "gives each namespace at most 3.00GiB") &&
			  strstr(err, "namespace team-a's tiers open under it on this node already "
				      "have 2.00GiB"),
		      "%s", err);
	ck_assert_uint_eq(tier_budget_committed(b, 0), 2 * GiB);
	/* what is left of its share fits; another namespace has its own; root's mounts have none */
	ck_assert_int_eq(
	    commit_ns(b, "team-a_two", "team-a", "/dev/shm/weir/team-a_two", 1 * GiB, err), 0);
	ck_assert_int_eq(
	    commit_ns(b, "team-b_one", "team-b", "/dev/shm/weir/team-b_one", 3 * GiB, err), 0);
	ck_assert_int_eq(commit_ns(b, "url", NULL, "/dev/shm/plain", 2 * GiB, err), 0);
	ck_assert_uint_eq(tier_budget_committed(b, 0), 8 * GiB);
	/* a root without a per-namespace size: only its own */
	ck_assert_int_eq(
	    commit_ns(b, "team-a_big", "team-a", "/var/cache/weir/team-a_big", 90 * GiB, err), 0);
	/* an owner's new share replaces its old one in its namespace's sum too */
	ck_assert_int_eq(
	    commit_ns(b, "team-a_one", "team-a", "/dev/shm/weir/team-a_one", 2 * GiB, err), 0);
	tier_budget_release(b, "team-a_two");
	ck_assert_int_eq(
	    commit_ns(b, "team-a_one", "team-a", "/dev/shm/weir/team-a_one", 3 * GiB, err), 0);
	ck_assert_int_eq(commit_ns(b, "team-a_two", "team-a", "/dev/shm/weir/team-a_two", 1, err),
			 -EDQUOT);
	/* force (adopted at start) is counted, never refused */
	struct tier_share big = {"/dev/shm/weir/team-b_two", 1 * GiB};
	tier_budget_release(b, "url");
	ck_assert_int_eq(
	    tier_budget_commit(b, "team-b_two", "team-b", &big, 1, true, err, sizeof(err)), 0);
	ck_assert_int_eq(
	    commit_ns(b, "team-b_three", "team-b", "/dev/shm/weir/team-b_three", 1, err), -EDQUOT);
	tier_budget_free(b);
	tier_roots_free(t);
}
END_TEST

#define RACERS 8
#define ROUNDS 2000

struct race {
	struct tier_budget *b;
	atomic_uint over; /* a commit seen to take the root over its size */
	atomic_uint won;
};

static struct race race;

static void *racer(void *arg)
{
	char owner[16], path[64], err[1024];
	snprintf(owner, sizeof(owner), "r%ld", (long)(intptr_t)arg);
	/* each owner its own tier directory (one shared directory is one quota: shared_path) */
	snprintf(path, sizeof(path), "/dev/shm/weir/%s", owner);
	for (int i = 0; i < ROUNDS; i++) {
		if (commit1(race.b, owner, path, 1 * GiB, err) == 0) {
			atomic_fetch_add(&race.won, 1);
			/* held a while, so that the others' commits overlap it */
			for (int y = 0; y < 3; y++) {
				if (tier_budget_committed(race.b, 0) > 3 * GiB)
					atomic_fetch_add(&race.over, 1);
				sched_yield();
			}
			tier_budget_release(race.b, owner);
		}
	}
	return NULL;
}

START_TEST(racing_commits_never_oversubscribe)
{
	struct tier_roots *t = roots("/dev/shm:3GiB");
	ck_assert_int_eq(tier_budget_new(t, &race.b), 0);
	pthread_t th[RACERS];
	for (long i = 0; i < RACERS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, racer, (void *)(intptr_t)i), 0);
	for (int i = 0; i < RACERS; i++)
		pthread_join(th[i], NULL);
	unsigned over = atomic_load(&race.over), won = atomic_load(&race.won);
	ck_assert_msg(over == 0, "the root was seen over its 3GiB %u time(s)", over);
	ck_assert_uint_gt(won, 0);
	ck_assert_uint_eq(tier_budget_committed(race.b, 0), 0);
	/* and at once: of RACERS owners of 1GiB each, exactly 3 get a share */
	char err[1024];
	unsigned ok = 0;
	for (int i = 0; i < RACERS; i++) {
		char owner[16], path[64];
		snprintf(owner, sizeof(owner), "s%d", i);
		snprintf(path, sizeof(path), "/dev/shm/s/%s", owner);
		ok += commit1(race.b, owner, path, 1 * GiB, err) == 0;
	}
	ck_assert_uint_eq(ok, 3);
	tier_budget_free(race.b);
	tier_roots_free(t);
}
END_TEST

Suite *tier_budget_suite(void)
{
	Suite *s = suite_create("tier_budget");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, commit_refuse_release);
	tcase_add_test(tc, nested_roots_count_in_each);
	tcase_add_test(tc, shared_path_counts_once);
	tcase_add_test(tc, namespace_share_of_a_root);
	tcase_add_test(tc, racing_commits_never_oversubscribe);
	suite_add_tcase(s, tc);
	return s;
}
