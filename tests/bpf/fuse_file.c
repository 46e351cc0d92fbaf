// SPDX-License-Identifier: Apache-2.0
// A one-file FUSE filesystem in a child process for the BPF tests. Content is
// a function of the offset so readers could check it; reads go through the
// page cache (no direct_io) and stay cached across opens (keep_cache).
#define FUSE_USE_VERSION 312
#include "fuse_file.h"

#include <errno.h>
#include <fuse.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The server child's only state, set before fuse_main runs. */
static size_t file_size;
static volatile struct fuse_file_stats *stats;

static int ff_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	memset(st, 0, sizeof(*st));
	if (strcmp(path, "/") == 0) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	}
	if (strcmp(path, "/data") != 0)
		return -ENOENT;
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = 1;
	st->st_size = (off_t)file_size;
	st->st_ino = 2;
	return 0;
}

static int ff_open(const char *path, struct fuse_file_info *fi)
{
	if (strcmp(path, "/data") != 0)
		return -ENOENT;
	fi->keep_cache = 1;
	return 0;
}

static int ff_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	if ((size_t)off >= file_size)
		return 0;
	if (size > file_size - (size_t)off)
		size = file_size - (size_t)off;
	for (size_t i = 0; i < size; i++)
		buf[i] = (char)('a' + ((size_t)off + i) / 4096 % 26);
	stats->read_requests++;
	stats->read_bytes += size;
	return (int)size;
}

static int ff_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	fill(buf, "data", NULL, 0, 0);
	return 0;
}

static const struct fuse_operations ff_ops = {
    .getattr = ff_getattr,
    .open = ff_open,
    .read = ff_read,
    .readdir = ff_readdir,
};

int fuse_file_start(const char *mountpoint, size_t size, pid_t *ret_pid,
		    volatile struct fuse_file_stats **ret_stats)
{
	struct stat before, now;
	if (stat(mountpoint, &before) < 0)
		return -errno;
	void *shared = mmap(NULL, sizeof(struct fuse_file_stats), PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED)
		return -errno;
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* Check's runner handles SIGTERM by signalling its own process group (killpg),
		 * and this child inherits that handler; libfuse installs its own only where the
		 * handler is the default, so it stayed. The SIGTERM fuse_file_stop sends reached
		 * it whenever the unmount had not ended the server yet, and killed the runner
		 * (CI, sessions 10, 17 and 18: check_bpf "killed by SIGTERM" at its end; a
		 * SIGTERM sent before the unmount kills it every time). The defaults here, in a
		 * process group of its own. */
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGALRM, SIG_DFL);
		setpgid(0, 0);
		file_size = size;
		stats = shared;
		char *argv[] = {"weir-test-fuse",   "-f", "-s", "-o", "fsname=weir-test",
				(char *)mountpoint, NULL};
		_exit(fuse_main(6, argv, &ff_ops, NULL));
	}
	for (int i = 0; i < 500; i++) { /* 5 s */
		if (stat(mountpoint, &now) == 0 && now.st_dev != before.st_dev) {
			*ret_pid = pid;
			*ret_stats = shared;
			return 0;
		}
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return -EIO;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -ETIMEDOUT;
}

void fuse_file_stop(const char *mountpoint, pid_t pid)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "fusermount3 -u '%s' 2>/dev/null || umount -l '%s' 2>/dev/null",
		 mountpoint, mountpoint);
	if (system(cmd) != 0) {
		/* the server exits below; a stale mount would show in the next setup */
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}
