// SPDX-License-Identifier: Apache-2.0
// gRPC over nghttp2 server sessions. nghttp2 owns HTTP/2 (flow control, PING, SETTINGS,
// HPACK); this file owns the gRPC layer: a stream's body is collected up to GRPC_MAX_MESSAGE,
// dispatched when the client half-closes, and answered with HEADERS + DATA + trailers, or with
// trailers only when the call fails. Nothing a peer sends sizes an allocation unchecked.
#include "grpc_server.h"

#include <errno.h>
#include <fcntl.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "log.h"
#include "strmap.h"

#define MAX_CONNS 128
#define MAX_STREAMS 64
#define MAX_LISTENERS 4
#define MAX_WORKERS 16
/* What the unfinished requests of one connection may hold: a few of the largest at once. A
 * client that never ends its streams pinned 1 MiB per stream, 64 streams per connection. */
#define CONN_MAX_BUFFERED (4u << 20)
/* What one request may take once unpacked, and all the requests handed to the pool together:
 * protobuf-c keeps every unknown field, and a 1 MiB request of empty ones took 29 MB; the
 * requests of closed connections stay queued too. A kubelet's request takes a few KiB. */
#define UNPACK_MAX (4u << 20)
#define JOBS_MAX_MEM (32u << 20)

struct listener {
	int fd;
	char path[108];
	struct strmap *methods; /* path -> const struct grpc_method * */
	void *ctx;
};

struct grpc_stream {
	LIST_ENTRY(grpc_stream) link; /* in its connection's streams */
	int32_t id;
	char path[256];
	bool path_too_long, is_post, is_grpc;
	int err; /* a framing error seen while the body arrived (-EMSGSIZE...), else 0 */
	uint8_t *in;
	size_t in_len, in_cap;
	struct grpc_reply reply;
	size_t out_off;
	int status;
};

struct grpc_conn {
	LIST_ENTRY(grpc_conn) link;
	unsigned jobs;	     /* handler calls in the pool for this connection (loop thread only) */
	long long active_ms; /* CLOCK_MONOTONIC: accepted, or the peer's last bytes */
	size_t in_bytes;     /* the request buffers of its streams (in_cap summed) */
	bool closed;	     /* session and fd gone; freed when jobs reaches 0 */
	struct grpc_server *srv;
	struct listener *l;
	int fd; /* -1 for a memory connection */
	nghttp2_session *session;
	/* every stream with user data: nghttp2_session_del does not report open streams closed,
	 * so conn_close frees what is left here */
	LIST_HEAD(, grpc_stream) streams;
	bool broken;
};

/* One handler call handed to the pool. The loop thread owns it until it is queued, a worker
 * until it is on done, the loop thread again after; its stream is found again by id, since the
 * peer may reset the stream (or drop the connection) while the handler runs. */
struct grpc_job {
	TAILQ_ENTRY(grpc_job) link;
	struct grpc_conn *conn;
	int32_t stream_id;
	const struct grpc_method *m;
	void *ctx;
	ProtobufCMessage *req;
	size_t req_mem; /* what unpacking req took, counted in the server's jobs_mem */
	struct grpc_reply reply;
	int result;
};
TAILQ_HEAD(job_queue, grpc_job);

struct grpc_server {
	struct listener listeners[MAX_LISTENERS];
	size_t n_listeners;
	LIST_HEAD(, grpc_conn) conns;
	size_t n_conns;
	int stop_pipe[2];
	/* the pool: 0 workers = handlers run on the loop thread (tests, the fuzzer) */
	unsigned n_workers;
	pthread_t workers[MAX_WORKERS];
	int done_fd; /* eventfd: a worker finished a job */
	/* lock guards todo, done and stopping: only queue operations happen under it, never a
	 * handler, I/O or a wait other than on cond */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job_queue todo, done;
	bool stopping;
	size_t jobs_mem; /* the unpacked requests of the jobs not yet freed (loop thread only) */
};

/* protobuf-c's allocator for a request, counting what it takes and failing past limit. Blocks
 * are malloc's own, so the message is freed with the default allocator. */
struct unpack_count {
	size_t used, limit;
	bool over; /* an allocation was refused */
};

