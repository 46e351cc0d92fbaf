/* SPDX-License-Identifier: Apache-2.0 */
/* A blocking gRPC client over nghttp2 for tests: one connection, any number of concurrent
 * unary calls on it, every header and trailer recorded so tests can check them. */
#pragma once

#include <nghttp2/nghttp2.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct grpc_call {
	/* in */
	const char *path;
	const char *content_type; /* NULL: application/grpc */
	const uint8_t *body;	  /* sent as is (tests frame it, or not) */
	size_t len;
	/* out */
	int http_status;
	int grpc_status; /* -1 when no grpc-status came */
	char message[1024];
	uint8_t *resp; /* the response body, owned (free) */
	size_t resp_len;
	bool closed;
	int32_t stream_id;
};

/* nghttp2's data provider over a buffer: source.ptr is a struct grpc_body_src. */
struct grpc_body_src {
	const uint8_t *p;
	size_t len, off;
};
ssize_t grpc_client_body_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
			      uint32_t *flags, nghttp2_data_source *src, void *ud);

/* Runs the n calls concurrently on one connection to the Unix socket sock. Returns 0 when
 * every stream closed, -errno otherwise. */
int grpc_client_run(const char *sock, struct grpc_call *calls, size_t n);
/* The same, giving up (and closing the connection) when the server is silent for timeout_s. */
int grpc_client_run_timeout(const char *sock, struct grpc_call *calls, size_t n,
			    unsigned timeout_s);

/* One unary call: packs req into a frame, unpacks the answer with rdesc into *ret_resp (NULL
 * unless the status is OK). Returns the grpc status (>= 0) or -errno; msg gets grpc-message. */
int grpc_client_unary(const char *sock, const char *path, const ProtobufCMessage *req,
		      const ProtobufCMessageDescriptor *rdesc, ProtobufCMessage **ret_resp,
		      char *msg, size_t msglen);
