// SPDX-License-Identifier: Apache-2.0
// weir-controller: keeps Datasets, Runtimes and DataLoads in the embedded store and reconciles
// them with weir-node. One process per state directory (the socket is the lock).
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
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
#include "fdstore.h"
#include "kube_client.h"
#include "kube_lease.h"
#include "kubeconfig.h"
#include "log.h"
#include "members.h"
#include "safe_dir.h"
#include "store_kube.h"
#include "store_sqlite.h"
#include "secret_box.h"
#include "webhook.h"
#include "webhook_tls.h"

/* Another controller already answering on the socket? A live one answers a ping at once. */
static bool socket_alive(const char *path)
{
	return control_ping(path, 5000);
}

/* What main keeps of a Kubernetes setup. */
struct lease {
	struct controller *ctl;
	struct kubeconfig kc;
	char ns[64];
	char identity[256];
	struct kube_leader *leader;
	bool webhook_registered; /* our entry is in the shared webhook configuration */
};

static void kube_changed(void *arg)
{
	struct controller *ctl = arg;
	pthread_mutex_lock(&ctl->lock);
	controller_changed(ctl);
	pthread_mutex_unlock(&ctl->lock);
}

/* This replica holds the Lease: it writes and reconciles from now on. */
static void on_lead(void *arg)
{
	struct controller *ctl = arg;
	store_kube_set_active(ctl->store, true);
	if (reconciler_start(ctl) < 0) {
		log_err("cannot start the reconciler");
		_exit(1);
	}
}

/* Stops leader election, then the reconciler it started. */
static void lease_stop(struct lease *ls)
{
	if (kube_leader_stop(ls->leader)) {
		reconciler_stop(ls->ctl);
		store_kube_set_active(ls->ctl->store, false);
	}
	ls->leader = NULL;
}

/* Opens the SQLite store, or the kube store with --kubeconfig or in a pod. Logs failures. */
static int open_store(struct controller *ctl, struct lease *ls)
{
	char err[1024];
	int r = 0;
	if (ctl->cfg.kubeconfig[0]) {
		r = kubeconfig_load(ctl->cfg.kubeconfig, &ls->kc, err, sizeof(err));
		ctl->kube = true;
	} else if (ctl->cfg.in_cluster && getenv("KUBERNETES_SERVICE_HOST")) {
		r = kubeconfig_in_cluster(NULL, &ls->kc, err, sizeof(err));
		ctl->kube = true;
	}
	if (ctl->kube) {
		if (r < 0) {
			log_err("%s", err);
			return r;
		}
		snprintf(ls->ns, sizeof(ls->ns), "%s",
			 ctl->cfg.lease_namespace[0] ? ctl->cfg.lease_namespace : ls->kc.namespace);
		if (ctl->cfg.identity[0]) {
			snprintf(ls->identity, sizeof(ls->identity), "%s", ctl->cfg.identity);
		} else {
			char host[200] = "weir";
			gethostname(host, sizeof(host) - 1);
			snprintf(ls->identity, sizeof(ls->identity), "%s_%d", host, (int)getpid());
		}
		r = store_kube_open(&ls->kc, ls->ns, STORE_KUBE_PODS, kube_changed, ctl,
				    &ctl->store, err, sizeof(err));
		if (r < 0) {
			log_err("store: %s", err);
			return r;
		}
		r = kube_client_new(&ls->kc, &ctl->kube_secrets);
		if (r < 0) {
			log_err("store: %s", strerror(-r));
			return r;
		}
		log_info("store: kube-apiserver %s", ls->kc.server);
		return 0;
	}
	char dbpath[4200];
	snprintf(dbpath, sizeof(dbpath), "%s/controller.db", ctl->cfg.state_dir);
	/* Datasets' mount points may carry credentials: the database is root's alone. */
	r = safe_dir_private_file(dbpath);
	if (r < 0) {
		log_err("store: \"%s\": %s", dbpath, strerror(-r));
		return r;
	}
	r = store_sqlite_open(dbpath, &ctl->store, err, sizeof(err));
	if (r < 0) {
		log_err("store: %s", err);
		return r;
	}
	/* Secrets' data are sealed with a key beside the store, never stored in clear */
	char keypath[4200];
	snprintf(keypath, sizeof(keypath), "%s/secret.key", ctl->cfg.state_dir);
	r = secret_box_open(keypath, &ctl->secret_box, err, sizeof(err));
	if (r < 0) {
		log_err("store: %s", err);
		store_close(ctl->store);
		ctl->store = NULL;
		return r;
	}
	ctl->store->secret_box = ctl->secret_box;
	log_info("store: sqlite \"%s\", Secrets sealed with \"%s\"", dbpath, keypath);
	return 0;
}

/* <state-dir>/controller.pid: this process, written once it serves. */
static void write_pid_file(const struct config *cfg)
{
	char path[PATH_MAX + 32], tmp[PATH_MAX + 48], pid[32];
	int len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	snprintf(path, sizeof(path), "%.4000s/controller.pid", cfg->state_dir);
	snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || write(fd, pid, len) != len || rename(tmp, path) < 0)
		log_warn("cannot write \"%s\": %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
}

/* The admission webhook: with the chart's certificate (--webhook-listen/-cert/-key), or at
 * --webhook-url with a certificate made here and registered. Logs failures. */