static void *count_alloc(void *data, size_t size)
{
	struct unpack_count *u = data;
	size_t cost = size + 16; /* malloc's header */
	if (u->used + cost > u->limit) {
		u->over = true;
		return NULL;
	}
	void *p = malloc(size);
	if (p)
		u->used += cost;
	return p;
}

static void count_free(void *data, void *p)
{
	free(p);
}

int grpc_reply_set(struct grpc_reply *rp, const ProtobufCMessage *resp)
{
	size_t len;
	uint8_t *b = grpc_frame_pack(resp, &len);
	if (!b)
		return -ENOMEM;
	free(rp->body);
	rp->body = b;
	rp->len = len;
	return 0;
}

int grpc_reply_error(struct grpc_reply *rp, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rp->message, sizeof(rp->message), fmt, ap);
	va_end(ap);
	return err;
}

static void stream_free(struct grpc_stream *s)
{
	if (!s)
		return;
	free(s->in);
	free(s->reply.body);
	free(s);
}

/* ---- nghttp2 callbacks ---- */

static ssize_t send_cb(nghttp2_session *session, const uint8_t *data, size_t length, int flags,
		       void *user_data)
{
	struct grpc_conn *c = user_data;
	if (c->fd < 0)
		return (ssize_t)length;
	ssize_t w = send(c->fd, data, length, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return NGHTTP2_ERR_WOULDBLOCK;
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	return w;
}

static int begin_headers_cb(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	struct grpc_stream *s = calloc(1, sizeof(*s));
	if (!s)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	s->id = frame->hd.stream_id;
	if (nghttp2_session_set_stream_user_data(session, s->id, s) != 0) {
		free(s);
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	struct grpc_conn *c = user_data;
	LIST_INSERT_HEAD(&c->streams, s, link);
	return 0;
}

static bool header_is(const uint8_t *name, size_t len, const char *want)
{
	return len == strlen(want) && memcmp(name, want, len) == 0;
}

static int header_cb(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
		     void *user_data)
{
	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	struct grpc_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (!s)
		return 0;
	if (header_is(name, namelen, ":path")) {
		if (valuelen >= sizeof(s->path)) {
			s->path_too_long = true;
		} else {
			memcpy(s->path, value, valuelen);
			s->path[valuelen] = '\0';
		}
	} else if (header_is(name, namelen, ":method")) {
		s->is_post = header_is(value, valuelen, "POST");
	} else if (header_is(name, namelen, "content-type")) {
		/* application/grpc, application/grpc+proto; not application/grpc-web */
		static const char ct[] = "application/grpc";
		size_t l = sizeof(ct) - 1;
		s->is_grpc = valuelen >= l && memcmp(value, ct, l) == 0 &&
			     (valuelen == l || value[l] == '+' || value[l] == ';');
	}
	return 0;
}

static int data_chunk_cb(nghttp2_session *session, uint8_t flags, int32_t stream_id,
			 const uint8_t *data, size_t len, void *user_data)
{
	struct grpc_stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
	if (!s || s->err)
		return 0;
	/* Decide on the header as soon as it is here: an oversize length is refused before its
	 * bytes are kept. */
	if (s->in_len + len > GRPC_FRAME_HEADER + GRPC_MAX_MESSAGE) {
		s->err = -EMSGSIZE;
		return 0;
	}
	if (s->in_len + len > s->in_cap) {
		size_t cap = s->in_cap ? s->in_cap : 256;
		while (cap < s->in_len + len)
			cap *= 2;
		struct grpc_conn *c = user_data;
		if (c->in_bytes - s->in_cap + cap > CONN_MAX_BUFFERED) {
			s->err = -ENOBUFS;
			return nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id,
							 NGHTTP2_ENHANCE_YOUR_CALM) == 0
				   ? 0
				   : NGHTTP2_ERR_CALLBACK_FAILURE;
		}
		uint8_t *b = realloc(s->in, cap);
		if (!b) {
			s->err = -ENOMEM;
			return 0;
		}
		s->in = b;
		c->in_bytes += cap - s->in_cap;
		s->in_cap = cap;
	}
	memcpy(s->in + s->in_len, data, len);
	s->in_len += len;
	long r = grpc_frame_check(s->in, s->in_len, GRPC_MAX_MESSAGE);
	if (r < 0)
		s->err = (int)r;
	return 0;
}

static ssize_t body_read_cb(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
			    size_t length, uint32_t *data_flags, nghttp2_data_source *source,
			    void *user_data)
{
	struct grpc_stream *s = source->ptr;
	size_t n = s->reply.len - s->out_off;
	if (n > length)
		n = length;
	memcpy(buf, s->reply.body + s->out_off, n);
	s->out_off += n;
	if (s->out_off == s->reply.len) {
		*data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
		nghttp2_nv tr[] = {
		    {(uint8_t *)"grpc-status", (uint8_t *)"0", 11, 1, NGHTTP2_NV_FLAG_NONE},
		};
		if (nghttp2_submit_trailer(session, stream_id, tr, 1) != 0)
			return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	return (ssize_t)n;
}

#define NV(n, v)                                                                                   \
	{                                                                                          \
		(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE         \
	}

/* Answers with trailers only (:status 200, grpc-status, grpc-message): gRPC's way to fail a
 * call before any message. */
static int reply_status(nghttp2_session *session, struct grpc_stream *s, int code, const char *msg)
{
	char status[12], enc[sizeof(s->reply.message) * 3];
	snprintf(status, sizeof(status), "%d", code);
	/* HTTP/2 forbids a field value with a space at either end (a peer drops the answer), and
	 * a message cut to size in a target_path's run of spaces ends with one */
	msg = msg ? msg : "";
	size_t len = strlen(msg);
	while (*msg == ' ')
		msg++, len--;
	while (len > 0 && msg[len - 1] == ' ')
		len--;
	char trimmed[sizeof(s->reply.message)];
	snprintf(trimmed, sizeof(trimmed), "%.*s", (int)len, msg);
	grpc_percent_encode(trimmed, enc, sizeof(enc));
	nghttp2_nv hdrs[] = {
	    NV(":status", "200"),
	    NV("content-type", "application/grpc"),
	    NV("grpc-status", status),
	    NV("grpc-message", enc),
	};
	s->status = code;
	return nghttp2_submit_response(session, s->id, hdrs, enc[0] ? 4 : 3, NULL);
}

/* Answers s with what its handler returned (r) and left in s->reply. */
static int respond(nghttp2_session *session, struct grpc_stream *s, int r)
{
	if (r == 0 && !s->reply.body)
		r = grpc_reply_error(&s->reply, -ENOMEM, "out of memory");
	if (r < 0) {
		log_debug("%s: %s: %s", s->path, grpc_code_name(grpc_status_from_errno(r)),
			  s->reply.message);
		return reply_status(session, s, grpc_status_from_errno(r), s->reply.message);
	}
	nghttp2_nv hdrs[] = {NV(":status", "200"), NV("content-type", "application/grpc")};
	nghttp2_data_provider dp = {.source.ptr = s, .read_callback = body_read_cb};
	s->status = GRPC_OK;
	return nghttp2_submit_response(session, s->id, hdrs, 2, &dp);
}

static int dispatch(struct grpc_conn *c, struct grpc_stream *s)
{
	nghttp2_session *session = c->session;
	char quoted[300];
	if (!s->is_post || !s->is_grpc)
		return reply_status(session, s, GRPC_INTERNAL,
				    "not a gRPC request (POST with content-type application/grpc)");
	const struct grpc_method *m = s->path_too_long ? NULL : strmap_get(c->l->methods, s->path);
	if (!m) {
		snprintf(quoted, sizeof(quoted), "unknown method \"%s\"",
			 s->path_too_long ? "(too long)" : s->path);
		return reply_status(session, s, GRPC_UNIMPLEMENTED, quoted);
	}
	const uint8_t *msg = NULL;
	size_t len = 0;
	int r = s->err ? s->err : grpc_frame_decode(s->in, s->in_len, GRPC_MAX_MESSAGE, &msg, &len);
	if (r < 0) {
		const char *why = r == -EMSGSIZE  ? "request message is larger than 1 MiB"
				  : r == -ENOTSUP ? "compressed messages are not accepted"
						  : "request is not one length-prefixed message";
		return reply_status(session, s,
				    r == -ENOTSUP ? GRPC_UNIMPLEMENTED : grpc_status_from_errno(r),
				    why);
	}
	struct grpc_server *srv = c->srv;
	/* memory connections (the fuzzer) are fed by their caller's thread: no pool */
	bool here = srv->n_workers == 0 || c->fd < 0 || m->inline_;
	/* what is answered here is freed at once: only what waits for the pool counts */
	size_t room = JOBS_MAX_MEM > srv->jobs_mem ? JOBS_MAX_MEM - srv->jobs_mem : 0;
	struct unpack_count uc = {.limit = here || room > UNPACK_MAX ? UNPACK_MAX : room};
	ProtobufCAllocator alloc = {
	    .alloc = count_alloc, .free = count_free, .allocator_data = &uc};
	ProtobufCMessage *req = protobuf_c_message_unpack(m->request, &alloc, len, msg);
	if (!req && uc.over)
		return reply_status(session, s, GRPC_RESOURCE_EXHAUSTED,
				    uc.limit < UNPACK_MAX
					? "the server holds too many requests; retry"
					: "request message takes more than 4 MiB unpacked");
	if (!req)
		return reply_status(session, s, GRPC_INTERNAL, "request message does not parse");
	if (here) {
		r = m->handler(c->l->ctx, req, &s->reply);
		protobuf_c_message_free_unpacked(req, NULL);
		return respond(session, s, r);
	}
	struct grpc_job *j = calloc(1, sizeof(*j));
	if (!j) {
		protobuf_c_message_free_unpacked(req, NULL);
		return reply_status(session, s, GRPC_RESOURCE_EXHAUSTED, "out of memory");
	}
	j->conn = c;
	j->stream_id = s->id;
	j->m = m;
	j->ctx = c->l->ctx;
	j->req = req;
	j->req_mem = uc.used;
	srv->jobs_mem += uc.used;
	c->jobs++;
	pthread_mutex_lock(&srv->lock);
	TAILQ_INSERT_TAIL(&srv->todo, j, link);
	pthread_cond_signal(&srv->cond);
	pthread_mutex_unlock(&srv->lock);
	return 0;
}

static int frame_recv_cb(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
	if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
		return 0;
	if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	struct grpc_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (!s)
		return 0;
	if (dispatch(user_data, s) != 0)
		nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, s->id,
					  NGHTTP2_INTERNAL_ERROR);
	return 0;
}

static int stream_close_cb(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
			   void *user_data)
{
	struct grpc_stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
	if (s) {
		struct grpc_conn *c = user_data;
		c->in_bytes -= s->in_cap;
		LIST_REMOVE(s, link);
		stream_free(s);
		nghttp2_session_set_stream_user_data(session, stream_id, NULL);
	}
	return 0;
}

/* ---- connections ---- */

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct grpc_conn *conn_new(struct grpc_server *srv, struct listener *l, int fd)
{
	struct grpc_conn *c = calloc(1, sizeof(*c));
	nghttp2_session_callbacks *cbs = NULL;
	if (!c)
		return NULL;
	c->srv = srv;
	c->l = l;
	c->fd = fd;
	LIST_INIT(&c->streams);
	if (nghttp2_session_callbacks_new(&cbs) != 0)
		goto fail;
	nghttp2_session_callbacks_set_send_callback(cbs, send_cb);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, begin_headers_cb);
	nghttp2_session_callbacks_set_on_header_callback(cbs, header_cb);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, data_chunk_cb);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, frame_recv_cb);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, stream_close_cb);
	int r = nghttp2_session_server_new(&c->session, cbs, c);
	nghttp2_session_callbacks_del(cbs);
	if (r != 0)
		goto fail;
	nghttp2_settings_entry iv[] = {
	    {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_STREAMS},
	    {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 16384},
	};
	if (nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, 2) != 0)
		goto fail_session;
	return c;
