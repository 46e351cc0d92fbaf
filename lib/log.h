/* SPDX-License-Identifier: Apache-2.0 */
/* One logging module for every weir binary: syslog levels, stderr or syslog.
 * The macros test the level before evaluating their arguments. */
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <syslog.h>

struct log_state {
	int max_level;	   /* messages above this level are dropped */
	int use_syslog;	   /* 1: syslog(3), 0: stderr with a timestamp */
	const char *ident; /* program name prefix */
};

/* The one process-wide logging state; set by main() before threads start. */
extern struct log_state log_state;

void log_init(const char *ident, int max_level, int use_syslog);
/* Parses "debug", "info", "notice", "warning", "err"; returns the level or -EINVAL. */
int log_level_parse(const char *name);
void log_emit(int level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Copies in to out (cap bytes with the NUL), control bytes but tab written as \xHH; returns
 * the length written. Never splits an escape. */
size_t log_escape_controls(const char *in, char *out, size_t cap);
void log_emitv(int level, const char *file, int line, const char *fmt, va_list ap);

#define log_at(level, ...)                                                                         \
	do {                                                                                       \
		if ((level) <= log_state.max_level)                                                \
			log_emit((level), __FILE__, __LINE__, __VA_ARGS__);                        \
	} while (0)

#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_at(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_at(LOG_NOTICE, __VA_ARGS__)
#define log_warn(...) log_at(LOG_WARNING, __VA_ARGS__)
#define log_err(...) log_at(LOG_ERR, __VA_ARGS__)
