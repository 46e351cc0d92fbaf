/* SPDX-License-Identifier: Apache-2.0 */
/* Reading a file that holds a key or a token: it must be only its owner's to read, and that
 * owner this process, so another local user can neither read it nor plant one of their own. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Reads at most cap bytes of path, which must be a regular file of this process's euid with no
 * group or other permission bits (chmod 600). what names it in messages ("peer key"). oflags
 * are added to O_RDONLY | O_CLOEXEC | O_NOCTTY (O_NOFOLLOW where a link must not be followed).
 * Returns the bytes read (cap: perhaps more were there), or -errno with errbuf saying why
 * (-EPERM for a file others may read or another user owns). Never copies the bytes into
 * errbuf. */
ssize_t private_file_read(const char *what, const char *path, int oflags, void *buf, size_t cap,
			  char *errbuf, size_t errlen);
