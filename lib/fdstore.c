// SPDX-License-Identifier: Apache-2.0
// The keeper's wire format: a fixed header, the name, the blob; descriptors as SCM_RIGHTS.
#include "fdstore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct fdstore_hdr {
	uint32_t op;
	uint32_t name_len; /* without a NUL */
	uint32_t blob_len;
	uint32_t nfds;
};

int fdstore_send(int sock, uint32_t op, const char *name, const void *blob, size_t blob_len,
		 const int *fds, unsigned nfds)
{
	size_t nl = name ? strlen(name) : 0;
	if (nfds > FDSTORE_MAX_FDS || sizeof(struct fdstore_hdr) + nl + blob_len > FDSTORE_MAX_MSG)
		return -EMSGSIZE;
	struct fdstore_hdr h = {
	    .op = op, .name_len = (uint32_t)nl, .blob_len = (uint32_t)blob_len, .nfds = nfds};
	struct iovec iov[3] = {{&h, sizeof(h)}, {(void *)name, nl}, {(void *)blob, blob_len}};
	union {
		char buf[CMSG_SPACE(sizeof(int) * FDSTORE_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 3};
	if (nfds) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	ssize_t n;
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == sizeof(h) + nl + blob_len ? 0 : -EIO;
}

void fdstore_msg_clear(struct fdstore_msg *msg)
{
	for (unsigned i = 0; i < msg->nfds; i++)
		if (msg->fds[i] >= 0)
			close(msg->fds[i]);
	free(msg->name);
	free(msg->blob);
	memset(msg, 0, sizeof(*msg));
}

int fdstore_recv(int sock, struct fdstore_msg *ret)
{
	char *buf = malloc(FDSTORE_MAX_MSG);
	if (!buf)
		return -ENOMEM;
	union {
		char buf[CMSG_SPACE(sizeof(int) * FDSTORE_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = {buf, FDSTORE_MAX_MSG};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf)};
	ssize_t n;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		free(buf);
		return n == 0 ? -ENODATA : -errno;
	}
	struct fdstore_msg m = {0};
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		unsigned k = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (unsigned i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (m.nfds < FDSTORE_MAX_FDS)
				m.fds[m.nfds++] = fd;
			else
				close(fd);
		}
	}
	struct fdstore_hdr h;
	int r = 0;
	if ((size_t)n < sizeof(h) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		r = -EBADMSG;
	if (r == 0) {
		memcpy(&h, buf, sizeof(h));
		if (sizeof(h) + (size_t)h.name_len + h.blob_len != (size_t)n || h.nfds != m.nfds)
			r = -EBADMSG;
	}
	if (r == 0) {
		m.op = h.op;
		m.name = strndup(buf + sizeof(h), h.name_len);
		m.blob_len = h.blob_len;
		m.blob = h.blob_len ? malloc(h.blob_len) : NULL;
		if (!m.name || (h.blob_len && !m.blob))
			r = -ENOMEM;
		else if (h.blob_len)
			memcpy(m.blob, buf + sizeof(h) + h.name_len, h.blob_len);
	}
	free(buf);
	if (r < 0) {
		fdstore_msg_clear(&m);
		return r;
	}
	*ret = m;
	return 0;
}

int fdstore_env_socket(void)
{
	const char *env = getenv(FDSTORE_ENV);
	char *end = NULL;
	long fd = env && *env ? strtol(env, &end, 10) : -1;
	unsetenv(FDSTORE_ENV);
	if (fd < 3 || fd > 65535 || *end || fcntl((int)fd, F_SETFD, FD_CLOEXEC) < 0)
		return -1;
	return (int)fd;
}
