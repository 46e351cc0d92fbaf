/* SPDX-License-Identifier: Apache-2.0 */
/* The keeper's protocol (the way systemd's fd store works): named entries, each an opaque blob
 * and a few descriptors, sent over a SOCK_SEQPACKET socket with SCM_RIGHTS, one entry per
 * message. The daemon puts and deletes entries as its views come and go; a daemon started
 * after a crash lists them to take the views over. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define FDSTORE_MAX_FDS 4
#define FDSTORE_MAX_MSG (256 * 1024) /* header, name and blob */

/* The keeper gives its child the socket as this descriptor number, named in the environment. */
#define FDSTORE_ENV "WEIR_KEEPER_FD"

enum fdstore_op {
	FDSTORE_PUT = 1, /* to the keeper: keep (replace) entry name */
	FDSTORE_DEL,	 /* to the keeper: close and forget entry name */
	FDSTORE_LIST,	 /* to the keeper: send every entry, then FDSTORE_END */
	FDSTORE_ENTRY,	 /* from the keeper: one entry */
	FDSTORE_END,	 /* from the keeper: no more entries */
	FDSTORE_READY,	 /* to the keeper: started and serving (a death after it is a crash to
			  * recover from at once, one before it a start that fails) */
};

struct fdstore_msg {
	uint32_t op;
	char *name; /* owned, NUL-terminated ("" when none) */
	void *blob; /* owned, blob_len bytes (NULL when none) */
	size_t blob_len;
	int fds[FDSTORE_MAX_FDS]; /* owned, O_CLOEXEC */
	unsigned nfds;
};

/* The keeper's socket when weir-keeper started this process (the descriptor $WEIR_KEEPER_FD
 * names, made close-on-exec; the variable is removed so nothing we run inherits it), or -1. */
int fdstore_env_socket(void);

/* Sends one message (nfds <= FDSTORE_MAX_FDS, descriptors borrowed). Any thread: a seqpacket
 * message is sent whole. Returns 0 or -errno (-EMSGSIZE when too big). */
int fdstore_send(int sock, uint32_t op, const char *name, const void *blob, size_t blob_len,
		 const int *fds, unsigned nfds);
/* Receives one message into *ret (owned: fdstore_msg_clear). Returns 0, -ENODATA at the end
 * of the stream, -EBADMSG for a malformed one (its descriptors closed), or -errno. */
int fdstore_recv(int sock, struct fdstore_msg *ret);
/* Frees the name and blob and closes the descriptors still in msg (set one to -1 to keep it). */
void fdstore_msg_clear(struct fdstore_msg *msg);
