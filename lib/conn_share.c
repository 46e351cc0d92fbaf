// SPDX-License-Identifier: Apache-2.0
// Per-client connection shares: the client is the uid behind a socket on this host (sock_diag's
// exact lookup of the peer's 4-tuple), else the peer address. Slots live in one small array.
#include "conn_share.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

struct slot {
	bool used, local;
	bool busy;	   /* a request in progress: its headers read, its answer not yet sent */
	unsigned id;	   /* uid (local) or IPv4 address (network order) */
	uint64_t seq;	   /* when taken (conn_share.next): the oldest is evicted first */
	uint64_t since_ms; /* accepted or last request completed: stale CONN_SHARE_STALE_MS later */
	int fd;		   /* the connection's, to shut down when evicted */
};

/* A ticket: the slot's index and its seq, so that an evicted connection's put frees nothing. It
 * travels in libmicrohttpd's socket_context pointer. */
_Static_assert(sizeof(void *) >= sizeof(uint64_t), "a ticket must fit a pointer");
#define TICKET_SLOT_BITS 16

struct conn_share {
	unsigned per_client, total;
	uint64_t next;	    /* seq of the next take, from 1 */
	struct slot *slots; /* total entries; the listener's thread only */
};

int conn_share_new(unsigned per_client, unsigned total, struct conn_share **ret)
{
	if (!per_client || per_client > total || total >= (1u << TICKET_SLOT_BITS))
		return -EINVAL;
	struct conn_share *s = calloc(1, sizeof(*s));
	if (!s || !(s->slots = calloc(total, sizeof(*s->slots)))) {
		free(s);
		return -ENOMEM;
	}
	s->per_client = per_client;
	s->total = total;
	s->next = 1;
	*ret = s;
	return 0;
}

void conn_share_free(struct conn_share *s)
{
	if (!s)
		return;
	free(s->slots);
	free(s);
}

/* The uid of the socket on this host at the other end of self <- peer, or -ENOENT when there is
 * none (a remote client, or another network namespace). */
static int local_peer_uid(const struct sockaddr_in *self, const struct sockaddr_in *peer,
			  unsigned *ret_uid)
{
	int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return -errno;
	struct {
		struct nlmsghdr nh;
		struct inet_diag_req_v2 r;
	} req = {
	    .nh = {.nlmsg_len = sizeof(req),
		   .nlmsg_type = SOCK_DIAG_BY_FAMILY,
		   .nlmsg_flags = NLM_F_REQUEST},
	    .r = {.sdiag_family = AF_INET,
		  .sdiag_protocol = IPPROTO_TCP,
		  .idiag_states = ~0u,
		  /* the client's socket as it sees itself: its address is the source */
		  .id = {.idiag_sport = peer->sin_port,
			 .idiag_dport = self->sin_port,
			 .idiag_src = {peer->sin_addr.s_addr},
			 .idiag_dst = {self->sin_addr.s_addr},
			 .idiag_cookie = {INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE}}},
	};
	struct sockaddr_nl k = {.nl_family = AF_NETLINK};
	int r = -ENOENT;
	if (sendto(nl, &req, sizeof(req), 0, (struct sockaddr *)&k, sizeof(k)) < 0) {
		r = -errno;
		goto out;
	}
	union {
		struct nlmsghdr nh;
		char buf[8192];
	} ans;
	ssize_t n = recv(nl, &ans, sizeof(ans), 0);
	if (n < 0) {
		r = -errno;
		goto out;
	}
	for (struct nlmsghdr *h = &ans.nh; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(h);
			r = e->error ? e->error : -ENOENT;
			break;
		}
		if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
		    h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
			continue;
		const struct inet_diag_msg *m = NLMSG_DATA(h);
		/* the lookup falls back to a listener on the peer's port (a wildcard one matches
		 * any address): only the socket connected to this very one is the client */
		if (m->idiag_state == TCP_LISTEN || m->id.idiag_dport != self->sin_port ||
		    m->id.idiag_dst[0] != self->sin_addr.s_addr ||
		    m->id.idiag_sport != peer->sin_port ||
		    m->id.idiag_src[0] != peer->sin_addr.s_addr)
			continue;
		*ret_uid = m->idiag_uid;
		r = 0;
		break;
	}
out:
	close(nl);
	return r;
}

int conn_share_client(int fd, bool *ret_local, unsigned *ret_id)
{
	struct sockaddr_in self, peer;
	socklen_t ls = sizeof(self), lp = sizeof(peer);
	if (getsockname(fd, (struct sockaddr *)&self, &ls) < 0 ||
	    getpeername(fd, (struct sockaddr *)&peer, &lp) < 0)
		return -errno;
	if (self.sin_family != AF_INET || peer.sin_family != AF_INET)
		return -EAFNOSUPPORT;
	unsigned uid;
	int r = local_peer_uid(&self, &peer, &uid);
	if (r >= 0) {
		*ret_local = true;
		*ret_id = uid;
		return 0;
	}
	if (r != -ENOENT) {
		/* once at warning level: every local client then shares one address's share */
		static atomic_bool warned;
		if (!atomic_exchange(&warned, true))
			log_warn("conn_share: cannot tell the owner of a local peer (%s: sock_diag "
				 "denied or missing?): local clients are counted by address, all "
				 "of loopback as one",
				 strerror(-r));
		else
			log_debug("conn_share: cannot tell the owner of a local peer (%s): "
				  "counted by its address",
				  strerror(-r));
	}
	*ret_local = false;
	*ret_id = peer.sin_addr.s_addr;
	return 0;
}

