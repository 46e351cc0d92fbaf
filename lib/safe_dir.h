/* SPDX-License-Identifier: Apache-2.0 */
/* Directories root writes into (the state directory): owned by us (root), never group- or
 * world-writable, never a symlink, mode 0700; and the private files inside them, 0600. A
 * directory someone else could write is refused, so nobody can plant a file or symlink for root
 * to follow, and nobody else can read the URLs (with their credentials) kept there. */
#pragma once

#include <stddef.h>

/* Creates path and its missing parents, each with mode (an existing one is left as it is).
 * Returns 0 or -errno. */
int safe_dir_mkdir_p(const char *path, unsigned mode);

/* Creates path with mode 0700 when missing (missing parents 0755), and checks it: a directory,
 * not a symlink, owned by the effective user, not writable by group or others. An existing
 * directory readable by others is tightened to 0700. Returns 0, or -errno with a message for
 * the user in err (-EPERM: someone else could write it). */
int safe_dir_ensure(const char *path, char *err, size_t errlen);

/* Creates path as an empty file of mode 0600 when missing (without following a symlink), and
 * sets an existing one to 0600, so what a library creates there later (SQLite, a log) is
 * private. Returns 0 or -errno. */
int safe_dir_private_file(const char *path);
