/* SPDX-License-Identifier: Apache-2.0 */
/* Each client's share of a listener's connections (weir-node's /metrics, the controller's
 * webhook). A client on this host is known by the uid that made its socket (found with sock_diag),
 * so a local user holds one share however many loopback addresses it connects from; any other
 * client is known by its address. Used by one thread (the listener's); no lock. */
#pragma once

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

struct conn_share;

/* At most per_client connections of one client and total in all. Returns 0 and an owned *ret, or
 * -EINVAL (0 or per_client > total) / -ENOMEM. */
int conn_share_new(unsigned per_client, unsigned total, struct conn_share **ret);
void conn_share_free(struct conn_share *s);

/* Counts the connected TCP (IPv4) socket fd against its client's share. When every slot is held,
 * the client holding the most, if it holds at least two more than fd's client, gives up its
 * oldest connection: that one is shut down (its owner sees it end) and its slot is fd's. So a new
 * client gets in while any other holds more than its fair part. Returns 0 and a ticket to give back
 * with conn_share_put when the connection closes, or -EBUSY (the client holds its share already) /
 * -EMFILE (all held, no one holds more): the caller closes the connection. A socket whose client
 * cannot be told (not IPv4, sock_diag unavailable) is counted by its address. */
int conn_share_take(struct conn_share *s, int fd, uint64_t *ret_ticket);
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

/* The client of fd as conn_share counts it: *ret_local true and the uid of a socket on this host,
 * else false and the address (network order). Returns 0 or -errno (not a connected IPv4 socket).
 * Exposed for tests. */
int conn_share_client(int fd, bool *ret_local, unsigned *ret_id);
