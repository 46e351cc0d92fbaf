/* SPDX-License-Identifier: Apache-2.0 */
/* Framing of the control protocol (proto/control.proto) on a Unix stream socket:
 * a 4-byte big-endian length, then the packed message. Blocking I/O. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

#include "control.pb-c.h"

#define CONTROL_MAX_FRAME (16u << 20)

/* Connects to the socket at path. Returns an O_CLOEXEC fd or -errno: -EPERM when the socket is
 * served by a user other than root or the caller (its requests would hand that user the URLs
 * and credentials in them). */
int control_connect(const char *path);
/* Besides root (and the daemon's own user), members of this group may use a control socket. */
#define CONTROL_GROUP "weir"

/* Binds and listens at path, replacing a stale socket file. The socket file is mode 0600, or
 * 0660 with group CONTROL_GROUP where that group exists, before anyone can connect. Returns the
 * fd or -errno. */
int control_listen(const char *path);
/* Accepts one connection and checks the peer's credentials (SO_PEERCRED, SO_PEERGROUPS): root,
 * the daemon's own user or a member of CONTROL_GROUP. Another peer gets a Response with error
 * -EPERM saying why (what names the daemon), is closed and logged. Returns the connection's fd
 * (O_CLOEXEC), -EPERM for a refused peer (accept again), or -errno from accept4. */
int control_accept(int listen_fd, const char *what);
/* True when the peer on fd (an accepted connection) is root or this process's own user by its
 * kernel credentials: not merely a member of the group that may use the socket. */
bool control_peer_is_root(int fd);
/* Sends msg as one frame. Returns 0 or -errno. */
int control_send(int fd, const ProtobufCMessage *msg);
/* Reads one frame and unpacks it with desc. On success *ret is owned by the caller
 * (free with protobuf_c_message_free_unpacked). Returns 0, -ECONNRESET at EOF, -EBADMSG. */
int control_recv(int fd, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **ret);
/* How long control_call() waits for a reply: a mount or a source request waits for the UFS to
 * answer, so this is generous; a daemon that hangs still cannot hang its callers for ever. */
#define CONTROL_CALL_TIMEOUT_MS 120000u

/* The one client of the control socket (cli/, controller/, csi/ all call through it): sends req
 * and waits for one Response, giving up with -ETIMEDOUT after CONTROL_CALL_TIMEOUT_MS.
 * Returns 0 (then *ret is owned) or -errno. Any thread. */
int control_call(const char *sock_path, const Weir__Request *req, Weir__Response **ret);
/* The same with its own deadline, timeout_ms > 0 (0 means CONTROL_CALL_TIMEOUT_MS): for callers
 * that must stay responsive when a daemon hangs (weir-csi answering the kubelet). */
int control_call_timeout(const char *sock_path, const Weir__Request *req, unsigned timeout_ms,
			 Weir__Response **ret);
/* control_call_timeout() with the answer checked: returns 0 and an owned *ret only for a
 * Response without error. -EHOSTDOWN when the daemon (what, "weir-node", names it in the message)
 * does not answer on sock_path; otherwise the daemon's negative error (-EIO for a positive one),
 * with the daemon's message, else its strerror, in err. err is always set on failure. Any thread. */
int control_call_checked(const char *sock_path, const char *what, const Weir__Request *req,
			 unsigned timeout_ms, Weir__Response **ret, char *err, size_t errlen);
/* True when a daemon answers a Ping on sock_path within timeout_ms (0: CONTROL_CALL_TIMEOUT_MS). */
bool control_ping(const char *sock_path, unsigned timeout_ms);
