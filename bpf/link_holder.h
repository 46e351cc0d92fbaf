/* SPDX-License-Identifier: Apache-2.0 */
/* A process that holds duplicates of the tracker's syscall-program links, so that the links'
 * release never runs where it would stall: releasing a syscall tracepoint program's link waits
 * for an RCU tasks-trace grace period (~70 ms each here, ~560 ms for the eight reading
 * syscalls), and a weir-node killed with them as last holder would spend that dying, its
 * views' readers waiting the while for the next weir-node. The holder (weir-node's own binary
 * run afresh with LINK_HOLDER_ARG: none of weir-node's memory or descriptors) lets go of them,
 * each on a process of its own so the waits overlap, when told to or when weir-node is gone;
 * the old programs run on meanwhile against the dead process's maps, which nothing reads. */
#pragma once

#include <stdbool.h>

/* The holder's command line: `EXE --link-holder`, its socket as descriptor 3 (and the pipe that
 * tells weir-node when all of its processes are gone as 4). */
#define LINK_HOLDER_ARG "--link-holder"

struct link_holder;

/* Starts a holder: exe (say "/proc/self/exe") run with LINK_HOLDER_ARG, which calls
 * link_holder_main() first thing. Returns 0 and *ret, or -errno. */
int link_holder_start(const char *exe, struct link_holder **ret);
/* The holder keeps duplicates of fds (n <= 16 at once; borrowed). Never blocks. Returns 0 or
 * -errno (-EPIPE: the holder is gone; the links are then released by their last holder, as
 * without one). */
int link_holder_keep(struct link_holder *h, const int *fds, unsigned n);
/* The holder lets go of all it keeps, and this waits until every one is closed: close the
 * caller's own descriptors of those links first, and on return the links are released. A
 * holder that does not answer within timeout_ms is killed with every process it forked, and
 * waited for (their ends close the links; up to 30 s more), and keeps nothing from then on.
 * Returns 0 (let go of), 1 (let go of by the end of a holder that did not answer), or -EBUSY
 * when some of its processes outlived those 30 s (the links may then still be attached:
 * attaching them again would count twice). It waits ~70-600 ms: no lock held by the caller,
 * please. */
int link_holder_drop(struct link_holder *h, int timeout_ms);
/* The holder's pid (tests, diagnostics). */
int link_holder_pid(const struct link_holder *h);
/* Ends the holder (it lets go of what it keeps on its own) and frees h. NULL: nothing. */
void link_holder_free(struct link_holder *h);

/* The holder process: serves descriptor sock until its peer closes it, then exits. */
_Noreturn void link_holder_main(int sock);
