// SPDX-License-Identifier: Apache-2.0
// gRPC length-prefixed framing and status codes. Every length comes from the peer: it is
// checked against max before anything is sized by it.
#include "grpc_frame.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "percent.h"

long grpc_frame_check(const uint8_t *buf, size_t len, size_t max)
{
	if (len < 1)
		return 0;
	if (buf[0] == 1)
		return -ENOTSUP;
	if (buf[0] != 0)
		return -EBADMSG;
	if (len < GRPC_FRAME_HEADER)
		return 0;
	uint32_t n = (uint32_t)buf[1] << 24 | (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 8 |
		     (uint32_t)buf[4];
	if (n > max)
		return -EMSGSIZE;
	if (len - GRPC_FRAME_HEADER < n)
		return 0;
	return (long)(GRPC_FRAME_HEADER + n);
}

int grpc_frame_decode(const uint8_t *buf, size_t len, size_t max, const uint8_t **ret_msg,
		      size_t *ret_len)
{
	long r = grpc_frame_check(buf, len, max);
	if (r < 0)
		return (int)r;
	if (r == 0 || (size_t)r != len)
		return -EBADMSG;
	*ret_msg = buf + GRPC_FRAME_HEADER;
	*ret_len = len - GRPC_FRAME_HEADER;
	return 0;
}

void grpc_frame_header(uint8_t hdr[GRPC_FRAME_HEADER], uint32_t len)
{
	hdr[0] = 0;
	hdr[1] = (uint8_t)(len >> 24);
	hdr[2] = (uint8_t)(len >> 16);
	hdr[3] = (uint8_t)(len >> 8);
	hdr[4] = (uint8_t)len;
}

uint8_t *grpc_frame_pack(const ProtobufCMessage *msg, size_t *ret_len)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	uint8_t *b = malloc(GRPC_FRAME_HEADER + n);
	if (!b)
		return NULL;
	grpc_frame_header(b, (uint32_t)n);
	protobuf_c_message_pack(msg, b + GRPC_FRAME_HEADER);
	*ret_len = GRPC_FRAME_HEADER + n;
	return b;
}

/* -errno -> gRPC status; what is not listed is INTERNAL. */
static const struct {
	int err;
	enum grpc_code code;
} errno_codes[] = {
    {EINVAL, GRPC_INVALID_ARGUMENT},
    {ENAMETOOLONG, GRPC_INVALID_ARGUMENT},
    {ENOENT, GRPC_NOT_FOUND},
    {EEXIST, GRPC_ALREADY_EXISTS},
    {EACCES, GRPC_PERMISSION_DENIED},
    {EPERM, GRPC_PERMISSION_DENIED},
    {EMSGSIZE, GRPC_RESOURCE_EXHAUSTED},
    {ENOSPC, GRPC_RESOURCE_EXHAUSTED},
    {EBUSY, GRPC_FAILED_PRECONDITION},
    {ENOTDIR, GRPC_FAILED_PRECONDITION},
    {ENOSYS, GRPC_UNIMPLEMENTED},
    {ENOTSUP, GRPC_UNIMPLEMENTED},
    {ECONNREFUSED, GRPC_UNAVAILABLE},
    {ECONNRESET, GRPC_UNAVAILABLE},
    {EAGAIN, GRPC_UNAVAILABLE},
    {ENOTCONN, GRPC_UNAVAILABLE},
    {ETIMEDOUT, GRPC_DEADLINE_EXCEEDED},
    {EBADMSG, GRPC_INTERNAL},
    {EINPROGRESS, GRPC_ABORTED},
};

enum grpc_code grpc_status_from_errno(int err)
{
	if (err == 0)
		return GRPC_OK;
	for (size_t i = 0; i < sizeof(errno_codes) / sizeof(errno_codes[0]); i++)
		if (errno_codes[i].err == -err)
			return errno_codes[i].code;
	return GRPC_INTERNAL;
}

static const char *const code_names[] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *grpc_code_name(int code)
{
	if (code < 0 || (size_t)code >= sizeof(code_names) / sizeof(code_names[0]))
		return "?";
	return code_names[code];
}

char *grpc_percent_encode(const char *s, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	if (outlen == 0)
		return out;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		bool plain = *p >= 0x20 && *p <= 0x7e && *p != '%';
		size_t need = plain ? 1 : 3;
		if (o + need >= outlen)
			break;
		if (plain) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
	return out;
}

void grpc_percent_decode(char *s)
{
	percent_decode(s, false);
}
