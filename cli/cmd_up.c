// SPDX-License-Identifier: Apache-2.0
// weir up / weir down: the embedded default, weir-controller and weir-node on this machine,
// one pair per state directory; both commands are idempotent.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "control_hint.h"
#include "controller_client.h"
#include "node_client.h"
#include "spawn.h"

static void write_pid(const char *state_dir, const char *name, pid_t pid)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s.pid", state_dir, name);
	FILE *f = fopen(path, "we");
	if (!f)
		return;
	fprintf(f, "%d\n", (int)pid);
	fclose(f);
}

static void remove_pid(const char *state_dir, const char *name)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s.pid", state_dir, name);
	unlink(path);
}

static int up_usage(FILE *out, int rc)
{
	fprintf(out, "usage: weir [--state-dir DIR] up [-- WEIR-CONTROLLER-FLAGS...]\n"
		     "  starts weir-controller and weir-node for the state directory (logs in\n"
		     "  DIR/controller.log and DIR/node.log) and waits until both answer.\n"
		     "  Flags after \"--\" go to a weir-controller this command starts, e.g.\n"
		     "  -- --deny-by-default (also settable in DIR/controller.conf).\n");
	return rc;
}

/* Accepts "--state-dir DIR" after the command as well; *ret_rest (may be NULL) is the index of
 * the first argument after "--", or argc. */
static int parse_state_dir(int argc, char **argv, const char **state_dir, int *ret_rest)
{
	if (ret_rest)
		*ret_rest = argc;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--") && ret_rest) {
			*ret_rest = i + 1;
			return 0;
		} else if (!strcmp(argv[i], "--state-dir") && i + 1 < argc)
			*state_dir = argv[++i];
		else if (!strncmp(argv[i], "--state-dir=", 12))
			*state_dir = argv[i] + 12;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return 1;
		else
			return -EINVAL;
	}
	return 0;
}

int cmd_up(int argc, char **argv, const struct global_opts *g)
{
	const char *sd = g->state_dir;
	int rest;
	int r = parse_state_dir(argc, argv, &sd, &rest);
	if (r == 1)
		return up_usage(stdout, 0);
	if (r < 0)
		return up_usage(stderr, 2);
	struct controller_client cc;
	struct node_client nc;
	controller_client_init(&cc, sd);
	node_client_init(&nc, sd);
	pid_t pid = 0;
	bool was_up = controller_client_alive(&cc, &pid);
	if (!was_up && controller_client_start(&cc, argv + rest, argc - rest) < 0)
		return 1;
	if (was_up && rest < argc)
		fprintf(stderr,
			"weir up: weir-controller already runs; the flags after \"--\" apply "
			"only when it starts (`weir down` first)\n");
	controller_client_alive(&cc, &pid);
	write_pid(cc.state_dir, "controller", pid);
	printf("weir-controller %s (pid %d), socket %s\n", was_up ? "already running" : "started",
	       (int)pid, cc.socket_path);
	bool node_was_up = node_client_alive(&nc);
	pid_t child = 0;
	if (!node_was_up && node_client_ensure(&nc, false, &child) < 0) {
		fprintf(stderr,
			"weir up: weir-node did not start; see %s/node.log. weir-controller "
			"keeps running (`weir down` stops it).\n",
			nc.state_dir);
		return 1;
	}
	pid_t np = node_client_pid(&nc);
	write_pid(nc.state_dir, "node", np);
	printf("weir-node %s (pid %d), socket %s\n", node_was_up ? "already running" : "started",
	       (int)np, nc.socket_path);
	return 0;
}

/* Sends Shutdown on sock (SIGTERM to pid when sock is NULL) and waits up to timeout_s for pid
 * to exit. Returns 0, -ETIMEDOUT, or the daemon's refusal (-EPERM for a caller it does not
 * serve) with its words in why. */
