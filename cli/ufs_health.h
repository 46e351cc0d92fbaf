/* SPDX-License-Identifier: Apache-2.0 */
/* How weir stat and weir top say whether a view's UFS answers and whether stale metadata is
 * being served (stale-if-error), from one ViewStat. */
#pragma once

#include <json-c/json.h>
#include <stddef.h>

#include "control.h"

/* {"reachable", "down_since_ms", "error", "serving_stale", "stale_served", "stale_refused",
 * "stale_age_s", "max_stale_s"}; owned by the caller. */
json_object *ufs_health_json(const Weir__ViewStat *v);
/* One line: "reachable", or "unreachable since <UTC time> (<cause>), serving stale metadata
 * (age N s, max-stale M s)[, K lookups refused: ...]". Returns what snprintf returns. */
int ufs_health_line(const Weir__ViewStat *v, char *buf, size_t len);
