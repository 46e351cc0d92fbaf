// SPDX-License-Identifier: Apache-2.0
// The slots of a "backing" map value (backing_slots.h): plain data, no map or lock.
#include "backing_slots.h"

#include <errno.h>

/* Slot i of b stands for view file (vdev, ino) */
static bool slot_is(const struct access_backing_slot *s, __u32 vdev, uint64_t ino)
{
	return s->opens > 0 && s->dev == vdev && s->ino == ino;
}

/* b's last and shared, after its slots changed: the slot of the last opener stays if in use,
 * else any slot in use is; shared when two slots in use name different view files. */
void backing_settle(struct access_backing *b)
{
	b->shared = 0;
	int any = -1;
	for (int i = 0; i < ACCESS_BACKING_SLOTS; i++) {
		if (!b->slot[i].opens)
			continue;
		if (any < 0)
			any = i;
		else if (!slot_is(&b->slot[i], b->slot[any].dev, b->slot[any].ino))
			b->shared = 1;
	}
	if (any >= 0 && !b->slot[b->last % ACCESS_BACKING_SLOTS].opens)
		b->last = (__u32)any;
}

/* One more passthrough open of b's tier file, of view file (vdev, ino) by an opener in cgroup cg
 * (0: unknown). Returns whether a slot changed its meaning (the programs' cached runs must look
 * again), or -ENOSPC when ACCESS_BACKING_SLOTS other view files hold it. */
int backing_slot_hold(struct access_backing *b, __u32 vdev, uint64_t ino, uint64_t cg)
{
	/* a reader whose cgroup opened through none of the slots counts on the last opener's
	 * view: the programs' cached runs look again when that changes */
	const struct access_backing_slot *was = &b->slot[b->last % ACCESS_BACKING_SLOTS];
	bool last_moves = was->opens && !slot_is(was, vdev, ino);
	int same = -1, free_slot = -1;
	for (int i = 0; i < ACCESS_BACKING_SLOTS; i++) {
		struct access_backing_slot *s = &b->slot[i];
		if (slot_is(s, vdev, ino) && (same < 0 || s->cgroup_id == cg))
			same = i;
		if (!s->opens && free_slot < 0)
			free_slot = i;
	}
	if (same >= 0 && b->slot[same].cgroup_id == cg) {
		b->slot[same].opens++;
		b->last = (__u32)same;
		return last_moves;
	}
	if (free_slot < 0 && same >= 0) {
		/* full: its view's slot takes it, under that slot's cgroup */
		b->slot[same].opens++;
		b->last = (__u32)same;
		return last_moves;
	}
	if (free_slot < 0) {
		/* full with other views' files: two slots of one view file merge into one */
		for (int i = 0; i < ACCESS_BACKING_SLOTS && free_slot < 0; i++)
			for (int j = i + 1; j < ACCESS_BACKING_SLOTS; j++)
				if (slot_is(&b->slot[j], b->slot[i].dev, b->slot[i].ino)) {
					b->slot[i].opens += b->slot[j].opens;
					b->slot[j] = (struct access_backing_slot){0};
					free_slot = j;
					break;
				}
		if (free_slot < 0)
			return -ENOSPC;
	}
	b->slot[free_slot] =
	    (struct access_backing_slot){.ino = ino, .cgroup_id = cg, .dev = vdev, .opens = 1};
	b->last = (__u32)free_slot;
	backing_settle(b);
	return 1;
}

/* One fewer: the slot of (vdev, ino, cg), else any of (vdev, ino) (a merged one). Returns whether
 * a slot went. */
int backing_slot_release(struct access_backing *b, __u32 vdev, uint64_t ino, uint64_t cg)
{
	int k = -1;
	for (int i = 0; i < ACCESS_BACKING_SLOTS; i++)
		if (slot_is(&b->slot[i], vdev, ino) && (k < 0 || b->slot[i].cgroup_id == cg))
			k = i;
	if (k < 0 || --b->slot[k].opens > 0)
		return 0;
	b->slot[k] = (struct access_backing_slot){0};
	backing_settle(b);
	return 1;
}

bool backing_empty(const struct access_backing *b)
{
	for (int i = 0; i < ACCESS_BACKING_SLOTS; i++)
		if (b->slot[i].opens)
			return false;
	return true;
}
