// SPDX-License-Identifier: Apache-2.0
// Logging: one write(2) per message so lines from threads never interleave, and no line carries
// a credential (redact.h).
#include "log.h"
#include "redact.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct log_state log_state = {.max_level = LOG_INFO, .use_syslog = 0, .ident = "weir"};

static const char *const level_names[] = {"emerg",   "alert",  "crit", "err",
					  "warning", "notice", "info", "debug"};

void log_init(const char *ident, int max_level, int use_syslog)
{
	log_state.ident = ident;
	log_state.max_level = max_level;
	log_state.use_syslog = use_syslog;
	if (use_syslog)
		openlog(ident, LOG_PID, LOG_DAEMON);
}

int log_level_parse(const char *name)
{
	for (int i = 0; i < 8; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	if (strcmp(name, "warn") == 0)
		return LOG_WARNING;
	if (strcmp(name, "error") == 0)
		return LOG_ERR;
	return -EINVAL;
}

/* Control bytes a message carries (a newline or an escape sequence inside a path, a header or
 * a peer's name) are written as \xHH: one message is one line, and no value from outside can
 * forge a line or drive a terminal. A tab stays. Cuts at a whole escape when out is full. */
size_t log_escape_controls(const char *in, char *out, size_t cap)
{
	size_t o = 0;
	if (cap == 0)
		return 0;
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
			if (o + 4 >= cap)
				break;
			snprintf(out + o, cap - o, "\\x%02x", *p);
			o += 4;
		} else {
			if (o + 1 >= cap)
				break;
			out[o++] = (char)*p;
		}
	}
	out[o] = '\0';
	return o;
}

void log_emitv(int level, const char *file, int line, const char *fmt, va_list ap)
{
	int saved = errno;
	char buf[2048];
	char line_out[4096];
	if (log_state.use_syslog) {
		vsnprintf(buf, sizeof(buf), fmt, ap);
		redact_text(buf, sizeof(buf));
		log_escape_controls(buf, line_out, sizeof(line_out));
		syslog(level, "%s", line_out);
		errno = saved;
		return;
	}
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	int n = snprintf(buf, sizeof(buf), "%02d:%02d:%02d.%03ld %s[%d] %s: ", tm.tm_hour,
			 tm.tm_min, tm.tm_sec, (long)tv.tv_usec / 1000, log_state.ident,
			 (int)getpid(), level_names[level & 7]);
	if (level == LOG_DEBUG) {
		const char *base = strrchr(file, '/');
		n += snprintf(buf + n, sizeof(buf) - n, "%s:%d: ", base ? base + 1 : file, line);
	}
	if (n < (int)sizeof(buf))
		n += vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	if (n >= (int)sizeof(buf) - 1)
		n = sizeof(buf) - 2;
	buf[n] = '\0';
	/* Every line, whoever wrote it (curl errors, a UFS's message, a URL logged at debug):
	 * credentials never reach a log. */
	redact_text(buf, sizeof(buf) - 1);
	n = (int)log_escape_controls(buf, line_out, sizeof(line_out) - 1);
	line_out[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line_out, n);
	(void)w;
	errno = saved;
}

void log_emit(int level, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emitv(level, file, line, fmt, ap);
	va_end(ap);
}
