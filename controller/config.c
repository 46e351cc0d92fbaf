// SPDX-License-Identifier: Apache-2.0
// The controller's config descriptor table and its three layers (defaults, file, flags).
// Adding a setting is one row in descs[] and one field in struct config.
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

enum config_type {
	CONFIG_STR,
	CONFIG_BOOL,
	CONFIG_SECONDS,
};

static const struct config_desc {
	const char *name;
	enum config_type type;
	size_t offset;
	size_t size;
	const char *def;
	const char *help;
} descs[] = {
    {"state-dir", CONFIG_STR, offsetof(struct config, state_dir),
     sizeof(((struct config *)0)->state_dir), NULL,
     "state directory (default $WEIR_STATE_DIR, else /var/lib/weir)"},
    {"socket", CONFIG_STR, offsetof(struct config, socket), sizeof(((struct config *)0)->socket),
     "", "control socket (default <state-dir>/controller.sock)"},
    {"node-socket", CONFIG_STR, offsetof(struct config, node_socket),
     sizeof(((struct config *)0)->node_socket), "",
     "weir-node's socket (default <state-dir>/node.sock); on Kubernetes no node is dialled"},
    {"config", CONFIG_STR, offsetof(struct config, config_file),
     sizeof(((struct config *)0)->config_file), "",
     "config file (default <state-dir>/controller.conf)"},
    {"log-level", CONFIG_STR, offsetof(struct config, log_level),
     sizeof(((struct config *)0)->log_level), "info", "debug, info, notice, warning or err"},
    {"deny-by-default", CONFIG_BOOL, offsetof(struct config, deny_by_default), sizeof(bool),
     "false", "a source Dataset without sharing.allow may be referenced by nobody"},
    {"member-timeout", CONFIG_SECONDS, offsetof(struct config, member_timeout), sizeof(double), "6",
     "embedded default: seconds after its last heartbeat a weir-node is out of the cluster"},
    {"resync-interval", CONFIG_SECONDS, offsetof(struct config, resync_interval), sizeof(double),
     "1", "seconds between two reconcile passes without changes"},
    {"ufs-roots", CONFIG_STR, offsetof(struct config, ufs_roots),
     sizeof(((struct config *)0)->ufs_roots), "",
     "NS=URL,..;NS=.. UFS roots each namespace may use (\"*\" = every namespace; \"\" = "
     "any UFS); the file's value is re-read when the file changes"},
    {"kubeconfig", CONFIG_STR, offsetof(struct config, kubeconfig),
     sizeof(((struct config *)0)->kubeconfig), "",
     "keep objects in the kube-apiserver this kubeconfig names (default: the SQLite store)"},
    {"in-cluster", CONFIG_BOOL, offsetof(struct config, in_cluster), sizeof(bool), "true",
     "in a pod (KUBERNETES_SERVICE_HOST set) and without --kubeconfig, use its service account"},
    {"lease-namespace", CONFIG_STR, offsetof(struct config, lease_namespace),
     sizeof(((struct config *)0)->lease_namespace), "",
     "namespace of the leader-election Lease (default: the kubeconfig's)"},
    {"identity", CONFIG_STR, offsetof(struct config, identity),
     sizeof(((struct config *)0)->identity), "",
     "this replica's name in the Lease "
     "(default <hostname>_<pid>)"},
    {"lease-duration", CONFIG_SECONDS, offsetof(struct config, lease_duration), sizeof(double),
     "15", "seconds a leader's Lease holds without renewal; a standby takes over after it"},
    {"webhook-url", CONFIG_STR, offsetof(struct config, webhook_url),
     sizeof(((struct config *)0)->webhook_url), "",
     "https://IPv4:PORT[/path]: serve the webhook there with a certificate of our own and "
     "register it (out of cluster; --kubeconfig)"},
    {"webhook-listen", CONFIG_STR, offsetof(struct config, webhook_listen),
     sizeof(((struct config *)0)->webhook_listen), "",
     "IPv4-HOST:PORT of the HTTPS delete webhook (default: none)"},
    {"webhook-cert", CONFIG_STR, offsetof(struct config, webhook_cert),
     sizeof(((struct config *)0)->webhook_cert), "", "PEM certificate of the webhook"},
    {"webhook-key", CONFIG_STR, offsetof(struct config, webhook_key),
     sizeof(((struct config *)0)->webhook_key), "", "PEM key of the webhook"},
    {"webhook-client-ca", CONFIG_STR, offsetof(struct config, webhook_client_ca),
     sizeof(((struct config *)0)->webhook_client_ca), "",
     "PEM CA: the webhook answers only clients presenting a certificate it signed (the "
     "kube-apiserver's, from its AdmissionConfiguration kubeconfig); others get 401"},
    {"webhook-path", CONFIG_STR, offsetof(struct config, webhook_path),
     sizeof(((struct config *)0)->webhook_path), "/validate", "URL path of the webhook"},
};

