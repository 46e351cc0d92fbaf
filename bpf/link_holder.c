// SPDX-License-Identifier: Apache-2.0
// The link holder (link_holder.h).
#include "link_holder.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define HOLD_MAX 16 /* descriptors a keep message carries */
#define KEPT_MAX 64 /* descriptors the holder keeps */

enum { OP_KEEP = 'K', OP_DROP = 'D', OP_DROPPED = 'A' };

struct link_holder {
	int sock;  /* SOCK_SEQPACKET to the holder; -1 once it is dead */
	pid_t pid; /* the holder, our child */
	/* The read end of a pipe whose write end the holder and every process it forks hold
	 * (descriptor 4 there): it ends once none of them is left, and with them the last copies
	 * of the links they kept. */
	int life;
};

extern char **environ;

/* In the holder: closes kept[0..n), each on a process of its own (the last close of a link
 * waits for a grace period; those of several processes overlap), and waits for them. Each
 * process first drops the others' links (ready), then the holder its own copies, and only
 * then (gate) does each close its one: the last reference of every link is its process's. */
static void drop_all(int *kept, unsigned n)
{
	pid_t kids[KEPT_MAX];
	unsigned nk = 0;
	int gate[2], ready[2];
	if (n == 0)
		return;
	if (pipe2(gate, O_CLOEXEC) < 0)
		gate[0] = gate[1] = -1;
	if (gate[0] >= 0 && pipe2(ready, O_CLOEXEC) < 0) {
		close(gate[0]);
		close(gate[1]);
		gate[0] = gate[1] = -1;
	}
	for (unsigned i = 0; gate[0] >= 0 && i < n; i++) {
		pid_t p = fork();
		if (p == 0) {
			close(gate[1]);
			close(ready[0]);
			for (unsigned j = 0; j < n; j++)
				if (j != i)
					close(kept[j]);
			char b = 1;
			while (write(ready[1], &b, 1) < 0 && errno == EINTR)
				;
			close(ready[1]);
			while (read(gate[0], &b, 1) < 0 && errno == EINTR)
				;
			close(kept[i]);
			_exit(0);
		}
		if (p > 0)
			kids[nk++] = p;
	}
	if (gate[0] >= 0) {
		close(ready[1]);
		char b;
		for (unsigned got = 0; got < nk;) {
			ssize_t r = read(ready[0], &b, 1);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			got++;
		}
		close(ready[0]);
	}
	/* a link without a process of its own (no pipe, fork failed) is let go of here */
	for (unsigned i = 0; i < n; i++)
		close(kept[i]);
	if (gate[0] >= 0) {
		close(gate[1]);
		close(gate[0]);
	}
	for (unsigned i = 0; i < nk; i++)
		while (waitpid(kids[i], NULL, 0) < 0 && errno == EINTR)
			;
}

_Noreturn void link_holder_main(int sock)
{
	/* whatever weir-node let through without close-on-exec is not ours to keep alive; the
	 * next descriptor is the life pipe (struct link_holder), which every process of ours keeps
	 * until it ends */
	close_range((unsigned)sock + 2, ~0U, 0);
	prctl(PR_SET_NAME, "weir-links");
	signal(SIGINT, SIG_IGN); /* a terminal's ^C is for weir-node: it ends us by closing */
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	int kept[KEPT_MAX];
	unsigned n = 0;
	for (;;) {
		char op = 0;
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(int) * HOLD_MAX)];
		} c;
		struct iovec iov = {.iov_base = &op, .iov_len = 1};
		struct msghdr m = {.msg_iov = &iov,
				   .msg_iovlen = 1,
				   .msg_control = c.buf,
				   .msg_controllen = sizeof(c.buf)};
		ssize_t r = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break; /* weir-node is gone (or let us go) */
		for (struct cmsghdr *ch = CMSG_FIRSTHDR(&m); ch; ch = CMSG_NXTHDR(&m, ch)) {
			if (ch->cmsg_level != SOL_SOCKET || ch->cmsg_type != SCM_RIGHTS)
				continue;
			unsigned nfd = (unsigned)((ch->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			int fds[HOLD_MAX];
			if (nfd > HOLD_MAX)
				nfd = HOLD_MAX;
			memcpy(fds, CMSG_DATA(ch), nfd * sizeof(int));
			for (unsigned i = 0; i < nfd; i++) {
				if (op == OP_KEEP && n < KEPT_MAX)
					kept[n++] = fds[i];
				else
					close(fds[i]);
			}
		}
		if (op == OP_DROP) {
			drop_all(kept, n);
			n = 0;
			char a = OP_DROPPED;
			while (send(sock, &a, 1, MSG_NOSIGNAL) < 0 && errno == EINTR)
				;
		}
	}
	drop_all(kept, n);
	_exit(0);
}

