/* SPDX-License-Identifier: Apache-2.0 */
/* gRPC's message framing (a 1-byte compressed flag, a 4-byte big-endian length, the message),
 * its status codes, and the one place where weir's -errno becomes a gRPC status. Pure
 * functions: the fuzzer and the unit tests drive them without a socket. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#define GRPC_FRAME_HEADER 5
/* The largest request weir-csi accepts: CSI requests are a few hundred bytes. */
#define GRPC_MAX_MESSAGE (1u << 20)

enum grpc_code {
	GRPC_OK = 0,
	GRPC_CANCELLED = 1,
	GRPC_UNKNOWN = 2,
	GRPC_INVALID_ARGUMENT = 3,
	GRPC_DEADLINE_EXCEEDED = 4,
	GRPC_NOT_FOUND = 5,
	GRPC_ALREADY_EXISTS = 6,
	GRPC_PERMISSION_DENIED = 7,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_FAILED_PRECONDITION = 9,
	GRPC_ABORTED = 10,
	GRPC_OUT_OF_RANGE = 11,
	GRPC_UNIMPLEMENTED = 12,
	GRPC_INTERNAL = 13,
	GRPC_UNAVAILABLE = 14,
	GRPC_DATA_LOSS = 15,
	GRPC_UNAUTHENTICATED = 16,
};

/* Looks at the len bytes received so far of a unary request body. Returns 0 when more bytes
 * are needed, the size of the complete frame (header + message) once it is all there, or:
 * -ENOTSUP the compressed flag is set (weir never negotiates an encoding), -EBADMSG a flag byte
 * other than 0/1, -EMSGSIZE the declared length is above max. Safe to call again as bytes
 * arrive: it decides on the header alone as soon as there is one. */
long grpc_frame_check(const uint8_t *buf, size_t len, size_t max);

/* The whole body of a unary request or response: exactly one frame. Returns 0 with *ret_msg
 * (borrowed from buf) and *ret_len, or what grpc_frame_check returns for a bad header, or
 * -EBADMSG for a truncated frame or bytes after it. */
int grpc_frame_decode(const uint8_t *buf, size_t len, size_t max, const uint8_t **ret_msg,
		      size_t *ret_len);

/* Writes the 5-byte header of an uncompressed message of len bytes. */
void grpc_frame_header(uint8_t hdr[GRPC_FRAME_HEADER], uint32_t len);

/* msg packed as one frame: returns a malloc'd buffer (the caller frees it) of *ret_len bytes,
 * or NULL when out of memory. */
uint8_t *grpc_frame_pack(const ProtobufCMessage *msg, size_t *ret_len);

/* The gRPC status for a handler's or the framing's -errno (0 -> OK). */
enum grpc_code grpc_status_from_errno(int err);

/* The code's name as gRPC spells it ("INVALID_ARGUMENT"), for logs and tests. */
const char *grpc_code_name(int code);

/* Percent-encodes s for a grpc-message trailer: bytes outside 0x20..0x7e and '%' become %XX.
 * Writes at most outlen bytes including the NUL, cutting at a whole escape. Returns out. */
char *grpc_percent_encode(const char *s, char *out, size_t outlen);

/* Decodes a grpc-message value in place (the client side); invalid escapes are kept as is. */
void grpc_percent_decode(char *s);
