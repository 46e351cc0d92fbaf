// SPDX-License-Identifier: Apache-2.0
// The gRPC server through an nghttp2 client: status trailers and codes, the trailers-only
// form for errors, percent-encoded messages, refused frames, concurrent streams on one
// connection, a message spanning many DATA frames.
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "csi.pb-c.h"
#include "grpc_client.h"
#include "server_fixture.h"
#include "suites.h"

/* Echo: NodeGetInfoResponse.node_id = the request's volume_id; "fail" fails with a message
 * that needs escaping. */
static int echo(void *ctx, const ProtobufCMessage *msg, struct grpc_reply *rp)
{
	const Csi__V1__NodeUnpublishVolumeRequest *r = (const void *)msg;
	if (strcmp(r->volume_id, "fail") == 0)
		return grpc_reply_error(rp, -EINVAL, "volume \"%s\" is 100%% bad\n", r->volume_id);
	if (strncmp(r->volume_id, "say:", 4) == 0)
		return grpc_reply_error(rp, -EEXIST, "%s", r->volume_id + 4);
	Csi__V1__NodeGetInfoResponse resp = CSI__V1__NODE_GET_INFO_RESPONSE__INIT;
	resp.node_id = r->volume_id;
	return grpc_reply_set(rp, &resp.base);
}

/* Slow: answers after 1.5 s, like a publish whose view waits on its UFS. */
static int slow(void *ctx, const ProtobufCMessage *msg, struct grpc_reply *rp)
{
	usleep(1500 * 1000);
	return echo(ctx, msg, rp);
}

static const struct grpc_method methods[] = {
    {"/test.Echo/Echo", &csi__v1__node_unpublish_volume_request__descriptor, echo, false},
    {"/test.Echo/Slow", &csi__v1__node_unpublish_volume_request__descriptor, slow, false},
    {"/test.Echo/Inline", &csi__v1__node_unpublish_volume_request__descriptor, echo, true},
};

static struct server_fixture fx;

static void setup(void)
{
	server_fixture_start(&fx, methods, 3, NULL, 2);
}

static void setup_inline(void)
{
	server_fixture_start(&fx, methods, 3, NULL, 0);
}

static void teardown(void)
{
	server_fixture_stop(&fx);
}

static int call_echo(const char *id, char *out, size_t outlen, char *msg, size_t msglen)
{
	Csi__V1__NodeUnpublishVolumeRequest req = CSI__V1__NODE_UNPUBLISH_VOLUME_REQUEST__INIT;
	req.volume_id = (char *)id;
	ProtobufCMessage *resp = NULL;
	int r = grpc_client_unary(fx.sock, "/test.Echo/Echo", &req.base,
				  &csi__v1__node_get_info_response__descriptor, &resp, msg, msglen);
	if (r == 0) {
		snprintf(out, outlen, "%s", ((Csi__V1__NodeGetInfoResponse *)resp)->node_id);
		protobuf_c_message_free_unpacked(resp, NULL);
	}
	return r;
}

START_TEST(ok_with_trailers)
{
	Csi__V1__NodeUnpublishVolumeRequest req = CSI__V1__NODE_UNPUBLISH_VOLUME_REQUEST__INIT;
	req.volume_id = "v1";
	uint8_t body[64];
	size_t n = protobuf_c_message_get_packed_size(&req.base);
	grpc_frame_header(body, (uint32_t)n);
	protobuf_c_message_pack(&req.base, body + 5);
	struct grpc_call c = {.path = "/test.Echo/Echo", .body = body, .len = 5 + n};
	ck_assert_int_eq(grpc_client_run(fx.sock, &c, 1), 0);
	ck_assert_int_eq(c.http_status, 200);
	ck_assert_int_eq(c.grpc_status, 0);
	ck_assert(c.resp_len > 5);
	ck_assert_uint_eq(c.resp[0], 0);
	free(c.resp);
	char out[64];
	ck_assert_int_eq(call_echo("hello", out, sizeof(out), NULL, 0), GRPC_OK);
	ck_assert_str_eq(out, "hello");
}
END_TEST

