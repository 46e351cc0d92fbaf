// SPDX-License-Identifier: Apache-2.0
#include "timed_wait.h"

struct timespec deadline_in(double seconds)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (seconds < 0)
		seconds = 0;
	time_t whole = (time_t)seconds;
	ts.tv_sec += whole;
	ts.tv_nsec += (long)((seconds - (double)whole) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

int cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *lock, const struct timespec *deadline)
{
	return pthread_cond_clockwait(cond, lock, CLOCK_MONOTONIC, deadline);
}
