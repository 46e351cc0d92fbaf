/* SPDX-License-Identifier: Apache-2.0 */
/* Starting weir's daemons from the CLI: where the state directory is, where the binary is, and
 * a start that waits until the daemon answers (or says why it did not). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The state directory: arg if given, else $WEIR_STATE_DIR, else /var/lib/weir. */
void spawn_state_dir(const char *arg, char *out, size_t len);

struct spawn_target {
	const char *name;	/* "weir-node" */
	const char *env;	/* variable naming the binary, "WEIR_NODE_BIN" */
	const char *const *rel; /* places relative to this binary's directory, NULL-ended */
	const char *state_dir;
	const char *log_name;	 /* file in the state directory for its output */
	const char *socket_path; /* for messages */
	bool (*alive)(const void *ctx);
	const void *ctx;
	/* Run under weir-keeper (found as $WEIR_KEEPER_BIN, or next to the daemon or this
	 * binary), which restarts the daemon when it dies and holds its stored descriptors;
	 * its pid is in DIR/keeper_name-keeper.pid. */
	const char *keeper_name;
};

/* Runs t->name --state-dir DIR ARGS... (under weir-keeper when t->keeper_name), detached with its
 * output in the log (or attached to this terminal when foreground), and waits up to 10 s until
 * t->alive says it answers. Returns 0 (*ret_pid is its pid when foreground, else 0) or -errno after
 * printing why (the tail of its log when it exited at start). */
int spawn_daemon(const struct spawn_target *t, char *const *args, int nargs, bool foreground,
		 pid_t *ret_pid);

/* The live weir-keeper of daemon keeper_name ("node") for state_dir, from its pid file and
 * checked by name (a stale pid file names nobody else), or 0. */
pid_t spawn_keeper_pid(const char *state_dir, const char *keeper_name);