START_TEST(error_message_escaped)
{
	char out[64], msg[256];
	ck_assert_int_eq(call_echo("fail", out, sizeof(out), msg, sizeof(msg)),
			 GRPC_INVALID_ARGUMENT);
	ck_assert_str_eq(msg, "volume \"fail\" is 100% bad\n");
}
END_TEST

/* A message cut to fit (a path of spaces, as a hostile or odd target_path makes) or one with
 * spaces at either end still reaches the client: HTTP/2 forbids a field value that starts or
 * ends with whitespace, and a client drops such a header, or the whole answer. */
START_TEST(error_message_edges)
{
	char id[2100] = "say:   starts with spaces, then a long path ";
	size_t n = strlen(id);
	memset(id + n, ' ', sizeof(id) - 1 - n);
	id[sizeof(id) - 1] = '\0';
	char out[64], msg[1100];
	ck_assert_int_eq(call_echo(id, out, sizeof(out), msg, sizeof(msg)), GRPC_ALREADY_EXISTS);
	ck_assert_str_eq(msg, "starts with spaces, then a long path");
}
END_TEST

static struct grpc_call raw(const char *path, const char *ct, const uint8_t *b, size_t len)
{
	struct grpc_call c = {.path = path, .content_type = ct, .body = b, .len = len};
	ck_assert_int_eq(grpc_client_run(fx.sock, &c, 1), 0);
	free(c.resp);
	c.resp = NULL;
	return c;
}

START_TEST(refused_requests)
{
	uint8_t empty[5] = {0, 0, 0, 0, 0};
	struct grpc_call c = raw("/test.Echo/Nope", NULL, empty, 5);
	ck_assert_int_eq(c.grpc_status, GRPC_UNIMPLEMENTED);
	ck_assert_str_eq(c.message, "unknown method \"/test.Echo/Nope\"");
	c = raw("/test.Echo/Echo", "text/plain", empty, 5);
	ck_assert_int_eq(c.grpc_status, GRPC_INTERNAL);
	uint8_t compressed[6] = {1, 0, 0, 0, 1, 0};
	c = raw("/test.Echo/Echo", NULL, compressed, 6);
	ck_assert_int_eq(c.grpc_status, GRPC_UNIMPLEMENTED);
	uint8_t huge[5] = {0, 0x7f, 0xff, 0xff, 0xff};
	c = raw("/test.Echo/Echo", NULL, huge, 5);
	ck_assert_int_eq(c.grpc_status, GRPC_RESOURCE_EXHAUSTED);
	uint8_t truncated[7] = {0, 0, 0, 0, 9, 1, 2};
	c = raw("/test.Echo/Echo", NULL, truncated, 7);
	ck_assert_int_eq(c.grpc_status, GRPC_INTERNAL);
	c = raw("/test.Echo/Echo", NULL, NULL, 0);
	ck_assert_int_eq(c.grpc_status, GRPC_INTERNAL);
	uint8_t junk[8] = {0, 0, 0, 0, 3, 0xff, 0xff, 0xff}; /* not a protobuf message */
	c = raw("/test.Echo/Echo", NULL, junk, 8);
	ck_assert_int_eq(c.grpc_status, GRPC_INTERNAL);
	/* an error is trailers only: no message body */
	ck_assert_int_eq(c.http_status, 200);
}
END_TEST

