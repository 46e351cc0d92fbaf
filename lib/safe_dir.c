// SPDX-License-Identifier: Apache-2.0
// Safe directories for root (see safe_dir.h). Checks are made on the opened directory (fstat
// of an O_NOFOLLOW descriptor), so a path swapped between check and use is caught too;
// safe_dir_open walks the whole path that way, one component at a time from "/".
#include "safe_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
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
	/* Every component above it too: in a directory another user owns (or one behind a
	 * symlink), that user can swap the state directory for one of theirs while weir runs,
	 * and catch the CLI's requests (with their credentials) on a socket of their own. */
	char parent[4096];
	const char *base;
	int pfd;
	if (snprintf(parent, sizeof(parent), "%s", path) >= (int)sizeof(parent)) {
		snprintf(err, errlen, "\"%s\" is too long", path);
		return -ENAMETOOLONG;
	}
	char *slash = strrchr(parent, '/');
	if (!slash || path[0] != '/') {
		snprintf(err, errlen, "\"%s\" is not an absolute path", path);
		return -EINVAL;
	}
	while (slash > parent && slash[1] == '\0') { /* "/a/b/" */
		*slash = '\0';
		slash = strrchr(parent, '/');
	}
	base = path + (slash - parent) + 1;
	if (slash == parent)
		parent[1] = '\0';
	else
		*slash = '\0';
	char perr[1024];
	r = safe_dir_open(parent, SAFE_DIR_STICKY_OK, &pfd, perr, sizeof(perr));
	if (r < 0) {
		snprintf(err, errlen, "state directory \"%s\": %s", path, perr);
		return r;
	}
	char name[256];
	snprintf(name, sizeof(name), "%.*s", (int)strcspn(base, "/"), base);
	int fd = openat(pfd, name[0] ? name : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	close(pfd);
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

/* Whether the directory st (at prefix, a leading part of the path) may be trusted. */
static int check_dir(const struct stat *st, const char *prefix, bool last, unsigned flags,
		     char *errbuf, size_t errlen)
{
	uid_t me = geteuid();

	if (!S_ISDIR(st->st_mode)) {
		snprintf(errbuf, errlen, "\"%s\" is not a directory", prefix);
		return -ENOTDIR;
	}
	if (st->st_uid != 0 && st->st_uid != me) {
		snprintf(
		    errbuf, errlen,
		    "\"%s\" is owned by uid %u, not by root%s: its owner could redirect weir's "
		    "writes; remove it (weir creates it, mode 0700) or chown it to root",
		    prefix, (unsigned)st->st_uid, me ? " or weir's own user" : "");
		return -EPERM;
	}
	/* In a sticky directory nobody can rename or remove another user's entries. */
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) &&
	    (!(st->st_mode & S_ISVTX) || (last && !(flags & SAFE_DIR_STICKY_OK)))) {
		snprintf(errbuf, errlen,
			 "\"%s\" is writable by %s (mode %04o): others could plant files or links "
			 "in it; chmod go-w it (weir creates its directories 0700)",
			 prefix, (st->st_mode & S_IWOTH) ? "everyone" : "its group",
			 (unsigned)(st->st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

int safe_dir_open(const char *path, unsigned flags, int *ret_fd, char *errbuf, size_t errlen)
{
	char prefix[4096];
	size_t plen = 0;
	const char *p = path;
	struct stat st;
	int fd, r;

	if (!path || path[0] != '/') {
		snprintf(errbuf, errlen, "\"%s\" is not an absolute path", path ? path : "");
		return -EINVAL;
	}
	if (strlen(path) >= sizeof(prefix)) {
		snprintf(errbuf, errlen, "\"%s\" is too long", path);
		return -ENAMETOOLONG;
	}
	fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	prefix[0] = '/';
	prefix[1] = '\0';
	char note[1024] = "";
	for (;;) {
		size_t n;
		char name[256];
		int next;
		bool shared;

		while (*p == '/')
			p++;
		if (fstat(fd, &st) < 0) {
			r = -errno;
			goto close_fd;
		}
		r = check_dir(&st, prefix, *p == '\0', flags, errbuf, errlen);
		if (r < 0)
			goto close_fd;
		if (*p == '\0')
			break;
		shared = (st.st_mode & S_ISVTX) && (st.st_mode & (S_IWGRP | S_IWOTH));
		n = strcspn(p, "/");
		if (n >= sizeof(name)) {
			snprintf(errbuf, errlen, "\"%s\": a component is too long", path);
			r = -ENAMETOOLONG;
			goto close_fd;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		p += n;
		if (strcmp(name, ".") == 0)
			continue;
		if (strcmp(name, "..") == 0) {
			snprintf(errbuf, errlen,
				 "\"%s\" contains \"..\"; give a plain absolute path", path);
			r = -EINVAL;
			goto close_fd;
		}
		plen += (size_t)snprintf(prefix + plen, sizeof(prefix) - plen, "/%s", name);
		next = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && (flags & SAFE_DIR_CREATE)) {
			if (mkdirat(fd, name, 0700) < 0 && errno != EEXIST) {
				r = -errno;
				snprintf(errbuf, errlen, "cannot create \"%s\" (%s)", prefix,
					 strerror(-r));
				goto close_fd;
			}
			next = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		/* In a shared sticky directory (/dev/shm) another user may have made the entry
		 * first, to keep root out: one that is to be created takes the name back
		 * (safe_dir_claim). */
		struct stat est;
		if ((flags & SAFE_DIR_CREATE) && shared &&
		    fstatat(fd, name, &est, AT_SYMLINK_NOFOLLOW) == 0 && est.st_uid != 0 &&
		    est.st_uid != geteuid()) {
			char taken[512] = "", why[512] = "";
			if (next >= 0)
				close(next);
			r = safe_dir_claim(fd, name, &next, taken, sizeof(taken), why, sizeof(why));
			if (r < 0) {
				snprintf(errbuf, errlen, "\"%s\": %s", prefix, why);
				goto close_fd;
			}
			size_t used = strlen(note), parent_len = plen - n - 1;
			snprintf(note + used, sizeof(note) - used, "%sin \"%.*s\": %s",
				 used ? "; " : "", parent_len ? (int)parent_len : 1,
				 parent_len ? prefix : "/", taken);
		}
		if (next < 0) {
			r = -errno;
			if (r == -ENOTDIR || r == -ELOOP) {
				/* O_PATH | O_NOFOLLOW on a link gives ENOTDIR with O_DIRECTORY. */
				if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
				    S_ISLNK(st.st_mode)) {
					snprintf(errbuf, errlen,
						 "\"%s\" is a symbolic link; weir follows none in "
						 "the paths it writes in: give the real path",
						 prefix);
					r = -EPERM;
				} else {
					snprintf(errbuf, errlen, "\"%s\" is not a directory",
						 prefix);
					r = -ENOTDIR;
				}
			} else {
				snprintf(errbuf, errlen, "cannot open \"%s\" (%s)", prefix,
					 strerror(-r));
			}
			goto close_fd;
		}
		close(fd);
		fd = next;
	}
	r = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r < 0) {
		r = -errno;
		snprintf(errbuf, errlen, "cannot open \"%s\" (%s)", path, strerror(-r));
		goto close_fd;
	}
	close(fd);
	*ret_fd = r;
	snprintf(errbuf, errlen, "%s", note);
	return 0;

close_fd:
	close(fd);
	return r;
}

/* Whether st, found at name in a directory others may write, can be trusted as ours. */
static bool claimed_ok(const struct stat *st)
{
	return S_ISDIR(st->st_mode) && st->st_uid == geteuid() &&
	       !(st->st_mode & (S_IWGRP | S_IWOTH));
}

int safe_dir_claim(int parent_fd, const char *name, int *ret_fd, char *note, size_t notelen,
		   char *errbuf, size_t errlen)
{
	struct stat pst, st;
	int fd, r;

	if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
		snprintf(errbuf, errlen, "\"%s\" is not a plain name", name);
		return -EINVAL;
	}
	if (fstat(parent_fd, &pst) < 0)
		return -errno;
	bool shared = (pst.st_mode & S_ISVTX) && (pst.st_mode & (S_IWGRP | S_IWOTH));
	for (int attempt = 0; attempt < 4; attempt++) {
		if (mkdirat(parent_fd, name, 0700) < 0 && errno != EEXIST) {
			r = -errno;
			snprintf(errbuf, errlen, "cannot create \"%s\" (%s)", name, strerror(-r));
			return r;
		}
		fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0) {
			if (fstat(fd, &st) == 0 && claimed_ok(&st)) {
				*ret_fd = fd;
				return 0;
			}
			close(fd);
		}
		if (fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue; /* gone meanwhile: make it again */
			r = -errno;
			snprintf(errbuf, errlen, "cannot stat \"%s\" (%s)", name, strerror(-r));
			return r;
		}
		if (!shared || st.st_uid == 0 || st.st_uid == geteuid()) {
			/* Only root (or we) could have put it there: its mistake, not an attack. */
			snprintf(errbuf, errlen,
				 "\"%s\" is %s (uid %u, mode %04o), not a directory weir can use: "
				 "remove it",
				 name,
				 S_ISLNK(st.st_mode)			    ? "a symbolic link"
				 : !S_ISDIR(st.st_mode)			    ? "not a directory"
				 : st.st_uid != 0 && st.st_uid != geteuid() ? "someone else's"
									    : "writable by others",
				 (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
			return S_ISLNK(st.st_mode) || S_ISDIR(st.st_mode) ? -EPERM : -ENOTDIR;
		}
		/* Someone took the name first in a shared directory (/dev/shm): swap a fresh
		 * directory of ours in, in one step, so nobody can take the name again between
		 * moving theirs and making ours; theirs stays, under another name, for them. */
		char aside[300];
		int made = -1;
		for (int i = 0; i < 16 && made < 0; i++) {
			unsigned long rnd = 0;
			if (getrandom(&rnd, sizeof(rnd), 0) < 0)
				rnd = (unsigned long)getpid() << 20 ^ (unsigned long)i;
			snprintf(aside, sizeof(aside), ".weir-taken-%s-%016lx", name, rnd);
			made = mkdirat(parent_fd, aside, 0700);
			if (made < 0 && errno != EEXIST)
				break;
		}
		if (made < 0) {
			r = -errno;
			snprintf(errbuf, errlen, "cannot create a directory next to \"%s\" (%s)",
				 name, strerror(-r));
			return r;
		}
		if (renameat2(parent_fd, aside, parent_fd, name, RENAME_EXCHANGE) < 0) {
			r = -errno;
			unlinkat(parent_fd, aside, AT_REMOVEDIR);
			snprintf(
			    errbuf, errlen,
			    "\"%s\" belongs to uid %u and cannot be moved aside (%s): remove it",
			    name, (unsigned)st.st_uid, strerror(-r));
			return r;
		}
		if (note && notelen) {
			size_t used = strnlen(note, notelen);
			if (used + 3 < notelen)
				snprintf(
				    note + used, notelen - used,
				    "%s\"%s\" had been taken by uid %u (%s); moved it to \"%s\" "
				    "and made weir's own",
				    used ? "; " : "", name, (unsigned)st.st_uid,
				    S_ISLNK(st.st_mode)	  ? "a symbolic link"
				    : S_ISDIR(st.st_mode) ? "a directory"
							  : "a file",
				    aside);
		}
	}
	snprintf(errbuf, errlen, "\"%s\" keeps being taken by another user: try again", name);
	return -EAGAIN;
}

int safe_dir_set_aside(const char *path, char *aside, size_t len)
{
	char from[4200], to[4300], stamp[32];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	if (snprintf(aside, len, "%s.corrupt-%s", path, stamp) >= (int)len)
		return -ENAMETOOLONG;
	if (rename(path, aside) < 0)
		return -errno;
	snprintf(from, sizeof(from), "%s-wal", path);
	snprintf(to, sizeof(to), "%s-wal", aside);
	rename(from, to); /* none, usually */
	snprintf(from, sizeof(from), "%s-shm", path);
	unlink(from);
	return 0;
}