#define N_DESCS (sizeof(descs) / sizeof(descs[0]))

static int set_value(struct config *cfg, const struct config_desc *d, const char *v, char *errbuf,
		     size_t errlen)
{
	char *p = (char *)cfg + d->offset;
	switch (d->type) {
	case CONFIG_STR:
		if (strlen(v) >= d->size) {
			snprintf(errbuf, errlen, "%s: \"%s\" is too long", d->name, v);
			return -EINVAL;
		}
		snprintf(p, d->size, "%s", v);
		return 0;
	case CONFIG_BOOL:
		if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1") || !strcmp(v, "on"))
			*(bool *)p = true;
		else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0") ||
			 !strcmp(v, "off"))
			*(bool *)p = false;
		else {
			snprintf(errbuf, errlen, "%s: \"%s\" is not true or false", d->name, v);
			return -EINVAL;
		}
		return 0;
	case CONFIG_SECONDS: {
		char *end;
		errno = 0;
		double s = strtod(v, &end);
		if (errno || end == v || *end || s < 0.05 || s > 3600) {
			snprintf(errbuf, errlen,
				 "%s: \"%s\" is not a number of seconds in 0.05..3600", d->name, v);
			return -EINVAL;
		}
		*(double *)p = s;
		return 0;
	}
	}
	return -EINVAL;
}

static const struct config_desc *find_desc(const char *name, size_t len)
{
	for (size_t i = 0; i < N_DESCS; i++)
		if (strlen(descs[i].name) == len && !strncmp(descs[i].name, name, len))
			return &descs[i];
	return NULL;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: weir-controller [OPTIONS]\n\noptions (also settable in the config "
		     "file as \"name = value\"):\n");
	for (size_t i = 0; i < N_DESCS; i++)
		fprintf(out, "  --%-18s %s\n", descs[i].name, descs[i].help);
}

/* Applies argv's flags; only_name, when set, restricts to that one setting. */
static int apply_flags(struct config *cfg, int argc, char **argv, const char *only_name,
		       char *errbuf, size_t errlen)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--", 2) != 0) {
			snprintf(errbuf, errlen, "unexpected argument \"%s\"", a);
			return -EINVAL;
		}
		const char *eq = strchr(a + 2, '=');
		size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
		const struct config_desc *d = find_desc(a + 2, nl);
		if (!d) {
			snprintf(errbuf, errlen, "unknown option \"%s\"", a);
			return -EINVAL;
		}
		const char *v = eq ? eq + 1 : NULL;
		if (!v && d->type == CONFIG_BOOL)
			v = "true";
		else if (!v) {
			if (i + 1 >= argc) {
				snprintf(errbuf, errlen, "option \"--%s\" needs a value", d->name);
				return -EINVAL;
			}
			v = argv[++i];
		}
		if (only_name && strcmp(only_name, d->name))
			continue;
		int r = set_value(cfg, d, v, errbuf, errlen);
		if (r < 0)
			return r;
	}
	return 0;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

