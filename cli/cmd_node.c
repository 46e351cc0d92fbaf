// SPDX-License-Identifier: Apache-2.0
// weir node restart: replaces the running weir-node with the binary now on disk, with no
// unmount (a rolling upgrade): its keeper kills it and starts the new one, which takes the
// views over as after a crash.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "node_client.h"
#include "spawn.h"

static int node_usage(FILE *out, int rc)
{
	fprintf(out, "usage: weir [--state-dir DIR] node restart\n"
		     "  replaces the running weir-node with the binary on disk now (an upgrade)\n"
		     "  without unmounting anything: open files keep reading through the pause.\n"
		     "  Needs the weir-keeper that weir mount and weir up start it under.\n");
	return rc;
}

int cmd_node(int argc, char **argv, const struct global_opts *g)
{
	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
		return node_usage(stdout, 0);
	if (argc != 2 || strcmp(argv[1], "restart") != 0)
		return node_usage(stderr, 2);
	struct node_client nc;
	node_client_init(&nc, g->state_dir);
	pid_t keeper = spawn_keeper_pid(nc.state_dir, "node");
	if (keeper <= 0) {
		fprintf(stderr,
			"weir node restart: no weir-keeper runs for \"%s\" (%s/node-keeper.pid): "
			"weir-node is not running, or was started by hand; weir mount or weir up "
			"start it under one\n",
			nc.state_dir, nc.state_dir);
		return 1;
	}
	pid_t old = node_client_pid(&nc);
	if (kill(keeper, SIGHUP) < 0) {
		fprintf(stderr, "weir node restart: signalling weir-keeper %d: %s\n", (int)keeper,
			strerror(errno));
		return 1;
	}
	for (int i = 0; i < 300; i++) {
		pid_t now = node_client_pid(&nc);
		if (now > 0 && now != old) {
			printf("weir-node restarted: pid %d -> %d; its views were taken over "
			       "(%s/node.log says how)\n",
			       (int)old, (int)now, nc.state_dir);
			return 0;
		}
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	fprintf(stderr,
		"weir node restart: no new weir-node answered within 15 s; see %s/node.log\n",
		nc.state_dir);
	return 1;
}
