// SPDX-License-Identifier: Apache-2.0
// The processes that keep a mountpoint busy, from /proc (mount_users.h). Reads links and maps
// only: nothing here touches the mount itself, which may be a view whose daemon is slow.
#include "mount_users.h"

#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool under(const char *path, const char *mp, size_t mplen)
{
	return strncmp(path, mp, mplen) == 0 && (path[mplen] == '\0' || path[mplen] == '/');
}

/* The first use of mp by process pid, as "open file PATH" and the like, into what. */
static bool pid_use(const char *pid, const char *mp, char *what, size_t len)
{
	static const struct {
		const char *link, *as;
	} dirs[] = {{"cwd", "working directory"}, {"root", "root directory"}};
	size_t mplen = strlen(mp);
	char p[300], target[PATH_MAX];
	ssize_t n;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(p, sizeof(p), "/proc/%s/%s", pid, dirs[i].link);
		n = readlink(p, target, sizeof(target) - 1);
		if (n > 0 && (target[n] = '\0', under(target, mp, mplen))) {
			snprintf(what, len, "%s %s", dirs[i].as, target);
			return true;
		}
	}
	snprintf(p, sizeof(p), "/proc/%s/fd", pid);
	DIR *d = opendir(p);
	bool found = false;
	for (struct dirent *e; d && !found && (e = readdir(d));) {
		char fdp[300 + 256];
		snprintf(fdp, sizeof(fdp), "%s/%s", p, e->d_name);
		n = readlink(fdp, target, sizeof(target) - 1);
		if (n > 0 && (target[n] = '\0', under(target, mp, mplen))) {
			snprintf(what, len, "open file %s", target);
			found = true;
		}
	}
	if (d)
		closedir(d);
	if (found)
		return true;
	snprintf(p, sizeof(p), "/proc/%s/maps", pid);
	FILE *f = fopen(p, "re");
	char line[PATH_MAX + 128];
	while (f && !found && fgets(line, sizeof(line), f)) {
		char *path = strchr(line, '/');
		if (!path)
			continue;
		path[strcspn(path, "\n")] = '\0';
		if (under(path, mp, mplen)) {
			snprintf(what, len, "mapped file %s", path);
			found = true;
		}
	}
	if (f)
		fclose(f);
	return found;
}

unsigned mount_users_print(FILE *out, const char *mp, unsigned max)
{
	DIR *proc = opendir("/proc");
	if (!proc)
		return 0;
	unsigned found = 0;
	pid_t self = getpid();
	for (struct dirent *e; (e = readdir(proc));) {
		if (!isdigit((unsigned char)e->d_name[0]) || atoi(e->d_name) == self)
			continue;
		char what[PATH_MAX + 32];
		if (!pid_use(e->d_name, mp, what, sizeof(what)))
			continue;
		if (found++ < max) {
			char p[300], comm[64] = "?";
			snprintf(p, sizeof(p), "/proc/%s/comm", e->d_name);
			FILE *f = fopen(p, "re");
			if (f && fgets(comm, sizeof(comm), f))
				comm[strcspn(comm, "\n")] = '\0';
			if (f)
				fclose(f);
			fprintf(out, "  pid %s (%s): %s\n", e->d_name, comm, what);
		}
	}
	closedir(proc);
	if (found > max)
		fprintf(out, "  and %u more\n", found - max);
	return found;
}
