// SPDX-License-Identifier: Apache-2.0
// Finding, starting and calling weir-controller. The binary is $WEIR_CONTROLLER_BIN, or next to
// this one (installed), or in the build tree (build/cli/weir → build/controller/weir-controller).
#include "controller_client.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void controller_client_init(struct controller_client *cc, const char *state_dir)
{
	const char *s = state_dir;
	if (!s || !*s)
		s = getenv("WEIR_STATE_DIR");
	if (!s || !*s)
		s = "/var/lib/weir";
	snprintf(cc->state_dir, sizeof(cc->state_dir), "%s", s);
	snprintf(cc->socket_path, sizeof(cc->socket_path), "%s/controller.sock", cc->state_dir);
}

int controller_client_call(const struct controller_client *cc, const Weir__Request *req,
			   Weir__Response **ret)
{
	return control_call(cc->socket_path, req, ret);
}

int controller_client_request(const struct controller_client *cc, const char *cmd,
			      const Weir__Request *req, Weir__Response **ret)
{
	Weir__Response *resp = NULL;
	int r = controller_client_call(cc, req, &resp);
	if (r < 0) {
		fprintf(stderr,
			"weir %s: no weir-controller answers on \"%s\" (%s); start one with `weir "
			"up` (state directory \"%s\")\n",
			cmd, cc->socket_path, strerror(-r), cc->state_dir);
		return r;
	}
	if (resp->error) {
		fprintf(stderr, "weir %s: %s\n", cmd,
			resp->message && *resp->message ? resp->message : strerror(-resp->error));
		r = resp->error < 0 ? resp->error : -EIO;
		weir__response__free_unpacked(resp, NULL);
		return r;
	}
	*ret = resp;
	return 0;
}

bool controller_client_alive(const struct controller_client *cc, pid_t *ret_pid)
{
	Weir__Request req = WEIR__REQUEST__INIT;
	Weir__Empty ping = WEIR__EMPTY__INIT;
	req.body_case = WEIR__REQUEST__BODY_PING;
	req.ping = &ping;
	Weir__Response *resp;
	if (controller_client_call(cc, &req, &resp) < 0)
		return false;
	if (ret_pid)
		*ret_pid = (pid_t)resp->pid;
	weir__response__free_unpacked(resp, NULL);
	return true;
}

static int find_bin(char *out, size_t len)
{
	const char *env = getenv("WEIR_CONTROLLER_BIN");
	if (env && *env) {
		snprintf(out, len, "%s", env);
		return access(out, X_OK) == 0 ? 0 : -ENOENT;
	}
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		char *dir = dirname(self);
		const char *cands[] = {"/weir-controller", "/../controller/weir-controller",
				       "/../sbin/weir-controller"};
		for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++) {
			snprintf(out, len, "%s%s", dir, cands[i]);
			if (access(out, X_OK) == 0)
				return 0;
		}
	}
	snprintf(out, len, "weir-controller");
	return 0;
}

static void print_log_tail(const char *state_dir)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/controller.log", state_dir);
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

int controller_client_start(const struct controller_client *cc, char *const *args, int nargs)
{
	if (controller_client_alive(cc, NULL))
		return 0;
	if (mkdir(cc->state_dir, 0755) < 0 && errno != EEXIST) {
		int e = errno;
		fprintf(stderr, "weir: cannot create the state directory \"%s\": %s\n",
			cc->state_dir, strerror(e));
		return -e;
	}
	char bin[PATH_MAX];
	if (find_bin(bin, sizeof(bin)) < 0) {
		fprintf(stderr, "weir: $WEIR_CONTROLLER_BIN \"%s\" is not an executable\n", bin);
		return -ENOENT;
	}
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		setsid();
		char logp[4200];
		snprintf(logp, sizeof(logp), "%s/controller.log", cc->state_dir);
		int lfd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		int nfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (nfd >= 0)
			dup2(nfd, 0);
		if (lfd >= 0) {
			dup2(lfd, 1);
			dup2(lfd, 2);
		}
		char **av = calloc((size_t)nargs + 4, sizeof(char *));
		if (!av)
			_exit(127);
		av[0] = "weir-controller";
		av[1] = "--state-dir";
		av[2] = (char *)cc->state_dir;
		for (int i = 0; i < nargs; i++)
			av[3 + i] = args[i];
		execvp(bin, av);
		fprintf(stderr, "weir: cannot run \"%s\": %s\n", bin, strerror(errno));
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		if (controller_client_alive(cc, NULL))
			return 0;
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			fprintf(stderr,
				"weir: weir-controller exited at start; its log (%s/"
				"controller.log) says:\n",
				cc->state_dir);
			print_log_tail(cc->state_dir);
			return -ECHILD;
		}
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	fprintf(stderr,
		"weir: weir-controller did not answer on \"%s\" within 10 s; see %s/"
		"controller.log\n",
		cc->socket_path, cc->state_dir);
	return -ETIMEDOUT;
}

const char *controller_client_kind(const char *word, bool *ret_only_alluxio)
{
	static const struct {
		const char *word;
		const char *kind;
		bool alluxio;
	} kinds[] = {
	    {"dataset", "Dataset", false},
	    {"datasets", "Dataset", false},
	    {"dataset.data.fluid.io", "Dataset", false},
	    {"datasets.data.fluid.io", "Dataset", false},
	    {"runtime", "Runtime", false},
	    {"runtimes", "Runtime", false},
	    {"runtime.data.fluid.io", "Runtime", false},
	    {"alluxioruntime", "Runtime", true},
	    {"alluxioruntimes", "Runtime", true},
	    {"alluxioruntime.data.fluid.io", "Runtime", true},
	    {"dataload", "DataLoad", false},
	    {"dataloads", "DataLoad", false},
	    {"dataload.data.fluid.io", "DataLoad", false},
	    {"namespace", "Namespace", false},
	    {"namespaces", "Namespace", false},
	    {"ns", "Namespace", false},
	};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcasecmp(word, kinds[i].word)) {
			if (ret_only_alluxio)
				*ret_only_alluxio = kinds[i].alluxio;
			return kinds[i].kind;
		}
	return NULL;
}

int controller_client_get(const struct controller_client *cc, const char *cmd, const char *kind,
			  const char *ns, const char *name, struct objmodel_list **ret)
{
	Weir__GetRequest g = WEIR__GET_REQUEST__INIT;
	g.kind = (char *)kind;
	g.namespace_ = (char *)(ns ? ns : "");
	g.name = (char *)(name ? name : "");
	Weir__Request req = WEIR__REQUEST__INIT;
	req.body_case = WEIR__REQUEST__BODY_GET;
	req.get = &g;
	Weir__Response *resp;
	int r = controller_client_request(cc, cmd, &req, &resp);
	if (r < 0)
		return r;
	struct objmodel_list *l = calloc(1, sizeof(*l));
	if (!l || !(l->items = calloc(resp->n_objects + 1, sizeof(*l->items)))) {
		free(l);
		weir__response__free_unpacked(resp, NULL);
		return -ENOMEM;
	}
	for (size_t i = 0; i < resp->n_objects; i++) {
		char err[1024];
		r = objmodel_from_json(resp->objects[i], &l->items[l->n], err, sizeof(err));
		if (r < 0) {
			fprintf(stderr,
				"weir %s: the controller sent an object that does not parse: "
				"%s\n",
				cmd, err);
			objmodel_list_free(l);
			weir__response__free_unpacked(resp, NULL);
			return r;
		}
		l->n++;
	}
	weir__response__free_unpacked(resp, NULL);
	*ret = l;
	return (int)l->n;
}