static unsigned held_by(const struct conn_share *s, bool local, unsigned id)
{
	unsigned n = 0;
	for (unsigned i = 0; i < s->total; i++)
		n += s->slots[i].used && s->slots[i].local == local && s->slots[i].id == id;
	return n;
}

static bool stale(const struct slot *v, uint64_t now_ms)
{
	return now_ms >= v->since_ms && now_ms - v->since_ms >= CONN_SHARE_STALE_MS;
}

/* The slot a newcomer of client (local, id), which holds `held`, takes over, or -1. Candidates:
 * a stale connection (only the newcomer's own when it holds its share already) and, while it is
 * under its share, any connection of a client holding at least two more than it. Preferred: one
 * with no request in progress, then a stale one, then one of the client holding the most, then
 * the oldest. The slots are few (total): O(total^2). */
static int victim(const struct conn_share *s, bool local, unsigned id, unsigned held,
		  uint64_t now_ms)
{
	bool own_only = held >= s->per_client;
	int best = -1;
	bool best_st = false;
	unsigned best_n = 0;
	for (unsigned i = 0; i < s->total; i++) {
		const struct slot *v = &s->slots[i];
		if (!v->used)
			continue;
		bool st = stale(v, now_ms), mine = v->local == local && v->id == id;
		unsigned n = held_by(s, v->local, v->id);
		if (own_only ? !(mine && st) : !(st || n >= held + 2))
			continue;
		if (best >= 0) {
			const struct slot *b = &s->slots[best];
			int c = b->busy != v->busy ? (v->busy ? 1 : -1)
				: best_st != st	   ? (st ? -1 : 1)
				: best_n != n	   ? (n > best_n ? -1 : 1)
						   : (v->seq < b->seq ? -1 : 1);
			if (c > 0)
				continue;
		}
		best = (int)i;
		best_st = st;
		best_n = n;
	}
	return best;
}

int conn_share_take(struct conn_share *s, int fd, uint64_t now_ms, uint64_t *ret_ticket)
{
	bool local = false;
	unsigned id = 0;
	if (conn_share_client(fd, &local, &id) < 0)
		local = false, id = 0; /* not IPv4: one share for all such */
	unsigned held = held_by(s, local, id);
	int slot = -1;
	if (held < s->per_client)
		for (unsigned i = 0; i < s->total && slot < 0; i++)
			if (!s->slots[i].used)
				slot = (int)i;
	if (slot < 0) {
		if ((slot = victim(s, local, id, held, now_ms)) < 0)
			return held >= s->per_client ? -EBUSY : -EMFILE;
		/* its owner sees the connection end; libmicrohttpd closes it, and its put (an
		 * older ticket) frees nothing */
		shutdown(s->slots[slot].fd, SHUT_RDWR);
		log_debug("conn_share: a connection %s shut down for a new one",
			  stale(&s->slots[slot], now_ms) ? "that completed no request in time"
							 : "of the client holding the most");
	}
	uint64_t seq = s->next++;
	s->slots[slot] = (struct slot){
	    .used = true, .local = local, .id = id, .seq = seq, .since_ms = now_ms, .fd = fd};
	*ret_ticket = seq << TICKET_SLOT_BITS | (uint64_t)slot;
	return 0;
}

static struct slot *ticket_slot(struct conn_share *s, uint64_t ticket)
{
	uint64_t slot = ticket & ((1u << TICKET_SLOT_BITS) - 1);
	if (slot < s->total && s->slots[slot].used &&
	    s->slots[slot].seq == ticket >> TICKET_SLOT_BITS)
		return &s->slots[slot];
	return NULL;
}

void conn_share_request(struct conn_share *s, uint64_t ticket, bool in_progress, uint64_t now_ms)
{
	struct slot *v = ticket_slot(s, ticket);
	if (!v)
		return;
	if (!in_progress && v->busy)
		v->since_ms = now_ms;
	v->busy = in_progress;
}

void conn_share_put(struct conn_share *s, uint64_t ticket)
{
	struct slot *v = ticket_slot(s, ticket);
	if (v)
		v->used = false;
}

static uint64_t mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

void conn_share_mhd_request(struct conn_share *s, struct MHD_Connection *c, bool in_progress)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (ci && ci->socket_context)
		conn_share_request(s, (uint64_t)(uintptr_t)ci->socket_context, in_progress,
				   mono_ms());
}

void conn_share_notify(void *cls, struct MHD_Connection *c, void **socket_context,
		       enum MHD_ConnectionNotificationCode toe)
{
	struct conn_share *s = cls;
	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (*socket_context)
			conn_share_put(s, (uint64_t)(uintptr_t)*socket_context);
		*socket_context = NULL;
		return;
	}
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	uint64_t ticket = 0;
	int r = ci ? conn_share_take(s, ci->connect_fd, mono_ms(), &ticket) : -EBADF;
	*socket_context = NULL;
	if (r >= 0) {
		*socket_context = (void *)(uintptr_t)ticket; /* never 0: seq starts at 1 */
	} else if (ci) {
		log_debug("conn_share: a connection refused (%s)",
			  r == -EBUSY ? "its client holds its share, none of it stale"
				      : "all slots held");
		shutdown(ci->connect_fd, SHUT_RDWR);
	}
}
