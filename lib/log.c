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

void log_emitv(int level, const char *file, int line, const char *fmt, va_list ap)
{
	int saved = errno;
	char buf[2048];
	if (log_state.use_syslog) {
		vsnprintf(buf, sizeof(buf), fmt, ap);
		redact_text(buf, sizeof(buf));
		syslog(level, "%s", buf);
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
	n = (int)strlen(buf);
	buf[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, buf, n);
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
