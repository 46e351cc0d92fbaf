// SPDX-License-Identifier: Apache-2.0
// One message is one line: a newline or an escape sequence inside a value from outside (a
// CSI target path, a listing's name, a peer's header) is written as \xHH and cannot forge a
// line of its own or drive the terminal of whoever reads the log.
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "suites.h"

/* What one log_warn with the argument arg writes to stderr, read back through a pipe. */
static void logged(const char *arg, char *got, size_t cap)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	int saved = dup(STDERR_FILENO);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_eq(dup2(p[1], STDERR_FILENO), STDERR_FILENO);
	log_warn("target %s refused", arg);
	ck_assert_int_eq(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	close(p[1]);
	ssize_t n = read(p[0], got, cap - 1);
	close(p[0]);
	ck_assert_int_gt(n, 0);
	got[n] = '\0';
}

START_TEST(a_newline_in_a_value_does_not_start_a_line)
{
	char got[8192];
	logged("/pods/x\n12:00:00.000 weir-csi[1] err: forged\r\x1b[2J", got, sizeof(got));
	ck_assert_msg(strchr(got, '\n') == got + strlen(got) - 1, "one line, got [%s]", got);
	ck_assert_ptr_null(strchr(got, '\r'));
	ck_assert_ptr_null(strchr(got, '\x1b'));
	ck_assert_ptr_nonnull(strstr(got, "/pods/x\\x0a12:00:00.000 weir-csi[1] err: forged"
					  "\\x0d\\x1b[2J refused\n"));
}
END_TEST

START_TEST(a_tab_and_printable_bytes_stay_as_they_are)
{
	char got[8192];
	logged("a\tb \xc3\xa9 %s ~", got, sizeof(got));
	ck_assert_ptr_nonnull(strstr(got, "target a\tb \xc3\xa9 %s ~ refused\n"));
}
END_TEST

START_TEST(an_escape_is_never_cut_in_half)
{
	char out[10];
	size_t n = log_escape_controls("ab\n\n\n", out, sizeof(out));
	ck_assert_str_eq(out, "ab\\x0a");
	ck_assert_uint_eq(n, 6);
	ck_assert_uint_eq(log_escape_controls("x", out, 1), 0);
	ck_assert_str_eq(out, "");
	char all[4096];
	char in[2048];
	memset(in, '\n', sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	n = log_escape_controls(in, all, sizeof(all));
	ck_assert_uint_eq(n, strlen(all));
	ck_assert_uint_lt(n, sizeof(all));
	ck_assert_uint_eq(n % 4, 0);
}
END_TEST

Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, a_newline_in_a_value_does_not_start_a_line);
	tcase_add_test(tc, a_tab_and_printable_bytes_stay_as_they_are);
	tcase_add_test(tc, an_escape_is_never_cut_in_half);
	suite_add_tcase(s, tc);
	return s;
}
