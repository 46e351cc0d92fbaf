// SPDX-License-Identifier: Apache-2.0
// A view's journal as a successor reads it: the same records, lookup counts and live handles
// through another descriptor of the memfd; a torn tail, a foreign layout and concurrent writers
// never make it read what was not written.
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "suites.h"
#include "view_journal.h"

struct seen {
	unsigned n;
	uint64_t ino[64];
	char path[64][64];
	uint32_t type[64];
};

static int collect(void *arg, const struct view_journal_rec *rec, const void *blob)
{
	struct seen *s = arg;
	if (s->n < 64) {
		s->ino[s->n] = rec->ino;
		s->type[s->n] = rec->type;
		snprintf(s->path[s->n], sizeof(s->path[0]), "%s", blob ? (const char *)blob : "");
	}
	s->n++;
	return 0;
}

static int append_inode(struct view_journal *j, uint64_t ino, const char *path)
{
	struct view_journal_rec rec = {.type = VJ_INODE, .ino = ino, .blob_len = strlen(path)};
	return view_journal_append(j, &rec, path);
}

START_TEST(test_successor_reads_what_was_written)
{
	struct view_journal *j, *k;
	ck_assert_int_eq(view_journal_new("/mnt/x", &j), 0);
	ck_assert_int_eq(append_inode(j, 2, "/a"), 0);
	ck_assert_int_eq(append_inode(j, 3, "/a/b c"), 0);
	struct view_journal_rec ren = {.type = VJ_RENAME, .blob_len = 7};
	ck_assert_int_eq(view_journal_append(j, &ren, "/a\0/z\0x"), 0);
	atomic_fetch_add(view_journal_nlookup(j, 3), 5);
	struct view_journal_rec h = {
	    .type = VJ_OPEN, .fh = 7, .ino = 3, .obj = 99, .backing_id = 4};
	snprintf(h.attr.etag, sizeof(h.attr.etag), "\"abc\"");
	ck_assert_int_eq(view_journal_set_handle(j, &h), 0);
	h.fh = 2;
	ck_assert_int_eq(view_journal_set_handle(j, &h), 0);
	view_journal_clear_handle(j, 2);

	/* The successor: another descriptor of the same memfd (what the keeper hands over). */
	ck_assert_int_eq(view_journal_open(view_journal_fd(j), &k), 0);
	struct seen s = {0};
	ck_assert_int_eq(view_journal_replay(k, collect, &s), 3);
	ck_assert_uint_eq(s.ino[0], 2);
	ck_assert_str_eq(s.path[1], "/a/b c");
	ck_assert_uint_eq(s.type[2], VJ_RENAME);
	ck_assert_uint_eq(atomic_load(view_journal_nlookup(k, 3)), 5);
	/* A count changed by one is seen by the other at once: shared memory, no flush. */
	atomic_fetch_sub(view_journal_nlookup(k, 3), 2);
	ck_assert_uint_eq(atomic_load(view_journal_nlookup(j, 3)), 3);
	ck_assert_ptr_null(view_journal_nlookup(k, VIEW_JOURNAL_MAX_INODES));
	view_journal_free(j);
	view_journal_free(k);
}
END_TEST

/* A no-open view's bindings: each inode's version reaches the successor whole, in log order (a
 * later binding of a path wins there); a handle-slot type in the log is torn, not a record. */
static struct view_journal_rec binds[8];
static unsigned nbinds;
static int collect_bind(void *arg, const struct view_journal_rec *rec, const void *blob)
{
	struct seen *s = arg;
	if (rec->type == VJ_BIND && nbinds < 8)
		binds[nbinds++] = *rec;
	return collect(s, rec, blob);
}

