/* SPDX-License-Identifier: Apache-2.0 */
/* Prometheus text exposition at GET /metrics (libmicrohttpd, its own thread). The owner renders
 * the body on each request; nothing is cached. */
#pragma once

#include <stddef.h>

/* Writes the exposition into an owned, NUL-terminated malloc'd string; returns it or NULL. */
typedef char *(*metrics_render_fn)(void *userdata);

struct metrics;

/* At most this many connections of one client, and in all: a local user holding idle connections
 * takes only its own share, however many loopback addresses it connects from (conn_share.h: a
 * client on this host is its uid, any other its address), and each for timeout_s at most. */
#define METRICS_PER_CLIENT 8
#define METRICS_TOTAL 64

/* Listens on "host:port" (e.g. "127.0.0.1:9477") and answers only requests that carry the
 * bearer token held in token_path (metrics_token.h; read again on every request, answered 401
 * without it, 503 while the file cannot be read). A connection idle for timeout_s seconds is
 * closed; one beyond METRICS_PER_CLIENT of its client is closed at accept; with METRICS_TOTAL
 * held, a new client takes the oldest connection of the client holding the most (when that one
 * holds two more than it: conn_share.h), else it is closed. Returns 0 and an owned *ret, or -errno with a message in errbuf (the token file
 * unreadable or unsafe included). */
int metrics_start(const char *listen, const char *token_path, unsigned timeout_s,
		  metrics_render_fn render, void *userdata, struct metrics **ret, char *errbuf,
		  size_t errlen);
/* Stops serving and frees. NULL is fine. */
void metrics_stop(struct metrics *m);
