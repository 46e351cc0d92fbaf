// SPDX-License-Identifier: Apache-2.0
// /metrics over libmicrohttpd's internal thread; one render per scrape.
#include "metrics.h"

#include <stdarg.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn_share.h"
#include "log.h"
#include "metrics_token.h"

struct metrics {
	struct MHD_Daemon *d;
	metrics_render_fn render;
	void *userdata;
	char *token_path; /* immutable; read on every scrape (a rotated Secret needs no restart) */
	struct conn_share *share; /* each client's share of the connections; MHD's thread only */
};

/* libmicrohttpd's own messages go through weir's log, at debug: the caller says what failed. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	if (LOG_DEBUG <= log_state.max_level)
		log_emitv(LOG_DEBUG, __FILE__, __LINE__, fmt, ap);
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct metrics *m = cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	conn_share_mhd_request(m->share, conn, true); /* not stale while it is answered */
	if (strcmp(method, "GET") != 0 || strcmp(url, "/metrics") != 0) {
		static const char nf[] = "not found: weir-node serves /metrics\n";
		resp = MHD_create_response_from_buffer(sizeof(nf) - 1, (void *)nf,
						       MHD_RESPMEM_PERSISTENT);
		ret = MHD_queue_response(conn, MHD_HTTP_NOT_FOUND, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	/* The page names every namespace, Dataset and mountpoint: only the token's holder sees it.
	 * Nothing of the page is rendered before the check. */
	unsigned char digest[32];
	char err[PATH_MAX + 200];
	if (metrics_token_load(m->token_path, digest, err, sizeof(err)) < 0) {
		log_warn("%s: /metrics refused until it is fixed", err);
		static const char un[] = "/metrics is unavailable: weir-node cannot read its token "
					 "file (its log says why)\n";
		resp = MHD_create_response_from_buffer(sizeof(un) - 1, (void *)un,
						       MHD_RESPMEM_PERSISTENT);
		ret = MHD_queue_response(conn, MHD_HTTP_SERVICE_UNAVAILABLE, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	if (!metrics_token_matches(digest, auth)) {
		static const char un[] = "unauthorized: /metrics needs \"Authorization: Bearer "
					 "<token>\", the token in weir-node's metrics-token-file\n";
		resp = MHD_create_response_from_buffer(sizeof(un) - 1, (void *)un,
						       MHD_RESPMEM_PERSISTENT);
		MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"weir-node\"");
		ret = MHD_queue_response(conn, MHD_HTTP_UNAUTHORIZED, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	char *body = m->render(m->userdata);
	if (!body)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* A request answered (or failed): its connection is stale if it sends no other in time. */
static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct metrics *m = cls;
	conn_share_mhd_request(m->share, c, false);
}

int metrics_start(const char *listen, const char *token_path, unsigned timeout_s,
		  metrics_render_fn render, void *userdata, struct metrics **ret, char *errbuf,
		  size_t errlen)
{
	char host[256];
	const char *colon = strrchr(listen, ':');
	if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof(host)) {
		snprintf(errbuf, errlen, "metrics address \"%s\" is not HOST:PORT", listen);
		return -EINVAL;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
	char *end;
	long port = strtol(colon + 1, &end, 10);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (*end || port <= 0 || port > 65535 || inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		snprintf(errbuf, errlen, "metrics address \"%s\" is not IPv4-HOST:PORT", listen);
		return -EINVAL;
	}
	/* a token file that cannot serve is refused now, not at the first scrape */
	unsigned char digest[32];
	int r = metrics_token_load(token_path, digest, errbuf, errlen);
	if (r < 0)
		return r;
	struct metrics *m = calloc(1, sizeof(*m));
	if (!m || !(m->token_path = strdup(token_path)) ||
	    conn_share_new(METRICS_PER_CLIENT, METRICS_TOTAL, &m->share) < 0) {
		if (m)
			free(m->token_path);
		free(m);
		return -ENOMEM;
	}
	m->render = render;
	m->userdata = userdata;
	/* epoll, not select: weir-node holds many descriptors, and select drops a connection
	 * whose descriptor is past FD_SETSIZE */
	m->d = MHD_start_daemon(
	    MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, answer, m,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_TIMEOUT, timeout_s,
	    MHD_OPTION_NOTIFY_CONNECTION, conn_share_notify, m->share, MHD_OPTION_NOTIFY_COMPLETED,
	    completed, m, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)CONN_SHARE_MHD_LIMIT(METRICS_TOTAL), MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
	    NULL, MHD_OPTION_END);
	if (!m->d) {
		snprintf(errbuf, errlen, "cannot listen on %s for /metrics (in use?)", listen);
		conn_share_free(m->share);
		free(m->token_path);
		free(m);
		return -EADDRINUSE;
	}
	*ret = m;
	return 0;
}

void metrics_stop(struct metrics *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->d);
	conn_share_free(m->share);
	free(m->token_path);
	free(m);
}
