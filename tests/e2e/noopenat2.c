// SPDX-License-Identifier: Apache-2.0
// Preloaded into weir-node by localescape-noopenat2: syscall(SYS_openat2, ...) fails with ENOSYS,
// as on a kernel before 5.6, and every other syscall() goes through, so the local:// backend's
// fallback for such kernels is what resolves paths. For tests only.
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

long syscall(long nr, ...)
{
	static long (*real)(long, ...);
	va_list ap;
	long a[6];

	/* as glibc's own syscall(): six argument words, whatever the call uses */
	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (nr == SYS_openat2) {
		errno = ENOSYS;
		return -1;
	}
	if (!real)
		real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
	return real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
