// SPDX-License-Identifier: Apache-2.0
// weir-controller: keeps Datasets, Runtimes and DataLoads in the embedded store and reconciles
// them with weir-node. One process per state directory (the socket is the lock).
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "config.h"
#include "control.h"
#include "controller.h"
#include "log.h"
#include "safe_dir.h"

/* Another controller already answering on the socket? */
static bool socket_alive(const char *path)
{
	Weir__Request req = WEIR__REQUEST__INIT;
	Weir__Empty ping = WEIR__EMPTY__INIT;
	req.body_case = WEIR__REQUEST__BODY_PING;
	req.ping = &ping;
	Weir__Response *resp;
	if (control_call(path, &req, &resp) < 0)
		return false;
	weir__response__free_unpacked(resp, NULL);
	return true;
}

int main(int argc, char **argv)
{
	struct controller ctl = {0};
	char err[1024];
	log_init("weir-controller", LOG_INFO, 0);
	int r = config_load(&ctl.cfg, argc, argv, err, sizeof(err));
	if (r == 1)
		return 0;
	if (r < 0) {
		fprintf(stderr, "weir-controller: %s\n", err);
		return 2;
	}
	log_init("weir-controller", log_level_parse(ctl.cfg.log_level), 0);
	log_info("weir-controller starting, pid %d", (int)getpid());
	config_log(&ctl.cfg);
	ctl.started = time(NULL);
	if (safe_dir_ensure(ctl.cfg.state_dir, err, sizeof(err)) < 0) {
		log_err("state directory: %s", err);
		return 1;
	}
	if (socket_alive(ctl.cfg.socket)) {
		log_err("another weir-controller answers on \"%s\"; stop it first (`weir down`)",
			ctl.cfg.socket);
		return 1;
	}
	char dbpath[4200];
	snprintf(dbpath, sizeof(dbpath), "%s/controller.db", ctl.cfg.state_dir);
	/* Datasets' mount points may carry credentials: the database is root's alone. */
	r = safe_dir_private_file(dbpath);
	if (r < 0) {
		log_err("store: \"%s\": %s", dbpath, strerror(-r));
		return 1;
	}
	r = store_sqlite_open(dbpath, &ctl.store, err, sizeof(err));
	if (r < 0) {
		log_err("store: %s", err);
		return 1;
	}
	log_info("store: sqlite \"%s\"", dbpath);
	r = ufs_policy_parse(ctl.cfg.ufs_roots, &ctl.policy, err, sizeof(err));
	if (r < 0) {
		log_err("%s", err);
		store_close(ctl.store);
		return 2;
	}
	char confpath[8300];
	struct stat cst;
	if (stat(config_file_path(&ctl.cfg, confpath, sizeof(confpath)), &cst) == 0)
		ctl.conf_mtime = cst.st_mtim;
	r = apply_default_namespace(ctl.store, ctl.started);
	if (r < 0) {
		log_err("store: cannot create namespace \"default\": %s", strerror(-r));
		store_close(ctl.store);
		return 1;
	}
	pthread_mutex_init(&ctl.lock, NULL);
	pthread_cond_init(&ctl.wake, NULL);

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sig_fd = signalfd(-1, &mask, SFD_CLOEXEC);
	int listen_fd = control_listen(ctl.cfg.socket);
	int rc = 1;
	if (sig_fd < 0 || listen_fd < 0) {
		log_err("cannot listen on \"%s\": %s", ctl.cfg.socket,
			strerror(listen_fd < 0 ? -listen_fd : errno));
		goto close_store;
	}
	r = reconciler_start(&ctl);
	if (r < 0) {
		log_err("cannot start the reconciler: %s", strerror(-r));
		goto close_fds;
	}
	log_notice("serving on \"%s\"", ctl.cfg.socket);
	r = server_run(&ctl, listen_fd, sig_fd);
	rc = r < 0 ? 1 : 0;
	if (r < 0)
		log_err("server: %s", strerror(-r));
	reconciler_stop(&ctl);
close_fds:
	if (listen_fd >= 0) {
		close(listen_fd);
		unlink(ctl.cfg.socket);
	}
	if (sig_fd >= 0)
		close(sig_fd);
close_store:
	pthread_mutex_lock(&ctl.lock);
	store_close(ctl.store);
	ctl.store = NULL;
	pthread_mutex_unlock(&ctl.lock);
	free(ctl.loads);
	free(ctl.sources);
	ufs_policy_free(ctl.policy);
	log_notice("stopped");
	return rc;
}
