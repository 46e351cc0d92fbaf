/* SPDX-License-Identifier: Apache-2.0 */
/* Each client's share of a listener's connections (weir-node's /metrics, the controller's
 * webhook). A client on this host is known by the uid that made its socket (found with sock_diag),
 * so a local user holds one share however many loopback addresses it connects from; any other
 * client is known by its address. Used by one thread (the listener's); no lock.
 *
 * A connection is stale when it has completed no request CONN_SHARE_STALE_MS after it was
 * accepted or after its last request completed: a slowloris client (a byte now and then, which
 * libmicrohttpd's timeout for silence never ends) and an idle keep-alive connection alike. A stale
 * connection goes first when a newcomer needs a slot, also for a newcomer of the same client
 * (which, at its share, takes over its own stale connection instead of being refused), and a
 * connection with a request in progress goes only when no other one may. */
#pragma once

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

struct conn_share;

/* At most per_client connections of one client and total in all. Returns 0 and an owned *ret, or
 * -EINVAL (0 or per_client > total) / -ENOMEM. */
/* A legitimate client sends its request (and the TLS handshake) in well under this; the
 * apiserver's and a scraper's requests take milliseconds. */
#define CONN_SHARE_STALE_MS 5000

int conn_share_new(unsigned per_client, unsigned total, struct conn_share **ret);
void conn_share_free(struct conn_share *s);

/* Counts the connected TCP (IPv4) socket fd, accepted at now_ms (a monotonic clock, in ms),
 * against its client's share. A client at its share takes over its own stale connection (with no
 * request in progress first, then the oldest), else it is refused. Under its share, it takes a free
 * slot; when every slot is held, it takes over a stale connection of anyone's, else one of a client
 * holding at least two more than it (so a new client gets in while any other holds more than its
 * fair part): one with no request in progress first, then a stale one, then one of the client
 * holding the most, then the oldest. The connection taken over is shut down (its owner sees it end)
 * and its slot is fd's. Returns 0 and a ticket to give back with conn_share_put when the connection
 * closes, or -EBUSY (the client holds its share, none stale) / -EMFILE (all held, none may be taken
 * over): the caller closes the connection. A socket whose client cannot be told (not IPv4,
 * sock_diag unavailable) is counted by its address. */
int conn_share_take(struct conn_share *s, int fd, uint64_t now_ms, uint64_t *ret_ticket);
/* A request of a ticket's connection is in progress (its headers read) or, !in_progress, completed
 * at now_ms: the connection is not stale for CONN_SHARE_STALE_MS more. */
void conn_share_request(struct conn_share *s, uint64_t ticket, bool in_progress, uint64_t now_ms);
/* Gives a ticket's slot back, unless another connection took it over. */
void conn_share_put(struct conn_share *s, uint64_t ticket);

/* A libmicrohttpd MHD_OPTION_NOTIFY_CONNECTION callback, cls the conn_share: takes a slot for each
 * connection started (one refused is shut down at once, before a byte of it is read:
 * libmicrohttpd then closes it) and gives it back when it closes. The daemon's own
 * MHD_OPTION_CONNECTION_LIMIT must be above total (CONN_SHARE_MHD_LIMIT), or a newcomer is closed
 * before it can take an evicted slot. */
#define CONN_SHARE_MHD_LIMIT(total) (2 * (total))
void conn_share_notify(void *cls, struct MHD_Connection *c, void **socket_context,
		       enum MHD_ConnectionNotificationCode toe);
/* conn_share_request for connection c of a daemon with conn_share_notify, now: call it with true
 * from the request callback and false from MHD_OPTION_NOTIFY_COMPLETED's. */
void conn_share_mhd_request(struct conn_share *s, struct MHD_Connection *c, bool in_progress);

/* The client of fd as conn_share counts it: *ret_local true and the uid of a socket on this host,
 * else false and the address (network order). Returns 0 or -errno (not a connected IPv4 socket).
 * Exposed for tests. */
int conn_share_client(int fd, bool *ret_local, unsigned *ret_id);
