// SPDX-License-Identifier: Apache-2.0
// Thread classes (lib/thread_class.h): each sets the calling thread's policy and slice and keeps
// its nice (sched_setattr sets the nice too: a class that reset it to 0 undid the nice -10 a
// benchmark or an operator gave weir-node, and its threads lost the CPU to everyone else).
#include <check.h>
#include <errno.h>
#include <linux/sched.h>
#include <linux/sched/types.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "suites.h"
#include "thread_class.h"

static struct sched_attr self_attr(void)
{
	struct sched_attr a;
	memset(&a, 0, sizeof(a));
	ck_assert_int_eq(syscall(SYS_sched_getattr, 0, &a, sizeof(a), 0), 0);
	return a;
}

/* The kernel reports a custom slice (Linux >= 6.12) */
static bool slices(void)
{
	struct sched_attr a = self_attr();
	return a.sched_runtime != 0;
}

START_TEST(classes_set_policy_and_slice_and_keep_nice)
{
	/* raising one's own nice needs no privilege */
	ck_assert_int_eq(setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 7), 0);

	ck_assert_int_eq(thread_class_set(THREAD_CLASS_BULK), 0);
	struct sched_attr a = self_attr();
	ck_assert_uint_eq(a.sched_policy, SCHED_BATCH);
	ck_assert_int_eq(a.sched_nice, 7);
	if (slices())
		ck_assert_uint_eq(a.sched_runtime, 10000000);

	ck_assert_int_eq(thread_class_set(THREAD_CLASS_REQUEST), 0);
	a = self_attr();
	ck_assert_uint_eq(a.sched_policy, SCHED_NORMAL);
	ck_assert_int_eq(a.sched_nice, 7);
	if (slices())
		ck_assert_uint_eq(a.sched_runtime, 100000);
}
END_TEST

Suite *thread_class_suite(void)
{
	Suite *s = suite_create("thread_class");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, classes_set_policy_and_slice_and_keep_nice);
	suite_add_tcase(s, tc);
	return s;
}
