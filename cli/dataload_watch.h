/* SPDX-License-Identifier: Apache-2.0 */
/* Following a DataLoad until it ends: a progress bar redrawn in place on a terminal (bytes,
 * files, rate, ETA), plain lines every few seconds otherwise. Used by `weir load` and
 * `weir get dataload -w`. */
#pragma once

#include <stdio.h>

#include "controller_client.h"

/* Follows DataLoad ns/name, writing to out, until Complete or Failed. Returns 0 when Complete,
 * 1 when Failed, -errno when the controller stops answering (message printed). */
int dataload_watch_follow(const struct controller_client *cc, const char *cmd, const char *ns,
			  const char *name, FILE *out);
