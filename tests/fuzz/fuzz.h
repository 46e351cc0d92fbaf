/* SPDX-License-Identifier: Apache-2.0 */
/* The libFuzzer entry point every harness here defines; replay.c calls it on corpus files when
 * the build has no libFuzzer (gcc), so the corpora stay regression tests in the unit suite. */
#pragma once

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A NUL-terminated copy of data (the parsers that want C strings); abort()s on no memory so a
 * harness never mistakes an allocation failure for a finding. */
char *fuzz_cstr(const uint8_t *data, size_t size);
