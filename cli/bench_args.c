// SPDX-License-Identifier: Apache-2.0
// Parsing of weir bench's workloads, counts and --generate specs. The messages name the user's
// input and say what would have been accepted.
#include "bench_args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quantity.h"

static const struct {
	const char *name;
	unsigned mask;
} workloads[] = {
    {"files", BENCH_FILES},
    {"shards", BENCH_SHARDS},
    {"checkpoint", BENCH_CHECKPOINT},
    {"all", BENCH_ALL},
};

const char *bench_args_workload_name(unsigned workload)
{
	for (size_t i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++)
		if (workloads[i].mask == workload)
			return workloads[i].name;
	return "?";
}

int bench_args_workload(const char *s, unsigned *ret_mask)
{
	for (size_t i = 0; s && i < sizeof(workloads) / sizeof(workloads[0]); i++) {
		if (strcmp(s, workloads[i].name) == 0) {
			*ret_mask = workloads[i].mask;
			return 0;
		}
	}
	return -EINVAL;
}

/* Digits only: strtoull would take "-1" (as a huge number), " 8" and "+8". */
static int parse_u64(const char *s, size_t len, uint64_t *ret)
{
	if (len == 0)
		return -EINVAL;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*ret = v;
	return 0;
}

int bench_args_count(const char *s, unsigned max, unsigned *ret)
{
	uint64_t v;
	int r = parse_u64(s, s ? strlen(s) : 0, &v);
	if (r < 0)
		return r;
	if (v == 0)
		return -EINVAL;
	if (v > max)
		return -ERANGE;
	*ret = (unsigned)v;
	return 0;
}

int bench_args_generate(const char *s, struct bench_gen_spec *ret, char *err, size_t errlen)
{
	const char *colon = s ? strchr(s, ':') : NULL;
	if (!colon) {
		snprintf(err, errlen,
			 "--generate \"%s\" is not KIND:COUNTxSIZE (e.g. files:100000x110KiB, "
			 "shards:32x256MiB, checkpoint:1x2GiB)",
			 s ? s : "");
		return -EINVAL;
	}
	char kind[16] = "";
	size_t klen = (size_t)(colon - s);
	unsigned mask = 0;
	if (klen < sizeof(kind)) {
		memcpy(kind, s, klen);
		kind[klen] = '\0';
	}
	if (klen >= sizeof(kind) || bench_args_workload(kind, &mask) < 0 || mask == BENCH_ALL) {
		snprintf(err, errlen,
			 "--generate \"%s\": unknown kind \"%.*s\" (files, shards or checkpoint)",
			 s, (int)klen, s);
		return -EINVAL;
	}
	const char *x = strchr(colon + 1, 'x');
	if (!x) {
		snprintf(err, errlen,
			 "--generate \"%s\": \"%s\" is not COUNTxSIZE (e.g. 32x256MiB)", s,
			 colon + 1);
		return -EINVAL;
	}
	uint64_t count, size;
	int r = parse_u64(colon + 1, (size_t)(x - colon - 1), &count);
	if (r == 0 && (count == 0 || count > BENCH_GEN_MAX_COUNT))
		r = count ? -ERANGE : -EINVAL;
	if (r < 0) {
		snprintf(err, errlen,
			 "--generate \"%s\": the count \"%.*s\" must be a whole number "
			 "from 1 to %llu",
			 s, (int)(x - colon - 1), colon + 1, BENCH_GEN_MAX_COUNT);
		return r;
	}
	/* SIZE or MIN-MAX: each bound on its own */
	const char *dash = strchr(x + 1, '-');
	size_t lens[2] = {dash ? (size_t)(dash - x - 1) : strlen(x + 1),
			  dash ? strlen(dash + 1) : 0};
	const char *parts[2] = {x + 1, dash ? dash + 1 : NULL};
	uint64_t sizes[2];
	for (unsigned k = 0; k < (dash ? 2u : 1u); k++) {
		char q[64];
		r = lens[k] < sizeof(q) ? 0 : -ERANGE;
		if (r == 0) {
			memcpy(q, parts[k], lens[k]);
			q[lens[k]] = '\0';
			r = quantity_parse(q, &sizes[k]);
		}
		if (r == 0 && (sizes[k] == 0 || sizes[k] > BENCH_GEN_MAX_SIZE))
			r = sizes[k] ? -ERANGE : -EINVAL;
		if (r < 0) {
			snprintf(
			    err, errlen,
			    "--generate \"%s\": the size \"%.*s\" must be a byte quantity from 1 "
			    "to 1TiB (e.g. 110KiB, 256MiB, or a range 4KiB-16KiB)",
			    s, (int)lens[k], parts[k]);
			return r;
		}
	}
	size = sizes[0];
	if (dash && sizes[1] < size) {
		snprintf(err, errlen,
			 "--generate \"%s\": the size range \"%s\" ends below its start (write "
			 "MIN-MAX, e.g. 4KiB-16KiB)",
			 s, x + 1);
		return -EINVAL;
	}
	ret->kind = mask;
	ret->count = count;
	ret->size = size;
	ret->size_max = dash ? sizes[1] : size;
	return 0;
}
