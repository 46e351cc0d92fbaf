// SPDX-License-Identifier: Apache-2.0
// The intrusive hash table: growth keeps every element findable, removal while iterating visits
// each element exactly once, a hostile hash (every key in one bucket) stays correct, hashes that
// share their low bits still spread (the seeded mix), and a large table agrees with a plain
// array on every lookup.
#include <stdio.h>
#include <stdlib.h>

#include "htable.h"
#include "suites.h"

struct item {
	uint64_t key;
	int seen;
	struct htable_node node;
	uint64_t pad; /* the node is not the first field: htable_entry must subtract its offset */
};

static uint64_t key_hash(uint64_t k)
{
	return htable_hash_u64(k);
}

static uint64_t item_hash(const struct htable_node *n)
{
	return key_hash(htable_entry(n, struct item, node)->key);
}

/* Every key to bucket 0 of any table: what an attacker who knows the hash could aim for. */
static uint64_t hostile_hash(const struct htable_node *n)
{
	(void)n;
	return 0;
}

static bool item_eq(const struct htable_node *n, const void *key)
{
	return htable_entry(n, struct item, node)->key == *(const uint64_t *)key;
}

static struct item *find(const struct htable *t, uint64_t key)
{
	struct htable_node *n =
	    htable_find(t, t->hash == hostile_hash ? 0 : key_hash(key), item_eq, &key);

	return n ? htable_entry(n, struct item, node) : NULL;
}

static void insert(struct htable *t, struct item *it)
{
	htable_insert(t, &it->node, t->hash(&it->node));
}

START_TEST(grows_and_finds_everything)
{
	enum { N = 1000 };
	struct htable t;
	struct item *items = calloc(N, sizeof(*items));

	ck_assert_ptr_nonnull(items);
	ck_assert_int_eq(htable_init(&t, 1, item_hash), 0);
	size_t buckets0 = t.mask + 1;
	ck_assert_uint_eq(buckets0, 8);
	size_t bytes0 = htable_bytes(&t);
	for (size_t i = 0; i < N; i++) {
		items[i].key = i << 32; /* keys that differ in high bits only */
		insert(&t, &items[i]);
		ck_assert_uint_eq(htable_size(&t), i + 1);
		/* load factor at most one after each insert's growth */
		ck_assert_uint_le(htable_size(&t), t.mask + 2);
		for (size_t j = 0; j <= i; j += 97)
			ck_assert_ptr_eq(find(&t, items[j].key), &items[j]);
	}
	ck_assert_uint_ge(t.mask + 1, N / 2);
	ck_assert_uint_gt(htable_bytes(&t), bytes0);
	for (size_t i = 0; i < N; i++)
		ck_assert_ptr_eq(find(&t, items[i].key), &items[i]);
	ck_assert_ptr_null(find(&t, 1));
	ck_assert_ptr_null(find(&t, (uint64_t)N << 32));
	htable_fini(&t);
	free(items);
}
END_TEST

static void remove_while_iterating(htable_hash_fn hash)
{
	enum { N = 3000 };
	struct htable t;
	struct item *items = calloc(N, sizeof(*items));
	struct htable_iter it;
	struct htable_node *n;
	size_t visits = 0;

	ck_assert_ptr_nonnull(items);
	ck_assert_int_eq(htable_init(&t, 16, hash), 0);
	for (size_t i = 0; i < N; i++) {
		items[i].key = i * 7919;
		insert(&t, &items[i]);
	}
	/* remove every other element as it is returned */
	htable_iter_init(&it, &t);
	while ((n = htable_iter_next(&it))) {
		struct item *e = htable_entry(n, struct item, node);

		e->seen++;
		visits++;
		if ((e->key / 7919) % 2 == 0)
			htable_remove(&t, n);
	}
	ck_assert_uint_eq(visits, N);
	for (size_t i = 0; i < N; i++) {
		ck_assert_int_eq(items[i].seen, 1);
		ck_assert_ptr_eq(find(&t, items[i].key), i % 2 ? &items[i] : NULL);
	}
	ck_assert_uint_eq(htable_size(&t), N / 2);
	/* and the rest, each freed as soon as it is taken out */
	visits = 0;
	htable_iter_init(&it, &t);
	while ((n = htable_iter_next(&it))) {
		struct item *e = htable_entry(n, struct item, node);

		visits++;
		htable_remove(&t, n);
		e->key = UINT64_MAX; /* what a freed element could hold */
		n->next = (struct htable_node *)(uintptr_t)0x1; /* poisoned: must not be followed */
	}
	ck_assert_uint_eq(visits, N / 2);
	ck_assert_uint_eq(htable_size(&t), 0);
	htable_iter_init(&it, &t);
	ck_assert_ptr_null(htable_iter_next(&it));
	htable_fini(&t);
	free(items);
}

START_TEST(remove_during_iteration)
{
	remove_while_iterating(item_hash);
}
END_TEST

START_TEST(remove_during_iteration_one_chain)
{
	remove_while_iterating(hostile_hash);
}
END_TEST

