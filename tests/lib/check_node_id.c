// SPDX-License-Identifier: Apache-2.0
// A node's identity key: made once (mode 0600), the same on every later load; a file others may
// read, a link, or one of the wrong form is refused; a signature passes only for its own key,
// label and message.
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node_id.h"
#include "suites.h"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/weir-nodeid-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_made_once_and_kept)
{
	char path[128], err[512];
	snprintf(path, sizeof(path), "%s/node-id.key", dir);
	struct node_id *a = NULL, *b = NULL;
	ck_assert_int_eq(node_id_load(path, &a, err, sizeof(err)), 0);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert(node_id_pub_valid(node_id_public(a)));
	ck_assert_int_eq(node_id_load(path, &b, err, sizeof(err)), 0);
	ck_assert_str_eq(node_id_public(a), node_id_public(b));
	node_id_free(b);
	/* another node's key differs */
	char other[128];
	snprintf(other, sizeof(other), "%s/other.key", dir);
	ck_assert_int_eq(node_id_load(other, &b, err, sizeof(err)), 0);
	ck_assert_str_ne(node_id_public(a), node_id_public(b));
	node_id_free(a);
	node_id_free(b);
}
END_TEST

START_TEST(test_bad_files_refused)
{
	char path[128], err[512];
	struct node_id *id = NULL;
	snprintf(path, sizeof(path), "%s/k", dir);
	/* readable by others */
	ck_assert_int_eq(node_id_load(path, &id, err, sizeof(err)), 0);
	node_id_free(id);
	ck_assert_int_eq(chmod(path, 0644), 0);
	err[0] = '\0';
	ck_assert_int_lt(node_id_load(path, &id, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, path));
	/* a link to it: not followed */
	ck_assert_int_eq(chmod(path, 0600), 0);
	char link[128];
	snprintf(link, sizeof(link), "%s/link", dir);
	ck_assert_int_eq(symlink(path, link), 0);
	ck_assert_int_lt(node_id_load(link, &id, err, sizeof(err)), 0);
	/* a FIFO planted at the path is refused at once (opening it for reading would wait for a
	 * writer forever) */
	char fifo[128];
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ck_assert_int_lt(node_id_load(fifo, &id, err, sizeof(err)), 0);
	/* not 64 hex digits; the message never holds the bytes */
	const char *bad[] = {"", "zz", "SECRETSECRET\n",
			     "AAAA000000000000000000000000000000000000000000000000000000000001\n",
			     "aaaa00000000000000000000000000000000000000000000000000000000000\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(path, sizeof(path), "%s/bad%zu", dir, i);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(write(fd, bad[i], strlen(bad[i])), (ssize_t)strlen(bad[i]));
		close(fd);
		err[0] = '\0';
		ck_assert_int_eq(node_id_load(path, &id, err, sizeof(err)), -EINVAL);
		ck_assert_ptr_null(strstr(err, "SECRET"));
		ck_assert_ptr_nonnull(strstr(err, "64 lower-case hex digits"));
	}
}
END_TEST

