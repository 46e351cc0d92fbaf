// SPDX-License-Identifier: Apache-2.0
#include "proc_cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

/* Where cgroup2 is mounted here ("" if nowhere); written once by find_root */
static char cg_root[4096];
static pthread_once_t cg_root_once = PTHREAD_ONCE_INIT;

/* When this process has a cgroup namespace of its own (a container on cgroup v2), the host's
 * cgroup2 root seen through init's root (/proc/1/root/...: hostPID and privileges), and this
 * namespace's root as a path under it ("" for the root); both "" when not found. Written once
 * by find_host. */
static char host_root[4096];
static char ns_root[4096];
/* HOST_*: where the search for them stands; one caller searches (a FUSE open: capped at
 * SEARCH_DIRS directories), the others get -EXDEV meanwhile instead of waiting; a failed search
 * is tried again SEARCH_RETRY_MS later. host_root and ns_root are written before HOST_FOUND. */
enum { HOST_UNKNOWN, HOST_SEARCHING, HOST_FOUND, HOST_FAILED };
static atomic_int host_state = HOST_UNKNOWN;
static _Atomic int64_t host_retry_ms;
#define SEARCH_DIRS 20000
#define SEARCH_RETRY_MS 60000
/* Set once by find_root: this mount namespace's cgroup2 mount shows more than this cgroup
 * namespace (its root is not where this process's own cgroup says it is), so paths within the
 * namespace are resolved through the host's tree too. */
static bool cg_root_wider;

static bool is_cgroup2(const char *dir)
{
	struct statfs sfs;
	return statfs(dir, &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC;
}

/* The cgroup2 mount of the mount namespace whose root is at prefix ("" or "/proc/1/root"), as
 * its mountinfo lists them, into out ("" if none). */
static void find_cgroup2(const char *prefix, const char *mountinfo, char *out, size_t len)
{
	static const char *const usual[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"};
	char dir[4096];
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(usual) / sizeof(usual[0]); i++) {
		if (snprintf(dir, sizeof(dir), "%s%s", prefix, usual[i]) >= (int)sizeof(dir))
			continue;
		if (is_cgroup2(dir)) {
			snprintf(out, len, "%s", dir);
			return;
		}
	}
	/* mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS... - FSTYPE SOURCE SUPER" (mount
	 * points with spaces come octal-escaped and are skipped) */
	FILE *f = fopen(mountinfo, "re");
	char line[8192], mp[4096], fstype[64];
	while (f && fgets(line, sizeof(line), f)) {
		const char *dash = strstr(line, " - ");
		if (dash && sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 &&
		    sscanf(dash + 3, "%63s", fstype) == 1 && strcmp(fstype, "cgroup2") == 0 &&
		    !strchr(mp, '\\') &&
		    snprintf(dir, sizeof(dir), "%s%s", prefix, mp) < (int)sizeof(dir)) {
			if (is_cgroup2(dir)) {
				snprintf(out, len, "%s", dir);
				break;
			}
		}
	}
	if (f)
		fclose(f);
}

/* Reads and parses (proc_cgroup_parse) the /proc/PID/cgroup file path into buf (len bytes):
 * *ret_cg points into buf. Returns what proc_cgroup_parse does, or -errno. */
static int read_cgroup(const char *path, char *buf, size_t len, const char **ret_cg)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, len - 1);
	int err = errno;
	close(fd);
	if (n < 0)
		return -err;
	buf[n] = '\0';
	return proc_cgroup_parse(buf, ret_cg);
}

/* This process's own cgroup path (as its namespace shows it) into out; false if unreadable. */
static bool self_cgroup(char *out, size_t len)
{
	char buf[4096];
	const char *p;
	if (read_cgroup("/proc/self/cgroup", buf, sizeof(buf), &p) < 0)
		return false;
	return snprintf(out, len, "%s", p) < (int)len;
}

static bool lists_pid(const char *dir, pid_t pid);

static void find_root(void)
{
	find_cgroup2("", "/proc/self/mountinfo", cg_root, sizeof(cg_root));
	/* a mount made outside this cgroup namespace (shared mounts, or a bind of the host's):
	 * this process is not where its own path leads in it */
	char own[4096], dir[8192];
	if (cg_root[0] && self_cgroup(own, sizeof(own)) &&
	    snprintf(dir, sizeof(dir), "%s%s", cg_root, own) < (int)sizeof(dir))
		cg_root_wider = !lists_pid(dir, getpid());
}

/* Whether pid is listed in dir's cgroup.procs */
static bool lists_pid(const char *dir, pid_t pid)
{
	char path[8192], line[32];
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	FILE *f = fopen(path, "re");
	bool found = false;
	while (f && !found && fgets(line, sizeof(line), f))
		found = atoi(line) == (int)pid;
	if (f)
		fclose(f);
	return found;
}

/* The directory under dir (depth at most 16, *budget directories at most) whose cgroup.procs
 * lists pid, as a path below dir into rel (of len bytes; rel holds dir's own part so far).
 * Returns whether found. */