static int stop_one(const char *sock, pid_t pid, int timeout_s, char *why, size_t whylen)
{
	Weir__Request req = WEIR__REQUEST__INIT;
	Weir__Empty e = WEIR__EMPTY__INIT;
	req.body_case = WEIR__REQUEST__BODY_SHUTDOWN;
	req.shutdown = &e;
	Weir__Response *resp = NULL;
	if (!sock) {
		kill(pid, SIGTERM); /* a keeper: no socket, a signal */
	} else if (control_call(sock, &req, &resp) == 0) {
		int err = resp->error;
		snprintf(why, whylen, "%s", resp->message ? resp->message : "");
		weir__response__free_unpacked(resp, NULL);
		if (err < 0)
			return err;
	}
	for (int i = 0; i < timeout_s * 20; i++) {
		if (pid <= 0 || (kill(pid, 0) < 0 && errno == ESRCH))
			return 0;
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

/* The error of a Ping to sock: 0 when something answered (even a refusal), else -errno. */
static int ping_error(const char *sock)
{
	Weir__Request req = WEIR__REQUEST__INIT;
	Weir__Empty ping = WEIR__EMPTY__INIT;
	req.body_case = WEIR__REQUEST__BODY_PING;
	req.ping = &ping;
	Weir__Response *resp;
	int r = control_call(sock, &req, &resp);
	if (r == 0)
		weir__response__free_unpacked(resp, NULL);
	return r;
}

int cmd_down(int argc, char **argv, const struct global_opts *g)
{
	const char *sd = g->state_dir;
	int r = parse_state_dir(argc, argv, &sd, NULL);
	if (r != 0) {
		fprintf(r == 1 ? stdout : stderr,
			"usage: weir [--state-dir DIR] down\n"
			"  stops weir-controller and weir-node (their views are unmounted).\n");
		return r == 1 ? 0 : 2;
	}
	struct controller_client cc;
	struct node_client nc;
	controller_client_init(&cc, sd);
	node_client_init(&nc, sd);
	/* A caller the state directory or a socket shuts out cannot tell a running daemon from
	 * none: "was not running" and exit 0 told a user who forgot sudo that weir had stopped. */
	const char *socks[] = {cc.socket_path, nc.socket_path};
	for (size_t i = 0; i < 2; i++) {
		int pr = ping_error(socks[i]);
		if (pr == -EACCES || pr == -EPERM) {
			fprintf(stderr, "weir down: cannot reach \"%s\" (%s); %s\n", socks[i],
				strerror(-pr), control_hint(pr, ""));
			return 1;
		}
	}
	int rc = 0;
	pid_t pid = 0;
	if (controller_client_alive(&cc, &pid)) {
		char why[512] = "";
		r = stop_one(cc.socket_path, pid, 15, why, sizeof(why));
		if (r < 0 && r != -ETIMEDOUT) {
			fprintf(stderr, "weir down: weir-controller (pid %d) refused to stop: %s\n",
				(int)pid, why[0] ? why : strerror(-r));
			return 1;
		}
		if (r < 0) {
			fprintf(stderr,
				"weir down: weir-controller (pid %d) did not stop within 15 s; "
				"kill it with `kill %d`\n",
				(int)pid, (int)pid);
			rc = 1;
		} else {
			printf("weir-controller stopped\n");
		}
	} else {
		printf("weir-controller was not running\n");
	}
	remove_pid(cc.state_dir, "controller");
	if (node_client_alive(&nc)) {
		pid = node_client_pid(&nc);
		char why[512] = "";
		r = stop_one(nc.socket_path, pid, 30, why, sizeof(why));
		if (r < 0 && r != -ETIMEDOUT) {
			fprintf(stderr, "weir down: weir-node (pid %d) refused to stop: %s\n",
				(int)pid, why[0] ? why : strerror(-r));
			return 1;
		}
		if (r < 0) {
			fprintf(stderr,
				"weir down: weir-node (pid %d) did not stop within 30 s; "
				"kill it with `kill %d`\n",
				(int)pid, (int)pid);
			rc = 1;
		} else {
			printf("weir-node stopped\n");
		}
	} else {
		printf("weir-node was not running\n");
	}
	remove_pid(nc.state_dir, "node");
	/* A keeper between two of its daemon's lives (or whose daemon would not stop) would
	 * start it again: stop the keepers too. */
	for (int i = 0; i < 2; i++) {
		const char *name = i ? "node" : "controller";
		pid_t kp = spawn_keeper_pid(nc.state_dir, name);
		if (kp > 0 && stop_one(NULL, kp, 10, NULL, 0) < 0) {
			fprintf(stderr,
				"weir down: the weir-keeper of weir-%s (pid %d) did not stop "
				"within 10 s; kill it with `kill %d`\n",
				name, (int)kp, (int)kp);
			rc = 1;
		}
	}
	return rc;
}
