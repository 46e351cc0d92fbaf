// SPDX-License-Identifier: Apache-2.0
// A key or token file only its owner (this process's euid) may read (private_file.h).
#include "private_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

ssize_t private_file_read(const char *what, const char *path, int oflags, void *buf, size_t cap,
			  char *errbuf, size_t errlen)
{
	/* O_NONBLOCK: a FIFO planted at the path must not hang us before fstat refuses it (a
	 * regular file's reads ignore the flag) */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | oflags);
	if (fd < 0) {
		int e = errno;
		snprintf(errbuf, errlen, "%s \"%s\": %s", what, path, strerror(e));
		return -e;
	}
	struct stat st;
	ssize_t n;
	if (fstat(fd, &st) < 0) {
		n = -errno;
		snprintf(errbuf, errlen, "%s \"%s\": %s", what, path, strerror((int)-n));
	} else if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) {
		n = -EPERM;
		snprintf(errbuf, errlen,
			 "%s \"%s\" must be a regular file of uid %u that nobody else can read "
			 "(chmod 600); it is mode %03o of uid %u",
			 what, path, (unsigned)geteuid(), (unsigned)(st.st_mode & 0777),
			 (unsigned)st.st_uid);
	} else {
		n = read(fd, buf, cap);
		if (n < 0) {
			n = -errno;
			snprintf(errbuf, errlen, "%s \"%s\": %s", what, path,
				 strerror((int)-n));
		}
	}
	close(fd);
	return n;
}
