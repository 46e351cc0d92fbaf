// SPDX-License-Identifier: Apache-2.0
// DataLoad schedules: a schedule that parses has a next time that matches it, after the start.
#include <stdlib.h>
#include <time.h>

#include "cron.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	struct cron c;
	char err[256];
	if (cron_parse(s, &c, err, sizeof(err)) == 0) {
		int64_t after = 1796000000; /* 2026-11 */
		int64_t t = cron_next(&c, after);
		if (t != -1) {
			if (t <= after || t % 60)
				abort();
			time_t tt = (time_t)t;
			struct tm tm;
			gmtime_r(&tt, &tm);
			if (!((c.minute >> tm.tm_min) & 1) || !((c.hour >> tm.tm_hour) & 1) ||
			    !((c.month >> (tm.tm_mon + 1)) & 1))
				abort();
		}
	}
	free(s);
	return 0;
}
