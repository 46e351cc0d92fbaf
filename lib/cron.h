/* SPDX-License-Identifier: Apache-2.0 */
/* Cron schedules of DataLoads ("0,30 * * * *"): the five standard fields (minute hour
 * day-of-month month day-of-week) with *, lists, ranges and steps, and @hourly/@daily/@weekly/
 * @monthly/@yearly. Times are UTC. Pure functions. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct cron {
	uint64_t minute; /* bit i set: minute i matches */
	uint32_t hour;
	uint32_t dom;	/* bits 1..31 */
	uint16_t month; /* bits 1..12 */
	uint8_t dow;	/* bits 0..6, Sunday = 0 (7 accepted as Sunday) */
	int dom_star, dow_star;
};

/* Parses a schedule. Returns 0 and fills *ret, or -EINVAL with errbuf naming the bad field. */
int cron_parse(const char *spec, struct cron *ret, char *errbuf, size_t errlen);

/* The first time strictly after `after` (epoch seconds) that matches, at a whole minute.
 * Returns it, or -1 when none within five years (e.g. "0 0 31 2 *"). */
int64_t cron_next(const struct cron *c, int64_t after);
