/* SPDX-License-Identifier: Apache-2.0 */
/* A grpc_server on a Unix socket in a private temporary directory, run by a thread, for the
 * Check tests: start serves the methods, stop stops the loop, joins and removes the directory. */
#pragma once

#include <pthread.h>

#include "grpc_server.h"

struct server_fixture {
	char dir[64];
	char sock[128];
	struct grpc_server *srv;
	pthread_t thread;
};

/* workers: the server's handler threads (0: handlers on the loop thread). */
void server_fixture_start(struct server_fixture *f, const struct grpc_method *m, size_t n,
			  void *ctx, unsigned workers);
void server_fixture_stop(struct server_fixture *f);