fail_session:
	nghttp2_session_del(c->session);
fail:
	free(c);
	return NULL;
}

/* Ends the session and closes the socket; the struct stays while the pool has its jobs. */
static void conn_close(struct grpc_conn *c)
{
	if (!c->closed) {
		nghttp2_session_del(c->session);
		c->session = NULL;
		struct grpc_stream *s;
		while ((s = LIST_FIRST(&c->streams))) {
			LIST_REMOVE(s, link);
			stream_free(s);
		}
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
		c->closed = true;
	}
	if (c->jobs == 0)
		free(c);
}

struct grpc_conn *grpc_conn_new_mem(struct grpc_server *srv, size_t listener)
{
	if (listener >= srv->n_listeners)
		return NULL;
	return conn_new(srv, &srv->listeners[listener], -1);
}

int grpc_conn_feed(struct grpc_conn *c, const uint8_t *buf, size_t len)
{
	if (c->broken)
		return -EPROTO;
	ssize_t r = nghttp2_session_mem_recv(c->session, buf, len);
	if (r < 0 || nghttp2_session_send(c->session) != 0) {
		c->broken = true;
		return -EPROTO;
	}
	return 0;
}

void grpc_conn_free(struct grpc_conn *c)
{
	if (c)
		conn_close(c);
}

