// SPDX-License-Identifier: Apache-2.0
// Lower-case hexadecimal (hex.h).
#include "hex.h"

#include <string.h>

void hex_encode(const void *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = b;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

bool hex_is(const char *s, size_t len)
{
	if (!s || strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (digit(s[i]) < 0)
			return false;
	return true;
}

bool hex_decode(const char *s, size_t slen, void *out, size_t n)
{
	unsigned char *o = out;
	if (slen != 2 * n)
		return false;
	for (size_t i = 0; i < n; i++) {
		int hi = digit(s[2 * i]), lo = digit(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		o[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}
