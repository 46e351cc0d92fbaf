// SPDX-License-Identifier: Apache-2.0
// weir: the command line. Global flags, then a subcommand from the table below.
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "log.h"

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv, const struct global_opts *g);
	const char *summary;
} commands[] = {
    {"mount", cmd_mount, "serve a UFS tree (or a Dataset) at a mountpoint, read-only"},
    {"umount", cmd_umount, "stop serving a mountpoint"},
    {"top", cmd_top, "live view per namespace and dataset: page cache, tier, UFS, streams"},
    {"doctor", cmd_doctor, "check FUSE, eBPF and the node daemon on this machine"},
    {"stat", cmd_stat, "cached bytes per tier, UFS bytes fetched, hits and misses of a view"},
    {"up", cmd_up, "start weir-controller and weir-node on this machine"},
    {"down", cmd_down, "stop weir-controller and weir-node"},
    {"node", cmd_node, "node restart: replace weir-node (an upgrade) without unmounting"},
    {"create", cmd_create, "create a namespace, or the objects of a manifest"},
    {"apply", cmd_apply, "create or update the objects of a manifest"},
    {"get", cmd_get, "list datasets, runtimes, dataloads or namespaces"},
    {"describe", cmd_describe, "show an object in detail"},
    {"delete", cmd_delete, "delete objects by name or by manifest"},
    {"load", cmd_load, "preheat paths of a Dataset and follow the load"},
    {"bench", cmd_bench, "training access patterns (shards, small files, checkpoint) on any dir"},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: weir [--state-dir DIR] COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\n'weir COMMAND --help' tells more.\n");
}

int main(int argc, char **argv)
{
	struct global_opts g = {0};
	log_init("weir", LOG_WARNING, 0);
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--state-dir") == 0 && i + 1 < argc) {
			g.state_dir = argv[++i];
		} else if (strncmp(argv[i], "--state-dir=", 12) == 0) {
			g.state_dir = argv[i] + 12;
		} else if (strcmp(argv[i], "--state-dir") == 0) {
			fprintf(stderr, "weir: --state-dir needs a directory\n");
			usage(stderr);
			return 2;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "weir: unknown option \"%s\"\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (strcmp(argv[i], commands[k].name) == 0)
			return commands[k].run(argc - i, argv + i, &g);
	fprintf(stderr, "weir: unknown command \"%s\"\n", argv[i]);
	usage(stderr);
	return 2;
}