static bool find_pid_cgroup(const char *dir, pid_t pid, char *rel, size_t len, int depth,
			    unsigned *budget)
{
	if (*budget == 0)
		return false;
	--*budget;
	if (lists_pid(dir, pid))
		return true;
	if (depth >= 16)
		return false;
	DIR *d = opendir(dir);
	if (!d)
		return false;
	size_t here = strlen(rel);
	bool found = false;
	struct dirent *e;
	char sub[8192];
	while (!found && (e = readdir(d))) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		if (here + 1 + strlen(e->d_name) + 1 > len)
			continue;
		snprintf(rel + here, len - here, "/%s", e->d_name);
		snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
		found = find_pid_cgroup(sub, pid, rel, len, depth + 1, budget);
	}
	if (!found)
		rel[here] = '\0';
	closedir(d);
	return found;
}

/* Where this process's cgroup namespace root lies in the host's tree: its own cgroup found
 * there by its pid, less the part below the namespace's root that /proc/self/cgroup shows (read
 * again after the search: a process moved meanwhile would place the root wrong). */
static bool find_host(void)
{
	char below[4096], after[4096];
	if (!self_cgroup(below, sizeof(below)))
		return false;
	/* the host's tree through init's root (a container with hostPID), else this mount
	 * namespace's own mount where it shows the whole tree (a cgroup namespace of its own, the
	 * mounts shared) */
	static const char *const via[][2] = {{"/proc/1/root", "/proc/1/mountinfo"},
					     {"", "/proc/self/mountinfo"}};
	unsigned budget = SEARCH_DIRS;
	for (size_t i = 0; i < sizeof(via) / sizeof(via[0]); i++) {
		char root[4096], own[4096] = "";
		find_cgroup2(via[i][0], via[i][1], root, sizeof(root));
		if (!root[0] || !find_pid_cgroup(root, getpid(), own, sizeof(own), 0, &budget))
			continue;
		if (!self_cgroup(after, sizeof(after)) || strcmp(after, below) != 0)
			return false;
		/* own = the namespace root's path + below ("/" when at the root) */
		size_t bl = strcmp(below, "/") == 0 ? 0 : strlen(below), ol = strlen(own);
		if (bl > ol || (bl && strcmp(own + ol - bl, below) != 0))
			continue;
		own[ol - bl] = '\0';
		snprintf(ns_root, sizeof(ns_root), "%s", own);
		snprintf(host_root, sizeof(host_root), "%s", root);
		return true;
	}
	return false;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether host_root and ns_root are known: searched for by this caller if no one has yet (or
 * the last search failed long enough ago); false while another searches. */
static bool host_known(void)
{
	int st = atomic_load(&host_state);
	if (st == HOST_FOUND)
		return true;
	if (st == HOST_SEARCHING || (st == HOST_FAILED && now_ms() < atomic_load(&host_retry_ms)))
		return false;
	if (!atomic_compare_exchange_strong(&host_state, &st, HOST_SEARCHING))
		return atomic_load(&host_state) == HOST_FOUND;
	bool found = find_host();
	if (!found)
		atomic_store(&host_retry_ms, now_ms() + SEARCH_RETRY_MS);
	atomic_store(&host_state, found ? HOST_FOUND : HOST_FAILED);
	return found;
}

/* path ("/../../x/y", relative to this namespace's root) as a path under host_root, into out:
 * ".." taken off ns_root's end. Returns whether it stays within the host's tree. */
static bool host_path(const char *path, char *out, size_t len)
{
	char acc[8192];
	snprintf(acc, sizeof(acc), "%s", ns_root);
	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		size_t cl = strcspn(p, "/");
		if (cl == 0)
			break;
		if (cl == 2 && p[0] == '.' && p[1] == '.') {
			char *slash = strrchr(acc, '/');
			if (!slash)
				return false; /* above the host's root */
			*slash = '\0';
		} else if (!(cl == 1 && p[0] == '.')) {
			size_t al = strlen(acc);
			if (al + 1 + cl + 1 > sizeof(acc))
				return false;
			acc[al] = '/';
			memcpy(acc + al + 1, p, cl);
			acc[al + 1 + cl] = '\0';
		}
		p += cl;
	}
	return snprintf(out, len, "%s%s", host_root, acc) < (int)len;
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
	if (cg[0] != '/')
		return -EINVAL;
	*ret_path = cg;
	/* above this namespace's root ("/../x"): not under root here */
	if (strncmp(cg, "/..", 3) == 0 && (cg[3] == '/' || cg[3] == '\0'))
		return -EXDEV;
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
	const char *cg = "";
	int r = read_cgroup(path, buf, sizeof(buf), &cg); /* open or read errors: r < 0 below */
	char dir[sizeof(buf) + 8192];
	if (r == -EXDEV || (r == 0 && cg_root_wider)) {
		/* outside this namespace, or a mount wider than it: through the host's tree, where
		 * that can be seen */
		if (!host_known() || !host_path(cg, dir, sizeof(dir)))
			return -EXDEV;
	} else if (r < 0) {
		return r;
	} else {
		snprintf(dir, sizeof(dir), "%s%s", root, cg);
	}
	struct stat st;
	if (stat(dir, &st) < 0)
		return -errno;
	*ret = (uint64_t)st.st_ino;
	return 0;
}
