// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the harnesses (linked into libFuzzer and replay builds alike).
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}
