/* SPDX-License-Identifier: Apache-2.0 */
/* Byte quantities as users write them: "4Gi", "4GiB", "100G", "512MiB", "1048576".
 * Kubernetes suffixes (Ki Mi Gi Ti Pi, k M G T P) and their "B" forms are accepted. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Parses s into bytes. Returns 0, or -EINVAL for anything that is not a whole quantity
 * ("4Gx", "", "-1", "1.5.3") and -ERANGE when it does not fit in 64 bits. */
int quantity_parse(const char *s, uint64_t *ret_bytes);

/* Formats bytes as the walkthrough prints them: "0.00B", "348.00KiB", "3.41GiB".
 * Returns buf. */
char *quantity_format(uint64_t bytes, char *buf, size_t len);

/* Parses a fraction "0.95" in [0, 1]. Returns 0 or -EINVAL / -ERANGE. */
int fraction_parse(const char *s, double *ret);

/* Parses a duration "1", "30s", "500ms", "5m", "2h", "1d" (a bare number is seconds) into
 * milliseconds. Returns 0, -EINVAL for anything else, -ERANGE above 10 years. */
int duration_parse_ms(const char *s, uint64_t *ret_ms);
