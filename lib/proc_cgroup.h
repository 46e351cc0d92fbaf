/* SPDX-License-Identifier: Apache-2.0 */
/* The cgroup (v2) of a process, as eBPF's bpf_get_current_cgroup_id() names it: the inode number
 * of its directory in the cgroup2 file system. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

/* The cgroup id of process pid, from /proc/PID/cgroup's "0::" line and that directory in this
 * mount namespace's cgroup2 mount (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid
 * machine, else the first in /proc/self/mountinfo; found once). 0 and *ret set, or -errno:
 * -ENOENT for a process gone or a cgroup outside this cgroup namespace's view ("/.." paths: a
 * private namespace), -ENODEV when no cgroup2 file system is mounted here, -EINVAL when the file
 * says no "0::" cgroup. Any thread. */
int proc_cgroup_id(pid_t pid, uint64_t *ret);
