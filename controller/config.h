/* SPDX-License-Identifier: Apache-2.0 */
/* weir-controller's configuration: one struct filled from a descriptor table, defaults first,
 * then the config file (--config, else <state-dir>/controller.conf when present: "name = value"
 * lines, '#' comments), then flags (--name value, --name=value; booleans take no value). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct config {
	char state_dir[4096];
	char socket[4200];	/* "" = <state_dir>/controller.sock */
	char node_socket[4200]; /* "" = <state_dir>/node.sock */
	char config_file[4096];
	char log_level[16];
	bool deny_by_default;
	double resync_interval;	  /* seconds */
	double member_timeout;	  /* seconds: embedded default, a silent weir-node is out */
	char ufs_roots[8192];	  /* ufs_policy.h syntax; "" = any UFS */
	char kubeconfig[4096];	  /* "" = the embedded store, unless in a pod (in_cluster) */
	bool in_cluster;	  /* use the pod's service account when no kubeconfig is given */
	char lease_namespace[64]; /* "" = the kubeconfig's namespace */
	char identity[256];	  /* "" = <hostname>_<pid> */
	double lease_duration;	  /* seconds a leader's Lease holds without renewal */
	char webhook_url[512];	  /* serve there and register, with a certificate we make */
	char webhook_listen[64];  /* "" = no admission webhook */
	char webhook_cert[4096];
	char webhook_key[4096];
	char webhook_path[256];
	char webhook_client_ca[4096]; /* "" = any client; else its cert must chain to this CA */
};

/* Fills cfg from defaults, file and argv. Returns 0; 1 when --help was printed; -EINVAL with
 * a message in errbuf for a bad flag, file line or value. */
int config_load(struct config *cfg, int argc, char **argv, char *errbuf, size_t errlen);

/* The config file's path: --config, else <state-dir>/controller.conf. */
const char *config_file_path(const struct config *cfg, char *buf, size_t len);

/* Reads one setting (name) from the config file again, for settings that may change while
 * the controller runs (ufs-roots). Writes its value (the default when the file does not set
 * it) to buf. Returns 0, or -errno with a message in errbuf. */
int config_reread(const struct config *cfg, const char *name, char *buf, size_t len, char *errbuf,
		  size_t errlen);

/* Logs every setting at info level, as "name = value". */
void config_log(const struct config *cfg);
