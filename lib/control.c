// SPDX-License-Identifier: Apache-2.0
// Control-protocol framing: length-prefixed protobuf-c messages over AF_UNIX.
#include "control.h"

#include <errno.h>
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
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

static int read_all(int fd, void *buf, size_t len);

/* The group that may use control sockets besides root: "weir" where it exists. */
static bool weir_group(gid_t *ret)
{
	struct group gr, *res = NULL;
	char buf[4096];
	if (getgrnam_r(CONTROL_GROUP, &gr, buf, sizeof(buf), &res) != 0 || !res)
		return false;
	*ret = gr.gr_gid;
	return true;
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
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto fail;
	/* Nobody can connect before listen(): setting the mode between the two leaves no window
	 * in which the umask's mode is the one that counts. */
	gid_t g;
	bool grp = weir_group(&g);
	if ((grp && chown(path, (uid_t)-1, g) < 0) || chmod(path, grp ? 0660 : 0600) < 0 ||
	    listen(fd, 64) < 0)
		goto fail;
	return fd;
fail:
	r = -errno;
	close(fd);
	unlink(path);
	return r;
}

/* Whether the peer on fd may send requests: root, our own user, or a member of CONTROL_GROUP
 * (its primary group or, through SO_PEERGROUPS, a supplementary one). */
static int peer_allowed(int fd, struct ucred *ret_cred)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0)
		return -errno;
	*ret_cred = cred;
	if (cred.uid == 0 || cred.uid == geteuid())
		return 0;
	gid_t g;
	if (!weir_group(&g))
		return -EPERM;
	if (cred.gid == g)
		return 0;
	gid_t groups[256];
	socklen_t glen = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) < 0)
		return -EPERM; /* more groups than we look at, or no such option: no */
	for (size_t i = 0; i < glen / sizeof(gid_t); i++)
		if (groups[i] == g)
			return 0;
	return -EPERM;
}

bool control_peer_is_root(int fd)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0 &&
	       (cred.uid == 0 || cred.uid == geteuid());
}

int control_accept(int listen_fd, const char *what)
{
	int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct ucred cred = {.pid = -1, .uid = (uid_t)-1};
	int r = peer_allowed(fd, &cred);
	if (r == 0)
		return fd;
	log_warn("%s: refused a request from uid %u (pid %d): only root, uid %u and group \"%s\" "
		 "may use it",
		 what, (unsigned)cred.uid, (int)cred.pid, (unsigned)geteuid(), CONTROL_GROUP);
	/* say why, so the client does not report a mere reset; never wait for a slow reader */
	char msg[200];
	snprintf(msg, sizeof(msg),
		 "permission denied: %s accepts requests from root and the group \"%s\" only", what,
		 CONTROL_GROUP);
	Weir__Response resp = WEIR__RESPONSE__INIT;
	resp.error = -EPERM;
	resp.message = msg;
	/* Read (and drop) the request first, for at most 100 ms: closing a socket with unread
	 * data resets it, and the client would lose the answer with it. */
	struct timeval tv = {0, 100000};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	uint8_t hdr[4], junk[4096];
	if (read_all(fd, hdr, sizeof(hdr)) == 0) {
		size_t len =
		    (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
		for (size_t left = len < 65536 ? len : 65536; left > 0;) {
			ssize_t n = recv(fd, junk, left < sizeof(junk) ? left : sizeof(junk), 0);
			if (n <= 0)
				break;
			left -= (size_t)n;
		}
	}
	control_send(fd, &resp.base);
	close(fd);
	return -EPERM;
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
	/* A daemon that refuses us answers at once and closes, maybe before our request is sent:
	 * its answer (why) is still there to read. */
	if (r >= 0 || r == -EPIPE || r == -ECONNRESET) {
		int rr = control_recv(fd, &weir__response__descriptor, &m);
		if (r >= 0 || rr == 0)
			r = rr;
	}
	close(fd);
	if (r == -EAGAIN || r == -EWOULDBLOCK)
		r = -ETIMEDOUT; /* SO_RCVTIMEO/SO_SNDTIMEO ran out */
	if (r < 0)
		return r;
	*ret = (Weir__Response *)m;
	return 0;
}

int control_call_checked(const char *sock_path, const char *what, const Weir__Request *req,
			 unsigned timeout_ms, Weir__Response **ret, char *err, size_t errlen)
{
	Weir__Response *resp = NULL;
	int r = control_call_timeout(sock_path, req, timeout_ms, &resp);
	if (r < 0) {
		snprintf(err, errlen, "%s does not answer on \"%.900s\": %s", what, sock_path,
			 strerror(-r));
		return -EHOSTDOWN;
	}
	if (resp->error) {
		snprintf(err, errlen, "%s",
			 resp->message && *resp->message ? resp->message : strerror(-resp->error));
		/* a positive error is a daemon bug, never taken for success */
		r = resp->error < 0 ? resp->error : -EIO;
		weir__response__free_unpacked(resp, NULL);
		return r;
	}
	*ret = resp;
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
