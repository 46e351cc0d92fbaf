// SPDX-License-Identifier: Apache-2.0
// Quantities, fractions and durations as manifests and flags give them ("4Gi", "0.95", "30s").
#include <stdlib.h>

#include "fuzz.h"
#include "quantity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	uint64_t b, ms;
	double f;
	if (quantity_parse(s, &b) == 0) {
		char buf[64];
		quantity_format(b, buf, sizeof(buf));
	}
	if (fraction_parse(s, &f) == 0 && !(f >= 0 && f <= 1))
		abort();
	duration_parse_ms(s, &ms);
	free(s);
	return 0;
}
