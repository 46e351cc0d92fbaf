// SPDX-License-Identifier: Apache-2.0
#include "percent.h"

static int hex_digit(char c)
{
	return c >= '0' && c <= '9'	? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

size_t percent_decode(char *s, bool plus_is_space)
{
	char *o = s;
	for (const char *i = s; *i; i++) {
		int hi, lo;
		if (*i == '%' && (hi = hex_digit(i[1])) >= 0 && (lo = hex_digit(i[2])) >= 0) {
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		} else {
			*o++ = plus_is_space && *i == '+' ? ' ' : *i;
		}
	}
	*o = '\0';
	return (size_t)(o - s);
}
