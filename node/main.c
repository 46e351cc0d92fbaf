// SPDX-License-Identifier: Apache-2.0
// weir-node: the node daemon. Owns the sources and views of this machine and answers the
// control socket; one struct node holds all its state. main() starts and stops it.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "node.h"
#include "access.h"
#include "access_tracker.h"
#include "link_holder.h"
#include "cluster.h"
#include "control.h"
#include "fdstore.h"
#include "log.h"
#include "metrics.h"
#include "mount_plan.h"
#include "metrics_token.h"
#include "node_agent.h"
#include "node_report.h"
#include "controller_members.h"
#include "peer_client.h"
#include "peer_server.h"
#include "quantity.h"
#include "safe_dir.h"
#include "source.h"
#include "strmap.h"
#include "tier_budget.h"
#include "tier_roots.h"
#include "tier_pool.h"
#include "view.h"
#include "view_open_mode.h"

/* Connects to a weir-keeper --listen at path, waiting up to KEEPER_WAIT_S for it to listen (its
 * pod and ours start in either order). Returns the socket or -errno. */
#define KEEPER_WAIT_S 30
static int keeper_connect(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	strcpy(a.sun_path, path);
	for (int tries = 0;; tries++) {
		int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			return fd;
		int r = -errno;
		close(fd);
		if ((r != -ENOENT && r != -ECONNREFUSED) || tries >= KEEPER_WAIT_S * 10)
			return r;
		if (tries == 0)
			log_notice("keeper-socket \"%s\": %s; waiting up to %d s for weir-keeper",
				   path, strerror(-r), KEEPER_WAIT_S);
		usleep(100 * 1000);
	}
}

static int take_lock(struct node *n)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/node.lock", n->cfg.state_dir);
	n->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (n->lock_fd < 0)
		return -errno;
	if (flock(n->lock_fd, LOCK_EX | LOCK_NB) < 0)
		return -errno;
	char pid[32];
	int len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	snprintf(path, sizeof(path), "%s/node.pid", n->cfg.state_dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		if (write(fd, pid, len) != len)
			log_warn("cannot write \"%s\"", path);
		close(fd);
	}
	return 0;
}

/* A source request's purge of a closed source is under way. */
static bool manual_purges_locked(const struct node *n)
{
	const struct node_purge *p;
	LIST_FOREACH(p, &n->purges, link)
	if (p->manual)
		return true;
	return false;
}

static void shutdown_all(struct node *n)
{
	/* cancelled loads still hold their sources: let them go first */
	while (atomic_load(&n->retiring) > 0)
		nanosleep(&(struct timespec){0, 10000000L}, NULL);
	/* No change starts from now on; those under way finish first. */
	pthread_mutex_lock(&n->lock);
	n->draining = true;
	pthread_cond_broadcast(&n->changed);
	while (strmap_size(n->busy) > 0 || strmap_size(n->opening) > 0 || manual_purges_locked(n))
		pthread_cond_wait(&n->changed, &n->lock);
	for (;;) {
		struct node_view *nv = LIST_FIRST(&n->views);
		int err = -1;
		if (nv)
			strmap_put(n->busy, view_mountpoint(nv->view), n, &err);
		if (!nv || err < 0)
			break;
		LIST_REMOVE(nv, link);
		pthread_mutex_unlock(&n->lock);
		node_stop_view(n, nv);
		pthread_mutex_lock(&n->lock);
	}
	struct node_load *nl;
	while ((nl = LIST_FIRST(&n->loads))) {
		LIST_REMOVE(nl, link);
		LIST_INSERT_HEAD(&n->dead_loads, nl, link);
		node_drop_source_locked(n, nl->source);
	}
	while (!LIST_EMPTY(&n->sources))
		node_close_source_locked(n, LIST_FIRST(&n->sources)->source);
	pthread_mutex_unlock(&n->lock);
	node_reap(n);
}

/* tier-roots' sizes as budgets (n->tier_budget), before any request can open a source: the
 * sources open now (adopted views) are counted, never refused. Returns 0, or -EINVAL after
 * logging why the setting is wrong. */
