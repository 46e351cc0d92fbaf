// SPDX-License-Identifier: Apache-2.0
// Reading mountinfo for weir's FUSE mounts, and clearing dead ones (see fuse_mounts.h).
#include "fuse_mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "log.h"

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *o = s;
	for (char *p = s; *p; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
		    p[3] >= '0' && p[3] <= '7') {
			*o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
			p += 3;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
}

/* Holds mp's parent directory (O_PATH) and writes into at the path the kernel should use for
 * mp from then on: through the held directory, so a directory above mp renamed and replaced
 * by a symlink meanwhile cannot send an unmount to another mount. Returns the fd, or -1 (at is
 * then mp itself). */
static int hold_parent(const char *mp, char *at, size_t len)
{
	const char *slash = strrchr(mp, '/');
	char parent[4096];
	int fd = -1;
	if (mp[0] == '/' && slash && slash[1] &&
	    snprintf(parent, sizeof(parent), "%.*s", slash == mp ? 1 : (int)(slash - mp), mp) <
		(int)sizeof(parent))
		fd = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		snprintf(at, len, "%s", mp);
	else
		snprintf(at, len, "/proc/self/fd/%d/%s", fd, slash + 1);
	return fd;
}

int fuse_mounts_clear_dead(const char *mp)
{
	char at[4200];
	int cleared = 0, r = 0, pfd = hold_parent(mp, at, sizeof(at));
	/* bounded: each round removes one mount or returns */
	for (int round = 0; round < 64 && fuse_mounts_is_weir(mp); round++) {
		struct statfs sf;
		if (statfs(at, &sf) == 0) {
			r = -EBUSY; /* the top one answers: alive */
			break;
		}
		if (errno != ENOTCONN && errno != ECONNABORTED) {
			r = -errno;
			break;
		}
		if (umount2(at, MNT_DETACH | UMOUNT_NOFOLLOW) < 0) {
			r = -errno;
			break;
		}
		cleared++;
		log_notice(
		    "detached the dead weir mount left at \"%s\" by a weir-node that is gone", mp);
	}
	if (pfd >= 0)
		close(pfd);
	return r < 0 ? r : cleared;
}

int fuse_mounts_detach(const char *mp)
{
	char at[4200];
	int r = 0, pfd = hold_parent(mp, at, sizeof(at));
	struct statfs sf;
	if (statfs(at, &sf) == 0) {
		if (sf.f_type != 0x65735546) /* FUSE_SUPER_MAGIC: the path led elsewhere */
			r = -EINVAL;
	} else if (errno != ENOTCONN && errno != ECONNABORTED) {
		r = -errno;
	}
	if (r == 0 && umount2(at, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
		r = -errno;
	if (pfd >= 0)
		close(pfd);
	return r;
}

/* Calls fn for each mountinfo line with its device, unescaped root (the directory of its file
 * system it shows) and mountpoint, and fstype; stops when fn returns non-zero and returns that.
 * A line has no length limit: a mountpoint near PATH_MAX is four times that escaped. */
static int each_mount(int (*fn)(unsigned long dev, const char *root, const char *mnt,
				const char *fstype, void *arg),
		      void *arg)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	char *line = NULL;
	size_t cap = 0;
	int r = 0;
	while (r == 0 && getline(&line, &cap, f) >= 0) {
		/* id parent maj:min root mountpoint opts [optional...] - fstype source superopts;
		 * mountinfo escapes the spaces in its fields */
		char *save = NULL, *field[5];
		int n = 0;
		for (char *t = strtok_r(line, " \n", &save); t && n < 5;
		     t = strtok_r(NULL, " \n", &save))
			field[n++] = t;
		unsigned maj, min;
		if (n < 5 || sscanf(field[2], "%u:%u", &maj, &min) != 2)
			continue;
		char *fstype = NULL;
		for (char *t = strtok_r(NULL, " \n", &save); t; t = strtok_r(NULL, " \n", &save))
			if (strcmp(t, "-") == 0) {
				fstype = strtok_r(NULL, " \n", &save);
				break;
			}
		if (!fstype)
			continue;
		unescape(field[3]);
		unescape(field[4]);
		r = fn(makedev(maj, min), field[3], field[4], fstype, arg);
	}
	free(line);
	fclose(f);
	return r;
}

static int weir_fn(unsigned long dev, const char *root, const char *mnt, const char *fstype,
		   void *arg)
{
	return strcmp(mnt, arg) == 0 && strncmp(fstype, "fuse.weir", 9) == 0;
}

bool fuse_mounts_is_weir(const char *mp)
{
	return each_mount(weir_fn, (void *)mp) > 0;
}

struct at_arg {
	const char *mp;
	bool found, weir;
	unsigned long dev;
	char *root; /* owned */
};

static int at_fn(unsigned long dev, const char *root, const char *mnt, const char *fstype,
		 void *arg)
{
	struct at_arg *a = arg;
	/* later lines are mounted on top of earlier ones: keep the last */
	if (strcmp(mnt, a->mp) == 0) {
		char *copy = strdup(root);
		if (!copy)
			return -ENOMEM;
		free(a->root);
		a->root = copy;
		a->found = true;
		a->dev = dev;
		a->weir = strncmp(fstype, "fuse.weir", 9) == 0;
	}
	return 0;
}

int fuse_mounts_at(const char *mp, unsigned long *ret_dev, bool *ret_weir)
{
	struct at_arg a = {.mp = mp};
	int r = each_mount(at_fn, &a);
	free(a.root);
	if (r < 0)
		return r;
	if (!a.found)
		return 0;
	if (ret_dev)
		*ret_dev = a.dev;
	if (ret_weir)
		*ret_weir = a.weir;
	return 1;
}

int fuse_mounts_root(const char *mp, char *ret_root, size_t len)
{
	struct at_arg a = {.mp = mp};
	int r = each_mount(at_fn, &a);
	if (r >= 0 && a.found && strlen(a.root) >= len)
		r = -ENAMETOOLONG;
	else if (r >= 0 && a.found)
		snprintf(ret_root, len, "%s", a.root);
	free(a.root);
	if (r < 0)
		return r;
	return a.found ? 1 : 0;
}

struct count_arg {
	unsigned long dev;
	int n;
};

static int count_fn(unsigned long dev, const char *root, const char *mnt, const char *fstype,
		    void *arg)
{
	struct count_arg *a = arg;
	if (dev == a->dev)
		a->n++;
	return 0;
}

int fuse_mounts_count_dev(unsigned long dev)
{
	struct count_arg a = {.dev = dev};
	int r = each_mount(count_fn, &a);
	return r < 0 ? r : a.n;
}