/* Reads what the socket has and answers it. Returns false when the connection is done. */
static bool conn_io(struct grpc_conn *c, short revents)
{
	if (!revents)
		return true;
	if (revents & POLLIN) {
		uint8_t buf[16384];
		for (;;) {
			ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (n == 0)
				return false;
			if (n < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					break;
				if (errno == EINTR)
					continue;
				return false;
			}
			c->active_ms = now_ms();
			if (grpc_conn_feed(c, buf, (size_t)n) < 0)
				return false;
		}
	} else if (revents & (POLLERR | POLLHUP | POLLNVAL)) {
		return false;
	}
	if (nghttp2_session_send(c->session) != 0)
		return false;
	return nghttp2_session_want_read(c->session) || nghttp2_session_want_write(c->session) ||
	       c->jobs > 0;
}

/* ---- the pool ---- */

static void *worker(void *arg)
{
	struct grpc_server *srv = arg;
	pthread_mutex_lock(&srv->lock);
	for (;;) {
		while (!srv->stopping && TAILQ_EMPTY(&srv->todo))
			pthread_cond_wait(&srv->cond, &srv->lock);
		if (srv->stopping)
			break;
		struct grpc_job *j = TAILQ_FIRST(&srv->todo);
		TAILQ_REMOVE(&srv->todo, j, link);
		pthread_mutex_unlock(&srv->lock);
		j->result = j->m->handler(j->ctx, j->req, &j->reply);
		protobuf_c_message_free_unpacked(j->req, NULL);
		j->req = NULL;
		pthread_mutex_lock(&srv->lock);
		TAILQ_INSERT_TAIL(&srv->done, j, link);
		uint64_t one = 1;
		ssize_t w = write(srv->done_fd, &one, sizeof(one));
		(void)w;
	}
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

static void job_free(struct grpc_server *srv, struct grpc_job *j)
{
	srv->jobs_mem -= j->req_mem;
	if (j->req)
		protobuf_c_message_free_unpacked(j->req, NULL);
	free(j->reply.body);
	free(j);
}

/* On the loop thread: answers the streams whose handlers finished, if they are still open. */
static void jobs_complete(struct grpc_server *srv)
{
	uint64_t n;
	ssize_t rd = read(srv->done_fd, &n, sizeof(n));
	(void)rd;
	struct job_queue done = TAILQ_HEAD_INITIALIZER(done);
	pthread_mutex_lock(&srv->lock);
	TAILQ_CONCAT(&done, &srv->done, link);
	pthread_mutex_unlock(&srv->lock);
	struct grpc_job *j;
	while ((j = TAILQ_FIRST(&done))) {
		TAILQ_REMOVE(&done, j, link);
		struct grpc_conn *c = j->conn;
		c->jobs--;
		struct grpc_stream *s =
		    c->closed ? NULL
			      : nghttp2_session_get_stream_user_data(c->session, j->stream_id);
		if (s) {
			s->reply = j->reply;
			j->reply.body = NULL;
			if (respond(c->session, s, j->result) != 0)
				nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, s->id,
							  NGHTTP2_INTERNAL_ERROR);
		}
		job_free(srv, j);
		if (c->closed)
			conn_close(c); /* frees it once its last job is back */
	}
}

