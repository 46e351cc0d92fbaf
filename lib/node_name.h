/* SPDX-License-Identifier: Apache-2.0 */
/* The one check of a node's name as a cluster member gives it (controller's member table, the
 * daemon's cluster view): what passes must be safe in a URL, a header and a log line. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* True when the len bytes at s are 1..max characters, each a letter, digit, '-', '.' or '_'.
 * s need not be NUL-terminated. */
bool node_name_ok(const char *s, size_t len, size_t max);
