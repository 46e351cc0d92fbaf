// SPDX-License-Identifier: Apache-2.0
/* LD_PRELOAD into weir-node for tests/crash/writeresend.sh: kill -9 of the process right after a
 * write (pwrite or ftruncate) has been applied to a file and before FUSE hears the reply; or a
 * namespace change (mkdirat, unlinkat, renameat2: "mkdirat NAME", the name the call is given,
 * the target's for a rename; NAME* matches names beginning with NAME; fstatat of such a name
 * too, to stop after a create). When $WEIR_TEST_DIE_DIR/compete holds a path, the kill is
 * preceded by a mkdir of that path: another creator's, in the window before the reply. When
 * $WEIR_TEST_DIE_DIR/swap holds a path, the name the call was given is replaced by the file at
 * that path (renamed there) before the kill: a host user's substitute at a temporary name.
 * "renamefrom NAME" kills just before the rename of NAME (the temporary name, once its identity is
 * recorded). Armed once per scenario: the test writes the file name's suffix and the call (pwrite,
 * ftruncate) into $WEIR_TEST_DIE_DIR/arm ("pwrite log.txt"); the first matching call after it
 * renames arm to fired (only one process can), appends what it did to fired and kills its own
 * process. The weir-node the keeper starts next inherits the library and finds nothing armed. */
/* Each name is defined as itself: no redirect of pwrite to pwrite64 and the like. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

/* Whether call on fd matches the armed scenario; takes it (arm -> fired) when it does. */
static int take(const char *call, int fd, long long a, long long b)
{
	const char *dir = getenv("WEIR_TEST_DIE_DIR");
	if (!dir)
		return 0;
	char arm[512], fired[512], want[4400] = "", link[64], path[4096];
	snprintf(arm, sizeof(arm), "%s/arm", dir);
	snprintf(fired, sizeof(fired), "%s/fired", dir);
	FILE *f = fopen(arm, "re");
	if (!f)
		return 0;
	char wcall[32] = "", wsuffix[256] = "";
	int n = fscanf(f, "%31s %255s", wcall, wsuffix);
	fclose(f);
	if (n != 2 || strcmp(wcall, call) != 0)
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t l = readlink(link, path, sizeof(path) - 1);
	if (l < 0)
		return 0;
	path[l] = '\0';
	size_t sl = strlen(wsuffix), pl = (size_t)l;
	if (pl < sl || strcmp(path + pl - sl, wsuffix) != 0 ||
	    (pl > sl && path[pl - sl - 1] != '/'))
		return 0;
	if (rename(arm, fired) < 0)
		return 0; /* another thread took it */
	snprintf(want, sizeof(want), "%s %s %lld %lld pid %d\n", call, path, a, b, (int)getpid());
	int fd2 = open(fired, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd2 >= 0) {
		ssize_t w = write(fd2, want, strlen(want));
		(void)w;
		close(fd2);
	}
	return 1;
}

/* As take, for a call given a name: matches when the name is the armed one, or begins with it
 * where that ends in '*'. */
static int take_name(const char *call, int dfd, const char *name)
{
	const char *dir = getenv("WEIR_TEST_DIE_DIR");
	if (!dir)
		return 0;
	char arm[512], fired[512], cpath[512], want[4400] = "";
	snprintf(arm, sizeof(arm), "%s/arm", dir);
	snprintf(fired, sizeof(fired), "%s/fired", dir);
	snprintf(cpath, sizeof(cpath), "%s/compete", dir);
	FILE *f = fopen(arm, "re");
	if (!f)
		return 0;
	char wcall[32] = "", wname[256] = "";
	int n = fscanf(f, "%31s %255s", wcall, wname);
	fclose(f);
	if (n != 2 || strcmp(wcall, call) != 0)
		return 0;
	size_t wl = strlen(wname);
	if (wl && wname[wl - 1] == '*' ? strncmp(name, wname, wl - 1) != 0
				       : strcmp(name, wname) != 0)
		return 0;
	if (rename(arm, fired) < 0)
		return 0;
	f = fopen(cpath, "re");
	if (f) {
		char other[4096] = "";
		if (fscanf(f, "%4095s", other) == 1)
			mkdir(other, 0755);
		fclose(f);
	}
	snprintf(cpath, sizeof(cpath), "%s/swap", dir);
	f = fopen(cpath, "re");
	if (f) {
		char other[4096] = "";
		if (fscanf(f, "%4095s", other) == 1 &&
		    (syscall(SYS_unlinkat, dfd, name, 0) == 0 ||
		     syscall(SYS_unlinkat, dfd, name, AT_REMOVEDIR) == 0))
			syscall(SYS_renameat, AT_FDCWD, other, dfd, name);
		fclose(f);
	}
	snprintf(want, sizeof(want), "%s %s 0 0 pid %d\n", call, name, (int)getpid());
	int fd2 = open(fired, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd2 >= 0) {
		ssize_t w = write(fd2, want, strlen(want));
		(void)w;
		close(fd2);
	}
	return 1;
}

