// SPDX-License-Identifier: Apache-2.0
// weir-node's configuration: the descriptor table, node.conf and the flags over it, and the
// per-namespace settings read from it.
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node.h"
#include "log.h"
#include "quantity.h"

enum cfg_type { CFG_STR, CFG_BOOL };

/* The descriptor table: config file first, then flags over it. */
static const struct cfg_desc {
	const char *name;
	enum cfg_type type;
	size_t offset, size;
	const char *def;
	const char *help;
} cfg_table[] = {
    {"state-dir", CFG_STR, offsetof(struct node_config, state_dir), PATH_MAX, "/var/lib/weir",
     "where the index, metadata and socket live"},
    {"socket", CFG_STR, offsetof(struct node_config, socket_path), PATH_MAX, "",
     "control socket (default <state-dir>/node.sock)"},
    {"log-level", CFG_STR, offsetof(struct node_config, log_level), 16, "info",
     "debug, info, notice, warning, err"},
    {"syslog", CFG_BOOL, offsetof(struct node_config, syslog), sizeof(int), "0",
     "log to syslog instead of stderr"},
    {"bpf", CFG_BOOL, offsetof(struct node_config, bpf), sizeof(int), "1",
     "track reads with eBPF (0: only the READs weir sees)"},
    {"metrics-listen", CFG_STR, offsetof(struct node_config, metrics_listen), 64, "127.0.0.1:9477",
     "HOST:PORT of /metrics (\"\" = off)"},
    {"metrics-token-file", CFG_STR, offsetof(struct node_config, metrics_token_file), PATH_MAX, "",
     "the bearer token /metrics asks for (mode 0600 or 0400, root's; default "
     "<state-dir>/metrics.token, made with a random token when missing)"},
    {"metrics-timeout", CFG_STR, offsetof(struct node_config, metrics_timeout), 8, "10",
     "seconds a /metrics connection may stay idle before weir-node closes it (1..600); at most "
     "8 connections per client (a user on this node, else an address), 64 in all "
     "(daemon/metrics.h)"},
    {"eviction", CFG_STR, offsetof(struct node_config, eviction), 8, "heat",
     "heat (eBPF-ranked, page-cache hits included) or lru"},
    {"namespace-weights", CFG_STR, offsetof(struct node_config, namespace_weights), 512, "",
     "NS=W,... heat multipliers per namespace (default 1)"},
    {"namespace-prefetch-max", CFG_STR, offsetof(struct node_config, namespace_prefetch), 512, "",
     "NS=SIZE,... prefetch-max per namespace"},
    {"prefetch-max", CFG_STR, offsetof(struct node_config, prefetch_max), 32, "128MiB",
     "largest window a stream prefetches ahead, per view"},
    {"max-stale", CFG_STR, offsetof(struct node_config, max_stale), 32, "1d",
     "how long past the metadata TTL to serve cached metadata while a UFS is unreachable"},
    {"open-mode", CFG_STR, offsetof(struct node_config, open_mode), 16, "auto",
     "how views open files unless a mount says: auto (no-open for a read-only view of mostly "
     "small files, else open), open, or no-open (read-only views)"},
    {"ufs-stall-timeout", CFG_STR, offsetof(struct node_config, ufs_stall_timeout), 16, "30",
     "seconds a UFS transfer may stay under 1 KiB/s before it is abandoned (then retried)"},
    {"keeper-socket", CFG_STR, offsetof(struct node_config, keeper_socket), PATH_MAX, "",
     "a weir-keeper --listen socket holding the views' descriptors, when this process runs "
     "under no keeper of its own (a DaemonSet whose image changes: SIGTERM then leaves the "
     "views to it for the next weir-node instead of unmounting them)"},
    {"bpf-max-views", CFG_STR, offsetof(struct node_config, bpf_max_views), 8, "4096",
     "views eBPF watches at once (1-4096); weir-node counts the reads of the ones past it"},
    {"ufs-retries", CFG_STR, offsetof(struct node_config, ufs_retries), 8, "4",
     "attempts after the first on a reset, stall, 5xx or short body (a reader waits at most "
     "(ufs-retries + 1) x ufs-stall-timeout plus backoff for a block)"},
    {"kubeconfig", CFG_STR, offsetof(struct node_config, kubeconfig), PATH_MAX, "",
     "report cache figures to this cluster (Lease weir-node-<node-name>); in a pod with "
     "--node-name, its service account"},
    {"node-name", CFG_STR, offsetof(struct node_config, node_name), 254, "",
     "this node's name in the cluster (default: the host name)"},
    {"kube-namespace", CFG_STR, offsetof(struct node_config, kube_namespace), 64, "",
     "namespace of the figures Lease (default: the kubeconfig's or the pod's)"},
    {"report-interval", CFG_STR, offsetof(struct node_config, report_interval), 16, "5",
     "seconds between Lease renewals; the Lease lasts 6 of them"},
    {"deny-by-default", CFG_BOOL, offsetof(struct node_config, deny_by_default), sizeof(int), "0",
     "in a cluster, plan references as weir-controller --deny-by-default does"},
    {"s3-node-keys", CFG_STR, offsetof(struct node_config, s3_node_keys), 1024, "",
     "in a cluster, the namespaces (comma-separated, * for all) whose s3:// Datasets without "
     "keys of their own may use this node's (its environment's, its AWS profile's); the "
     "others read anonymously"},
    {"ufs-roots", CFG_STR, offsetof(struct node_config, ufs_roots), 8192, "",
     "in a cluster, NS=URL,..;NS=.. the UFS roots each namespace's Datasets may use (\"*\" = "
     "every namespace; \"\" = any UFS), as weir-controller's: a source outside them is never "
     "opened on this node"},
    {"tier-roots", CFG_STR, offsetof(struct node_config, tier_roots), 2048, "",
     "in a cluster, PATH:SIZE[:PER-NS],... the directories a Runtime's tiers may live under, "
     "the most all the open tiers under each may ask together, and (PER-NS) the most one "
     "namespace's may (\"\" = any path, any quota)"},
    {"controller-socket", CFG_STR, offsetof(struct node_config, controller_socket), PATH_MAX, "",
     "weir-controller's socket: where mount plans come from without Kubernetes, and, with "
     "peer-listen and no peers, the members (default <state-dir>/controller.sock)"},
    {"peers", CFG_STR, offsetof(struct node_config, peers), 32768, "",
     "NAME=http://IP:PORT,... every weir-node sharing one cache, this one (node-name) included "
     "(\"\" = this node caches alone; with peer-listen: on Kubernetes the weir-nodes whose Lease "
     "names a peer URL, otherwise those weir-controller heard a heartbeat from; a list given "
     "overrides both)"},
    {"peer-url", CFG_STR, offsetof(struct node_config, peer_url), 256, "",
     "the URL peers reach this node at, put in its Lease or heartbeat (default: "
     "http://<peer-listen>, which then needs an address other than 0.0.0.0)"},
    {"peer-listen", CFG_STR, offsetof(struct node_config, peer_listen), 64, "",
     "IPv4:PORT where this node serves its blocks to peers (with peers; alone: members "
     "from the Leases or weir-controller)"},
    {"peer-key-file", CFG_STR, offsetof(struct node_config, peer_key_file), PATH_MAX, "",
     "the cluster's shared key, mode 0600 (default <state-dir>/peer.key)"},
    {"node-id-file", CFG_STR, offsetof(struct node_config, node_id_file), PATH_MAX, "",
     "this node's identity key (Ed25519), mode 0600, made on first start (default "
     "<state-dir>/node-id.key); its public key is how peers know this node"},
    {"member-pods", CFG_BOOL, offsetof(struct node_config, member_pods), sizeof(int), "1",
     "on Kubernetes with members from the Leases: a Lease is a member only while a weir-node pod "
     "of the chart (labels app.kubernetes.io/name=weir, app.kubernetes.io/component=node, in "
     "kube-namespace) runs, Ready, on its node at its peer URL's address and port, and once the "
     "weir-node there proves the Lease's identity (0 = weir-nodes run outside the chart's pods: "
     "the Lease and the cluster key alone, an identity taken over after 60 s unseen)"},
    {"peer-key-secret", CFG_STR, offsetof(struct node_config, peer_key_secret), 512, "",
     "on Kubernetes, NAME[/KEY] of the Secret in kube-namespace holding the cluster's shared key "
     "(KEY default peer.key), read instead of peer-key-file"},
    {"peer-stall-timeout", CFG_STR, offsetof(struct node_config, peer_stall_timeout), 16, "10",
     "seconds a block transfer from a peer may run slower than max(64 KiB/s, the block's size "
     "over 60 s) before the peer is given up and the block read from the UFS (1..60)"},
    {"cache-replicas", CFG_STR, offsetof(struct node_config, cache_replicas), 16, "0",
     "how many of the peers cache each source (a Runtime's replicas; 0 = all); the others read "
     "through them"},
    {"near-cache", CFG_STR, offsetof(struct node_config, near_cache), 32, "1GiB",
     "bytes of blocks read from peers kept in this node's tiers too, the oldest leaving first "
     "(0 = none)"},
};

