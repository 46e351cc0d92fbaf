// SPDX-License-Identifier: Apache-2.0
// Peer block server: checks who asks (MAC, time, membership), then what for (path, version,
// block within the object), then answers from the source's fetcher with no peer behind it.
#include "peer_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "log.h"

struct peer_server {
	struct MHD_Daemon *d;
	struct peer_server_config cfg;
};

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	if (LOG_DEBUG <= log_state.max_level)
		log_emitv(LOG_DEBUG, __FILE__, __LINE__, fmt, ap);
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *msg)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(strlen(msg), (void *)msg, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	enum MHD_Result ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* A UFS path as ufs.h defines them: starts with "/", no empty, "." or ".." component. */
static bool path_ok(const char *p)
{
	if (!p || p[0] != '/' || strlen(p) > 4096)
		return false;
	if (p[1] == '\0')
		return false; /* the root is a directory, never an object */
	for (const char *c = p + 1;;) {
		const char *end = strchr(c, '/');
		size_t len = end ? (size_t)(end - c) : strlen(c);
		if (len == 0 || (len == 1 && c[0] == '.') ||
		    (len == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (!end)
			return true;
		c = end + 1;
	}
}

static bool parse_u64(const char *s, uint64_t *ret)
{
	if (!s || !*s || *s == '-')
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*ret = v;
	return true;
}

static bool parse_i64(const char *s, int64_t *ret)
{
	if (!s || !*s)
		return false;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end)
		return false;
	*ret = v;
	return true;
}

static const char *arg(struct MHD_Connection *conn, const char *name)
{
	return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
}

static const char *header(struct MHD_Connection *conn, const char *name)
{
	return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

/* A block being sent: the source and, for a tier range, the pin, both held until the
 * response is done (request_done) so eviction cannot punch the range while it is sent. */
struct serving {
	struct peer_server *ps;
	struct source *src;
	uint64_t obj, block;
	bool pinned;
};

static void serving_end(struct serving *sv)
{
	if (sv->pinned)
		block_store_release(sv->src->store, sv->obj, sv->block);
	if (sv->src)
		sv->ps->cfg.sources.release(sv->ps->cfg.sources.userdata, sv->src);
	free(sv);
}

static void request_done(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	if (*con_cls)
		serving_end(*con_cls);
	*con_cls = NULL;
}

/* Finds the block: a pinned tier range (sv->pinned; sent straight from the tier file, its
 * checksum from the index) or bytes in memory (*ret_mem, owned). Returns 0 or -errno. */
static int block_get(struct serving *sv, const struct peer_request *rq, struct fetch_result *ret)
{
	struct source *src = sv->src;
	struct ufs_attr attr = {.size = rq->size, .mtime = rq->mtime};
	snprintf(attr.etag, sizeof(attr.etag), "%s", rq->etag ? rq->etag : "");
	uint64_t nblocks = (rq->size + src->block_size - 1) / src->block_size;
	if (rq->block >= nblocks)
		return -ERANGE;
	/* The version asked for must be the one this node knows (validated within a minute):
	 * a stale asker must not make it drop a newer version's blocks, nor a newer one fetch
	 * over its own. Either way the asker reads the UFS, which settles who is stale. */
	struct ufs_attr cur;
	bool changed;
	int r = meta_cache_validate(src->meta, rq->path, 60000, false, &cur, &changed);
	if (r < 0)
		return r;
	if (cur.is_dir)
		return -ENOENT;
	if (!ufs_attr_same_version(&cur, &attr))
		return -ESTALE;
	r = block_store_object_sync(src->store, rq->path, &attr, &sv->obj);
	if (r < 0)
		return r;
	r = fetcher_get_local(src->fetcher, sv->obj, rq->path, &attr, rq->block, ret);
	if (r < 0)
		return r;
	sv->block = rq->block;
	sv->pinned = !ret->mem;
	return 0;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct peer_server *ps = cls;
	struct cluster_stats *st = cluster_get_stats(ps->cfg.cluster);
	if (strcmp(method, "GET") != 0 || strcmp(url, "/v1/block") != 0)
		return reply_text(conn, MHD_HTTP_NOT_FOUND, "weir-node serves GET /v1/block\n");
	struct peer_request rq = {
	    .node = header(conn, "X-Weir-Node"),
	    .source = arg(conn, "source"),
	    .path = arg(conn, "path"),
	    .etag = arg(conn, "etag"),
	};
	const char *mac = header(conn, "X-Weir-Auth");
	if (!rq.node || !mac || !parse_i64(header(conn, "X-Weir-Time"), &rq.time) || !rq.source ||
	    !rq.path || !rq.etag || !parse_u64(arg(conn, "block"), &rq.block) ||
	    !parse_u64(arg(conn, "size"), &rq.size) || !parse_i64(arg(conn, "mtime"), &rq.mtime))
		return reply_text(conn, MHD_HTTP_BAD_REQUEST,
				  "a block request needs X-Weir-Node, X-Weir-Time, X-Weir-Auth and "
				  "source, path, block, size, mtime, etag\n");
	/* With members from the API, the key is the proof: a node that just joined is served
	 * before this node's view of the Leases has it. */
	int r = cluster_is_dynamic(ps->cfg.cluster) || cluster_has_member(ps->cfg.cluster, rq.node)
		    ? 0
		    : -EPERM;
	if (r >= 0)
		r = peer_auth_verify_request(ps->cfg.key, &rq, mac, (int64_t)time(NULL),
					     ps->cfg.skew_s);
	if (r < 0) {
		atomic_fetch_add(&st->refused, 1);
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		char addr[64] = "?";
		if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr,
				  addr, sizeof(addr));
		log_warn("refused a block request from %s claiming to be node \"%.64s\": %s", addr,
			 rq.node,
			 r == -ETIME ? "its time is too far from ours"
				     : "not a member, or its MAC does not match our peer key");
		return reply_text(conn, MHD_HTTP_FORBIDDEN, "refused\n");
	}
	if (!path_ok(rq.path) || strlen(rq.etag) >= UFS_ETAG_MAX)
		return reply_text(conn, MHD_HTTP_BAD_REQUEST, "bad path or etag\n");
	struct serving *sv = calloc(1, sizeof(*sv));
	if (!sv)
		return MHD_NO;
	sv->ps = ps;
	if (ps->cfg.sources.acquire(ps->cfg.sources.userdata, rq.source, &sv->src) < 0) {
		free(sv);
		return reply_text(conn, MHD_HTTP_NOT_FOUND, "no such source open here\n");
	}
	*con_cls = sv; /* request_done lets go of it, whatever happens from here */
	struct fetch_result fr;
	r = block_get(sv, &rq, &fr);
	if (r < 0) {
		log_debug("peer %s: block %" PRIu64 " of \"%s\" in source %s: %s", rq.node,
			  rq.block, rq.path, rq.source, strerror(-r));
		switch (r) {
		case -ERANGE:
			return reply_text(conn, MHD_HTTP_RANGE_NOT_SATISFIABLE, "no such block\n");
		case -ESTALE:
			return reply_text(conn, MHD_HTTP_PRECONDITION_FAILED, "other version\n");
		case -ENOENT:
			return reply_text(conn, MHD_HTTP_NOT_FOUND, "no such object\n");
		case -EAGAIN:
			return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "busy\n");
		default:
			return reply_text(conn, MHD_HTTP_BAD_GATEWAY, "cannot read the block\n");
		}
	}
	uint32_t len = fr.len;
	uint64_t sum;
	struct MHD_Response *resp;
	if (fr.mem) {
		sum = XXH3_64bits(fr.mem, len);
		resp = MHD_create_response_from_buffer(len, fr.mem, MHD_RESPMEM_MUST_FREE);
		if (!resp)
			free(fr.mem);
	} else {
		/* Straight from the tier file (sendfile), pinned until request_done; the
		 * response closes its own descriptor. */
		sum = fr.ref.csum;
		int fd = fcntl(fr.ref.fd, F_DUPFD_CLOEXEC, 0);
		resp =
		    fd >= 0 ? MHD_create_response_from_fd_at_offset64(len, fd, fr.ref.off) : NULL;
		if (!resp && fd >= 0)
			close(fd);
	}
	if (!resp)
		return MHD_NO;
	char sumhex[24], rmac[PEER_AUTH_MAC_HEX];
	snprintf(sumhex, sizeof(sumhex), "%016" PRIx64, sum);
	peer_auth_sign_reply(ps->cfg.key, mac, len, sum, rmac);
	MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
	MHD_add_response_header(resp, "X-Weir-Xxh3", sumhex);
	MHD_add_response_header(resp, "X-Weir-Auth", rmac);
	enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	atomic_fetch_add(&st->bytes_out, len);
	atomic_fetch_add(&st->blocks_out, 1);
	return ret;
}

int peer_server_start(const struct peer_server_config *cfg, struct peer_server **ret, char *errbuf,
		      size_t errlen)
{
	char host[64];
	const char *colon = strrchr(cfg->listen, ':');
	char *end = NULL;
	long port = colon ? strtol(colon + 1, &end, 10) : 0;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (!colon || (size_t)(colon - cfg->listen) >= sizeof(host) || !end || *end || port <= 0 ||
	    port > 65535) {
		snprintf(errbuf, errlen, "peer-listen \"%s\" is not IPv4:PORT", cfg->listen);
		return -EINVAL;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - cfg->listen), cfg->listen);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		snprintf(errbuf, errlen, "peer-listen \"%s\" is not IPv4:PORT", cfg->listen);
		return -EINVAL;
	}
	struct peer_server *ps = calloc(1, sizeof(*ps));
	if (!ps)
		return -ENOMEM;
	ps->cfg = *cfg;
	if (ps->cfg.skew_s <= 0)
		ps->cfg.skew_s = 60;
	ps->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
				     MHD_USE_POLL | MHD_USE_ERROR_LOG,
				 0, NULL, NULL, answer, ps, MHD_OPTION_SOCK_ADDR,
				 (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_TIMEOUT,
				 (unsigned)120, MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL,
				 MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
	if (!ps->d) {
		snprintf(errbuf, errlen,
			 "cannot listen on %s for peers (in use, or not an address "
			 "of this host?)",
			 cfg->listen);
		free(ps);
		return -EADDRINUSE;
	}
	*ret = ps;
	return 0;
}

void peer_server_stop(struct peer_server *ps)
{
	if (!ps)
		return;
	MHD_stop_daemon(ps->d);
	free(ps);
}
