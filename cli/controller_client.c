// SPDX-License-Identifier: Apache-2.0
// Finding, starting and calling weir-controller. The binary is $WEIR_CONTROLLER_BIN, or next to
// this one (installed), or in the build tree (build/cli/weir → build/controller/weir-controller).
#include "controller_client.h"

#include "control_hint.h"
#include "spawn.h"

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
	spawn_state_dir(state_dir, cc->state_dir, sizeof(cc->state_dir));
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
		char start[PATH_MAX + 64];
		snprintf(start, sizeof(start), "start one with `weir up` (state directory \"%s\")",
			 cc->state_dir);
		fprintf(stderr, "weir %s: no weir-controller answers on \"%s\" (%s); %s\n", cmd,
			cc->socket_path, strerror(-r), control_hint(r, start));
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

static bool controller_alive(const void *ctx)
{
	return controller_client_alive(ctx, NULL);
}

int controller_client_start(const struct controller_client *cc, char *const *args, int nargs)
{
	if (controller_client_alive(cc, NULL))
		return 0;
	static const char *const rel[] = {"weir-controller", "../controller/weir-controller",
					  "../sbin/weir-controller", NULL};
	const struct spawn_target t = {
		.name = "weir-controller",
		.env = "WEIR_CONTROLLER_BIN",
		.rel = rel,
		.state_dir = cc->state_dir,
		.log_name = "controller.log",
		.socket_path = cc->socket_path,
		.alive = controller_alive,
		.ctx = cc,
		.keeper_name = "controller",
	};
	pid_t pid;
	return spawn_daemon(&t, args, nargs, false, &pid);
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
	    {"secret", "Secret", false},
	    {"secrets", "Secret", false},
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