#define NCFG (sizeof(cfg_table) / sizeof(cfg_table[0]))

/* A decimal count in [min, max] (the whole string). */
int node_parse_count(const char *s, unsigned min, unsigned max, unsigned *ret)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < min || v > max)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

static int cfg_set(struct node_config *c, const char *name, const char *value)
{
	for (size_t i = 0; i < NCFG; i++) {
		const struct cfg_desc *d = &cfg_table[i];
		if (strcmp(d->name, name) != 0)
			continue;
		char *field = (char *)c + d->offset;
		if (d->type == CFG_STR) {
			if (strlen(value) >= d->size)
				return -ENAMETOOLONG;
			strcpy(field, value);
		} else {
			int b = strcmp(value, "1") == 0 || strcmp(value, "true") == 0 ||
				strcmp(value, "yes") == 0;
			if (!b && strcmp(value, "0") && strcmp(value, "false") &&
			    strcmp(value, "no"))
				return -EINVAL;
			*(int *)field = b;
		}
		return 0;
	}
	return -ENOENT;
}

static int cfg_load_file(struct node_config *c, const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	char line[32768 + 64]; /* a peers list of 64 members with their identities */
	int lineno = 0, r = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			/* its rest would be read as a line of its own */
			fprintf(stderr, "weir-node: %s:%d: the line is longer than %zu bytes\n", path,
				lineno, sizeof(line) - 2);
			r = -EINVAL;
			break;
		}
		char *p = line + strspn(line, " \t");
		if (*p == '#' || *p == '\n' || !*p)
			continue;
		p[strcspn(p, "\n")] = '\0';
		char *eq = strchr(p, '=');
		if (!eq) {
			fprintf(stderr, "weir-node: %s:%d: expected name = value\n", path, lineno);
			r = -EINVAL;
			break;
		}
		*eq = '\0';
		char *name = p, *value = eq + 1;
		name[strcspn(name, " \t")] = '\0';
		value += strspn(value, " \t");
		int e = cfg_set(c, name, value);
		if (e < 0) {
			fprintf(stderr, "weir-node: %s:%d: %s \"%s\"\n", path, lineno,
				e == -ENOENT ? "unknown setting" : "bad value for", name);
			r = -EINVAL;
			break;
		}
	}
	fclose(f);
	return r;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: weir-node [--config FILE] [--print-node-id]");
	for (size_t i = 0; i < NCFG; i++)
		fprintf(out, " [--%s%s]", cfg_table[i].name,
			cfg_table[i].type == CFG_STR ? " VALUE" : "");
	fprintf(out, "\n");
	fprintf(out, "  --print-node-id print this node's identity (the public key of node-id-file, "
		     "made first if there is none) and exit: what a peers list gives as "
		     "NAME=URL;id=KEY\n");
	for (size_t i = 0; i < NCFG; i++)
		fprintf(out, "  --%-12s %s (default \"%s\")\n", cfg_table[i].name,
			cfg_table[i].help, cfg_table[i].def);
}

