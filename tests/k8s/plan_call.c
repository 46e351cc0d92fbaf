// SPDX-License-Identifier: Apache-2.0
// plan-call SOCK NAMESPACE DATASET: asks a weir-node for the mount plan of (namespace, dataset),
// the request weir-csi sends before it starts a view, and prints the plan one field a line
// ("source_id=development_spark"). Exit 0 with the plan, 1 with the node's refusal on stderr,
// 2 when the node does not answer.
#include <stdio.h>
#include <string.h>

#include "control.h"

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: plan-call SOCK NAMESPACE DATASET\n");
		return 2;
	}
	Weir__DatasetMountRequest dm = WEIR__DATASET_MOUNT_REQUEST__INIT;
	dm.namespace_ = argv[2];
	dm.dataset = argv[3];
	Weir__Request req = WEIR__REQUEST__INIT;
	req.body_case = WEIR__REQUEST__BODY_DATASET_MOUNT;
	req.dataset_mount = &dm;
	Weir__Response *resp = NULL;
	int r = control_call_timeout(argv[1], &req, 10000, &resp);
	if (r < 0) {
		fprintf(stderr, "plan-call: %s: %s\n", argv[1], strerror(-r));
		return 2;
	}
	int rc = 0;
	if (resp->error || !resp->mount) {
		fprintf(stderr, "error %d: %s\n", resp->error,
			resp->message ? resp->message : "(no plan, no message)");
		rc = 1;
	} else {
		const Weir__MountRequest *m = resp->mount;
		printf("source_id=%s\nsubpath=%s\nread_write=%s\nufs_url=%s\nnamespace=%s\n"
		       "dataset=%s\ntiers=%zu\n",
		       m->source_id, m->subpath, m->read_write ? "true" : "false", m->ufs_url,
		       m->namespace_, m->dataset, m->n_tiers);
	}
	weir__response__free_unpacked(resp, NULL);
	return rc;
}
