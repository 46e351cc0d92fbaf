// SPDX-License-Identifier: Apache-2.0
// Quantity parsing and formatting; exact integer arithmetic where the input is whole.
#include "quantity.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct suffix {
	const char *name;
	uint64_t mult;
};

static const struct suffix suffixes[] = {
    {"", 1},
    {"B", 1},
    {"Ki", 1ULL << 10},
    {"Mi", 1ULL << 20},
    {"Gi", 1ULL << 30},
    {"Ti", 1ULL << 40},
    {"Pi", 1ULL << 50},
    {"KiB", 1ULL << 10},
    {"MiB", 1ULL << 20},
    {"GiB", 1ULL << 30},
    {"TiB", 1ULL << 40},
    {"PiB", 1ULL << 50},
    {"k", 1000ULL},
    {"K", 1000ULL},
    {"M", 1000000ULL},
    {"G", 1000000000ULL},
    {"T", 1000000000000ULL},
    {"P", 1000000000000000ULL},
    {"KB", 1000ULL},
    {"kB", 1000ULL},
    {"MB", 1000000ULL},
    {"GB", 1000000000ULL},
    {"TB", 1000000000000ULL},
    {"PB", 1000000000000000ULL},
};

int quantity_parse(const char *s, uint64_t *ret_bytes)
{
	if (!s)
		return -EINVAL;
	const char *p = s;
	while (isspace((unsigned char)*p))
		p++;
	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	uint64_t whole = 0;
	while (isdigit((unsigned char)*p)) {
		unsigned d = *p - '0';
		if (whole > (UINT64_MAX - d) / 10)
			return -ERANGE;
		whole = whole * 10 + d;
		p++;
	}
	/* Up to 9 fractional digits, kept as an integer numerator. */
	uint64_t frac = 0, frac_den = 1;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		while (isdigit((unsigned char)*p)) {
			if (frac_den < 1000000000ULL) {
				frac = frac * 10 + (*p - '0');
				frac_den *= 10;
			}
			p++;
		}
	}
	const char *end = p + strlen(p);
	while (end > p && isspace((unsigned char)end[-1]))
		end--;
	size_t slen = end - p;
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		if (strlen(suffixes[i].name) != slen || strncmp(p, suffixes[i].name, slen) != 0)
			continue;
		uint64_t m = suffixes[i].mult;
		if (whole && m > UINT64_MAX / whole)
			return -ERANGE;
		uint64_t v = whole * m;
		/* frac/frac_den * m, without overflow for m <= 2^50 and frac_den <= 1e9 */
		long double f = (long double)frac * (long double)m / (long double)frac_den;
		if ((long double)(UINT64_MAX - v) < f)
			return -ERANGE;
		v += (uint64_t)f;
		*ret_bytes = v;
		return 0;
	}
	return -EINVAL;
}

char *quantity_format(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double v = (double)bytes;
	int u = 0;
	while (v >= 1024.0 && u < 6) {
		v /= 1024.0;
		u++;
	}
	snprintf(buf, len, "%.2f%s", v, units[u]);
	return buf;
}

int fraction_parse(const char *s, double *ret)
{
	if (!s || !*s)
		return -EINVAL;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end != '\0' || isnan(v))
		return -EINVAL;
	if (v < 0.0 || v > 1.0)
		return -ERANGE;
	*ret = v;
	return 0;
}

int duration_parse_ms(const char *s, uint64_t *ret_ms)
{
	static const struct {
		const char *name;
		double ms;
	} units[] = {{"", 1000},   {"s", 1000},	  {"ms", 1},
		     {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
	if (!s || !*s)
		return -EINVAL;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || isnan(v) || v < 0)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].name) != 0)
			continue;
		double ms = v * units[i].ms;
		if (ms > 10.0 * 365 * 86400000)
			return -ERANGE;
		/* a positive duration under 1 ms still means "some" */
		*ret_ms = ms < 1 && v > 0 ? 1 : (uint64_t)ms;
		return 0;
	}
	return -EINVAL;
}
