/* SPDX-License-Identifier: Apache-2.0 */
/* weir bench --generate: data sets to bench a UFS before real data is in it. Layout under DIR:
 *   files/NNNN/NNNNNNNN.bin      (1000 per directory, as image data sets are split)
 *   shards/shard-NNNNNN.tar
 *   checkpoint/checkpoint-NNNNNN.pt
 * Content is incompressible and reproducible: the same spec writes the same bytes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "bench_args.h"

/* The subdirectory of DIR a kind's files go to ("files", "shards", "checkpoint"). */
const char *bench_gen_subdir(unsigned kind);

/* Writes spec's files under dir (created if missing), replacing files of the same names.
 * Fails with -ENOSPC before writing when the file system has not the room. progress: print a
 * progress line to stderr. Returns 0, or -errno with a sentence in err. */
int bench_gen_run(const char *dir, const struct bench_gen_spec *spec, bool progress, char *err,
		  size_t errlen);
