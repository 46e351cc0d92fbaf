/* SPDX-License-Identifier: Apache-2.0 */
/* The cgroup (v2) of a process, as eBPF's bpf_get_current_cgroup_id() names it: the inode number
 * of its directory in the cgroup2 file system. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

/* The cgroup id of process pid, from /proc/PID/cgroup's "0::" line and that directory in this
 * mount namespace's cgroup2 mount (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid
 * machine, else the first in /proc/self/mountinfo; found once). 0 and *ret set, or -errno:
 * -ENOENT for a process gone, -EXDEV for a cgroup outside this cgroup namespace's view ("/.."
 * paths: this process has a private cgroup namespace, as a container on cgroup v2 gets) that
 * cannot be found in the host's tree either (/proc/1/root's cgroup2 mount, where this process
 * is found by its pid once: with hostPID and the privileges to read init's root),
 * -ENODEV when no cgroup2 file system is mounted here, -EINVAL as proc_cgroup_parse(). Any
 * thread. */
int proc_cgroup_id(pid_t pid, uint64_t *ret);
/* The unified hierarchy's cgroup path in text, the contents of a /proc/PID/cgroup file (its
 * "0::" line's end is cut with a NUL): 0 and *ret_path pointing into text, -EXDEV (and
 * *ret_path) for a path above this cgroup namespace's root, or -EINVAL (no "0::" line, a cut one,
 * or one that is not the last: a cgroup name with a newline in it). */
int proc_cgroup_parse(char *text, const char **ret_path);
