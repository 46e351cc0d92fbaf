// SPDX-License-Identifier: Apache-2.0
/* See slow_syscalls.h. Calls go on to libc's through dlsym(RTLD_NEXT). */
/* Each name is defined as itself: no redirect of openat to openat64 and the like. */
#undef _FILE_OFFSET_BITS
#include "slow_syscalls.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char slow_name[256];
static _Atomic unsigned slow_ops, slow_ms;
static atomic_int slow_entered;

void slow_arm(const char *name, unsigned ops, unsigned ms)
{
	snprintf(slow_name, sizeof(slow_name), "%s", name);
	atomic_store(&slow_entered, 0);
	atomic_store(&slow_ms, ms);
	atomic_store(&slow_ops, ops);
}

void slow_disarm(void)
{
	atomic_store(&slow_ops, 0);
}

bool slow_wait_entered(unsigned timeout_ms)
{
	for (unsigned i = 0; i < timeout_ms; i++) {
		if (atomic_load(&slow_entered))
			return true;
		usleep(1000);
	}
	return atomic_load(&slow_entered) != 0;
}

static void maybe_sleep(unsigned op, const char *path)
{
	if (!(atomic_load(&slow_ops) & op) || !path || !strstr(path, slow_name))
		return;
	atomic_store(&slow_entered, 1);
	unsigned ms = atomic_load(&slow_ms);
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0)
		;
}

static void maybe_sleep_fd(unsigned op, int fd)
{
	char link[64], path[4096];
	ssize_t n;

	if (!(atomic_load(&slow_ops) & op))
		return;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		return;
	path[n] = '\0';
	maybe_sleep(op, path);
}

typedef int (*close_fn)(int);
typedef int (*unlinkat_fn)(int, const char *, int);
typedef int (*fallocate_fn)(int, int, off_t, off_t);
typedef int (*fstat_fn)(int, struct stat *);

typedef int (*openat_fn)(int, const char *, int, ...);

/* libc's (or a sanitizer's interceptor, next in line), looked up once before main: no thread
 * races to fill them in. */
static close_fn real_close;
static unlinkat_fn real_unlinkat;
static fallocate_fn real_fallocate, real_fallocate64;
static openat_fn real_openat, real_openat64;
static fstat_fn real_fstat, real_fstat64;

__attribute__((constructor)) static void slow_syscalls_init(void)
{
	real_close = (close_fn)dlsym(RTLD_NEXT, "close");
	real_unlinkat = (unlinkat_fn)dlsym(RTLD_NEXT, "unlinkat");
	real_fallocate = (fallocate_fn)dlsym(RTLD_NEXT, "fallocate");
	real_fallocate64 = (fallocate_fn)dlsym(RTLD_NEXT, "fallocate64");
	real_openat = (openat_fn)dlsym(RTLD_NEXT, "openat");
	real_openat64 = (openat_fn)dlsym(RTLD_NEXT, "openat64");
	real_fstat = (fstat_fn)dlsym(RTLD_NEXT, "fstat");
	real_fstat64 = (fstat_fn)dlsym(RTLD_NEXT, "fstat64");
}

int __openat_2(int dfd, const char *path, int flags);
int __openat64_2(int dfd, const char *path, int flags);

static int open_common(openat_fn real, int dfd, const char *path, int flags, mode_t mode)
{
	if (!real) { /* called by another constructor, before ours */
		slow_syscalls_init();
		real = real_openat;
	}
	maybe_sleep(SLOW_OPEN, path);
	return real(dfd, path, flags, mode);
}

static mode_t mode_arg(int flags, va_list ap)
{
	return (flags & (O_CREAT | __O_TMPFILE)) ? va_arg(ap, mode_t) : 0;
}

int openat(int dfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	return open_common(real_openat, dfd, path, flags, mode);
}

int openat64(int dfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	return open_common(real_openat64, dfd, path, flags, mode);
}

int __openat_2(int dfd, const char *path, int flags)
{
	return open_common(real_openat, dfd, path, flags, 0);
}

int __openat64_2(int dfd, const char *path, int flags)
{
	return open_common(real_openat64, dfd, path, flags, 0);
}

int close(int fd)
{
	maybe_sleep_fd(SLOW_CLOSE, fd);
	if (!real_close) /* called by another constructor, before ours */
		slow_syscalls_init();
	return real_close(fd);
}

int unlinkat(int dfd, const char *path, int flags)
{
	maybe_sleep(SLOW_UNLINK, path);
	if (!real_unlinkat) /* called by another constructor, before ours */
		slow_syscalls_init();
	return real_unlinkat(dfd, path, flags);
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
	maybe_sleep_fd(SLOW_FALLOCATE, fd);
	if (!real_fallocate) /* called by another constructor, before ours */
		slow_syscalls_init();
	return real_fallocate(fd, mode, off, len);
}

int fallocate64(int fd, int mode, off_t off, off_t len)
{
	maybe_sleep_fd(SLOW_FALLOCATE, fd);
	if (!real_fallocate64) /* called by another constructor, before ours */
		slow_syscalls_init();
	return real_fallocate64(fd, mode, off, len);
}

/* After the call: the caller goes on with what the file was before the sleep. */
static int fstat_common(fstat_fn *real, int fd, struct stat *st)
{
	if (!*real) /* called by another constructor, before ours */
		slow_syscalls_init();
	int r = (*real)(fd, st), saved = errno;
	maybe_sleep_fd(SLOW_FSTAT, fd);
	errno = saved;
	return r;
}

int fstat(int fd, struct stat *st)
{
	return fstat_common(&real_fstat, fd, st);
}

/* struct stat64 is struct stat's layout on 64-bit targets, under another name */
_Static_assert(sizeof(struct stat64) == sizeof(struct stat), "stat64 is not stat");
int fstat64(int fd, struct stat64 *st)
{
	return fstat_common(&real_fstat64, fd, (struct stat *)st);
}
