// SPDX-License-Identifier: Apache-2.0
// Test-side gRPC client (see grpc_client.h). Blocking I/O with a receive timeout, so a server
// that never answers fails the test instead of hanging it.
#include "grpc_client.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "control.h"
#include "grpc_frame.h"

struct client {
	int fd;
	size_t open;
};

static ssize_t send_cb(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud)
{
	struct client *c = ud;
	ssize_t w = send(c->fd, data, len, MSG_NOSIGNAL);
	return w < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : w;
}

static int header_cb(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	struct grpc_call *call = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
	if (!call)
		return 0;
	char v[1024];
	snprintf(v, sizeof(v), "%.*s", (int)valuelen, value);
	if (namelen == 7 && memcmp(name, ":status", 7) == 0)
		call->http_status = atoi(v);
	else if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0)
		call->grpc_status = atoi(v);
	else if (namelen == 12 && memcmp(name, "grpc-message", 12) == 0) {
		snprintf(call->message, sizeof(call->message), "%s", v);
		grpc_percent_decode(call->message);
	}
	return 0;
}

static int data_cb(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
		   void *ud)
{
	struct grpc_call *call = nghttp2_session_get_stream_user_data(s, id);
	if (!call)
		return 0;
	uint8_t *b = realloc(call->resp, call->resp_len + len);
	if (!b)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	memcpy(b + call->resp_len, data, len);
	call->resp = b;
	call->resp_len += len;
	return 0;
}

static int close_cb(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
	struct client *c = ud;
	struct grpc_call *call = nghttp2_session_get_stream_user_data(s, id);
	if (call)
		call->closed = true;
	c->open--;
	return 0;
}

ssize_t grpc_client_body_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
			      uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct grpc_body_src *b = src->ptr;
	size_t n = b->len - b->off;
	if (n > len)
		n = len;
	if (n)
		memcpy(buf, b->p + b->off, n);
	b->off += n;
	if (b->off == b->len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

#define NV(n, v)                                                                                   \
	{                                                                                          \
		(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE         \
	}

int grpc_client_run(const char *sock, struct grpc_call *calls, size_t n)
{
	return grpc_client_run_timeout(sock, calls, n, 20);
}

int grpc_client_run_timeout(const char *sock, struct grpc_call *calls, size_t n, unsigned timeout_s)
{
	struct client c = {.fd = control_connect(sock)};
	if (c.fd < 0)
		return c.fd;
	struct timeval tv = {.tv_sec = timeout_s};
	setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	nghttp2_session_callbacks *cbs;
	nghttp2_session *s;
	struct grpc_body_src *src = calloc(n ? n : 1, sizeof(*src));
	int r = -ENOMEM;
	if (!src || nghttp2_session_callbacks_new(&cbs) != 0)
		goto out_fd;
	nghttp2_session_callbacks_set_send_callback(cbs, send_cb);
	nghttp2_session_callbacks_set_on_header_callback(cbs, header_cb);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, data_cb);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, close_cb);
	r = nghttp2_session_client_new(&s, cbs, &c);
	nghttp2_session_callbacks_del(cbs);
	if (r != 0) {
		r = -ENOMEM;
		goto out_fd;
	}
	nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, NULL, 0);
	for (size_t i = 0; i < n; i++) {
		nghttp2_nv hdrs[] = {
		    NV(":method", "POST"),
		    NV(":scheme", "http"),
		    NV(":authority", "localhost"),
		    NV(":path", calls[i].path),
		    NV("content-type",
		       calls[i].content_type ? calls[i].content_type : "application/grpc"),
		    NV("te", "trailers"),
		};
		src[i] = (struct grpc_body_src){calls[i].body, calls[i].len, 0};
		nghttp2_data_provider dp = {.source.ptr = &src[i],
					    .read_callback = grpc_client_body_read};
		calls[i].grpc_status = -1;
		calls[i].stream_id = nghttp2_submit_request(s, NULL, hdrs, 6, &dp, &calls[i]);
		if (calls[i].stream_id < 0) {
			r = -EPROTO;
			goto out_session;
		}
		c.open++;
	}
	r = 0;
	while (c.open > 0) {
		if (nghttp2_session_send(s) != 0) {
			r = -EPIPE;
			break;
		}
		uint8_t buf[16384];
		ssize_t got = recv(c.fd, buf, sizeof(buf), 0);
		if (got <= 0) {
			r = got == 0 ? -ECONNRESET : -errno;
			break;
		}
		if (nghttp2_session_mem_recv(s, buf, (size_t)got) < 0) {
			r = -EPROTO;
			break;
		}
	}
out_session:
	nghttp2_session_del(s);
out_fd:
	free(src);
	close(c.fd);
	return r;
}

int grpc_client_unary(const char *sock, const char *path, const ProtobufCMessage *req,
		      const ProtobufCMessageDescriptor *rdesc, ProtobufCMessage **ret_resp,
		      char *msg, size_t msglen)
{
	size_t len;
	uint8_t *b = grpc_frame_pack(req, &len);
	if (!b)
		return -ENOMEM;
	struct grpc_call call = {.path = path, .body = b, .len = len};
	int r = grpc_client_run(sock, &call, 1);
	free(b);
	if (r < 0)
		goto out;
	if (msg)
		snprintf(msg, msglen, "%s", call.message);
	r = call.grpc_status < 0 ? -EPROTO : call.grpc_status;
	if (r == 0 && ret_resp) {
		const uint8_t *m;
		size_t ml;
		*ret_resp = NULL;
		if (grpc_frame_decode(call.resp, call.resp_len, 1u << 24, &m, &ml) < 0 ||
		    !(*ret_resp = protobuf_c_message_unpack(rdesc, NULL, ml, m)))
			r = -EBADMSG;
	}
out:
	free(call.resp);
	return r;
}