/* The value for ns in a "team-a=4,team-b=0.5" list (scanned per event: lists are short), or
 * NULL. */
static const char *namespace_setting(const char *list, const char *ns, char *buf, size_t len)
{
	const char *p = list;
	size_t nlen = strlen(ns);
	while (*p) {
		const char *eq = strchr(p, '='), *comma = strchr(p, ',');
		if (!eq)
			break;
		if ((size_t)(eq - p) == nlen && strncmp(p, ns, nlen) == 0) {
			size_t vlen = comma ? (size_t)(comma - eq - 1) : strlen(eq + 1);
			snprintf(buf, len, "%.*s", (int)vlen, eq + 1);
			return buf;
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	return NULL;
}

uint64_t node_namespace_prefetch_max(const struct node *n, const char *ns)
{
	char buf[64];
	uint64_t v;
	const char *s = namespace_setting(n->cfg.namespace_prefetch, ns, buf, sizeof(buf));
	if (s && quantity_parse(s, &v) == 0)
		return v;
	return n->prefetch_max;
}

double node_namespace_weight(const struct node *n, const char *ns)
{
	char buf[64];
	const char *s = namespace_setting(n->cfg.namespace_weights, ns, buf, sizeof(buf));
	return s ? atof(s) : 1.0;
}

int node_config_parse(struct node_config *cfg, int argc, char **argv)
{
	for (size_t i = 0; i < NCFG; i++)
		cfg_set(cfg, cfg_table[i].name, cfg_table[i].def);
	const char *config_file = getenv("WEIR_NODE_CONFIG");
	const char *state_env = getenv("WEIR_STATE_DIR");
	if (state_env && *state_env)
		cfg_set(cfg, "state-dir", state_env);

	struct option longopts[NCFG + 4];
	for (size_t i = 0; i < NCFG; i++)
		longopts[i] =
		    (struct option){cfg_table[i].name, required_argument, NULL, 256 + (int)i};
	longopts[NCFG] = (struct option){"config", required_argument, NULL, 'c'};
	longopts[NCFG + 1] = (struct option){"help", no_argument, NULL, 'h'};
	/* prints this node's identity (the public key, made first if there is none) and exits */
	longopts[NCFG + 2] = (struct option){"print-node-id", no_argument, NULL, 'p'};
	longopts[NCFG + 3] = (struct option){0};
	/* Two passes: the file first, then flags over it. */
	int c;
	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		if (c == 'c')
			config_file = optarg;
		else if (c == 'p')
			cfg->print_node_id = 1;
		else if (c == 256 && cfg_set(cfg, "state-dir", optarg) < 0)
			return -EINVAL;
		else if (c == 'h') {
			usage(stdout);
			return 1;
		} else if (c == '?') {
			usage(stderr);
			return -EINVAL;
		}
	}
	/* Without --config, <state-dir>/node.conf is read when it exists. */
	char default_conf[PATH_MAX + 16];
	snprintf(default_conf, sizeof(default_conf), "%.4000s/node.conf", cfg->state_dir);
	if (!config_file && access(default_conf, R_OK) == 0)
		config_file = default_conf;
	if (config_file && cfg_load_file(cfg, config_file) < 0)
		return -EINVAL;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		if (c >= 256 && cfg_set(cfg, cfg_table[c - 256].name, optarg) < 0) {
			fprintf(stderr, "weir-node: bad value \"%s\" for --%s\n", optarg,
				cfg_table[c - 256].name);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "weir-node: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return -EINVAL;
	}
	return 0;
}

void node_config_log(const struct node_config *cfg)
{
	for (size_t i = 0; i < NCFG; i++) {
		const char *field = (const char *)cfg + cfg_table[i].offset;
		if (cfg_table[i].type == CFG_STR)
			log_info("config %s = \"%s\"", cfg_table[i].name, field);
		else
			log_info("config %s = %d", cfg_table[i].name, *(const int *)field);
	}
}