START_TEST(hostile_hash_stays_correct)
{
	enum { N = 2000 };
	struct htable t;
	struct item *items = calloc(N, sizeof(*items));

	ck_assert_ptr_nonnull(items);
	ck_assert_int_eq(htable_init(&t, 8, hostile_hash), 0);
	for (size_t i = 0; i < N; i++) {
		items[i].key = i;
		insert(&t, &items[i]);
	}
	/* it still grew (the load factor counts elements, not the longest chain) */
	ck_assert_uint_ge(t.mask + 1, N / 2);
	for (size_t i = 0; i < N; i++)
		ck_assert_ptr_eq(find(&t, i), &items[i]);
	ck_assert_ptr_null(find(&t, N));
	/* remove from the middle, the head and the tail of the one chain */
	htable_remove(&t, &items[N / 2].node);
	htable_remove(&t, &items[N - 1].node); /* inserted last: the chain's head */
	htable_remove(&t, &items[0].node);     /* inserted first: its tail */
	ck_assert_uint_eq(htable_size(&t), N - 3);
	for (size_t i = 0; i < N; i++) {
		bool gone = i == N / 2 || i == N - 1 || i == 0;

		ck_assert_ptr_eq(find(&t, i), gone ? NULL : &items[i]);
	}
	/* removing an element that is not there changes nothing */
	htable_remove(&t, &items[0].node);
	ck_assert_uint_eq(htable_size(&t), N - 3);
	htable_fini(&t);
	free(items);
}
END_TEST

/* The hash as given: what a caller with a weak hash (FNV-1a of names a server chose) hands in. */
static uint64_t identity_hash(const struct htable_node *n)
{
	return htable_entry(n, struct item, node)->key;
}

static size_t longest_chain(const struct htable *t)
{
	size_t longest = 0;

	for (size_t i = 0; i <= t->mask; i++) {
		size_t len = 0;

		for (struct htable_node *n = t->buckets[i]; n; n = n->next)
			len++;
		if (len > longest)
			longest = len;
	}
	return longest;
}

START_TEST(shared_low_bits_spread)
{
	/* 20,000 distinct hashes that agree in their low 40 bits: unmixed, every one would land in
	 * bucket 0 of any table up to 2^40 buckets. The seeded mix spreads them like random ones.
	 */
	enum { N = 20000 };
	struct htable t, u;
	struct item *items = calloc(N, sizeof(*items));

	ck_assert_ptr_nonnull(items);
	ck_assert_int_eq(htable_init(&t, 0, identity_hash), 0);
	for (size_t i = 0; i < N; i++) {
		items[i].key = ((uint64_t)i + 1) << 40 | 0xabcdef;
		insert(&t, &items[i]);
	}
	ck_assert_uint_le(longest_chain(&t), 16);
	for (size_t i = 0; i < N; i++) {
		uint64_t k = items[i].key;
		struct htable_node *n = htable_find(&t, k, item_eq, &k);
		ck_assert_ptr_eq(n, &items[i].node);
	}
	/* each table its own seed: what collides in one (if anything) does not in the next */
	ck_assert_int_eq(htable_init(&u, 0, identity_hash), 0);
	ck_assert_uint_ne(t.seed, u.seed);
	htable_fini(&u);
	htable_fini(&t);
	free(items);
}
END_TEST

START_TEST(many_entries_match_an_array)
{
	enum { N = 200000 };
	struct htable t;
	struct item *items = calloc(N, sizeof(*items));
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	ck_assert_ptr_nonnull(items);
	ck_assert_int_eq(htable_init(&t, 0, item_hash), 0);
	for (size_t i = 0; i < N; i++) {
		/* distinct keys: an odd multiplier is a bijection on 64 bits */
		items[i].key = (uint64_t)i * x;
		insert(&t, &items[i]);
	}
	ck_assert_uint_eq(htable_size(&t), N);
	for (size_t i = 0; i < N; i++)
		ck_assert_ptr_eq(find(&t, items[i].key), &items[i]);
	for (size_t i = 0; i < N; i += 3)
		htable_remove(&t, &items[i].node);
	for (size_t i = 0; i < N; i++)
		ck_assert_ptr_eq(find(&t, items[i].key), i % 3 ? &items[i] : NULL);
	/* put the removed ones back: they are found again, nothing else moved */
	for (size_t i = 0; i < N; i += 3)
		insert(&t, &items[i]);
	ck_assert_uint_eq(htable_size(&t), N);
	for (size_t i = 0; i < N; i++)
		ck_assert_ptr_eq(find(&t, items[i].key), &items[i]);
	htable_fini(&t);
	ck_assert_ptr_null(t.buckets);
	free(items);
}
END_TEST

START_TEST(string_hash_spreads)
{
	/* keys that share long prefixes land in many buckets of a small table */
	char key[32];
	unsigned used[64] = {0};
	unsigned distinct = 0;

	for (int i = 0; i < 1024; i++) {
		snprintf(key, sizeof(key), "/data/train/%06d.bin", i);
		used[htable_hash_str(key) & 63]++;
	}
	for (int b = 0; b < 64; b++)
		distinct += used[b] > 0;
	ck_assert_uint_ge(distinct, 60);
	ck_assert_uint_ne(htable_hash_u64_pair(1, 2), htable_hash_u64_pair(2, 1));
}
END_TEST

Suite *htable_suite(void)
{
	Suite *s = suite_create("htable");
	TCase *tc = tcase_create("htable");
	tcase_add_test(tc, grows_and_finds_everything);
	tcase_add_test(tc, remove_during_iteration);
	tcase_add_test(tc, remove_during_iteration_one_chain);
	tcase_add_test(tc, hostile_hash_stays_correct);
	tcase_add_test(tc, shared_low_bits_spread);
	tcase_add_test(tc, many_entries_match_an_array);
	tcase_add_test(tc, string_hash_spreads);
	suite_add_tcase(s, tc);
	return s;
}
