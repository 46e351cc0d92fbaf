// SPDX-License-Identifier: Apache-2.0
// Safe directories for root (see safe_dir.h). Checks are made on the opened directory (fstat
// of an O_NOFOLLOW descriptor), so a path swapped between check and use is caught too.
#include "safe_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int safe_dir_mkdir_p(const char *path, unsigned mode)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	for (char *p = tmp + 1;; p++) {
		if (*p != '/' && *p)
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(tmp, (mode_t)mode) < 0 && errno != EEXIST)
			return -errno;
		if (!c)
			return 0;
		*p = '/';
	}
}

int safe_dir_ensure(const char *path, char *err, size_t errlen)
{
	/* parents as usual; the directory itself is made 0700 (or tightened) below */
	int r = safe_dir_mkdir_p(path, 0755);
	if (r < 0) {
		snprintf(err, errlen, "cannot create \"%s\": %s", path, strerror(-r));
		return r;
	}
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		if (r == -ELOOP || r == -ENOTDIR)
			snprintf(err, errlen,
				 "\"%s\" is a symlink or not a directory; give a real directory "
				 "owned by root",
				 path);
		else
			snprintf(err, errlen, "cannot open \"%s\": %s", path, strerror(-r));
		return r;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot stat \"%s\": %s", path, strerror(-r));
		goto out;
	}
	if (st.st_uid != geteuid()) {
		r = -EPERM;
		snprintf(err, errlen,
			 "\"%s\" belongs to uid %u, not to uid %u: someone else could put files "
			 "in it; remove it or chown it to uid %u",
			 path, (unsigned)st.st_uid, (unsigned)geteuid(), (unsigned)geteuid());
		goto out;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		r = -EPERM;
		snprintf(err, errlen,
			 "\"%s\" is writable by %s (mode %04o): refusing it; chmod 0700 it", path,
			 st.st_mode & S_IWOTH ? "everyone" : "its group",
			 (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if ((st.st_mode & 07777) != 0700 && fchmod(fd, 0700) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot chmod 0700 \"%s\": %s", path, strerror(-r));
		goto out;
	}
	r = 0;
out:
	close(fd);
	return r;
}

int safe_dir_private_file(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int r = fchmod(fd, 0600) < 0 ? -errno : 0;
	close(fd);
	return r;
}
