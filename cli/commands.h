/* SPDX-License-Identifier: Apache-2.0 */
/* The weir command's subcommands. Each returns the process exit code: 0 success, 1 failure,
 * 2 bad usage (after printing its usage). */
#pragma once

struct global_opts {
	const char *state_dir; /* --state-dir, or NULL */
};

int cmd_mount(int argc, char **argv, const struct global_opts *g);
int cmd_umount(int argc, char **argv, const struct global_opts *g);
int cmd_stat(int argc, char **argv, const struct global_opts *g);
int cmd_top(int argc, char **argv, const struct global_opts *g);
int cmd_doctor(int argc, char **argv, const struct global_opts *g);
int cmd_node(int argc, char **argv, const struct global_opts *g);
int cmd_up(int argc, char **argv, const struct global_opts *g);
int cmd_down(int argc, char **argv, const struct global_opts *g);
int cmd_create(int argc, char **argv, const struct global_opts *g);
int cmd_apply(int argc, char **argv, const struct global_opts *g);
int cmd_delete(int argc, char **argv, const struct global_opts *g);
int cmd_get(int argc, char **argv, const struct global_opts *g);
int cmd_describe(int argc, char **argv, const struct global_opts *g);
int cmd_load(int argc, char **argv, const struct global_opts *g);
int cmd_bench(int argc, char **argv, const struct global_opts *g);