int link_holder_start(const char *exe, struct link_holder **ret)
{
	struct link_holder *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		int r = -errno;
		free(h);
		return r;
	}
	int life[2];
	if (pipe2(life, O_CLOEXEC) < 0) {
		int r = -errno;
		close(sv[0]);
		close(sv[1]);
		free(h);
		return r;
	}
	/* above the descriptors the holder gets (0-4): dup2 onto itself would leave close-on-exec
	 * set, and the /dev/null opens would take 0-2 first */
	int child_sock = fcntl(sv[1], F_DUPFD_CLOEXEC, 5);
	int child_life = fcntl(life[1], F_DUPFD_CLOEXEC, 5);
	close(sv[1]);
	close(life[1]);
	if (child_sock < 0 || child_life < 0) {
		int r = -errno;
		if (child_sock >= 0)
			close(child_sock);
		if (child_life >= 0)
			close(child_life);
		close(sv[0]);
		close(life[0]);
		free(h);
		return r;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, child_sock, 3);
	posix_spawn_file_actions_adddup2(&fa, child_life, 4);
	posix_spawnattr_t at;
	posix_spawnattr_init(&at);
	/* its own process group (a terminal's signals are weir-node's) and no signal blocked */
	sigset_t none;
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
	char *argv[] = {"weir-links", LINK_HOLDER_ARG, NULL};
	int r = posix_spawn(&h->pid, exe, &fa, &at, argv, environ);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	close(child_sock);
	close(child_life);
	if (r != 0) {
		close(sv[0]);
		close(life[0]);
		free(h);
		return -r;
	}
	h->sock = sv[0];
	h->life = life[0];
	*ret = h;
	return 0;
}

int link_holder_keep(struct link_holder *h, const int *fds, unsigned n)
{
	if (h->sock < 0)
		return -EPIPE;
	if (n == 0)
		return 0;
	if (n > HOLD_MAX)
		return -E2BIG;
	char op = OP_KEEP;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * HOLD_MAX)];
	} c;
	memset(&c, 0, sizeof(c));
	struct iovec iov = {.iov_base = &op, .iov_len = 1};
	struct msghdr m = {.msg_iov = &iov,
			   .msg_iovlen = 1,
			   .msg_control = c.buf,
			   .msg_controllen = CMSG_SPACE(sizeof(int) * n)};
	struct cmsghdr *ch = CMSG_FIRSTHDR(&m);
	ch->cmsg_level = SOL_SOCKET;
	ch->cmsg_type = SCM_RIGHTS;
	ch->cmsg_len = CMSG_LEN(sizeof(int) * n);
	memcpy(CMSG_DATA(ch), fds, sizeof(int) * n);
	if (sendmsg(h->sock, &m, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		return -errno;
	return 0;
}

/* The holder is of no more use: killed, with the processes it forked to let go of links, and
 * waited for (up to LINK_HOLDER_END_MS), so that on return whatever they held is let go of
 * (their ends close it). Returns 0, or -ETIMEDOUT if some of them still live. */
#define LINK_HOLDER_END_MS 30000
static int kill_holder(struct link_holder *h)
{
	close(h->sock);
	h->sock = -1;
	kill(-h->pid, SIGKILL); /* its process group: the holder and what it forked */
	kill(h->pid, SIGKILL);
	while (waitpid(h->pid, NULL, 0) < 0 && errno == EINTR)
		;
	int r = 0;
	for (;;) {
		struct pollfd p = {.fd = h->life, .events = POLLIN};
		int n = poll(&p, 1, LINK_HOLDER_END_MS);
		if (n < 0 && errno == EINTR)
			continue;
		char b;
		if (n == 1 && read(h->life, &b, 1) == 0)
			break; /* every process of the holder's is gone */
		if (n <= 0) {
			r = -ETIMEDOUT;
			break;
		}
	}
	return r;
}

int link_holder_drop(struct link_holder *h, int timeout_ms)
{
	if (h->sock < 0)
		return 0; /* dead: it keeps nothing */
	char op = OP_DROP;
	int r = 0;
	if (send(h->sock, &op, 1, MSG_NOSIGNAL) < 0)
		r = -errno;
	while (r == 0) {
		struct pollfd p = {.fd = h->sock, .events = POLLIN};
		int n = poll(&p, 1, timeout_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -ETIMEDOUT;
			break;
		}
		char a = 0;
		ssize_t got = recv(h->sock, &a, 1, MSG_DONTWAIT);
		if (got == 1 && a == OP_DROPPED)
			return 0;
		if (got == 0)
			r = -EPIPE;
		else if (got < 0 && errno != EAGAIN && errno != EINTR)
			r = -errno;
	}
	/* no answer: a reply that came late would be taken for the next drop's, and links
	 * attached again meanwhile would count twice; its end is the only sure drop */
	return kill_holder(h) < 0 ? -EBUSY : 1;
}

int link_holder_pid(const struct link_holder *h)
{
	return (int)h->pid;
}

void link_holder_free(struct link_holder *h)
{
	if (!h)
		return;
	close(h->life);
	if (h->sock >= 0) {
		close(h->sock); /* it lets go and exits on its own */
		/* reaped if it already did; else it stays a zombie of ours until we exit, which
		 * is what freeing the tracker precedes */
		waitpid(h->pid, NULL, WNOHANG);
	}
	free(h);
}