START_TEST(test_bindings)
{
	struct view_journal *j, *k;
	ck_assert_int_eq(view_journal_new("/mnt/b", &j), 0);
	struct view_journal_rec init = {.type = VJ_INIT, .flags = VJ_INIT_NO_OPEN, .blob_len = 3};
	ck_assert_int_eq(view_journal_append(j, &init, "ini"), 0);
	struct view_journal_rec b = {.type = VJ_BIND, .ino = 5, .obj = 41, .blob_len = 4};
	b.attr.size = 8192;
	b.attr.mtime = 1700000000;
	snprintf(b.attr.etag, sizeof(b.attr.etag), "\"v1\"");
	ck_assert_int_eq(view_journal_append(j, &b, "/d/f"), 0);
	b.ino = 9;
	b.obj = 42;
	b.attr.size = 6000;
	snprintf(b.attr.etag, sizeof(b.attr.etag), "\"v2\"");
	ck_assert_int_eq(view_journal_append(j, &b, "/d/f"), 0);
	struct view_journal_rec bad = {.type = VJ_OPEN, .ino = 1, .blob_len = 0};
	ck_assert_int_eq(view_journal_append(j, &bad, ""), 0);
	ck_assert_int_eq(append_inode(j, 10, "/after"), 0);

	ck_assert_int_eq(view_journal_open(view_journal_fd(j), &k), 0);
	struct seen s = {0};
	nbinds = 0;
	/* INIT and two bindings; the VJ_OPEN in the log ends the replay (and hides what follows) */
	ck_assert_int_eq(view_journal_replay(k, collect_bind, &s), 3);
	ck_assert_uint_eq(s.type[0], VJ_INIT);
	ck_assert_uint_eq(nbinds, 2);
	ck_assert_uint_eq(binds[0].ino, 5);
	ck_assert_uint_eq(binds[0].obj, 41);
	ck_assert_uint_eq(binds[0].attr.size, 8192);
	ck_assert_str_eq(binds[0].attr.etag, "\"v1\"");
	ck_assert_uint_eq(binds[1].ino, 9);
	ck_assert_str_eq(binds[1].attr.etag, "\"v2\"");
	ck_assert_str_eq(s.path[2], "/d/f");
	view_journal_free(j);
	view_journal_free(k);
}
END_TEST

static struct view_journal_rec live[8];
static unsigned nlive;

static int collect_handle(void *arg, const struct view_journal_rec *rec)
{
	(void)arg;
	if (nlive < 8)
		live[nlive] = *rec;
	nlive++;
	return 0;
}

START_TEST(test_handles)
{
	struct view_journal *j;
	ck_assert_int_eq(view_journal_new("/mnt/h", &j), 0);
	struct view_journal_rec h = {.type = VJ_OPEN, .ino = 9, .flags = VJ_OPEN_DIR};
	for (uint64_t fh = 1; fh <= 5; fh++) {
		h.fh = fh;
		ck_assert_int_eq(view_journal_set_handle(j, &h), 0);
	}
	view_journal_clear_handle(j, 1);
	view_journal_clear_handle(j, 4);
	/* A number reused after its release holds the new handle only. */
	h.fh = 4;
	h.ino = 10;
	h.flags = 0;
	ck_assert_int_eq(view_journal_set_handle(j, &h), 0);
	nlive = 0;
	ck_assert_int_eq(view_journal_handles(j, collect_handle, NULL), 4);
	ck_assert_uint_eq(live[0].fh, 2);
	ck_assert_uint_eq(live[2].fh, 4);
	ck_assert_uint_eq(live[2].ino, 10);
	ck_assert_uint_eq(live[2].flags, 0);
	h.fh = 0;
	ck_assert_int_eq(view_journal_set_handle(j, &h), -ERANGE);
	h.fh = VIEW_JOURNAL_MAX_HANDLES + 1ull;
	ck_assert_int_eq(view_journal_set_handle(j, &h), -ERANGE);
	view_journal_clear_handle(j, VIEW_JOURNAL_MAX_HANDLES + 5ull); /* ignored, no crash */
	view_journal_free(j);
}
END_TEST

START_TEST(test_torn_tail)
{
	struct view_journal *j;
	ck_assert_int_eq(view_journal_new("/mnt/t", &j), 0);
	ck_assert_int_eq(append_inode(j, 2, "/one"), 0);
	ck_assert_int_eq(append_inode(j, 3, "/two"), 0);
	/* A crash in the middle of a record: half a header, then one whose blob is cut short. */
	struct stat st;
	ck_assert_int_eq(fstat(view_journal_fd(j), &st), 0);
	struct view_journal_rec rec = {.type = VJ_INODE, .ino = 4, .blob_len = 100};
	ck_assert_int_eq(pwrite(view_journal_fd(j), &rec, sizeof(rec), st.st_size),
			 (ssize_t)sizeof(rec));
	ck_assert_int_eq(pwrite(view_journal_fd(j), "/thr", 4, st.st_size + sizeof(rec)), 4);
	struct seen s = {0};
	ck_assert_int_eq(view_journal_replay(j, collect, &s), 2);
	ck_assert_str_eq(s.path[1], "/two");
	/* An unknown type stops the replay too. */
	ck_assert_int_eq(ftruncate(view_journal_fd(j), st.st_size), 0);
	rec = (struct view_journal_rec){.type = 77, .ino = 5};
	ck_assert_int_eq(pwrite(view_journal_fd(j), &rec, sizeof(rec), st.st_size),
			 (ssize_t)sizeof(rec));
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(view_journal_replay(j, collect, &s), 2);
	view_journal_free(j);
}
END_TEST

