/* SPDX-License-Identifier: Apache-2.0 */
/* Prometheus text exposition at GET /metrics (libmicrohttpd, its own thread). The owner renders
 * the body on each request; nothing is cached. */
#pragma once

#include <stddef.h>

/* Writes the exposition into an owned, NUL-terminated malloc'd string; returns it or NULL. */
typedef char *(*metrics_render_fn)(void *userdata);

struct metrics;

/* Listens on "host:port" (e.g. "127.0.0.1:9477"). Returns 0 and an owned *ret, or -errno with
 * a message in errbuf. */
int metrics_start(const char *listen, metrics_render_fn render, void *userdata,
		  struct metrics **ret, char *errbuf, size_t errlen);
/* Stops serving and frees. NULL is fine. */
void metrics_stop(struct metrics *m);
