/* SPDX-License-Identifier: Apache-2.0 */
/* Slow system calls for tests, without LD_PRELOAD: the test binary defines openat, close,
 * unlinkat, fallocate and fstat (and their 64-bit and fortified names), which the code linked
 * into it calls instead of libc's; while armed, a call on a file whose path contains a given
 * name sleeps first (fstat: after the call, so what it saw may have changed when it returns). Used to show which lock a slow file system call holds up. */
#pragma once

#include <stdbool.h>

enum {
	SLOW_OPEN = 1,
	SLOW_CLOSE = 2,
	SLOW_UNLINK = 4,
	SLOW_FALLOCATE = 8,
	SLOW_FSTAT = 16,
};

/* From now on, the calls in ops on a path containing name sleep ms first. */
void slow_arm(const char *name, unsigned ops, unsigned ms);
void slow_disarm(void);
/* Waits (up to timeout_ms) until an armed call has started sleeping; false if none did. */
bool slow_wait_entered(unsigned timeout_ms);
