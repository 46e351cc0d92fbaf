/* SPDX-License-Identifier: Apache-2.0 */
/* The JSON names of a view's and a node's counters, one table for weir stat and weir top: a
 * field added to ViewStat or PeerStat is named here once, and the two commands cannot name one
 * counter two ways by accident. */
#pragma once

#include <json-c/json.h>

#include "control.h"

/* Which command's JSON shows a ViewStat field (the two kept their own names for some). */
enum stat_json_output {
	STAT_JSON_STAT = 1u << 0, /* weir stat -o json */
	STAT_JSON_TOP = 1u << 1,  /* weir top --once -o json */
};

/* Adds to o the scalar fields of v (strings and counters) that output shows. */
void stat_json_view(json_object *o, const Weir__ViewStat *v, enum stat_json_output output);
/* The cluster figures of weir top, with the whole cluster's as "total" when the node knows
 * them (cluster_nodes > 0): a new object, owned by the caller. */
json_object *stat_json_peers(const Weir__PeerStat *ps);
