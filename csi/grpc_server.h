/* SPDX-License-Identifier: Apache-2.0 */
/* A unary gRPC server over HTTP/2 (nghttp2 server sessions) on Unix sockets: one poll loop
 * thread owns every connection and nghttp2 session (many connections, many concurrent streams
 * each); handlers run in a small pool of workers, so a slow one (a view's mount waits on its UFS)
 * does not hold up other calls. A method table per socket maps a path
 * ("/csi.v1.Node/NodePublishVolume") to a handler. */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "grpc_frame.h"

/* What a handler answers: a packed response message, or an error message for the trailer. */
struct grpc_reply {
	uint8_t *body; /* header + packed message, owned */
	size_t len;
	char message[1024]; /* grpc-message when the handler fails; raw, encoded when sent */
};

/* Packs resp into rp. Returns 0 or -ENOMEM. */
int grpc_reply_set(struct grpc_reply *rp, const ProtobufCMessage *resp);
/* Sets the error message (printf-style) and returns err, so a handler can
 * `return grpc_reply_error(rp, -EINVAL, "volume_id is empty");`. */
int grpc_reply_error(struct grpc_reply *rp, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A handler gets the unpacked request (freed after it returns) and answers through rp: 0 after
 * grpc_reply_set, or -errno (converted by grpc_status_from_errno) with rp->message set. It runs
 * on a pool worker, several at once: what it shares with other handlers needs its own lock. */
typedef int (*grpc_handler_fn)(void *ctx, const ProtobufCMessage *req, struct grpc_reply *rp);

struct grpc_method {
	const char *path;
	const ProtobufCMessageDescriptor *request;
	grpc_handler_fn handler;
	/* answers from memory (no I/O, no wait): runs on the loop thread, so it is never queued
	 * behind handlers that wait on a daemon (the kubelet asks NodeGetCapabilities before
	 * every publish and unpublish) */
	bool inline_;
};

struct grpc_server;
struct grpc_conn;

/* workers: the handler threads (at most 16); 0 runs handlers on the loop thread (tests, the
 * fuzzer's memory connections). */
struct grpc_server *grpc_server_new(unsigned workers);
/* Closes every connection and listener (socket files are unlinked). Accepts NULL. */
void grpc_server_free(struct grpc_server *srv);

/* Listens at the Unix socket path (a stale socket file is replaced) and serves the n methods
 * there; methods and ctx are borrowed for the server's life. mode: the socket file's mode.
 * Returns 0 or -errno. */
int grpc_server_listen(struct grpc_server *srv, const char *path, unsigned mode,
		       const struct grpc_method *methods, size_t n, void *ctx);

/* Runs the loop (and the workers) until grpc_server_stop; on return the workers are joined.
 * tick (may be NULL) is called about every tick_ms on the loop's thread (timers: a view's grace
 * period). Returns 0 or -errno. */
int grpc_server_run(struct grpc_server *srv, void (*tick)(void *), void *tick_ctx, int tick_ms);
/* Makes grpc_server_run return; async-signal-safe, callable from any thread. */
void grpc_server_stop(struct grpc_server *srv);

/* For the fuzzer and unit tests: a connection fed from memory (what it writes is dropped),
 * serving the methods of the listener index-th added (0-based). */
struct grpc_conn *grpc_conn_new_mem(struct grpc_server *srv, size_t listener);
/* Feeds bytes as if read from the socket. Returns 0, or -EPROTO once the session is broken. */
int grpc_conn_feed(struct grpc_conn *c, const uint8_t *buf, size_t len);
void grpc_conn_free(struct grpc_conn *c);
