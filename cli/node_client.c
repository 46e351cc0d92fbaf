// SPDX-License-Identifier: Apache-2.0
// Reaching and starting weir-node. The daemon is found next to this binary (installed or in the
// build tree) unless $WEIR_NODE_BIN names it.
#include "node_client.h"

#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void node_client_init(struct node_client *nc, const char *state_dir)
{
	spawn_state_dir(state_dir, nc->state_dir, sizeof(nc->state_dir));
	snprintf(nc->socket_path, sizeof(nc->socket_path), "%s/node.sock", nc->state_dir);
}

int node_client_call(const struct node_client *nc, const Weir__Request *req, Weir__Response **ret)
{
	return control_call(nc->socket_path, req, ret);
}

pid_t node_client_pid(const struct node_client *nc)
{
	Weir__Request req = WEIR__REQUEST__INIT;
	Weir__Empty ping = WEIR__EMPTY__INIT;
	req.body_case = WEIR__REQUEST__BODY_PING;
	req.ping = &ping;
	Weir__Response *resp;
	if (node_client_call(nc, &req, &resp) < 0)
		return 0;
	pid_t pid = (pid_t)resp->pid;
	weir__response__free_unpacked(resp, NULL);
	return pid;
}

bool node_client_alive(const struct node_client *nc)
{
	return control_ping(nc->socket_path, 0);
}

static bool node_alive(const void *ctx)
{
	return node_client_alive(ctx);
}

int node_client_ensure(const struct node_client *nc, bool foreground, pid_t *ret_pid)
{
	/* A keeper restarting its weir-node: the node answers in a moment, and a second one
	 * started now would race it for the state directory and its views. */
	pid_t keeper = spawn_keeper_pid(nc->state_dir, "node");
	for (int i = 0; keeper > 0 && i < 200 && !node_client_alive(nc); i++) {
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
		keeper = spawn_keeper_pid(nc->state_dir, "node"); /* or it is stopping too */
	}
	if (keeper > 0 && !node_client_alive(nc)) {
		fprintf(stderr,
			"weir: weir-keeper (pid %d) runs for \"%s\" but its weir-node has not "
			"answered for 10 s; see %s/node.log\n",
			(int)keeper, nc->state_dir, nc->state_dir);
		return -ETIMEDOUT;
	}
	if (node_client_alive(nc)) {
		if (foreground) {
			fprintf(stderr,
				"weir: a weir-node already serves \"%s\"; --foreground "
				"needs its own state directory (--state-dir)\n",
				nc->state_dir);
			return -EBUSY;
		}
		*ret_pid = 0;
		return 0;
	}
	static const char *const rel[] = {"weir-node", "../weir-node", "../sbin/weir-node", NULL};
	const struct spawn_target t = {
	    .name = "weir-node",
	    .env = "WEIR_NODE_BIN",
	    .rel = rel,
	    .state_dir = nc->state_dir,
	    .log_name = "node.log",
	    .socket_path = nc->socket_path,
	    .alive = node_alive,
	    .ctx = nc,
	    .keeper_name = "node",
	};
	return spawn_daemon(&t, NULL, 0, foreground, ret_pid);
}
