// SPDX-License-Identifier: Apache-2.0
// Rendezvous hashing: the same owner whatever the order of the nodes, shares near even, and a
// node's loss (or arrival) moving only the keys of that node.
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "rendezvous.h"
#include "suites.h"

#define NKEYS 20000

static void key_of(int i, char *buf, size_t len)
{
	snprintf(buf, len, "/spark-3.3.1/jars/lib-%05d.jar", i);
}

START_TEST(order_does_not_matter)
{
	const char *a[] = {"node-1", "node-2", "node-3"};
	const char *b[] = {"node-3", "node-1", "node-2"};
	char key[128];
	for (int i = 0; i < 2000; i++) {
		key_of(i, key, sizeof(key));
		int x = rendezvous_owner(key, a, 3), y = rendezvous_owner(key, b, 3);
		ck_assert_int_ge(x, 0);
		ck_assert_str_eq(a[x], b[y]);
	}
}
END_TEST

START_TEST(shares_are_even)
{
	const char *nodes[] = {"node-1", "node-2", "node-3", "node-4"};
	unsigned count[4] = {0};
	char key[128];
	for (int i = 0; i < NKEYS; i++) {
		key_of(i, key, sizeof(key));
		count[rendezvous_owner(key, nodes, 4)]++;
	}
	/* each of 4 should own ~25%: within 22-28% for 20000 keys */
	for (int k = 0; k < 4; k++)
		ck_assert_msg(count[k] > NKEYS * 22 / 100 && count[k] < NKEYS * 28 / 100,
			      "%s owns %u of %d keys", nodes[k], count[k], NKEYS);
	/* names one character apart still split two ways */
	const char *two[] = {"n1", "n2"};
	unsigned c0 = 0;
	for (int i = 0; i < NKEYS; i++) {
		key_of(i, key, sizeof(key));
		c0 += rendezvous_owner(key, two, 2) == 0;
	}
	ck_assert_msg(c0 > NKEYS * 46 / 100 && c0 < NKEYS * 54 / 100, "n1 owns %u", c0);
}
END_TEST

START_TEST(loss_moves_only_its_keys)
{
	const char *three[] = {"node-1", "node-2", "node-3"};
	const char *two[] = {"node-1", "node-3"}; /* node-2 died */
	const char *four[] = {"node-1", "node-2", "node-3", "node-4"};
	char key[128];
	unsigned moved = 0, gained = 0;
	for (int i = 0; i < NKEYS; i++) {
		key_of(i, key, sizeof(key));
		const char *before = three[rendezvous_owner(key, three, 3)];
		const char *after = two[rendezvous_owner(key, two, 2)];
		if (strcmp(before, "node-2"))
			ck_assert_str_eq(before, after); /* a survivor's key stays put */
		else
			moved++;
		const char *grown = four[rendezvous_owner(key, four, 4)];
		if (strcmp(before, grown)) {
			ck_assert_str_eq(grown, "node-4"); /* only to the newcomer */
			gained++;
		}
	}
	ck_assert_uint_gt(moved, 0);
	ck_assert_uint_gt(gained, NKEYS / 5);
}
END_TEST

START_TEST(edges)
{
	const char *none[] = {NULL, NULL};
	ck_assert_int_eq(rendezvous_owner("/a", none, 0), -1);
	ck_assert_int_eq(rendezvous_owner("/a", none, 2), -1);
	const char *one[] = {NULL, "only"};
	ck_assert_int_eq(rendezvous_owner("/a", one, 2), 1);
	/* a key and a node must not be confusable by concatenation */
	ck_assert(rendezvous_weight("ab", "c") != rendezvous_weight("a", "bc"));
	ck_assert(rendezvous_weight("node-1", "") != rendezvous_weight("node-2", ""));
}
END_TEST

Suite *rendezvous_suite(void)
{
	Suite *s = suite_create("rendezvous");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, order_does_not_matter);
	tcase_add_test(tc, shares_are_even);
	tcase_add_test(tc, loss_moves_only_its_keys);
	tcase_add_test(tc, edges);
	suite_add_tcase(s, tc);
	return s;
}
