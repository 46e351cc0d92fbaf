// SPDX-License-Identifier: Apache-2.0
// The "backing" map value's slots (bpf/backing_slots.h): plain data, no privilege needed.
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "backing_slots.h"
#include "units.h"

/* the opens of view file (dev, ino) over all slots */
static unsigned opens_of(const struct access_backing *b, __u32 dev, uint64_t ino)
{
	unsigned n = 0;
	for (int i = 0; i < ACCESS_BACKING_SLOTS; i++)
		if (b->slot[i].opens && b->slot[i].dev == dev && b->slot[i].ino == ino)
			n += b->slot[i].opens;
	return n;
}

/* the slot the programs take for a reader of cgroup cg (as backing_view does) */
static const struct access_backing_slot *pick(const struct access_backing *b, uint64_t cg)
{
	unsigned i = b->last;
	if (b->shared)
		for (unsigned k = 0; k < ACCESS_BACKING_SLOTS; k++)
			if (b->slot[k].opens && b->slot[k].cgroup_id == cg) {
				i = k;
				break;
			}
	return &b->slot[i % ACCESS_BACKING_SLOTS];
}

START_TEST(one_view_is_not_shared)
{
	struct access_backing b = {0};
	ck_assert_int_eq(backing_slot_hold(&b, 1, 10, 100), 1);
	ck_assert_int_eq(backing_slot_hold(&b, 1, 10, 100), 0); /* same slot */
	ck_assert_int_eq(backing_slot_hold(&b, 1, 10, 200), 1); /* another cgroup: a slot */
	ck_assert(!b.shared);
	ck_assert_uint_eq(opens_of(&b, 1, 10), 3);
	ck_assert_int_eq(backing_slot_release(&b, 1, 10, 100), 0);
	ck_assert_int_eq(backing_slot_release(&b, 1, 10, 100), 1);
	ck_assert_int_eq(backing_slot_release(&b, 1, 10, 200), 1);
	ck_assert(backing_empty(&b));
	ck_assert_int_eq(backing_slot_release(&b, 1, 10, 200), 0); /* nothing left: nothing */
}
END_TEST

START_TEST(two_views_pick_by_cgroup_else_the_last)
{
	struct access_backing b = {0};
	backing_slot_hold(&b, 1, 10, 100);			/* view 1, cgroup 100 */
	ck_assert_int_eq(backing_slot_hold(&b, 2, 20, 200), 1); /* view 2, cgroup 200: last */
	ck_assert(b.shared);
	ck_assert_uint_eq(pick(&b, 100)->dev, 1);
	ck_assert_uint_eq(pick(&b, 200)->dev, 2);
	ck_assert_uint_eq(pick(&b, 999)->dev, 2); /* none of theirs: the last opener's */
	/* view 1 opened again by cgroup 100: the last opener's view moves (runs look again) */
	ck_assert_int_eq(backing_slot_hold(&b, 1, 10, 100), 1);
	ck_assert_uint_eq(pick(&b, 999)->dev, 1);
	/* the last opener's slot goes: last moves to one in use */
	ck_assert_int_eq(backing_slot_release(&b, 1, 10, 100), 0);
	ck_assert_int_eq(backing_slot_release(&b, 1, 10, 100), 1);
	ck_assert(!b.shared);
	ck_assert_uint_eq(pick(&b, 999)->dev, 2);
	ck_assert_uint_eq(pick(&b, 999)->opens, 1);
}
END_TEST

START_TEST(full_slots_merge_then_refuse)
{
	struct access_backing b = {0};
	/* view 1 by four cgroups fills every slot */
	for (uint64_t cg = 1; cg <= ACCESS_BACKING_SLOTS; cg++)
		ck_assert_int_eq(backing_slot_hold(&b, 1, 10, cg), 1);
	/* view 1 again, a fifth cgroup: its view's slot takes it */
	ck_assert_int_eq(backing_slot_hold(&b, 1, 10, 50), 0);
	ck_assert_uint_eq(opens_of(&b, 1, 10), ACCESS_BACKING_SLOTS + 1);
	/* view 2: two of view 1's slots merge to make room; no open is lost */
	ck_assert_int_eq(backing_slot_hold(&b, 2, 20, 60), 1);
	ck_assert_uint_eq(opens_of(&b, 1, 10), ACCESS_BACKING_SLOTS + 1);
	ck_assert_uint_eq(opens_of(&b, 2, 20), 1);
	ck_assert(b.shared);
	ck_assert_uint_eq(pick(&b, 60)->dev, 2);
	backing_slot_hold(&b, 3, 30, 70);
	backing_slot_hold(&b, 4, 40, 80);
	/* four views' files: a fifth view is refused, b unchanged */
	struct access_backing before = b;
	ck_assert_int_eq(backing_slot_hold(&b, 5, 50, 90), -ENOSPC);
	ck_assert_mem_eq(&b, &before, sizeof(b));
	/* every open of view 1 released, whatever slot it landed in: its slots all go */
	for (uint64_t cg = 1; cg <= ACCESS_BACKING_SLOTS; cg++)
		backing_slot_release(&b, 1, 10, cg);
	backing_slot_release(&b, 1, 10, 50);
	ck_assert_uint_eq(opens_of(&b, 1, 10), 0);
	ck_assert_uint_eq(opens_of(&b, 2, 20) + opens_of(&b, 3, 30) + opens_of(&b, 4, 40), 3);
	/* room again */
	ck_assert_int_eq(backing_slot_hold(&b, 5, 50, 90), 1);
}
END_TEST

/* Random holds and releases of 6 views' files by 4 cgroups against a count kept here: no open
 * lost or made up, refusals only when 4 other views' files hold it, the programs' pick always
 * a slot in use. */
START_TEST(random_holds_keep_the_counts)
{
	struct access_backing b = {0};
	unsigned want[6][4] = {{0}};
	srand(7);
	for (int step = 0; step < 20000; step++) {
		unsigned v = (unsigned)rand() % 6, c = (unsigned)rand() % 4;
		if (rand() % 2) {
			int r = backing_slot_hold(&b, v + 1, v + 10, c + 100);
			if (r == -ENOSPC) {
				unsigned others = 0;
				for (unsigned k = 0; k < 6; k++)
					if (k != v && opens_of(&b, k + 1, k + 10))
						others++;
				ck_assert_uint_ge(others, ACCESS_BACKING_SLOTS);
				ck_assert_uint_eq(opens_of(&b, v + 1, v + 10), 0);
				continue;
			}
			ck_assert_int_ge(r, 0);
			want[v][c]++;
		} else if (want[v][c]) {
			backing_slot_release(&b, v + 1, v + 10, c + 100);
			want[v][c]--;
		}
		for (unsigned k = 0; k < 6; k++) {
			unsigned w = 0;
			for (unsigned g = 0; g < 4; g++)
				w += want[k][g];
			ck_assert_uint_eq(opens_of(&b, k + 1, k + 10), w);
		}
		if (!backing_empty(&b))
			for (uint64_t cg = 99; cg < 105; cg++)
				ck_assert_uint_gt(pick(&b, cg)->opens, 0);
	}
}
END_TEST

Suite *backing_slots_suite(void)
{
	Suite *s = suite_create("backing_slots");
	TCase *tc = tcase_create("backing_slots");
	tcase_add_test(tc, one_view_is_not_shared);
	tcase_add_test(tc, two_views_pick_by_cgroup_else_the_last);
	tcase_add_test(tc, full_slots_merge_then_refuse);
	tcase_add_test(tc, random_holds_keep_the_counts);
	suite_add_tcase(s, tc);
	return s;
}
