// SPDX-License-Identifier: Apache-2.0
/* LD_PRELOAD into weir-node for tests/crash/writeresend.sh: kill -9 of the process right after a
 * write (pwrite or ftruncate) has been applied to a file and before FUSE hears the reply. Armed
 * once per scenario: the test writes the file name's suffix and the call (pwrite, ftruncate)
 * into $WEIR_TEST_DIE_DIR/arm ("pwrite log.txt"); the first matching call after it renames arm
 * to fired (only one process can), appends what it did to fired and kills its own process. The
 * weir-node the keeper starts next inherits the library and finds nothing armed. */
/* Each name is defined as itself: no redirect of pwrite to pwrite64 and the like. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int ftruncate(int fd, off_t len)
{
	return do_ftruncate("ftruncate", fd, len);
}

int ftruncate64(int fd, off_t len)
{
	return do_ftruncate("ftruncate64", fd, len);
}
