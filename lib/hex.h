/* SPDX-License-Identifier: Apache-2.0 */
/* Lower-case hexadecimal, the form digests, MACs, nonces and keys take in headers and files. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* b[0..n) as 2n lower-case hex digits and a NUL into out (2n + 1 bytes). */
void hex_encode(const void *b, size_t n, char *out);
/* True when s holds exactly len lower-case hex digits (and a NUL after them). */
bool hex_is(const char *s, size_t len);
/* Exactly 2n lower-case hex digits s[0..slen) into out[0..n): true, else false (out then holds
 * no meaning). */
bool hex_decode(const char *s, size_t slen, void *out, size_t n);
