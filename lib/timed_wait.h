/* SPDX-License-Identifier: Apache-2.0 */
/* Timed waits on a condition variable against CLOCK_MONOTONIC: a wall clock stepped back (NTP
 * correcting a clock that ran ahead) would stretch a CLOCK_REALTIME deadline by the step, and
 * stall whatever waits (an unmount draining its readers, a resync) for as long. */
#pragma once

#include <pthread.h>
#include <time.h>

/* The CLOCK_MONOTONIC time seconds (>= 0) from now. */
struct timespec deadline_in(double seconds);
/* pthread_cond_clockwait on CLOCK_MONOTONIC until deadline (from deadline_in). Returns 0 or
 * ETIMEDOUT, as pthread_cond_timedwait. */
int cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *lock, const struct timespec *deadline);
