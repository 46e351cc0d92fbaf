/* SPDX-License-Identifier: Apache-2.0 */
/* A process that holds duplicates of the tracker's syscall-program links, so that the links'
 * release never runs where it would stall: releasing a syscall tracepoint program's link waits
 * for an RCU tasks-trace grace period (~70 ms each here, ~560 ms for the eight reading
 * syscalls), and a weir-node killed with them as last holder would spend that dying, its
 * views' readers waiting the while for the next weir-node. The holder (a grandchild, so never
 * a zombie of weir-node's) lets them go, each on a process of its own so the waits overlap,
 * when told to or when weir-node is gone; the old programs run on meanwhile against the dead
 * process's maps, which nothing reads. */
#pragma once

struct link_holder;

/* Starts a holder. Returns 0 and *ret, or -errno. Call it before the links it is to hold are
 * made... or at any time: it keeps only what link_holder_keep() sends it. */
int link_holder_start(struct link_holder **ret);
/* The holder keeps duplicates of fds (n <= 16 at once; borrowed). Never blocks. Returns 0 or
 * -errno (the links are then released by their last holder, as without a holder). */
int link_holder_keep(struct link_holder *h, const int *fds, unsigned n);
/* The holder lets go of all it keeps, and this waits (up to timeout_ms) until every one is
 * closed. Close the caller's own descriptors of those links first: then, on return, the links
 * are released. Returns 0, -ETIMEDOUT or -errno. No lock held by the caller, please: it waits
 * ~70-300 ms. */
int link_holder_drop(struct link_holder *h, int timeout_ms);
/* Ends the holder: it lets go of what it keeps on its own. NULL: nothing. */
void link_holder_free(struct link_holder *h);