/* Appends in flight: the successor finds where the dead process put a request's bytes, once;
 * a record ended after its reply is gone; with none free, only the dead process's records are
 * taken, the oldest request's first, and never one the successor has found. */
START_TEST(test_writes_in_flight)
{
	struct view_journal *j, *k;
	ck_assert_int_eq(view_journal_new("/mnt/w", &j), 0);
	int a = view_journal_write_begin(j, 10, 3, 4096, 6);
	int b = view_journal_write_begin(j, 12, 3, 8192, 100);
	int c = view_journal_write_begin(j, 14, 5, 0, 1);
	ck_assert_int_ge(a, 0);
	ck_assert_int_ge(b, 0);
	ck_assert_int_ge(c, 0);
	view_journal_write_end(j, b); /* answered */
	int64_t off = -1;
	int idx = -1;
	/* the process that made them never looks them up: not inherited */
	ck_assert_int_eq(view_journal_write_find(j, 10, 3, 6, &off, &idx), -ENOENT);

	ck_assert_int_eq(view_journal_open(view_journal_fd(j), &k), 0);
	ck_assert_int_eq(view_journal_write_find(k, 12, 3, 100, &off, &idx), -ENOENT);
	ck_assert_int_eq(view_journal_write_find(k, 10, 4, 6, &off, &idx), -ENOENT); /* other fh */
	ck_assert_int_eq(view_journal_write_find(k, 10, 3, 7, &off, &idx), -ENOENT); /* other len */
	ck_assert_int_eq(view_journal_write_find(k, 10, 3, 6, &off, &idx), 0);
	ck_assert_int_eq(off, 4096);
	ck_assert_int_eq(idx, a);
	/* Fill every free record: then the dead process's left (14) is taken, not 10 (found). */
	int n = 0;
	while (view_journal_write_begin(k, 1000 + (uint64_t)n, 9, n, 1) != c)
		ck_assert_int_lt(++n, VIEW_JOURNAL_MAX_WRITES);
	ck_assert_int_eq(n, VIEW_JOURNAL_MAX_WRITES - 2);
	ck_assert_int_eq(view_journal_write_begin(k, 5000, 9, 0, 1), -ENOSPC);
	ck_assert_int_eq(view_journal_write_find(k, 14, 5, 1, &off, &idx), -ENOENT);
	view_journal_write_end(k, idx);
	ck_assert_int_eq(view_journal_write_begin(k, 5001, 9, 0, 1), idx);
	view_journal_free(j);
	view_journal_free(k);
}
END_TEST

/* Namespace changes in flight share the write records, never mistaken for a write; the
 * successor finds each by request, op and directory, with the identity set after the begin. */
static void count_left(void *arg, uint64_t unique, enum view_journal_op op, uint64_t parent,
		       uint64_t ident)
{
	uint64_t *seen = arg;
	ck_assert_int_eq(parent, op == VJ_OP_MKDIR ? 1 : 7);
	/* as recorded: temp_left checks it */
	ck_assert_int_eq(ident, op == VJ_OP_REMOVE ? 555 : 0);
	*seen += unique * 100 + op;
}

