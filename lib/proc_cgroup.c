// SPDX-License-Identifier: Apache-2.0
#include "proc_cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

/* Where cgroup2 is mounted here ("" if nowhere); written once by find_root */
static char cg_root[4096];
static pthread_once_t cg_root_once = PTHREAD_ONCE_INIT;

static bool is_cgroup2(const char *dir)
{
	struct statfs sfs;
	return statfs(dir, &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC;
}

static void find_root(void)
{
	static const char *const usual[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"};
	for (size_t i = 0; i < sizeof(usual) / sizeof(usual[0]); i++)
		if (is_cgroup2(usual[i])) {
			snprintf(cg_root, sizeof(cg_root), "%s", usual[i]);
			return;
		}
	/* mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS... - FSTYPE SOURCE SUPER" (mount
	 * points with spaces come octal-escaped and are skipped) */
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[8192], mp[4096], fstype[64];
	while (f && fgets(line, sizeof(line), f)) {
		const char *dash = strstr(line, " - ");
		if (dash && sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 &&
		    sscanf(dash + 3, "%63s", fstype) == 1 && strcmp(fstype, "cgroup2") == 0 &&
		    !strchr(mp, '\\') && is_cgroup2(mp)) {
			snprintf(cg_root, sizeof(cg_root), "%s", mp);
			break;
		}
	}
	if (f)
		fclose(f);
}

int proc_cgroup_parse(char *text, const char **ret_path)
{
	/* the unified hierarchy's line; v1 controllers' lines come first on a hybrid machine */
	char *line = text;
	while (strncmp(line, "0::", 3) != 0) {
		line = strchr(line, '\n');
		if (!line)
			return -EINVAL;
		line++;
	}
	char *cg = line + 3;
	char *end = strchr(cg, '\n');
	if (!end)
		return -EINVAL; /* cut short: not the whole line */
	*end = '\0';
	/* the kernel writes it last; a cgroup's name may hold a newline, and what follows the
	 * first "0::" line is then someone's name: which line is the kernel's cannot be told */
	if (end[1] != '\0')
		return -EINVAL;
	/* above this namespace's root ("/../x"): not under root here */
	if (cg[0] != '/' || (strncmp(cg, "/..", 3) == 0 && (cg[3] == '/' || cg[3] == '\0')))
		return -EXDEV;
	*ret_path = cg;
	return 0;
}

int proc_cgroup_id(pid_t pid, uint64_t *ret)
{
	pthread_once(&cg_root_once, find_root);
	if (!cg_root[0])
		return -ENODEV;
	const char *root = cg_root;
	char path[64], buf[4096];
	if (pid <= 0)
		return -ENOENT;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	int err = errno;
	close(fd);
	if (n < 0)
		return -err;
	buf[n] = '\0';
	const char *cg;
	int r = proc_cgroup_parse(buf, &cg);
	if (r < 0)
		return r;
	char dir[sizeof(buf) + 256];
	snprintf(dir, sizeof(dir), "%s%s", root, cg);
	struct stat st;
	if (stat(dir, &st) < 0)
		return -errno;
	*ret = (uint64_t)st.st_ino;
	return 0;
}
