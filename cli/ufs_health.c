// SPDX-License-Identifier: Apache-2.0
// The UFS's reachability as weir stat and weir top show it. Never shows a URL: the cause comes
// without one (it may hold credentials).
#include "ufs_health.h"

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

json_object *ufs_health_json(const Weir__ViewStat *v)
{
	json_object *o = json_object_new_object();
	bool down = v->ufs_down_since_ms != 0;
	json_object_object_add(o, "reachable", json_object_new_boolean(!down));
	if (down) {
		json_object_object_add(o, "down_since_ms",
				       json_object_new_uint64(v->ufs_down_since_ms));
		json_object_object_add(o, "error", json_object_new_string(v->ufs_error));
	}
	json_object_object_add(o, "serving_stale", json_object_new_boolean(v->stale_served != 0));
	json_object_object_add(o, "stale_served", json_object_new_uint64(v->stale_served));
	json_object_object_add(o, "stale_refused", json_object_new_uint64(v->stale_refused));
	json_object_object_add(o, "stale_age_s", json_object_new_uint64(v->stale_age_ms / 1000));
	json_object_object_add(o, "max_stale_s", json_object_new_uint64(v->max_stale_ms / 1000));
	return o;
}

int ufs_health_line(const Weir__ViewStat *v, char *buf, size_t len)
{
	if (!v->ufs_down_since_ms)
		return snprintf(buf, len, "reachable");
	time_t since = (time_t)(v->ufs_down_since_ms / 1000);
	struct tm tm;
	char when[32];
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&since, &tm));
	int n = snprintf(buf, len, "unreachable since %s (%s)", when,
			 v->ufs_error && *v->ufs_error ? v->ufs_error : "no answer");
	if (n >= 0 && (size_t)n < len && v->stale_served)
		n += snprintf(buf + n, len - n,
			      ", serving stale metadata (age %llu s, max-stale %llu s)",
			      (unsigned long long)(v->stale_age_ms / 1000),
			      (unsigned long long)(v->max_stale_ms / 1000));
	if (n >= 0 && (size_t)n < len && v->stale_refused)
		n += snprintf(buf + n, len - n,
			      ", %llu lookups refused: metadata older than max-stale %llu s "
			      "(readers get EIO)",
			      (unsigned long long)v->stale_refused,
			      (unsigned long long)(v->max_stale_ms / 1000));
	return n;
}