START_TEST(concurrent_streams)
{
	enum { N = 40 };
	struct grpc_call calls[N];
	uint8_t bodies[N][32];
	char ids[N][16];
	for (int i = 0; i < N; i++) {
		snprintf(ids[i], sizeof(ids[i]), "%s%d", i % 5 ? "id" : "fail", i);
		Csi__V1__NodeUnpublishVolumeRequest req =
		    CSI__V1__NODE_UNPUBLISH_VOLUME_REQUEST__INIT;
		req.volume_id = i % 5 ? ids[i] : "fail";
		size_t n = protobuf_c_message_get_packed_size(&req.base);
		grpc_frame_header(bodies[i], (uint32_t)n);
		protobuf_c_message_pack(&req.base, bodies[i] + 5);
		calls[i] =
		    (struct grpc_call){.path = "/test.Echo/Echo", .body = bodies[i], .len = 5 + n};
	}
	ck_assert_int_eq(grpc_client_run(fx.sock, calls, N), 0);
	for (int i = 0; i < N; i++) {
		ck_assert(calls[i].closed);
		ck_assert_int_eq(calls[i].grpc_status, i % 5 ? GRPC_OK : GRPC_INVALID_ARGUMENT);
		if (i % 5) {
			Csi__V1__NodeGetInfoResponse *r = csi__v1__node_get_info_response__unpack(
			    NULL, calls[i].resp_len - 5, calls[i].resp + 5);
			ck_assert_ptr_nonnull(r);
			ck_assert_str_eq(r->node_id, ids[i]);
			csi__v1__node_get_info_response__free_unpacked(r, NULL);
		}
		free(calls[i].resp);
	}
}
END_TEST

START_TEST(message_across_frames)
{
	/* 200 KiB: many DATA frames, flow-control window updates, both ways */
	size_t n = 200 << 10;
	char *id = malloc(n + 1);
	memset(id, 'x', n);
	id[n] = '\0';
	char *out = malloc(n + 1);
	ck_assert_int_eq(call_echo(id, out, n + 1, NULL, 0), GRPC_OK);
	ck_assert_str_eq(out, id);
	free(id);
	free(out);
}
END_TEST