START_TEST(test_ops_in_flight)
{
	struct view_journal *j, *k;
	ck_assert_int_eq(view_journal_new("/mnt/o", &j), 0);
	uint64_t id = view_journal_id(j);
	ck_assert(id != 0);
	int a = view_journal_op_begin(j, 20, VJ_OP_MKDIR, 1);
	int b = view_journal_op_begin(j, 22, VJ_OP_REMOVE, 7);
	int c = view_journal_op_begin(j, 24, VJ_OP_RENAME, 7);
	ck_assert_int_ge(a, 0);
	ck_assert_int_ge(b, 0);
	ck_assert_int_ge(c, 0);
	view_journal_op_set(j, b, 555);
	view_journal_write_end(j, c); /* answered */

	ck_assert_int_eq(view_journal_open(view_journal_fd(j), &k), 0);
	ck_assert(view_journal_id(k) == id); /* temporary names stay the view's */
	uint64_t ident = 1, seen = 0;
	int idx = -1;
	int64_t off;
	view_journal_ops_left(k, count_left, &seen);
	ck_assert_int_eq(seen, 2000 + VJ_OP_MKDIR + 2200 + VJ_OP_REMOVE); /* not 24: answered */
	/* not a write, whatever the write's fh and len */
	ck_assert_int_eq(view_journal_write_find(k, 22, 0, 7, &off, &idx), -ENOENT);
	ck_assert_int_eq(view_journal_op_find(k, 24, VJ_OP_RENAME, 7, &ident, &idx), -ENOENT);
	ck_assert_int_eq(view_journal_op_find(k, 22, VJ_OP_RENAME, 7, &ident, &idx), -ENOENT);
	ck_assert_int_eq(view_journal_op_find(k, 22, VJ_OP_REMOVE, 8, &ident, &idx), -ENOENT);
	ck_assert_int_eq(view_journal_op_find(k, 22, VJ_OP_REMOVE, 7, &ident, &idx), 0);
	ck_assert_int_eq(ident, 555);
	ck_assert_int_eq(idx, b);
	ck_assert_int_eq(view_journal_op_find(k, 20, VJ_OP_MKDIR, 1, &ident, &idx), 0);
	ck_assert_int_eq(ident, 0); /* died before it made anything */
	ck_assert_int_eq(idx, a);
	/* taken: the left ones are no more */
	seen = 0;
	view_journal_ops_left(k, count_left, &seen);
	ck_assert_int_eq(seen, 0);
	view_journal_free(j);
	view_journal_free(k);
}
END_TEST

START_TEST(test_foreign)
{
	struct view_journal *j, *k;
	ck_assert_int_eq(view_journal_new("/mnt/f", &j), 0);
	int fd = view_journal_fd(j);
	uint64_t other = 0x1234;
	ck_assert_int_eq(pwrite(fd, &other, sizeof(other), 0), (ssize_t)sizeof(other));
	ck_assert_int_eq(view_journal_open(fd, &k), -EPROTO);
	/* Not a journal at all: too short. */
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(view_journal_open(p[0], &k), -EPROTO);
	close(p[0]);
	close(p[1]);
	view_journal_free(j);
}
END_TEST

struct writer {
	struct view_journal *j;
	unsigned id;
};

static void *write_many(void *arg)
{
	struct writer *w = arg;
	char path[64];
	for (unsigned i = 0; i < 2000; i++) {
		/* Lengths vary so interleaved writes would show as torn records. */
		int n = snprintf(path, sizeof(path), "/w%u/%0*u", w->id, (int)(1 + i % 40), i);
		struct view_journal_rec rec = {
		    .type = VJ_INODE, .ino = (uint64_t)w->id * 100000 + i, .blob_len = (uint32_t)n};
		if (view_journal_append(w->j, &rec, path) < 0)
			return (void *)1;
	}
	return NULL;
}

static int check_record(void *arg, const struct view_journal_rec *rec, const void *blob)
{
	unsigned *n = arg;
	char want[64];
	unsigned id = (unsigned)(rec->ino / 100000), i = (unsigned)(rec->ino % 100000);
	snprintf(want, sizeof(want), "/w%u/%0*u", id, (int)(1 + i % 40), i);
	ck_assert_str_eq(blob, want);
	(*n)++;
	return 0;
}

START_TEST(test_concurrent_appends)
{
	struct view_journal *j;
	ck_assert_int_eq(view_journal_new("/mnt/c", &j), 0);
	pthread_t t[8];
	struct writer w[8];
	for (unsigned i = 0; i < 8; i++) {
		w[i] = (struct writer){j, i};
		ck_assert_int_eq(pthread_create(&t[i], NULL, write_many, &w[i]), 0);
	}
	for (unsigned i = 0; i < 8; i++) {
		void *rv;
		pthread_join(t[i], &rv);
		ck_assert_ptr_null(rv);
	}
	unsigned n = 0;
	ck_assert_int_eq(view_journal_replay(j, check_record, &n), 16000);
	ck_assert_uint_eq(n, 16000);
	view_journal_free(j);
}
END_TEST

Suite *view_journal_suite(void)
{
	Suite *s = suite_create("view_journal");
	TCase *tc = tcase_create("view_journal");
	tcase_add_test(tc, test_successor_reads_what_was_written);
	tcase_add_test(tc, test_handles);
	tcase_add_test(tc, test_bindings);
	tcase_add_test(tc, test_torn_tail);
	tcase_add_test(tc, test_foreign);
	tcase_add_test(tc, test_writes_in_flight);
	tcase_add_test(tc, test_ops_in_flight);
	tcase_add_test(tc, test_concurrent_appends);
	suite_add_tcase(s, tc);
	return s;
}