static int load_file(struct config *cfg, const char *path, bool must_exist, char *errbuf,
		     size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		if (!must_exist && errno == ENOENT)
			return 0;
		snprintf(errbuf, errlen, "config file \"%s\": %s", path, strerror(errno));
		return -errno;
	}
	char line[8192];
	int lineno = 0, r = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		char *s = trim(line);
		if (!*s || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			snprintf(errbuf, errlen, "%s:%d: expected \"name = value\"", path, lineno);
			r = -EINVAL;
			break;
		}
		*eq = '\0';
		char *name = trim(s), *value = trim(eq + 1);
		const struct config_desc *d = find_desc(name, strlen(name));
		if (!d || !strcmp(d->name, "config")) {
			snprintf(errbuf, errlen, "%s:%d: unknown setting \"%s\"", path, lineno,
				 name);
			r = -EINVAL;
			break;
		}
		char err[512];
		r = set_value(cfg, d, value, err, sizeof(err));
		if (r < 0) {
			snprintf(errbuf, errlen, "%s:%d: %s", path, lineno, err);
			break;
		}
	}
	fclose(f);
	return r;
}

int config_load(struct config *cfg, int argc, char **argv, char *errbuf, size_t errlen)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 1;
		}
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < N_DESCS; i++) {
		const char *def = descs[i].def;
		if (!strcmp(descs[i].name, "state-dir")) {
			def = getenv("WEIR_STATE_DIR");
			if (!def || !*def)
				def = "/var/lib/weir";
		}
		int r = set_value(cfg, &descs[i], def, errbuf, errlen);
		if (r < 0)
			return r;
	}
	/* The file's location depends on two flags; read those first. */
	int r = apply_flags(cfg, argc, argv, "state-dir", errbuf, errlen);
	if (r >= 0)
		r = apply_flags(cfg, argc, argv, "config", errbuf, errlen);
	if (r < 0)
		return r;
	bool explicit_file = cfg->config_file[0] != '\0';
	char path[8300];
	config_file_path(cfg, path, sizeof(path));
	r = load_file(cfg, path, explicit_file, errbuf, errlen);
	if (r >= 0)
		r = apply_flags(cfg, argc, argv, NULL, errbuf, errlen);
	if (r < 0)
		return r;
	if (log_level_parse(cfg->log_level) < 0) {
		snprintf(errbuf, errlen,
			 "log-level: \"%s\" is not debug, info, notice, warning or err",
			 cfg->log_level);
		return -EINVAL;
	}
	if (!cfg->socket[0])
		snprintf(cfg->socket, sizeof(cfg->socket), "%s/controller.sock", cfg->state_dir);
	if (!cfg->node_socket[0])
		snprintf(cfg->node_socket, sizeof(cfg->node_socket), "%s/node.sock",
			 cfg->state_dir);
	return 0;
}

const char *config_file_path(const struct config *cfg, char *buf, size_t len)
{
	if (cfg->config_file[0])
		snprintf(buf, len, "%s", cfg->config_file);
	else
		snprintf(buf, len, "%s/controller.conf", cfg->state_dir);
	return buf;
}

int config_reread(const struct config *cfg, const char *name, char *buf, size_t len, char *errbuf,
		  size_t errlen)
{
	const struct config_desc *d = find_desc(name, strlen(name));
	if (!d || d->type != CONFIG_STR)
		return -EINVAL;
	struct config *fresh = malloc(sizeof(*fresh));
	if (!fresh)
		return -ENOMEM;
	*fresh = *cfg;
	int r = set_value(fresh, d, d->def ? d->def : "", errbuf, errlen);
	char path[8300];
	config_file_path(cfg, path, sizeof(path));
	if (r >= 0)
		r = load_file(fresh, path, false, errbuf, errlen);
	if (r >= 0)
		snprintf(buf, len, "%s", (const char *)fresh + d->offset);
	free(fresh);
	return r < 0 ? r : 0;
}

void config_log(const struct config *cfg)
{
	for (size_t i = 0; i < N_DESCS; i++) {
		const char *p = (const char *)cfg + descs[i].offset;
		switch (descs[i].type) {
		case CONFIG_STR:
			log_info("config: %s = \"%s\"", descs[i].name, p);
			break;
		case CONFIG_BOOL:
			log_info("config: %s = %s", descs[i].name,
				 *(const bool *)p ? "true" : "false");
			break;
		case CONFIG_SECONDS:
			log_info("config: %s = %g", descs[i].name, *(const double *)p);
			break;
		}
	}
}
