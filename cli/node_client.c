// SPDX-License-Identifier: Apache-2.0
// Finding and starting weir-node. The daemon is found next to this binary (installed or in the
// build tree) unless $WEIR_NODE_BIN names it.
#include "node_client.h"

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
	const char *s = state_dir;
	if (!s || !*s)
		s = getenv("WEIR_STATE_DIR");
	if (!s || !*s)
		s = "/var/lib/weir";
	snprintf(nc->state_dir, sizeof(nc->state_dir), "%s", s);
	snprintf(nc->socket_path, sizeof(nc->socket_path), "%s/node.sock", nc->state_dir);
}

int node_client_call(const struct node_client *nc, const Weir__Request *req,
		     Weir__Response **ret)
{
	return control_call(nc->socket_path, req, ret);
}

bool node_client_alive(const struct node_client *nc)
{
	Weir__Request req = WEIR__REQUEST__INIT;
	Weir__Empty ping = WEIR__EMPTY__INIT;
	req.body_case = WEIR__REQUEST__BODY_PING;
	req.ping = &ping;
	Weir__Response *resp;
	if (node_client_call(nc, &req, &resp) < 0)
		return false;
	weir__response__free_unpacked(resp, NULL);
	return true;
}

static int find_node_bin(char *out, size_t len)
{
	const char *env = getenv("WEIR_NODE_BIN");
	if (env && *env) {
		snprintf(out, len, "%s", env);
		return access(out, X_OK) == 0 ? 0 : -ENOENT;
	}
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		char *dir = dirname(self);
		/* installed side by side, or the build tree's cli/ next to its daemon */
		const char *cands[] = {"/weir-node", "/../weir-node", "/../sbin/weir-node"};
		for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++) {
			snprintf(out, len, "%s%s", dir, cands[i]);
			if (access(out, X_OK) == 0)
				return 0;
		}
	}
	snprintf(out, len, "weir-node");
	return 0; /* execvp searches PATH */
}

static void print_log_tail(const char *state_dir)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/node.log", state_dir);
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	char lines[8][512];
	int n = 0;
	while (fgets(lines[n % 8], sizeof(lines[0]), f))
		n++;
	fclose(f);
	for (int i = n > 8 ? n - 8 : 0; i < n; i++)
		fprintf(stderr, "  %s", lines[i % 8]);
}

int node_client_ensure(const struct node_client *nc, bool foreground, pid_t *ret_pid)
{
	if (node_client_alive(nc)) {
		if (foreground) {
			fprintf(stderr, "weir: a weir-node already serves \"%s\"; --foreground "
					"needs its own state directory (--state-dir)\n",
				nc->state_dir);
			return -EBUSY;
		}
		*ret_pid = 0;
		return 0;
	}
	if (mkdir(nc->state_dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "weir: cannot create the state directory \"%s\": %s\n",
			nc->state_dir, strerror(errno));
		return -errno;
	}
	char bin[PATH_MAX];
	if (find_node_bin(bin, sizeof(bin)) < 0) {
		fprintf(stderr, "weir: $WEIR_NODE_BIN \"%s\" is not an executable\n", bin);
		return -ENOENT;
	}
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (!foreground) {
			setsid();
			char logp[4200];
			snprintf(logp, sizeof(logp), "%s/node.log", nc->state_dir);
			int lfd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0644);
			int nfd = open("/dev/null", O_RDONLY);
			if (nfd >= 0)
				dup2(nfd, 0);
			if (lfd >= 0) {
				dup2(lfd, 1);
				dup2(lfd, 2);
			}
		}
		execlp(bin, "weir-node", "--state-dir", nc->state_dir, (char *)NULL);
		fprintf(stderr, "weir: cannot run \"%s\": %s\n", bin, strerror(errno));
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		if (node_client_alive(nc)) {
			*ret_pid = foreground ? pid : 0;
			return 0;
		}
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			fprintf(stderr, "weir: weir-node exited at start; its log says:\n");
			print_log_tail(nc->state_dir);
			return -ECHILD;
		}
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "weir: weir-node did not answer on \"%s\" within 10 s\n", nc->socket_path);
	return -ETIMEDOUT;
}
