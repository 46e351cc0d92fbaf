// SPDX-License-Identifier: Apache-2.0
// weir-csi: the CSI node plugin. Serves Identity + Node on the CSI endpoint and, when given a
// registration directory, the kubelet's plugin registration service next to it. One thread:
// requests are short (weir-node round trips), and views outlive us.
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "plugin.h"
#include "safe_dir.h"

struct csi_config {
	char endpoint[4096];
	char node_id[256];
	char driver_name[128];
	char state_dir[4096];
	char node_socket[4096];
	char registration_dir[4096];
	char log_level[16];
	unsigned grace_s;
	bool allow_no_pod_info;
};

enum opt_type { OPT_STR, OPT_UINT, OPT_BOOL };

/* The flags: name, type, where in csi_config, default, help. */
static const struct opt_desc {
	const char *name;
	enum opt_type type;
	size_t offset, size;
	const char *def;
	const char *help;
} opt_table[] = {
#define STR(field)                                                                                 \
	OPT_STR, offsetof(struct csi_config, field), sizeof(((struct csi_config *)0)->field)
    {"endpoint", STR(endpoint), "unix:///var/lib/kubelet/plugins/weir.csi.io/csi.sock",
     "the CSI socket (unix:///path)"},
    {"node-id", STR(node_id), "", "this node's name, as NodeGetInfo reports it (required)"},
    {"node-name", STR(node_id), NULL, "the same as --node-id"},
    {"driver-name", STR(driver_name), CSI_DRIVER_NAME, "the CSIDriver's name"},
    {"state-dir", STR(state_dir), "", "weir's state directory ($WEIR_STATE_DIR, /var/lib/weir)"},
    {"node-socket", STR(node_socket), "", "weir-node's socket (<state-dir>/node.sock)"},
    {"registration-dir", STR(registration_dir), "",
     "serve kubelet plugin registration here (/var/lib/kubelet/plugins_registry)"},
    {"log-level", STR(log_level), "info", "debug, info, notice, warning, err"},
    {"view-grace", OPT_UINT, offsetof(struct csi_config, grace_s), sizeof(unsigned), "30",
     "seconds an unused view stays up"},
    {"allow-no-pod-info", OPT_BOOL, offsetof(struct csi_config, allow_no_pod_info), sizeof(bool),
     "0", "tests only: publish without the pod's namespace"},
#undef STR
};
#define N_OPTS (sizeof(opt_table) / sizeof(opt_table[0]))

static void usage(FILE *out)
{
	fprintf(out, "usage: weir-csi --endpoint unix:///path/csi.sock --node-id NAME [flags]\n");
	for (size_t i = 0; i < N_OPTS; i++)
		fprintf(out, "  --%-20s %s%s%s%s\n", opt_table[i].name, opt_table[i].help,
			opt_table[i].def && *opt_table[i].def ? " [" : "",
			opt_table[i].def ? opt_table[i].def : "",
			opt_table[i].def && *opt_table[i].def ? "]" : "");
}

static int opt_set(struct csi_config *c, const struct opt_desc *d, const char *v)
{
	char *field = (char *)c + d->offset;
	switch (d->type) {
	case OPT_STR:
		if (strlen(v) >= d->size)
			return -ENAMETOOLONG;
		memcpy(field, v, strlen(v) + 1);
		return 0;
	case OPT_UINT: {
		char *end;
		errno = 0;
		unsigned long n = strtoul(v, &end, 10);
		if (errno || end == v || *end || n > 86400)
			return -EINVAL;
		*(unsigned *)field = (unsigned)n;
		return 0;
	}
	case OPT_BOOL:
		*(bool *)field = strcmp(v, "0") != 0 && strcmp(v, "false") != 0;
		return 0;
	}
	return -EINVAL;
}