static int start_webhook(struct controller *ctl, struct lease *ls, struct webhook **ret)
{
	const struct config *cfg = &ctl->cfg;
	char err[1024], listen[300];
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
	struct webhook_tls tls = {0};
	int r = 0;
	if (cfg->webhook_listen[0]) {
		r = webhook_start(ctl, cfg->webhook_listen, cfg->webhook_cert, cfg->webhook_key,
				  cfg->webhook_path, ret, err, sizeof(err));
		if (r < 0)
			log_err("%s", err);
		return r;
	}
	if (!cfg->webhook_url[0])
		return 0;
	CURLU *u = curl_url();
	if (!ctl->kube) {
		log_err("--webhook-url needs the Kubernetes store (--kubeconfig)");
		r = -EINVAL;
		goto out;
	}
	if (!u || curl_url_set(u, CURLUPART_URL, cfg->webhook_url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK || strcmp(scheme, "https") ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
		log_err("--webhook-url \"%s\" is not https://HOST:PORT[/path]", cfg->webhook_url);
		r = -EINVAL;
		goto out;
	}
	snprintf(listen, sizeof(listen), "%s:%s", host, port);
	const char *p = strcmp(path, "/") ? path : cfg->webhook_path;
	if ((r = webhook_tls_new(host, &tls, err, sizeof(err))) < 0 ||
	    (r = webhook_start_pem(ctl, listen, tls.cert_pem, tls.key_pem, p, ret, err,
				   sizeof(err))) < 0) {
		log_err("%s", err);
		goto out;
	}
	char url[800];
	snprintf(url, sizeof(url), "https://%s%s", listen, p);
	r = webhook_register(&ls->kc, ls->identity, url, tls.ca_pem, err, sizeof(err));
	if (r < 0) {
		log_err("cannot register ValidatingWebhookConfiguration \"%s\": %s",
			WEBHOOK_CONFIG_NAME, err);
		webhook_stop(*ret);
		*ret = NULL;
		goto out;
	}
	ls->webhook_registered = true;
	log_notice("webhook: registered this replica's entry in ValidatingWebhookConfiguration "
		   "\"%s\" for %s",
		   WEBHOOK_CONFIG_NAME, url);
out:
	webhook_tls_clear(&tls);
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_url_cleanup(u);
	return r;
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
	pthread_mutex_init(&ctl.lock, NULL);
	pthread_cond_init(&ctl.wake, NULL);
	struct lease lease = {.ctl = &ctl};
	r = open_store(&ctl, &lease);
	if (r < 0)
		return 1;
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
	if (!ctl.kube) {
		r = members_new(ctl.cfg.member_timeout, &ctl.members);
		if (r < 0) {
			log_err("cannot make the member table: %s", strerror(-r));
			store_close(ctl.store);
			return 1;
		}
		r = apply_default_namespace(ctl.store, ctl.started);
		if (r < 0) {
			log_err("store: cannot create namespace \"default\": %s", strerror(-r));
			store_close(ctl.store);
			return 1;
		}
	}

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
	struct webhook *wh = NULL;
	/* every replica answers: reviews read the cache, which a standby keeps too */
	if (start_webhook(&ctl, &lease, &wh) < 0)
		goto close_fds;
	/* on Kubernetes the reconciler starts once this replica holds the Lease */
	r = ctl.kube ? kube_leader_start(&lease.kc, lease.ns, "weir-controller", lease.identity,
					 ctl.cfg.lease_duration, on_lead, &ctl, &lease.leader)
		     : reconciler_start(&ctl);
	if (r < 0) {
		log_err("cannot start the reconciler: %s", strerror(-r));
		goto close_fds;
	}
	log_notice("serving on \"%s\"", ctl.cfg.socket);
	/* Under weir-keeper (weir up): from now on a death is a crash it restarts at once. */
	int keeper_fd = fdstore_env_socket();
	if (keeper_fd >= 0) {
		fdstore_send(keeper_fd, FDSTORE_READY, NULL, NULL, 0, NULL, 0);
		/* weir up wrote the first one's pid; a restarted one must not leave the file
		 * naming the dead (weir down, tests and scripts go by it) */
		write_pid_file(&ctl.cfg);
	}
	r = server_run(&ctl, listen_fd, sig_fd);
	if (keeper_fd >= 0)
		close(keeper_fd);
	rc = r < 0 ? 1 : 0;
	if (r < 0)
		log_err("server: %s", strerror(-r));
	if (ctl.kube)
		lease_stop(&lease);
	else
		reconciler_stop(&ctl);
close_fds:
	if (lease.webhook_registered &&
	    webhook_unregister(&lease.kc, lease.identity, err, sizeof(err)) < 0)
		log_warn(
		    "cannot take this replica out of ValidatingWebhookConfiguration \"%s\": %s",
		    WEBHOOK_CONFIG_NAME, err);
	webhook_stop(wh);
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
	secret_box_free(ctl.secret_box);
	kube_client_free(ctl.kube_secrets);
	free(ctl.loads);
	free(ctl.sources);
	ufs_policy_free(ctl.policy);
	strmap_free(ctl.volumes, free);
	strmap_free(ctl.refused, free);
	members_free(ctl.members);
	free(ctl.traffic_text);
	kubeconfig_clear(&lease.kc);
	log_notice("stopped");
	return rc;
}
