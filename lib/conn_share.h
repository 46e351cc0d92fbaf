/* SPDX-License-Identifier: Apache-2.0 */
/* Each client's share of a listener's connections (weir-node's /metrics, the controller's
 * webhook). A client on this host is known by the uid that made its socket (found with sock_diag),
 * so a local user holds one share however many loopback addresses it connects from; any other
 * client is known by its address. Used by one thread (the listener's); no lock. */
#pragma once

#include <microhttpd.h>
#include <stdbool.h>

struct conn_share;

/* At most per_client connections of one client and total in all. Returns 0 and an owned *ret, or
 * -EINVAL (0 or per_client > total) / -ENOMEM. */
int conn_share_new(unsigned per_client, unsigned total, struct conn_share **ret);
void conn_share_free(struct conn_share *s);

/* Counts the connected TCP (IPv4) socket fd against its client's share. Returns a slot (>= 0) to
 * give back with conn_share_put when the connection closes, or -EBUSY (the client holds its share
 * already) / -EMFILE (total held): the caller closes the connection. A socket whose client cannot
 * be told (not IPv4, sock_diag unavailable) is counted by its address. */
int conn_share_take(struct conn_share *s, int fd);
void conn_share_put(struct conn_share *s, int slot);

/* A libmicrohttpd MHD_OPTION_NOTIFY_CONNECTION callback, cls the conn_share: takes a slot for each
 * connection started (one over its client's share or the total is shut down at once, before a
 * byte of it is read: libmicrohttpd then closes it) and gives it back when it closes. */
void conn_share_notify(void *cls, struct MHD_Connection *c, void **socket_context,
		       enum MHD_ConnectionNotificationCode toe);

/* The client of fd as conn_share counts it: *ret_local true and the uid of a socket on this host,
 * else false and the address (network order). Returns 0 or -errno (not a connected IPv4 socket).
 * Exposed for tests. */
int conn_share_client(int fd, bool *ret_local, unsigned *ret_id);