START_TEST(mem_connection_garbage)
{
	/* bytes that are not an HTTP/2 preface break the session, not the server */
	struct grpc_conn *c = grpc_conn_new_mem(fx.srv, 0);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(grpc_conn_feed(c, (const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18), -EPROTO);
	ck_assert_int_eq(grpc_conn_feed(c, (const uint8_t *)"x", 1), -EPROTO);
	grpc_conn_free(c);
	ck_assert_ptr_null(grpc_conn_new_mem(fx.srv, 7));
	char out[16];
	ck_assert_int_eq(call_echo("still", out, sizeof(out), NULL, 0), GRPC_OK);
}
END_TEST

static double since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void *slow_call(void *arg)
{
	Csi__V1__NodeUnpublishVolumeRequest req = CSI__V1__NODE_UNPUBLISH_VOLUME_REQUEST__INIT;
	req.volume_id = "slow";
	ProtobufCMessage *resp = NULL;
	int *r = arg;
	*r = grpc_client_unary(fx.sock, "/test.Echo/Slow", &req.base,
			       &csi__v1__node_get_info_response__descriptor, &resp, NULL, 0);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return NULL;
}

START_TEST(slow_handler_blocks_nobody)
{
	pthread_t t;
	int slow_r = -1;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(pthread_create(&t, NULL, slow_call, &slow_r), 0);
	usleep(200 * 1000);
	char out[16];
	ck_assert_int_eq(call_echo("fast", out, sizeof(out), NULL, 0), GRPC_OK);
	double fast = since(&t0);
	ck_assert_msg(fast < 1.2, "a fast call waited %.2f s behind a slow one", fast);
	pthread_join(t, NULL);
	ck_assert_int_eq(slow_r, GRPC_OK);
	ck_assert(since(&t0) >= 1.5);
}
END_TEST

START_TEST(client_gone_while_handler_runs)
{
	/* the connection closes while its call is in the pool: the answer is dropped, the
	 * server goes on (ASan checks nothing is used after it is freed) */
	Csi__V1__NodeUnpublishVolumeRequest req = CSI__V1__NODE_UNPUBLISH_VOLUME_REQUEST__INIT;
	req.volume_id = "gone";
	size_t len;
	uint8_t *body = grpc_frame_pack(&req.base, &len);
	struct grpc_call c = {.path = "/test.Echo/Slow", .body = body, .len = len};
	struct grpc_call cs[3] = {c, c, c};
	/* a receive timeout of 1 s (the client's) is shorter than the handler's 1.5 s */
	ck_assert_int_lt(grpc_client_run_timeout(fx.sock, cs, 3, 1), 0);
	free(body);
	for (int i = 0; i < 3; i++)
		free(cs[i].resp);
	usleep(1000 * 1000);
	char out[16];
	ck_assert_int_eq(call_echo("after", out, sizeof(out), NULL, 0), GRPC_OK);
	ck_assert_str_eq(out, "after");
}
END_TEST

START_TEST(idle_connections_do_not_lock_out)
{
	/* as many connections as the server keeps, each silent (not even the preface): the next
	 * caller (the kubelet) is still answered, in place of the connection idle longest */
	int fds[128];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.100s", fx.sock);
	for (int i = 0; i < 128; i++) {
		fds[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ck_assert_int_ge(fds[i], 0);
		ck_assert_int_eq(connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	char out[64], msg[256];
	ck_assert_int_eq(call_echo("after", out, sizeof(out), msg, sizeof(msg)), 0);
	ck_assert_str_eq(out, "after");
	for (int i = 0; i < 128; i++)
		close(fds[i]);
}
END_TEST

static void raw_frame(int fd, uint8_t type, uint8_t flags, uint32_t sid, const void *p, size_t n)
{
	uint8_t h[9] = {n >> 16, n >> 8, n, type, flags, sid >> 24, sid >> 16, sid >> 8, sid};
	ck_assert_int_eq(write(fd, h, 9), 9);
	if (n)
		ck_assert_int_eq(write(fd, p, n), (ssize_t)n);
}

START_TEST(unfinished_requests_bounded)
{
	/* streams whose requests never end (no END_STREAM), 1 MiB each: a connection may not
	 * hold more than a few such bodies; the stream over the limit is reset */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.100s", fx.sock);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	ck_assert_int_eq(write(fd, preface, 24), 24);
	raw_frame(fd, NGHTTP2_SETTINGS, 0, 0, NULL, 0);
	/* an HPACK block of literal headers without indexing */
	uint8_t blk[256];
	size_t bn = 0;
	static const char *hv[][2] = {{":method", "POST"},
				      {":scheme", "http"},
				      {":path", "/test.Echo/Echo"},
				      {":authority", "x"},
				      {"content-type", "application/grpc"}};
	for (size_t i = 0; i < 5; i++) {
		blk[bn++] = 0;
		blk[bn++] = (uint8_t)strlen(hv[i][0]);
		memcpy(blk + bn, hv[i][0], strlen(hv[i][0]));
		bn += strlen(hv[i][0]);
		blk[bn++] = (uint8_t)strlen(hv[i][1]);
		memcpy(blk + bn, hv[i][1], strlen(hv[i][1]));
		bn += strlen(hv[i][1]);
	}
	static uint8_t zero[16384];
	for (uint32_t sid = 1; sid <= 15; sid += 2) {
		raw_frame(fd, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS, sid, blk, bn);
		for (int i = 0; i < 64; i++)
			raw_frame(fd, NGHTTP2_DATA, 0, sid, zero, sizeof(zero));
	}
	/* the server's frames: WINDOW_UPDATEs, then a RST_STREAM(ENHANCE_YOUR_CALM) */
	bool reset = false;
	uint8_t h[9], body[16384];
	while (!reset && read(fd, h, 9) == 9) {
		size_t n = (size_t)h[0] << 16 | (size_t)h[1] << 8 | h[2];
		ck_assert_uint_le(n, sizeof(body));
		size_t got = 0;
		while (got < n) {
			ssize_t r = read(fd, body + got, n - got);
			ck_assert_int_gt(r, 0);
			got += (size_t)r;
		}
		reset =
		    h[3] == NGHTTP2_RST_STREAM && n == 4 && body[3] == NGHTTP2_ENHANCE_YOUR_CALM;
	}
	ck_assert_msg(reset, "8 MiB of unfinished requests on one connection: no stream reset");
	close(fd);
	char out[64], msg[256];
	ck_assert_int_eq(call_echo("after", out, sizeof(out), msg, sizeof(msg)), 0);
}
END_TEST

/* A framed NodeUnpublishVolumeRequest (volume_id "v") followed by n empty unknown fields (field
 * 15, 2 bytes each): protobuf-c keeps each one, in about 37 times its size. Owned by the caller. */
static uint8_t *unknown_fields_request(size_t n, size_t *ret_len)
{
	size_t len = 5 + 3 + 2 * n;
	uint8_t *b = malloc(len);
	ck_assert_ptr_nonnull(b);
	grpc_frame_header(b, (uint32_t)(len - 5));
	b[5] = 0x0a; /* field 1, length-delimited */
	b[6] = 1;
	b[7] = 'v';
	for (size_t i = 0; i < n; i++) {
		b[8 + 2 * i] = 15 << 3 | 2;
		b[9 + 2 * i] = 0;
	}
	*ret_len = len;
	return b;
}

START_TEST(amplified_request_refused)
{
	size_t len;
	uint8_t *b = unknown_fields_request(500000, &len); /* 1 MB in, 37 MB unpacked */
	struct grpc_call c = {.path = "/test.Echo/Echo", .body = b, .len = len};
	ck_assert_int_eq(grpc_client_run(fx.sock, &c, 1), 0);
	free(b);
	free(c.resp);
	ck_assert_msg(c.grpc_status == GRPC_RESOURCE_EXHAUSTED, "answered %d: %s", c.grpc_status,
		      c.message);
	char out[64], msg[256];
	ck_assert_int_eq(call_echo("after", out, sizeof(out), msg, sizeof(msg)), 0);
}
END_TEST

/* Requests waiting for a worker are bounded all together: sixteen of about 3 MB unpacked each
 * behind two workers held by slow calls; those past the bound are refused at once, and a call
 * answered on the loop thread (the kubelet's NodeGetCapabilities) after them still is. */
START_TEST(queued_requests_bounded)
{
	size_t len, qlen;
	uint8_t *b = unknown_fields_request(40000, &len), *q = unknown_fields_request(0, &qlen);
	struct grpc_call c[17];
	for (size_t i = 0; i < 16; i++)
		c[i] = (struct grpc_call){.path = "/test.Echo/Slow", .body = b, .len = len};
	c[16] = (struct grpc_call){.path = "/test.Echo/Inline", .body = q, .len = qlen};
	ck_assert_int_eq(grpc_client_run(fx.sock, c, 17), 0);
	free(b);
	free(q);
	free(c[16].resp);
	ck_assert_msg(c[16].grpc_status == GRPC_OK, "an inline call behind them answered %d: %s",
		      c[16].grpc_status, c[16].message);
	int ok = 0, refused = 0;
	for (size_t i = 0; i < 16; i++) {
		free(c[i].resp);
		ok += c[i].grpc_status == GRPC_OK;
		refused += c[i].grpc_status == GRPC_RESOURCE_EXHAUSTED;
	}
	ck_assert_int_eq(ok + refused, 16);
	ck_assert_int_gt(ok, 0);
	ck_assert_msg(refused > 0, "16 requests of 3 MB unpacked each all queued");
}
END_TEST

Suite *grpc_server_suite(void)
{
	Suite *s = suite_create("grpc_server");
	TCase *tc = tcase_create("server");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, ok_with_trailers);
	tcase_add_test(tc, error_message_escaped);
	tcase_add_test(tc, error_message_edges);
	tcase_add_test(tc, refused_requests);
	tcase_add_test(tc, concurrent_streams);
	tcase_add_test(tc, message_across_frames);
	tcase_add_test(tc, slow_handler_blocks_nobody);
	tcase_add_test(tc, client_gone_while_handler_runs);
	tcase_add_test(tc, idle_connections_do_not_lock_out);
	tcase_add_test(tc, unfinished_requests_bounded);
	tcase_add_test(tc, amplified_request_refused);
	tcase_add_test(tc, queued_requests_bounded);
	suite_add_tcase(s, tc);
	/* the same conversations with handlers on the loop thread (what the fuzzer runs) */
	TCase *tci = tcase_create("inline");
	tcase_add_checked_fixture(tci, setup_inline, teardown);
	tcase_add_test(tci, ok_with_trailers);
	tcase_add_test(tci, refused_requests);
	tcase_add_test(tci, concurrent_streams);
	tcase_add_test(tci, mem_connection_garbage);
	suite_add_tcase(s, tci);
	return s;
}
