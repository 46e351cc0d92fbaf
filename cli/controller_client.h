/* SPDX-License-Identifier: Apache-2.0 */
/* How the CLI reaches weir-controller: its socket in the state directory, starting it for
 * `weir up`, and the kinds as the user names them ("ds", "datasets", "alluxioruntime"). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "control.h"
#include "objmodel.h"

struct controller_client {
	char state_dir[4096];
	char socket_path[4200];
};

/* Fills the paths: --state-dir if given, else $WEIR_STATE_DIR, else /var/lib/weir. */
void controller_client_init(struct controller_client *cc, const char *state_dir);

/* Sends req. Returns 0 with an owned *ret (weir__response__free_unpacked), or -errno when no
 * controller answers. */
int controller_client_call(const struct controller_client *cc, const Weir__Request *req,
			   Weir__Response **ret);

/* Sends req and checks the answer; on failure prints "weir CMD: ..." (what happened and what to
 * do) and returns -errno; 0 with an owned *ret otherwise. */
int controller_client_request(const struct controller_client *cc, const char *cmd,
			      const Weir__Request *req, Weir__Response **ret);

/* True when a weir-controller answers; *ret_pid (may be NULL) is its pid. */
bool controller_client_alive(const struct controller_client *cc, pid_t *ret_pid);

/* Starts weir-controller for this state directory unless one answers, detached, its output in
 * <state>/controller.log, with extra flags (nargs of them, e.g. "--deny-by-default"); waits until
 * it answers. Returns 0 or -errno with a message printed. */
int controller_client_start(const struct controller_client *cc, char *const *args, int nargs);

/* The controller's kind for what the user typed: "Dataset", "Runtime", "DataLoad",
 * "Namespace", or NULL. *ret_only_alluxio is true for "alluxioruntime(s)". */
const char *controller_client_kind(const char *word, bool *ret_only_alluxio);

/* Fetches objects of kind in ns ("" = all namespaces), name "" = all. Returns the count and an
 * owned *ret (objmodel_list_free), or -errno with a message printed. */
int controller_client_get(const struct controller_client *cc, const char *cmd, const char *kind,
			  const char *ns, const char *name, struct objmodel_list **ret);
