// SPDX-License-Identifier: Apache-2.0
// Progress of a DataLoad as the controller reports it (it polls weir-node each resync).
// On a terminal one line redrawn in place; otherwise a line every 5 s and one at the end.
#include "dataload_watch.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "quantity.h"
#include "table.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *last_condition(const struct conditions *c)
{
	return c->n && c->items[c->n - 1].message ? c->items[c->n - 1].message : "";
}

static void progress_line(const struct objmodel *dl, double rate, char *buf, size_t len, bool bar)
{
	const struct dataload *d = &dl->dataload;
	char done[32], total[32], rt[32], eta[32] = "";
	double frac = d->status.bytes_total
			  ? (double)d->status.bytes_done / (double)d->status.bytes_total
			  : 0;
	if (frac > 1)
		frac = 1;
	quantity_format(d->status.bytes_done, done, sizeof(done));
	quantity_format(d->status.bytes_total, total, sizeof(total));
	quantity_format((uint64_t)rate, rt, sizeof(rt));
	if (rate > 0 && d->status.bytes_total > d->status.bytes_done) {
		char a[32];
		snprintf(
		    eta, sizeof(eta), "  ETA %s",
		    table_format_age(
			(int64_t)((double)(d->status.bytes_total - d->status.bytes_done) / rate) +
			    1,
			a, sizeof(a)));
	}
	char barbuf[32] = "";
	if (bar) {
		int w = 20, fill = (int)(frac * w + 0.5);
		barbuf[0] = '[';
		for (int i = 0; i < w; i++)
			barbuf[1 + i] = i < fill ? '#' : '.';
		barbuf[w + 1] = ']';
		barbuf[w + 2] = ' ';
		barbuf[w + 3] = '\0';
	}
	snprintf(buf, len, "%s %s %s%5.1f%%  %s/%s  %llu/%llu files  %s/s%s", dl->meta.name,
		 dataload_phase_name(d->status.phase), barbuf, frac * 100, done, total,
		 (unsigned long long)d->status.files_done,
		 (unsigned long long)d->status.files_total, rt, eta);
}

int dataload_watch_follow(const struct controller_client *cc, const char *cmd, const char *ns,
			  const char *name, FILE *out)
{
	bool tty = isatty(fileno(out));
	double last_print = 0, rate = 0;
	enum dataload_phase last_phase = DATALOAD_PHASE_NONE;
	char line[1024];
	bool drawn = false;
	for (;;) {
		struct objmodel_list *l = NULL;
		int r = controller_client_get(cc, cmd, "DataLoad", ns, name, &l);
		if (r < 0) {
			if (drawn)
				fputc('\n', out);
			return r;
		}
		if (l->n != 1) {
			objmodel_list_free(l);
			fprintf(stderr, "weir %s: dataload %s/%s disappeared\n", cmd, ns, name);
			return -ENOENT;
		}
		const struct objmodel *dl = l->items[0];
		const struct dataload *d = &dl->dataload;
		double t = now_s();
		/* The average since the load started: the node reports bytes as files finish, so
		 * an instantaneous rate would swing between zero and bursts. */
		if (d->status.phase == DATALOAD_PHASE_EXECUTING) {
			int64_t elapsed = (int64_t)time(NULL) - d->status.start_time;
			if (d->status.start_time > 0 && elapsed > 0)
				rate = (double)d->status.bytes_done / (double)elapsed;
		}
		bool ended = d->status.phase == DATALOAD_PHASE_COMPLETE ||
			     d->status.phase == DATALOAD_PHASE_FAILED;
		if (ended) {
			char a[32], b[32];
			if (drawn)
				fputs(tty ? "\r\033[K" : "", out);
			if (d->status.phase == DATALOAD_PHASE_COMPLETE)
				fprintf(
				    out,
				    "dataload.data.fluid.io/%s Complete: %s, %llu files in %s\n",
				    name, quantity_format(d->status.bytes_done, b, sizeof(b)),
				    (unsigned long long)d->status.files_done,
				    table_format_age(d->status.duration, a, sizeof(a)));
			else
				fprintf(out, "dataload.data.fluid.io/%s Failed: %s\n", name,
					last_condition(&d->status.conditions));
			fflush(out);
			int rc = d->status.phase == DATALOAD_PHASE_COMPLETE ? 0 : 1;
			objmodel_list_free(l);
			return rc;
		}
		if (d->status.phase != DATALOAD_PHASE_EXECUTING) {
			const char *why = last_condition(&d->status.conditions);
			snprintf(line, sizeof(line), "%s Pending%s%s", dl->meta.name,
				 *why ? ": " : "", why);
		} else {
			progress_line(dl, rate, line, sizeof(line), tty);
		}
		if (tty) {
			fprintf(out, "\r\033[K%s", line);
			drawn = true;
			fflush(out);
		} else if (t - last_print >= 5 || d->status.phase != last_phase) {
			fprintf(out, "%s\n", line);
			fflush(out);
			last_print = t;
		}
		last_phase = d->status.phase;
		objmodel_list_free(l);
		struct timespec ts = {0, (tty ? 250 : 500) * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}