static int pool_start(struct grpc_server *srv)
{
	srv->stopping = false;
	for (unsigned i = 0; i < srv->n_workers; i++) {
		int r = pthread_create(&srv->workers[i], NULL, worker, srv);
		if (r != 0) {
			srv->n_workers = i;
			return -r;
		}
	}
	return 0;
}

/* Stops the workers after their current call (bounded by the handlers' own deadlines) and
 * drops the calls not started. */
static void pool_stop(struct grpc_server *srv)
{
	pthread_mutex_lock(&srv->lock);
	srv->stopping = true;
	pthread_cond_broadcast(&srv->cond);
	pthread_mutex_unlock(&srv->lock);
	for (unsigned i = 0; i < srv->n_workers; i++)
		pthread_join(srv->workers[i], NULL);
	struct grpc_job *j;
	while ((j = TAILQ_FIRST(&srv->todo))) {
		TAILQ_REMOVE(&srv->todo, j, link);
		TAILQ_INSERT_TAIL(&srv->done, j, link);
	}
	while ((j = TAILQ_FIRST(&srv->done))) {
		TAILQ_REMOVE(&srv->done, j, link);
		struct grpc_conn *c = j->conn;
		c->jobs--;
		job_free(srv, j);
		if (c->closed)
			conn_close(c);
	}
}

