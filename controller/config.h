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
	double resync_interval; /* seconds */
};

/* Fills cfg from defaults, file and argv. Returns 0; 1 when --help was printed; -EINVAL with
 * a message in errbuf for a bad flag, file line or value. */
int config_load(struct config *cfg, int argc, char **argv, char *errbuf, size_t errlen);

/* Logs every setting at info level, as "name = value". */
void config_log(const struct config *cfg);
