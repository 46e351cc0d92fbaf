/* SPDX-License-Identifier: Apache-2.0 */
/* The embedded store: one SQLite file in the controller's state directory. */
#pragma once

#include <stddef.h>

#include "store.h"

/* Opens (creating) the SQLite store at path in WAL mode. Returns 0 and an owned *ret (close
 * with store_close), or -errno with a message in errbuf. */
int store_sqlite_open(const char *path, struct store **ret, char *errbuf, size_t errlen);