/* ---- server ---- */

struct grpc_server *grpc_server_new(unsigned workers)
{
	struct grpc_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return NULL;
	LIST_INIT(&srv->conns);
	TAILQ_INIT(&srv->todo);
	TAILQ_INIT(&srv->done);
	srv->n_workers = workers > MAX_WORKERS ? MAX_WORKERS : workers;
	srv->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (srv->done_fd < 0)
		goto fail;
	if (pipe2(srv->stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		goto fail_eventfd;
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->cond, NULL);
	return srv;
fail_eventfd:
	close(srv->done_fd);
fail:
	free(srv);
	return NULL;
}

void grpc_server_free(struct grpc_server *srv)
{
	if (!srv)
		return;
	struct grpc_conn *c;
	while ((c = LIST_FIRST(&srv->conns))) {
		LIST_REMOVE(c, link);
		conn_close(c);
	}
	for (size_t i = 0; i < srv->n_listeners; i++) {
		close(srv->listeners[i].fd);
		unlink(srv->listeners[i].path);
		strmap_free(srv->listeners[i].methods, NULL);
	}
	close(srv->stop_pipe[0]);
	close(srv->stop_pipe[1]);
	close(srv->done_fd);
	pthread_mutex_destroy(&srv->lock);
	pthread_cond_destroy(&srv->cond);
	free(srv);
}

int grpc_server_listen(struct grpc_server *srv, const char *path, unsigned mode,
		       const struct grpc_method *methods, size_t n, void *ctx)
{
	if (srv->n_listeners == MAX_LISTENERS)
		return -ENOSPC;
	struct listener *l = &srv->listeners[srv->n_listeners];
	if (strlen(path) >= sizeof(l->path))
		return -ENAMETOOLONG;
	l->methods = strmap_new();
	if (!l->methods)
		return -ENOMEM;
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++)
		strmap_put(l->methods, methods[i].path, (void *)&methods[i], &r);
	if (r < 0)
		goto fail_map;
	int fd = control_listen(path);
	if (fd < 0) {
		r = fd;
		goto fail_map;
	}
	if (chmod(path, mode) < 0 || fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		r = -errno;
		close(fd);
		unlink(path);
		goto fail_map;
	}
	l->fd = fd;
	snprintf(l->path, sizeof(l->path), "%s", path);
	l->ctx = ctx;
	srv->n_listeners++;
	return 0;
fail_map:
	strmap_free(l->methods, NULL);
	l->methods = NULL;
	return r;
}

void grpc_server_stop(struct grpc_server *srv)
{
	ssize_t w = write(srv->stop_pipe[1], "x", 1);
	(void)w;
}

