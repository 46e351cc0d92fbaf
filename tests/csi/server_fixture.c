// SPDX-License-Identifier: Apache-2.0
// See server_fixture.h.
#include "server_fixture.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void *run(void *arg)
{
	struct server_fixture *f = arg;
	grpc_server_run(f->srv, NULL, NULL, 0);
	return NULL;
}

void server_fixture_start(struct server_fixture *f, const struct grpc_method *m, size_t n,
			  void *ctx, unsigned workers)
{
	snprintf(f->dir, sizeof(f->dir), "/tmp/weir-grpc.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/s.sock", f->dir);
	f->srv = grpc_server_new(workers);
	ck_assert_ptr_nonnull(f->srv);
	ck_assert_int_eq(grpc_server_listen(f->srv, f->sock, 0600, m, n, ctx), 0);
	ck_assert_int_eq(pthread_create(&f->thread, NULL, run, f), 0);
}

void server_fixture_stop(struct server_fixture *f)
{
	grpc_server_stop(f->srv);
	pthread_join(f->thread, NULL);
	grpc_server_free(f->srv);
	rmdir(f->dir);
}
