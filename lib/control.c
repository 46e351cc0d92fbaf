// SPDX-License-Identifier: Apache-2.0
// Control-protocol framing: length-prefixed protobuf-c messages over AF_UNIX.
#include "control.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

static int fill_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

int control_connect(const char *path)
{
	struct sockaddr_un sa;
	int r = fill_addr(path, &sa);
	if (r < 0)
		return r;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	/* The requests carry UFS URLs with their credentials: talk only to a daemon of root or
	 * our own user, whatever socket someone put at the path. */
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if (cred.uid != 0 && cred.uid != geteuid()) {
		log_warn("control socket \"%s\" is served by uid %u (pid %d), not by root or uid "
			 "%u: not talking to it",
			 path, (unsigned)cred.uid, (int)cred.pid, (unsigned)geteuid());
		close(fd);
		return -EPERM;
	}
	return fd;
}

int control_listen(const char *path)
{
	struct sockaddr_un sa;
	int r = fill_addr(path, &sa);
	if (r < 0)
		return r;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= n;
	}
	return 0;
}

static int read_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len) {
		ssize_t n = read(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= n;
	}
	return 0;
}

int control_send(int fd, const ProtobufCMessage *msg)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	if (len > CONTROL_MAX_FRAME)
		return -EMSGSIZE;
	uint8_t *buf = malloc(len + 4);
	if (!buf)
		return -ENOMEM;
	buf[0] = len >> 24;
	buf[1] = len >> 16;
	buf[2] = len >> 8;
	buf[3] = len;
	protobuf_c_message_pack(msg, buf + 4);
	int r = write_all(fd, buf, len + 4);
	free(buf);
	return r;
}

int control_recv(int fd, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **ret)
{
	uint8_t hdr[4];
	int r = read_all(fd, hdr, 4);
	if (r < 0)
		return r;
	uint32_t len =
	    (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (len > CONTROL_MAX_FRAME)
		return -EBADMSG;
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	r = read_all(fd, buf, len);
	if (r < 0) {
		free(buf);
		return r;
	}
	ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, len, buf);
	free(buf);
	if (!m)
		return -EBADMSG;
	*ret = m;
	return 0;
}

int control_call(const char *sock_path, const Weir__Request *req, Weir__Response **ret)
{
	return control_call_timeout(sock_path, req, CONTROL_CALL_TIMEOUT_MS, ret);
}

int control_call_timeout(const char *sock_path, const Weir__Request *req, unsigned timeout_ms,
			 Weir__Response **ret)
{
	if (timeout_ms == 0)
		timeout_ms = CONTROL_CALL_TIMEOUT_MS;
	int fd = control_connect(sock_path);
	if (fd < 0)
		return fd;
	{
		struct timeval tv = {.tv_sec = timeout_ms / 1000,
				     .tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000};
		if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
		    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
			int e = -errno;
			close(fd);
			return e;
		}
	}
	int r = control_send(fd, &req->base);
	ProtobufCMessage *m = NULL;
	if (r >= 0)
		r = control_recv(fd, &weir__response__descriptor, &m);
	close(fd);
	if (r == -EAGAIN || r == -EWOULDBLOCK)
		r = -ETIMEDOUT; /* SO_RCVTIMEO/SO_SNDTIMEO ran out */
	if (r < 0)
		return r;
	*ret = (Weir__Response *)m;
	return 0;
}

bool control_ping(const char *sock_path, unsigned timeout_ms)
{
	Weir__Request req = WEIR__REQUEST__INIT;
	Weir__Empty ping = WEIR__EMPTY__INIT;
	req.body_case = WEIR__REQUEST__BODY_PING;
	req.ping = &ping;
	Weir__Response *resp;
	if (control_call_timeout(sock_path, &req, timeout_ms, &resp) < 0)
		return false;
	weir__response__free_unpacked(resp, NULL);
	return true;
}