static int config_parse(int argc, char **argv, struct csi_config *c)
{
	struct option lopts[N_OPTS + 2];
	for (size_t i = 0; i < N_OPTS; i++) {
		if (opt_table[i].def && opt_set(c, &opt_table[i], opt_table[i].def) < 0)
			return -EINVAL;
		lopts[i] = (struct option){
		    opt_table[i].name,
		    opt_table[i].type == OPT_BOOL ? optional_argument : required_argument, NULL, 0};
	}
	lopts[N_OPTS] = (struct option){"help", no_argument, NULL, 'h'};
	lopts[N_OPTS + 1] = (struct option){0};
	int idx, ch;
	while ((ch = getopt_long(argc, argv, "h", lopts, &idx)) != -1) {
		if (ch == 'h') {
			usage(stdout);
			exit(0);
		}
		if (ch != 0 || idx >= (int)N_OPTS) {
			usage(stderr);
			return -EINVAL;
		}
		const char *v = optarg ? optarg : "1";
		if (opt_set(c, &opt_table[idx], v) < 0) {
			fprintf(stderr, "weir-csi: --%s \"%s\" is not valid\n", opt_table[idx].name,
				v);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "weir-csi: unexpected argument \"%s\"\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

static struct grpc_server *signal_server; /* for the signal handler only */

static void on_signal(int sig)
{
	if (signal_server)
		grpc_server_stop(signal_server);
}

/* unix:///abs/path or /abs/path -> /abs/path */
static const char *endpoint_path(const char *ep)
{
	if (strncmp(ep, "unix://", 7) == 0)
		ep += 7;
	return ep[0] == '/' ? ep : NULL;
}

int main(int argc, char **argv)
{
	struct csi_config cfg = {0};
	if (config_parse(argc, argv, &cfg) < 0)
		return 2;
	int level = log_level_parse(cfg.log_level);
	if (level < 0) {
		fprintf(stderr, "weir-csi: --log-level \"%s\" is not a level\n", cfg.log_level);
		return 2;
	}
	log_init("weir-csi", level, 0);
	if (!cfg.node_id[0]) {
		fprintf(stderr, "weir-csi: --node-id is required (the Kubernetes node name)\n");
		return 2;
	}
	const char *sock = endpoint_path(cfg.endpoint);
	if (!sock) {
		fprintf(stderr, "weir-csi: --endpoint \"%s\" is not unix:///absolute/path\n",
			cfg.endpoint);
		return 2;
	}
	if (!cfg.state_dir[0]) {
		const char *e = getenv("WEIR_STATE_DIR");
		snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s", e && *e ? e : "/var/lib/weir");
	}

	struct csi_plugin *p = calloc(1, sizeof(*p));
	if (!p)
		return 1;
	if (csi_node_init(p) < 0) {
		free(p);
		return 1;
	}
	snprintf(p->driver_name, sizeof(p->driver_name), "%s", cfg.driver_name);
	snprintf(p->node_id, sizeof(p->node_id), "%s", cfg.node_id);
	snprintf(p->endpoint, sizeof(p->endpoint), "%.4000s", sock);
	snprintf(p->node_socket, sizeof(p->node_socket), "%s",
		 cfg.node_socket[0] ? cfg.node_socket : "");
	if (!cfg.node_socket[0])
		snprintf(p->node_socket, sizeof(p->node_socket), "%s/node.sock", cfg.state_dir);
	p->grace_ms = cfg.grace_s * 1000;
	p->allow_no_pod_info = cfg.allow_no_pod_info;

	int rc = 1, r;
	char dir[4200], err[512];
	struct grpc_server *srv = NULL;
	/* views live in a root-only directory: pods see them only through their bind mounts */
	snprintf(dir, sizeof(dir), "%.4090s/csi", cfg.state_dir);
	snprintf(p->views_dir, sizeof(p->views_dir), "%.4100s/views", dir);
	if (safe_dir_ensure(cfg.state_dir, err, sizeof(err)) < 0 ||
	    safe_dir_ensure(dir, err, sizeof(err)) < 0 ||
	    safe_dir_ensure(p->views_dir, err, sizeof(err)) < 0) {
		log_err("state directory: %s", err);
		goto out;
	}
	/* The views' names are compared with mountinfo's, which spells them canonically: a state
	 * directory given as "/var/lib/weir/" would make every view look stopped (started again
	 * on top of itself, published targets ALREADY_EXISTS, NodeUnpublish "not a weir volume") */
	char canon[PATH_MAX];
	if (!realpath(p->views_dir, canon)) {
		log_err("state directory: resolving \"%s\": %s", p->views_dir, strerror(errno));
		goto out;
	}
	snprintf(p->views_dir, sizeof(p->views_dir), "%s", canon);
	/* a target in weir's state directory, or above it, would hide weir's own files (sockets,
	 * stores, views) under a Dataset's */
	if (!realpath(cfg.state_dir, canon)) {
		log_err("state directory: resolving \"%s\": %s", cfg.state_dir, strerror(errno));
		goto out;
	}
	snprintf(p->state_dir, sizeof(p->state_dir), "%s", canon);
	snprintf(p->targets_dir, sizeof(p->targets_dir), "%.4100s/targets", dir);
	if (safe_dir_ensure(p->targets_dir, err, sizeof(err)) < 0) {
		log_err("state directory: %s", err);
		goto out;
	}
	csi_node_sweep(p);
	srv = grpc_server_new(4);
	if (!srv)
		goto out;
	/* Identity and Node share one socket, as CSI wants */
	struct grpc_method methods[16];
	size_t n = 0;
	for (size_t i = 0; i < csi_identity_n_methods; i++)
		methods[n++] = csi_identity_methods[i];
	for (size_t i = 0; i < csi_node_n_methods; i++)
		methods[n++] = csi_node_methods[i];
	/* the kubelet's plugin directory may not exist yet on a fresh node */
	char parent[4096];
	snprintf(parent, sizeof(parent), "%.4000s", sock);
	*strrchr(parent, '/') = '\0';
	if (parent[0] && (r = safe_dir_mkdir_p(parent, 0755)) < 0) {
		log_err("creating \"%s\": %s", parent, strerror(-r));
		goto out;
	}
	r = grpc_server_listen(srv, sock, 0600, methods, n, p);
	if (r < 0) {
		log_err("listening on \"%s\": %s", sock, strerror(-r));
		goto out;
	}
	if (cfg.registration_dir[0]) {
		if ((r = safe_dir_mkdir_p(cfg.registration_dir, 0755)) < 0) {
			log_err("creating \"%s\": %s", cfg.registration_dir, strerror(-r));
			goto out;
		}
		char reg[4400];
		snprintf(reg, sizeof(reg), "%s/%s-reg.sock", cfg.registration_dir, p->driver_name);
		r = grpc_server_listen(srv, reg, 0600, csi_registration_methods,
				       csi_registration_n_methods, p);
		if (r < 0) {
			log_err("listening on \"%s\": %s", reg, strerror(-r));
			goto out;
		}
		log_info("kubelet registration on \"%s\"", reg);
	}
	log_info("driver \"%s\" node \"%s\" on \"%s\"; weir-node \"%s\" (views and their plans), "
		 "views in \"%s\", idle views stop after %u s",
		 p->driver_name, p->node_id, sock, p->node_socket, p->views_dir, cfg.grace_s);
	signal_server = srv;
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	r = grpc_server_run(srv, csi_node_tick, p, 1000);
	if (r < 0)
		log_err("serving: %s", strerror(-r));
	else
		rc = 0;
	log_info("stopping; published volumes stay mounted");
out:
	signal_server = NULL;
	grpc_server_free(srv);
	csi_node_cleanup(p);
	free(p);
	return rc;
}
