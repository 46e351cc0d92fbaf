/* SPDX-License-Identifier: Apache-2.0 */
/* How the CLI reaches weir-node: the state directory, the socket, and starting the daemon
 * when none runs. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "control.h"

struct node_client {
	char state_dir[4096];
	char socket_path[4200];
};

/* Fills the paths: --state-dir if given, else $WEIR_STATE_DIR, else /var/lib/weir. */
void node_client_init(struct node_client *nc, const char *state_dir);
/* Sends req; returns 0 with an owned *ret (free with weir__response__free_unpacked), or
 * -errno when no daemon answers. */
int node_client_call(const struct node_client *nc, const Weir__Request *req, Weir__Response **ret);
/* The pid of the weir-node answering on the socket, or 0 when none does. */
pid_t node_client_pid(const struct node_client *nc);
/* True when a weir-node answers on the socket. */
bool node_client_alive(const struct node_client *nc);
/* Starts weir-node for this state directory unless one answers; waits until it does.
 * foreground: keep it attached to this terminal, *ret_pid is its pid (else 0).
 * Returns 0 or -errno with a message printed. */
int node_client_ensure(const struct node_client *nc, bool foreground, pid_t *ret_pid);
