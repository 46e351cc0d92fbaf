// SPDX-License-Identifier: Apache-2.0
// Timed waits run on CLOCK_MONOTONIC: the deadline is a monotonic time, and a wait until one
// already past returns ETIMEDOUT at once rather than sleeping on another clock's idea of it.
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "suites.h"
#include "timed_wait.h"

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double secs(const struct timespec *ts)
{
	return (double)ts->tv_sec + (double)ts->tv_nsec / 1e9;
}

START_TEST(a_deadline_is_monotonic_time_from_now)
{
	double before = mono_now();
	struct timespec d = deadline_in(1.75);
	double after = mono_now();
	ck_assert_int_lt(d.tv_nsec, 1000000000L);
	ck_assert_int_ge(d.tv_nsec, 0);
	/* on CLOCK_REALTIME it would be decades past the monotonic clock */
	ck_assert_msg(secs(&d) >= before + 1.75 - 1e-6 && secs(&d) <= after + 1.75 + 1e-6,
		      "deadline %.6f not 1.75 s after monotonic %.6f..%.6f", secs(&d), before,
		      after);
	struct timespec z = deadline_in(-3);
	ck_assert_msg(secs(&z) >= before && secs(&z) <= mono_now(), "a negative wait is now");
}
END_TEST

START_TEST(a_wait_until_a_monotonic_deadline_times_out_then)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t c = PTHREAD_COND_INITIALIZER;
	pthread_mutex_lock(&m);
	struct timespec past = deadline_in(0);
	ck_assert_int_eq(cond_wait_until(&c, &m, &past), ETIMEDOUT);
	double t0 = mono_now();
	struct timespec d = deadline_in(0.2);
	int r;
	while ((r = cond_wait_until(&c, &m, &d)) == 0) /* a spurious wake-up: wait again */
		;
	double waited = mono_now() - t0;
	pthread_mutex_unlock(&m);
	ck_assert_int_eq(r, ETIMEDOUT);
	ck_assert_msg(waited >= 0.2 - 1e-3, "returned after %.3f s, before its deadline", waited);
}
END_TEST

Suite *timed_wait_suite(void)
{
	Suite *s = suite_create("timed_wait");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, a_deadline_is_monotonic_time_from_now);
	tcase_add_test(tc, a_wait_until_a_monotonic_deadline_times_out_then);
	suite_add_tcase(s, tc);
	return s;
}