static int node_start_tier_budget(struct node *n)
{
	char err[1024];
	int r = tier_roots_parse(n->cfg.tier_roots, &n->tier_roots, err, sizeof(err));
	if (r < 0) {
		log_err("%s", err);
		return r;
	}
	if (!n->tier_roots)
		return 0;
	if (tier_budget_new(n->tier_roots, &n->tier_budget) < 0) {
		log_err("out of memory");
		return -ENOMEM;
	}
	pthread_mutex_lock(&n->lock);
	struct node_source *ns;
	LIST_FOREACH(ns, &n->sources, link)
	{
		const struct source *src = ns->source;
		struct tier_share sh[BLOCK_STORE_MAX_TIERS];
		for (size_t i = 0; i < src->ntiers; i++)
			sh[i] = (struct tier_share){.path = src->tiers[i].path,
						    .quota = src->tiers[i].quota};
		char nsb[64];
		tier_budget_commit(n->tier_budget, src->id,
				   mount_plan_source_ns(src->id, nsb, sizeof(nsb)), sh, src->ntiers,
				   true, err, sizeof(err));
	}
	pthread_mutex_unlock(&n->lock);
	return 0;
}

int main(int argc, char **argv)
{
	/* the tracker's link holder (bpf/link_holder.h) is this binary run afresh */
	if (argc == 2 && strcmp(argv[1], LINK_HOLDER_ARG) == 0)
		link_holder_main(3);
	struct node n = {.listen_fd = -1, .lock_fd = -1, .keeper_fd = fdstore_env_socket()};
	int cr = node_config_parse(&n.cfg, argc, argv);
	if (cr != 0)
		return cr > 0 ? 0 : 2;
	int level = log_level_parse(n.cfg.log_level);
	if (level < 0) {
		fprintf(stderr, "weir-node: unknown log level \"%s\"\n", n.cfg.log_level);
		return 2;
	}
	log_init("weir-node", level, n.cfg.syslog);
	if (!n.cfg.socket_path[0] &&
	    snprintf(n.cfg.socket_path, sizeof(n.cfg.socket_path), "%.4000s/node.sock",
		     n.cfg.state_dir) >= (int)sizeof(n.cfg.socket_path)) {
		fprintf(stderr, "weir-node: state directory path too long\n");
		return 2;
	}
	/* It holds the sources' URLs with their credentials, and root writes into it. */
	char derr[512];
	if (safe_dir_ensure(n.cfg.state_dir, derr, sizeof(derr)) < 0) {
		log_err("state directory: %s", derr);
		return 1;
	}
	if (n.cfg.print_node_id) {
		struct node_id *id;
		char path[PATH_MAX + 16];
		node_id_path(&n.cfg, path, sizeof(path));
		if (node_id_load(path, &id, derr, sizeof(derr)) < 0) {
			fprintf(stderr, "weir-node: %s\n", derr);
			return 1;
		}
		printf("%s\n", node_id_public(id));
		node_id_free(id);
		return 0;
	}
	/* node.log (our stderr when weir started us) may predate 0600 logs. */
	struct stat est;
	if (fstat(STDERR_FILENO, &est) == 0 && S_ISREG(est.st_mode))
		fchmod(STDERR_FILENO, 0600);
	int r = take_lock(&n);
	if (r < 0) {
		log_err("another weir-node holds \"%s/node.lock\" (%s); stop it or use another "
			"--state-dir",
			n.cfg.state_dir, strerror(-r));
		return 1;
	}
	node_config_log(&n.cfg);
	/* Many tier files and sockets are open at once. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	pthread_mutex_init(&n.lock, NULL);
	pthread_cond_init(&n.view_idle, NULL);
	pthread_cond_init(&n.changed, NULL);
	LIST_INIT(&n.sources);
	LIST_INIT(&n.views);
	LIST_INIT(&n.loads);
	LIST_INIT(&n.dead_loads);
	LIST_INIT(&n.closing);
	LIST_INIT(&n.purges);
	n.busy = strmap_new();
	n.opening = strmap_new();
	if (!n.busy || !n.opening) {
		log_err("out of memory");
		return 1;
	}
	if (tier_pools_new(&n.pools) < 0) {
		log_err("out of memory");
		return 1;
	}
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	n.listen_fd = control_listen(n.cfg.socket_path);
	if (n.listen_fd < 0 || sfd < 0) {
		log_err("cannot listen on \"%s\": %s", n.cfg.socket_path,
			strerror(n.listen_fd < 0 ? -n.listen_fd : errno));
		return 1;
	}
	if (strcmp(n.cfg.eviction, "heat") != 0 && strcmp(n.cfg.eviction, "lru") != 0) {
		log_err("eviction \"%s\" is neither heat nor lru", n.cfg.eviction);
		return 2;
	}
	if (quantity_parse(n.cfg.near_cache, &n.near_cache) < 0 ||
	    (n.near_cache > 0 && n.near_cache < (1u << 20))) {
		/* below 1 MiB no block fits: "near-cache = 1" (on, before it was a size) would
		 * silently keep nothing */
		log_err("near-cache \"%s\" is not 0 or a size of at least 1MiB like 1GiB",
			n.cfg.near_cache);
		return 2;
	}
	if (quantity_parse(n.cfg.prefetch_max, &n.prefetch_max) < 0 || n.prefetch_max == 0) {
		log_err("prefetch-max \"%s\" is not a size like 64MiB", n.cfg.prefetch_max);
		return 2;
	}
	enum view_open_mode om;
	if (view_open_mode_parse(n.cfg.open_mode, &om) < 0) {
		log_err("open-mode \"%s\" is none of auto, open, no-open", n.cfg.open_mode);
		return 2;
	}
	if (duration_parse_ms(n.cfg.max_stale, &n.max_stale_ms) < 0) {
		log_err("max-stale \"%s\" is not a duration like 1d, 12h or 600s", n.cfg.max_stale);
		return 2;
	}
	if (node_parse_count(n.cfg.ufs_stall_timeout, 1, 3600, &n.stall_timeout_s) < 0) {
		log_err("ufs-stall-timeout \"%s\" is not a number of seconds from 1 to 3600",
			n.cfg.ufs_stall_timeout);
		return 2;
	}
	if (node_parse_count(n.cfg.peer_stall_timeout, 1, 60, &n.peer_stall_s) < 0) {
		log_err("peer-stall-timeout \"%s\" is not a number of seconds from 1 to 60",
			n.cfg.peer_stall_timeout);
		return 2;
	}
	if (node_parse_count(n.cfg.bpf_max_views, 1, ACCESS_MAX_VIEWS, &n.bpf_max_views) < 0) {
		log_err("bpf-max-views \"%s\" is not a number from 1 to %u", n.cfg.bpf_max_views,
			(unsigned)ACCESS_MAX_VIEWS);
		return 2;
	}
	if (node_parse_count(n.cfg.metrics_timeout, 1, 600, &n.metrics_timeout_s) < 0) {
		log_err("metrics-timeout \"%s\" is not a number of seconds from 1 to 600",
			n.cfg.metrics_timeout);
		return 2;
	}
	if (node_parse_count(n.cfg.ufs_retries, 1, 100, &n.ufs_retries) < 0) {
		log_err("ufs-retries \"%s\" is not a number from 1 to 100", n.cfg.ufs_retries);
		return 2;
	}
	if (n.keeper_fd < 0 && n.cfg.keeper_socket[0]) {
		n.keeper_fd = keeper_connect(n.cfg.keeper_socket);
		if (n.keeper_fd < 0) {
			log_err("keeper-socket \"%s\": %s; is weir-keeper --listen running there?",
				n.cfg.keeper_socket, strerror(-n.keeper_fd));
			return 1;
		}
		n.keeper_external = true;
		log_info("views kept by the weir-keeper on \"%s\"", n.cfg.keeper_socket);
	}
	/* Before any source opens (an adopted view opens one): sources take their route at open. */
	bool kube =
	    n.cfg.kubeconfig[0] || (n.cfg.node_name[0] && getenv("KUBERNETES_SERVICE_HOST"));
	if (!kube && (n.cfg.ufs_roots[0] || n.cfg.tier_roots[0]))
		log_notice("ufs-roots and tier-roots are weir-node's in a cluster only; here "
			   "weir-controller's ufs-roots applies, and tiers go where the plans say");
	/* members: a fixed peers list; the Leases on Kubernetes; weir-controller's answers to
	 * heartbeats on the embedded default */
	if ((n.cfg.peers[0] || n.cfg.peer_listen[0]) && node_start_cluster(&n, kube) < 0)
		return 1;
	if (n.cluster && !n.cfg.peers[0] && !kube) {
		int hr = controller_members_start(&n, &n.cmembers);
		if (hr < 0) {
			log_err("cannot start heartbeats to weir-controller: %s", strerror(-hr));
			return 1;
		}
	}
	/* The views first: their readers are paused until then, and loading eBPF takes a while. */
	node_adopt_views(&n);
	node_start_tracker(&n);
	node_track_adopted(&n);
	if (n.cfg.metrics_listen[0]) {
		/* /metrics names every tenant's namespaces and Datasets: a bearer token guards it,
		 * by default one made here, in the state directory only root reads */
		char merr[PATH_MAX + 300] = "";
		int mr = 0;
		if (!n.cfg.metrics_token_file[0]) {
			if (snprintf(n.cfg.metrics_token_file, sizeof(n.cfg.metrics_token_file),
				     "%s/metrics.token",
				     n.cfg.state_dir) >= (int)sizeof(n.cfg.metrics_token_file)) {
				snprintf(merr, sizeof(merr),
					 "the state directory's path is too long");
				mr = -ENAMETOOLONG;
			} else if ((mr = metrics_token_ensure(n.cfg.metrics_token_file, merr,
							      sizeof(merr))) > 0) {
				log_info("made the /metrics token %s", n.cfg.metrics_token_file);
			}
		}
		if (mr >= 0)
			mr = metrics_start(n.cfg.metrics_listen, n.cfg.metrics_token_file,
					   n.metrics_timeout_s, node_render_metrics, &n, &n.metrics,
					   merr, sizeof(merr));
		if (mr < 0)
			log_warn("%s; /metrics is off (set metrics-listen, metrics-token-file)",
				 merr);
		else
			log_info("metrics on http://%s/metrics (bearer token in %s)",
				 n.cfg.metrics_listen, n.cfg.metrics_token_file);
	}
	if (kube) {
		char rerr[1024], host[254] = "";
		if (!n.cfg.node_name[0]) {
			gethostname(host, sizeof(host) - 1);
			snprintf(n.cfg.node_name, sizeof(n.cfg.node_name), "%s", host);
		}
		char *end = NULL;
		double interval = strtod(n.cfg.report_interval, &end);
		if (!end || *end || end == n.cfg.report_interval || interval < 0.5 ||
		    interval > 300) {
			log_err("report-interval \"%s\" is not a number of seconds in [0.5, 300]",
				n.cfg.report_interval);
			return 2;
		}
		if (node_start_tier_budget(&n) < 0)
			return 2;
		struct node_agent_config ac = {
		    .kubeconfig = n.cfg.kubeconfig,
		    .node_name = n.cfg.node_name,
		    .ns = n.cfg.kube_namespace,
		    .node_socket = n.cfg.socket_path,
		    .deny_by_default = n.cfg.deny_by_default,
		    .s3_node_keys = n.cfg.s3_node_keys,
		    .ufs_roots = n.cfg.ufs_roots,
		    .tier_roots = n.cfg.tier_roots,
		    .cluster = n.cluster,
		    .peer_key = &n.peer_key,
		    .member_pods = n.cfg.member_pods,
		    .state_dir = n.cfg.state_dir,
		    .grants = n.grants,
		};
		/* a node that cannot read the cluster has no work: that is fatal, not a warning */
		if (node_agent_start(&ac, &n.agent, rerr, sizeof(rerr)) < 0) {
			log_err("%s", rerr);
			return 1;
		}
		/* the key's proof for this node's name, URL and identity: without it no node
		 * takes this Lease's URL as a member (member_sync.h) */
		char peer_mac[PEER_AUTH_MAC_HEX] = "";
		const char *self_id = n.node_id ? node_id_public(n.node_id) : "";
		if (n.cluster && peer_auth_member_mac(&n.peer_key, n.cfg.node_name, n.cfg.peer_url,
						      self_id, peer_mac) < 0)
			log_warn("cannot sign this node's peer URL for its Lease: no node will "
				 "take it as a member");
		if (node_report_start(n.cfg.kubeconfig, n.cfg.node_name, n.cfg.kube_namespace,
				      n.cluster ? n.cfg.peer_url : NULL, peer_mac, self_id,
				      interval, node_collect_figures, &n, &n.report, rerr,
				      sizeof(rerr)) < 0)
			log_warn("%s; this node's figures will not reach the cluster", rerr);
	}
	log_info("weir-node %d ready on \"%s\"", (int)getpid(), n.cfg.socket_path);
	if (n.keeper_fd >= 0)
		fdstore_send(n.keeper_fd, FDSTORE_READY, NULL, NULL, 0, NULL, 0);

	bool handoff = false;
	while (!n.stopping) {
		struct pollfd pfd[2] = {{.fd = n.listen_fd, .events = POLLIN},
					{.fd = sfd, .events = POLLIN}};
		int pr = poll(pfd, 2, 2000);
		if (pr < 0 && errno != EINTR)
			break;
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si))
				log_info("signal %u: shutting down", si.ssi_signo);
			if (n.keeper_external && si.ssi_signo == SIGTERM)
				handoff = true;
			break;
		}
		if (pfd[0].revents & POLLIN) {
			int cfd = control_accept(n.listen_fd, "weir-node");
			if (cfd < 0)
				continue;
			struct conn *cn = malloc(sizeof(*cn));
			pthread_t t;
			if (!cn) {
				close(cfd);
				continue;
			}
			cn->node = &n;
			cn->fd = cfd;
			pthread_attr_t attr;
			pthread_attr_init(&attr);
			pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
			if (pthread_create(&t, &attr, node_conn_thread, cn) != 0) {
				close(cfd);
				free(cn);
			}
			pthread_attr_destroy(&attr);
		}
		if (pr == 0)
			node_reap_exited(&n);
	}
	close(n.listen_fd);
	unlink(n.cfg.socket_path);
	if (handoff) {
		/* Like a crash, which the next weir-node recovers from (tests/crash/): the views
		 * stay mounted, their connections with the keeper; requests read but not answered
		 * are resent to the next one. Nothing is unmounted nor taken from the keeper. */
		char pidpath[PATH_MAX + 16];
		snprintf(pidpath, sizeof(pidpath), "%s/node.pid", n.cfg.state_dir);
		unlink(pidpath);
		log_notice("leaving the views to the weir-keeper on \"%s\" for the next weir-node",
			   n.cfg.keeper_socket);
		_exit(0);
	}
	n.stopping = 1;
	node_agent_stop(n.agent);
	controller_members_stop(n.cmembers);
	node_report_stop(n.report);
	metrics_stop(n.metrics);
	/* no peer may hold a source while they close; the client goes after the last source;
	 * requests waiting for a grant are refused at once */
	view_grants_close(n.grants);
	peer_server_stop(n.peer_server);
	if (n.tracker)
		pthread_join(n.tracker_thread, NULL);
	shutdown_all(&n);
	/* Every request that arrives from now on sees draining before it touches them. */
	pthread_mutex_lock(&n.lock);
	strmap_free(n.busy, NULL);
	strmap_free(n.opening, NULL);
	n.busy = n.opening = NULL;
	pthread_mutex_unlock(&n.lock);
	peer_client_free(n.peers);
	cluster_free(n.cluster);
	view_grants_free(n.grants);
	node_id_free(n.node_id);
	tier_pools_free(n.pools);
	tier_budget_free(n.tier_budget);
	tier_roots_free(n.tier_roots);
	access_tracker_free(n.tracker);
	char pidpath[PATH_MAX + 16];
	snprintf(pidpath, sizeof(pidpath), "%s/node.pid", n.cfg.state_dir);
	unlink(pidpath);
	log_info("weir-node stopped");
	return 0;
}
