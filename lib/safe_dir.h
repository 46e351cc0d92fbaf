/* SPDX-License-Identifier: Apache-2.0 */
/* Directories root writes into (the state directory, tier paths): owned by us (root), never
 * group- or world-writable, never a symlink, mode 0700; and the private files inside them, 0600.
 * A directory someone else could write is refused, so nobody can plant a file or symlink for root
 * to follow, and nobody else can read the URLs (with their credentials) kept there. */
#pragma once

#include <stddef.h>

/* Creates path and its missing parents, each with mode (an existing one is left as it is).
 * Returns 0 or -errno. */
int safe_dir_mkdir_p(const char *path, unsigned mode);

/* Creates path with mode 0700 when missing (missing parents 0755), and checks it: a directory,
 * not a symlink, owned by the effective user, not writable by group or others; and every
 * directory above it as safe_dir_open checks them (no symlink, owned by root or the caller, not
 * writable by others unless sticky). An existing directory readable by others is tightened to
 * 0700. Returns 0, or -errno with a message for
 * the user in err (-EPERM: someone else could write it). */
int safe_dir_ensure(const char *path, char *err, size_t errlen);

/* Creates path as an empty file of mode 0600 when missing (without following a symlink), and
 * sets an existing one to 0600, so what a library creates there later (SQLite, a log) is
 * private. Returns 0 or -errno. */
int safe_dir_private_file(const char *path);

enum {
	SAFE_DIR_CREATE = 1 << 0,    /* make missing components, mode 0700 */
	SAFE_DIR_STICKY_OK = 1 << 1, /* the last component may be writable by others if sticky:
				      * a root-owned /dev/shm or /tmp, where nobody else can touch
				      * the caller's entries (which it must then check itself) */
};

/* Opens the directory at the absolute path (O_RDONLY | O_DIRECTORY | O_CLOEXEC). Refuses, with
 * -EPERM, a path where any component is a symbolic link, is owned by a user other than root or
 * the caller, or is writable by group or others (an intermediate one may be if it is sticky,
 * like /tmp or /dev/shm); -ENOTDIR where one is not a directory; -ENOENT (without
 * SAFE_DIR_CREATE) or another -errno when it cannot be opened. On failure errbuf says which
 * component is wrong and what to do (errbuf must hold errlen > 0 bytes). With SAFE_DIR_CREATE, a
 * component to be made in a shared sticky directory that another user made first is taken back
 * as safe_dir_claim does; on success errbuf then says so (else it is ""). Returns 0 and *ret_fd,
 * owned by the caller. Thread-safe. */
int safe_dir_open(const char *path, unsigned flags, int *ret_fd, char *errbuf, size_t errlen);

/* Opens the directory name (a plain name) beneath parent_fd, a directory safe_dir_open checked,
 * creating it mode 0700; it must be a directory of the caller's own, not writable by others.
 * When parent_fd is a sticky directory others can write (/dev/shm), another user may have taken
 * the name first (a directory, file or link of theirs): theirs is swapped out in one step
 * (RENAME_EXCHANGE) for a fresh directory and left, as it was, under ".weir-taken-<name>-<hex>";
 * note (if not NULL) says so. Elsewhere such an entry is refused (-EPERM or -ENOTDIR) with a
 * message in errbuf. Returns 0 and *ret_fd (O_RDONLY | O_DIRECTORY, owned by the caller), or
 * -errno. Thread-safe. */
int safe_dir_claim(int parent_fd, const char *name, int *ret_fd, char *note, size_t notelen,
		   char *errbuf, size_t errlen);

/* Moves path (a file of a private directory; a link is moved, not followed), and the "-wal"
 * file SQLite may keep beside it, to <path>.corrupt-<UTC time>, and removes its "-shm" file: a
 * damaged or misplaced file kept for a post-mortem while a new one takes its place. Writes the
 * new name into aside (len bytes). Returns 0 or -errno. */
int safe_dir_set_aside(const char *path, char *aside, size_t len);
