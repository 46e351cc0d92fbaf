/* SPDX-License-Identifier: Apache-2.0 */
/* The view files a tier file is passed through to at once, as the "backing" map's value holds
 * them (access.h): one slot per (view file, opener cgroup), ACCESS_BACKING_SLOTS at most, with
 * its opens counted. The tracker updates a copy of the value under its lock and writes it back;
 * the programs read it (access.bpf.c backing_view). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <linux/types.h>

#include "access.h"

/* One more passthrough open of b's tier file, of view file (vdev, ino) by an opener in cgroup cg
 * (0: unknown): that (view file, cgroup)'s slot, else a free one, else its view file's slot,
 * else two slots of one view file merge to make room. Returns 1 if a slot changed its meaning
 * or the last opener's view changed (the programs' cached runs must look again), 0 if not, or
 * -ENOSPC when ACCESS_BACKING_SLOTS other view files hold it (b unchanged). */
int backing_slot_hold(struct access_backing *b, __u32 vdev, uint64_t ino, uint64_t cg);
/* One fewer: the slot of (vdev, ino, cg), else any of (vdev, ino) (a merged one); none: nothing.
 * Returns 1 if a slot went, else 0. */
int backing_slot_release(struct access_backing *b, __u32 vdev, uint64_t ino, uint64_t cg);
/* b's last and shared after its slots changed by hand (a view's slots cleared): the last
 * opener's slot stays if in use, else any slot in use is; shared when slots in use name
 * different view files. */
void backing_settle(struct access_backing *b);
/* No slot in use: the entry goes. */
bool backing_empty(const struct access_backing *b);
