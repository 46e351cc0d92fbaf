// SPDX-License-Identifier: Apache-2.0
// Cron schedule parsing and the next matching minute, as Vixie cron reads the five fields
// (day-of-month and day-of-week OR-ed when both are restricted).
#include "cron.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int parse_field(const char *f, int lo, int hi, uint64_t *ret, int *ret_star)
{
	uint64_t bits = 0;
	char buf[128];
	if (strlen(f) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", f);
	*ret_star = !strcmp(f, "*") || !strcmp(f, "?");
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		long a = lo, b = hi, step = 1;
		char *slash = strchr(tok, '/'), *end;
		if (slash) {
			*slash = '\0';
			step = strtol(slash + 1, &end, 10);
			if (*end || end == slash + 1 || step < 1)
				return -EINVAL;
		}
		if (strcmp(tok, "*") && strcmp(tok, "?")) {
			a = strtol(tok, &end, 10);
			if (end == tok)
				return -EINVAL;
			if (*end == '-') {
				char *e2;
				b = strtol(end + 1, &e2, 10);
				if (*e2 || e2 == end + 1)
					return -EINVAL;
			} else if (*end) {
				return -EINVAL;
			} else if (!slash) {
				b = a;
			}
		}
		if (a < lo || b > hi || a > b)
			return -EINVAL;
		/* a step past the range ("1/99999999999999999999") must stop, not overflow */
		for (long v = a; v <= b; v += step) {
			bits |= 1ull << v;
			if (step > b - v)
				break;
		}
	}
	if (!bits)
		return -EINVAL;
	*ret = bits;
	return 0;
}

int cron_parse(const char *spec, struct cron *ret, char *errbuf, size_t errlen)
{
	static const struct {
		const char *name, *expand;
	} macros[] = {{"@yearly", "0 0 1 1 *"},	 {"@annually", "0 0 1 1 *"},
		      {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
		      {"@daily", "0 0 * * *"},	 {"@midnight", "0 0 * * *"},
		      {"@hourly", "0 * * * *"}};
	for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]); i++)
		if (!strcmp(spec, macros[i].name))
			spec = macros[i].expand;
	char buf[512];
	if (strlen(spec) >= sizeof(buf)) {
		snprintf(errbuf, errlen, "schedule is too long");
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", spec);
	char *fields[6], *save = NULL;
	int n = 0;
	for (char *tok = strtok_r(buf, " \t", &save); tok && n < 6;
	     tok = strtok_r(NULL, " \t", &save))
		fields[n++] = tok;
	if (n != 5) {
		snprintf(errbuf, errlen,
			 "schedule \"%s\" needs five fields (minute hour day-of-month month "
			 "day-of-week)",
			 spec);
		return -EINVAL;
	}
	static const struct {
		const char *name;
		int lo, hi;
	} f[] = {{"minute", 0, 59},
		 {"hour", 0, 23},
		 {"day-of-month", 1, 31},
		 {"month", 1, 12},
		 {"day-of-week", 0, 7}};
	uint64_t bits[5];
	int star[5];
	for (int i = 0; i < 5; i++)
		if (parse_field(fields[i], f[i].lo, f[i].hi, &bits[i], &star[i]) < 0) {
			snprintf(errbuf, errlen,
				 "schedule \"%s\": %s field \"%s\" is not valid (%d-%d)", spec,
				 f[i].name, fields[i], f[i].lo, f[i].hi);
			return -EINVAL;
		}
	struct cron c = {
	    .minute = bits[0],
	    .hour = (uint32_t)bits[1],
	    .dom = (uint32_t)bits[2],
	    .month = (uint16_t)bits[3],
	    .dow = (uint8_t)((bits[4] | (bits[4] >> 7)) & 0x7f),
	    .dom_star = star[2],
	    .dow_star = star[4],
	};
	*ret = c;
	return 0;
}

static int day_matches(const struct cron *c, const struct tm *tm)
{
	int dom = (c->dom >> tm->tm_mday) & 1, dow = (c->dow >> tm->tm_wday) & 1;
	if (c->dom_star || c->dow_star)
		return dom && dow;
	return dom || dow;
}

int64_t cron_next(const struct cron *c, int64_t after)
{
	time_t t = (time_t)(after - after % 60 + 60);
	time_t limit = t + (time_t)5 * 366 * 24 * 3600;
	while (t < limit) {
		struct tm tm;
		gmtime_r(&t, &tm);
		if (!((c->month >> (tm.tm_mon + 1)) & 1) || !day_matches(c, &tm)) {
			/* next day at 00:00 */
			t += (time_t)(24 * 3600 - tm.tm_hour * 3600 - tm.tm_min * 60);
			continue;
		}
		if (!((c->hour >> tm.tm_hour) & 1)) {
			t += (time_t)(3600 - tm.tm_min * 60);
			continue;
		}
		if (!((c->minute >> tm.tm_min) & 1)) {
			t += 60;
			continue;
		}
		return (int64_t)t;
	}
	return -1;
}