START_TEST(test_signatures)
{
	char p1[128], p2[128], err[512];
	snprintf(p1, sizeof(p1), "%s/a", dir);
	snprintf(p2, sizeof(p2), "%s/b", dir);
	struct node_id *a = NULL, *b = NULL;
	ck_assert_int_eq(node_id_load(p1, &a, err, sizeof(err)), 0);
	ck_assert_int_eq(node_id_load(p2, &b, err, sizeof(err)), 0);
	const char *msg = "0123456789abcdef";
	char sig[NODE_ID_SIG_HEX], sigb[NODE_ID_SIG_HEX];
	ck_assert_int_eq(node_id_sign(a, NODE_ID_LABEL_REQUEST, msg, strlen(msg), sig), 0);
	ck_assert_uint_eq(strlen(sig), NODE_ID_SIG_HEX - 1);
	ck_assert_int_eq(
	    node_id_verify(node_id_public(a), NODE_ID_LABEL_REQUEST, msg, strlen(msg), sig), 0);
	/* another key, label or message; a changed signature */
	ck_assert_int_eq(
	    node_id_verify(node_id_public(b), NODE_ID_LABEL_REQUEST, msg, strlen(msg), sig),
	    -EACCES);
	ck_assert_int_eq(node_id_verify(node_id_public(a), "other-label", msg, strlen(msg), sig),
			 -EACCES);
	ck_assert_int_eq(
	    node_id_verify(node_id_public(a), NODE_ID_LABEL_REQUEST, "0123456789abcdeF", 16, sig),
	    -EACCES);
	/* the label and message are not one string: "x\ny" + "z" is never "x" + "y\nz" (a label
	 * holds no newline) */
	ck_assert_int_eq(node_id_sign(a, "x", "y\nz", 3, sigb), 0);
	ck_assert_int_eq(node_id_verify(node_id_public(a), "x\ny", "z", 1, sigb), -EINVAL);
	ck_assert_int_eq(node_id_sign(a, "x\ny", "z", 1, sigb), -ENOMEM);
	char bent[NODE_ID_SIG_HEX];
	memcpy(bent, sig, sizeof(bent));
	bent[10] = bent[10] == '0' ? '1' : '0';
	ck_assert_int_eq(
	    node_id_verify(node_id_public(a), NODE_ID_LABEL_REQUEST, msg, strlen(msg), bent),
	    -EACCES);
	/* malformed keys and signatures */
	ck_assert_int_eq(node_id_verify("abc", NODE_ID_LABEL_REQUEST, msg, strlen(msg), sig),
			 -EINVAL);
	ck_assert_int_eq(
	    node_id_verify(node_id_public(a), NODE_ID_LABEL_REQUEST, msg, strlen(msg), "00"),
	    -EINVAL);
	ck_assert_int_eq(
	    node_id_verify(NULL, NODE_ID_LABEL_REQUEST, msg, strlen(msg), sig), -EINVAL);
	node_id_free(a);
	node_id_free(b);
}
END_TEST

struct racer {
	const char *path;
	char pub[NODE_ID_PUB_HEX];
	int ret;
};

static void *race_load(void *arg)
{
	struct racer *r = arg;
	struct node_id *id = NULL;
	char err[512];
	r->ret = node_id_load(r->path, &id, err, sizeof(err));
	if (r->ret == 0) {
		snprintf(r->pub, sizeof(r->pub), "%s", node_id_public(id));
		node_id_free(id);
	}
	return NULL;
}

/* Starts racing to make the key (a node starting while --print-node-id runs) all get the one
 * key that won: none reads a short file, none makes a second. */
START_TEST(test_racing_starts_agree)
{
	for (int round = 0; round < 20; round++) {
		char path[128];
		snprintf(path, sizeof(path), "%s/race%d.key", dir, round);
		struct racer r[4];
		pthread_t t[4];
		for (int i = 0; i < 4; i++) {
			r[i] = (struct racer){.path = path, .ret = 1};
			ck_assert_int_eq(pthread_create(&t[i], NULL, race_load, &r[i]), 0);
		}
		for (int i = 0; i < 4; i++)
			ck_assert_int_eq(pthread_join(t[i], NULL), 0);
		for (int i = 0; i < 4; i++) {
			ck_assert_int_eq(r[i].ret, 0);
			ck_assert_str_eq(r[i].pub, r[0].pub);
		}
	}
}
END_TEST

Suite *node_id_suite(void)
{
	Suite *s = suite_create("node_id");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_made_once_and_kept);
	tcase_add_test(tc, test_bad_files_refused);
	tcase_add_test(tc, test_signatures);
	tcase_add_test(tc, test_racing_starts_agree);
	suite_add_tcase(s, tc);
	return s;
}