#define REAL(sym, type) ((type)dlsym(RTLD_NEXT, sym))

int mkdirat(int dfd, const char *name, mode_t mode)
{
	int r = REAL("mkdirat", int (*)(int, const char *, mode_t))(dfd, name, mode);
	if (r == 0 && take_name("mkdirat", dfd, name))
		kill(getpid(), SIGKILL);
	return r;
}

int unlinkat(int dfd, const char *name, int flags)
{
	int r = REAL("unlinkat", int (*)(int, const char *, int))(dfd, name, flags);
	if (r == 0 && take_name("unlinkat", dfd, name))
		kill(getpid(), SIGKILL);
	return r;
}

int renameat2(int d1, const char *n1, int d2, const char *n2, unsigned flags)
{
	if (take_name("renamefrom", d1, n1))
		kill(getpid(), SIGKILL);
	int r = REAL("renameat2", int (*)(int, const char *, int, const char *, unsigned))(
	    d1, n1, d2, n2, flags);
	if (r == 0 && take_name("renameat2", d2, n2))
		kill(getpid(), SIGKILL);
	return r;
}

int renameat(int d1, const char *n1, int d2, const char *n2)
{
	if (take_name("renamefrom", d1, n1))
		kill(getpid(), SIGKILL);
	int r = REAL("renameat", int (*)(int, const char *, int, const char *))(d1, n1, d2, n2);
	if (r == 0 && take_name("renameat2", d2, n2)) /* armed as renameat2 too: one rename */
		kill(getpid(), SIGKILL);
	return r;
}

static int do_fstatat(const char *sym, int dfd, const char *name, void *st, int flags)
{
	int r = REAL(sym, int (*)(int, const char *, void *, int))(dfd, name, st, flags);
	if (r == 0 && take_name("fstatat", dfd, name))
		kill(getpid(), SIGKILL);
	return r;
}

int fstatat(int dfd, const char *name, struct stat *st, int flags)
{
	return do_fstatat("fstatat", dfd, name, st, flags);
}

int fstatat64(int dfd, const char *name, struct stat64 *st, int flags)
{
	return do_fstatat("fstatat64", dfd, name, st, flags);
}

static ssize_t do_pwrite(const char *sym, int fd, const void *buf, size_t len, off_t off)
{
	ssize_t (*real)(int, const void *, size_t, off_t) =
	    (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, sym);
	ssize_t n = real(fd, buf, len, off);
	if (n >= 0 && take("pwrite", fd, (long long)off, (long long)n))
		kill(getpid(), SIGKILL);
	return n;
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	return do_pwrite("pwrite", fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	return do_pwrite("pwrite64", fd, buf, len, off);
}

static int do_ftruncate(const char *sym, int fd, off_t len)
{
	int (*real)(int, off_t) = (int (*)(int, off_t))dlsym(RTLD_NEXT, sym);
	int r = real(fd, len);
	if (r == 0 && take("ftruncate", fd, (long long)len, 0))
		kill(getpid(), SIGKILL);
	return r;
}

/* "fstat NAME": after a create of NAME, where the new file's descriptor is looked at. */
static int do_fstat(const char *sym, int fd, void *st)
{
	int r = REAL(sym, int (*)(int, void *))(fd, st);
	if (r == 0 && take("fstat", fd, 0, 0))
		kill(getpid(), SIGKILL);
	return r;
}

int fstat(int fd, struct stat *st)
{
	return do_fstat("fstat", fd, st);
}

int fstat64(int fd, struct stat64 *st)
{
	return do_fstat("fstat64", fd, st);
}

int ftruncate(int fd, off_t len)
{
	return do_ftruncate("ftruncate", fd, len);
}

int ftruncate64(int fd, off_t len)
{
	return do_ftruncate("ftruncate64", fd, len);
}
