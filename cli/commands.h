/* SPDX-License-Identifier: Apache-2.0 */
/* The weir command's subcommands. Each returns the process exit code: 0 success, 1 failure,
 * 2 bad usage (after printing its usage). */
#pragma once

struct global_opts {
	const char *state_dir;	/* --state-dir, or NULL */
};

int cmd_mount(int argc, char **argv, const struct global_opts *g);
int cmd_umount(int argc, char **argv, const struct global_opts *g);
int cmd_stat(int argc, char **argv, const struct global_opts *g);
