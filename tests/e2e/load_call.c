// SPDX-License-Identifier: Apache-2.0
// load-call SOCK SOURCE_ID PATH...: asks a weir-node to load paths of an open source (the
// request a controller sends for a DataLoad) and waits for the end; prints
// "bytes_done=N bytes_total=N ufs_bytes=N ms=N". Exit 0 when complete, 1 when the load failed
// or was refused (the reason on stderr), 2 when the node does not answer.
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "control.h"

static int call(const char *sock, Weir__Request *req, Weir__Response **ret)
{
	int r = control_call_timeout(sock, req, 30000, ret);
	if (r < 0)
		fprintf(stderr, "load-call: %s: %s\n", sock, strerror(-r));
	return r;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: load-call SOCK SOURCE_ID PATH...\n");
		return 2;
	}
	Weir__LoadRequest lr = WEIR__LOAD_REQUEST__INIT;
	lr.source_id = argv[2];
	lr.paths = argv + 3;
	lr.n_paths = (size_t)(argc - 3);
	Weir__Request req = WEIR__REQUEST__INIT;
	req.body_case = WEIR__REQUEST__BODY_LOAD;
	req.load = &lr;
	Weir__Response *resp = NULL;
	if (call(argv[1], &req, &resp) < 0)
		return 2;
	if (resp->error) {
		fprintf(stderr, "refused: %s\n", resp->message ? resp->message : "(no message)");
		weir__response__free_unpacked(resp, NULL);
		return 1;
	}
	uint64_t id = resp->load_id;
	weir__response__free_unpacked(resp, NULL);
	for (;;) {
		nanosleep(&(struct timespec){0, 50000000L}, NULL);
		Weir__LoadStatusRequest ls = WEIR__LOAD_STATUS_REQUEST__INIT;
		ls.load_id = id;
		Weir__Request sreq = WEIR__REQUEST__INIT;
		sreq.body_case = WEIR__REQUEST__BODY_LOAD_STATUS;
		sreq.load_status = &ls;
		if (call(argv[1], &sreq, &resp) < 0)
			return 2;
		const Weir__LoadProgress *p = resp->load;
		if (resp->error || !p) {
			fprintf(stderr, "load %llu: %s\n", (unsigned long long)id,
				resp->message ? resp->message : "(no progress)");
			weir__response__free_unpacked(resp, NULL);
			return 1;
		}
		if (p->finished) {
			int rc = p->error ? 1 : 0;
			if (p->error)
				fprintf(stderr, "load failed: %s\n", p->message ? p->message : "?");
			printf("bytes_done=%llu bytes_total=%llu ufs_bytes=%llu ms=%llu\n",
			       (unsigned long long)p->bytes_done,
			       (unsigned long long)p->bytes_total, (unsigned long long)p->ufs_bytes,
			       (unsigned long long)(p->finished_ms - p->started_ms));
			weir__response__free_unpacked(resp, NULL);
			return rc;
		}
		weir__response__free_unpacked(resp, NULL);
	}
}
