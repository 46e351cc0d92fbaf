// SPDX-License-Identifier: Apache-2.0
// The processes that keep a mountpoint busy (open files, working or root directories, mapped
// files under it), read from /proc: what weir umount names when it refuses a view.
#pragma once

#include <stdio.h>

/* Prints to out one line per process using mp (at most max of them, then how many more):
 * "  pid 1234 (cat): open file /mnt/x/a.bin". Processes whose /proc entries the caller cannot
 * read (another user's, for a caller that is not root) are not seen. Returns how many
 * processes it found. */
unsigned mount_users_print(FILE *out, const char *mp, unsigned max);
