/* SPDX-License-Identifier: Apache-2.0 */
/* Percent-decoding in place, for the two places that get percent-encoded text from a peer:
 * S3's encoding-type=url listings and gRPC's grpc-message. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Decodes s in place: %XX is that byte; with plus_is_space, '+' is a space (S3 encodes a space as
 * '+' and a '+' as %2B); a '%' without two hex digits stays as it is. Returns the new length,
 * which tells a text with a %00 in it (strlen stops short). */
size_t percent_decode(char *s, bool plus_is_space);