/* The connection with no call in the pool whose peer has been silent longest, or NULL. */
static struct grpc_conn *conn_idlest(struct grpc_server *srv)
{
	struct grpc_conn *c, *idlest = NULL;
	LIST_FOREACH(c, &srv->conns, link)
	if (c->jobs == 0 && (!idlest || c->active_ms < idlest->active_ms))
		idlest = c;
	return idlest;
}

/* Accepts what is waiting. With MAX_CONNS open, a new caller (the kubelet) takes the place of
 * the connection idle longest: silent connections cannot lock it out. */
static void accept_all(struct grpc_server *srv, struct listener *l)
{
	for (;;) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_warn("accept on \"%s\": %s", l->path, strerror(errno));
			return;
		}
		struct grpc_conn *idlest = srv->n_conns >= MAX_CONNS ? conn_idlest(srv) : NULL;
		if (srv->n_conns >= MAX_CONNS && !idlest) {
			log_warn("\"%s\": %d connections open, each with a call in progress; "
				 "refusing one more",
				 l->path, MAX_CONNS);
			close(fd);
			continue;
		}
		struct grpc_conn *c = conn_new(srv, l, fd);
		if (!c) {
			close(fd);
			continue;
		}
		if (idlest) {
			log_warn("\"%s\": %d connections open; closing the one idle for %lld ms",
				 l->path, MAX_CONNS, now_ms() - idlest->active_ms);
			LIST_REMOVE(idlest, link);
			srv->n_conns--;
			conn_close(idlest);
		}
		c->active_ms = now_ms();
		LIST_INSERT_HEAD(&srv->conns, c, link);
		srv->n_conns++;
		/* our SETTINGS go out first */
		if (nghttp2_session_send(c->session) != 0) {
			LIST_REMOVE(c, link);
			srv->n_conns--;
			conn_close(c);
		}
	}
}

int grpc_server_run(struct grpc_server *srv, void (*tick)(void *), void *tick_ctx, int tick_ms)
{
	struct pollfd pfd[2 + MAX_LISTENERS + MAX_CONNS];
	struct grpc_conn *conn_of[MAX_CONNS];
	long long next_tick = now_ms() + tick_ms;
	int ret = pool_start(srv);
	if (ret < 0)
		goto out;
	for (;;) {
		size_t n = 0;
		pfd[n++] = (struct pollfd){.fd = srv->stop_pipe[0], .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = srv->done_fd, .events = POLLIN};
		for (size_t i = 0; i < srv->n_listeners; i++)
			pfd[n++] = (struct pollfd){.fd = srv->listeners[i].fd, .events = POLLIN};
		size_t first_conn = n, nc = 0;
		struct grpc_conn *c;
		LIST_FOREACH(c, &srv->conns, link)
		{
			short ev = 0;
			if (nghttp2_session_want_read(c->session))
				ev |= POLLIN;
			if (nghttp2_session_want_write(c->session))
				ev |= POLLOUT;
			conn_of[nc++] = c;
			pfd[n++] = (struct pollfd){.fd = c->fd, .events = ev};
		}
		int timeout = -1;
		if (tick) {
			long long left = next_tick - now_ms();
			timeout = left < 0 ? 0 : (int)left;
		}
		int r = poll(pfd, n, timeout);
		if (r < 0 && errno != EINTR) {
			ret = -errno;
			goto out;
		}
		if (tick && now_ms() >= next_tick) {
			tick(tick_ctx);
			next_tick = now_ms() + tick_ms;
		}
		if (r <= 0)
			continue;
		if (pfd[0].revents)
			goto out;
		if (pfd[1].revents & POLLIN)
			jobs_complete(srv); /* the answers go out below or in the next round */
		for (size_t i = 0; i < nc; i++) {
			short rev = pfd[first_conn + i].revents;
			if (!conn_io(conn_of[i], rev | (pfd[1].revents ? POLLOUT : 0))) {
				LIST_REMOVE(conn_of[i], link);
				srv->n_conns--;
				conn_close(conn_of[i]);
			}
		}
		/* after conn_of is done with: accepting may close an idle connection */
		for (size_t i = 0; i < srv->n_listeners; i++)
			if (pfd[2 + i].revents & POLLIN)
				accept_all(srv, &srv->listeners[i]);
	}
out:
	pool_stop(srv);
	return ret;
}
