/* SPDX-License-Identifier: Apache-2.0 */
/* What a view has told the kernel, kept where a new weir-node can read it after this one dies:
 * a memfd (held by the keeper with the view's /dev/fuse descriptor) holding, in place (shared
 * memory: persisted the instant it is written), the lookup count of each inode and a slot per
 * open handle number, and after them an append-only log of what is never undone (inodes, the
 * INIT the kernel sent, renames). Everything is written before the reply that makes it visible,
 * so a crash between the two can only leave state the kernel never saw, never the reverse. The
 * log grows with distinct paths only (as the inode table does); opens and releases reuse
 * their slots. */
#pragma once

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "ufs.h"

/* Inodes whose lookup count lives in shared memory; the array is sparse (pages are allocated
 * as they are touched), so the reservation costs nothing until used. */
#define VIEW_JOURNAL_MAX_INODES (1u << 24)
/* Handle numbers with a slot (sparse too); a handle beyond is served but not recoverable. */
#define VIEW_JOURNAL_MAX_HANDLES (1u << 20)

enum view_journal_type {
	/* in the log */
	VJ_INIT = 1, /* blob: the kernel's INIT request (header and body); flags: accepted caps */
	VJ_INODE,    /* ino, blob: the source path; flags: VJ_INODE_DETACHED */
	VJ_RENAME,   /* blob: "from\0to\0" */
	/* in a handle slot */
	VJ_OPEN, /* fh, ino, obj, attr, backing_id, flags (open flags); dir handles too */
	/* in the log (after VJ_OPEN: older journals keep their numbers) */
	VJ_BIND, /* no-open views: inode ino answers for path (blob) at version obj, attr, for
		    good; a later VJ_BIND of the same path takes the path from it */
};

#define VJ_OPEN_DIR 0x40000000u /* in flags of VJ_OPEN: a directory handle */
#define VJ_INIT_PASSTHROUGH 1u	/* in flags of VJ_INIT: passthrough was accepted */
#define VJ_INIT_NO_OPEN 2u	/* in flags of VJ_INIT: files are served without OPEN (ENOSYS) */
/* In flags of VJ_INODE: the inode no longer answers for its path (a new version came while it
 * was open; its descriptors keep their version), and no later record gives it the path back.
 * A weir-node from before this flag reads the record as the inode's name again: harmless. */
#define VJ_INODE_DETACHED 1u

/* One record as it sits in the log; a blob of blob_len bytes follows it. Binary, and only
 * read back by a weir-node of the same layout (see VIEW_JOURNAL_MAGIC). */
struct view_journal_rec {
	uint32_t type;
	uint32_t blob_len;
	uint64_t ino;
	uint64_t fh;
	uint64_t obj;
	int32_t backing_id;
	uint32_t flags;
	struct ufs_attr attr;
};

struct view_journal;

/* A new journal in a new memfd (named for mountpoint, in /proc/PID/fd). Returns 0 and an owned
 * *ret, or -errno. */
int view_journal_new(const char *mountpoint, struct view_journal **ret);
/* Adopts the memfd fd (duplicated: the caller keeps its own) of a journal a dead weir-node
 * wrote. Returns 0, -EPROTO when it was written by another layout, or -errno. */
int view_journal_open(int fd, struct view_journal **ret);
void view_journal_free(struct view_journal *j);
/* The memfd, for the keeper. Borrowed. */
int view_journal_fd(const struct view_journal *j);

/* Appends rec and its blob in one write (atomic against other appenders: O_APPEND); any thread,
 * no lock needed or to be held. Returns 0 or -errno. */
int view_journal_append(struct view_journal *j, const struct view_journal_rec *rec,
			const void *blob);

/* The shared lookup count of ino, or NULL beyond VIEW_JOURNAL_MAX_INODES. */
_Atomic uint64_t *view_journal_nlookup(struct view_journal *j, uint64_t ino);

/* Records the open handle rec->fh in its slot (any thread; the slot is the handle's alone
 * until it is cleared). Returns 0, or -ERANGE beyond VIEW_JOURNAL_MAX_HANDLES. */
int view_journal_set_handle(struct view_journal *j, const struct view_journal_rec *rec);
/* Empties the slot of fh (before the number can be given to another handle). */
void view_journal_clear_handle(struct view_journal *j, uint64_t fh);
/* Calls fn for each handle slot in use. Returns the number or fn's first negative return. */
int view_journal_handles(struct view_journal *j,
			 int (*fn)(void *arg, const struct view_journal_rec *rec), void *arg);

/* Appends in flight. A WRITE through a descriptor opened O_APPEND is put at the end of the
 * source file as weir-node finds it; if weir-node dies after writing and before the reply, the
 * kernel sends the WRITE again (FUSE_NOTIFY_RESEND) and a second end would take the bytes twice.
 * So where each append goes is recorded here before it is written and kept until its reply is
 * sent: the successor writes the resent one at the same place, which is the same write. The
 * records sit in the header page (bytes a weir-node from before them leaves zero and ignores),
 * VIEW_JOURNAL_MAX_WRITES of them: more than the FUSE worker threads that write. Any thread. */
#define VIEW_JOURNAL_MAX_WRITES 120

/* Records that request unique (the kernel's, without FUSE_UNIQUE_RESEND) writes len bytes of
 * handle fh at off. Returns the record's index for view_journal_write_end, or -ENOSPC: none free
 * and none a dead weir-node left to take (the write then goes unrecorded). */
int view_journal_write_begin(struct view_journal *j, uint64_t unique, uint64_t fh, int64_t off,
			     uint64_t len);
/* The record a dead weir-node made for request unique of handle fh, len bytes: 0 with its offset
 * in *ret_off and its index in *ret_index (this process's record from now on, to end), or
 * -ENOENT (it died before recording: the bytes were never written). */
int view_journal_write_find(struct view_journal *j, uint64_t unique, uint64_t fh, uint64_t len,
			    int64_t *ret_off, int *ret_index);
/* Frees record index once the reply has been sent. */
void view_journal_write_end(struct view_journal *j, int index);

/* Namespace changes in flight, in the same records. A mkdir, an exclusive create, an unlink, an
 * rmdir or a rename applied to the source just before weir-node died is resent too, and done
 * again it would fail (EEXIST, ENOENT) although it was done. So each records, before it changes
 * anything, its kind and the directory it works in (the view's inode number), and then the
 * identity (source inode number) of what it creates, removes or moves: the successor, given the
 * resent request, finds whether the change was made. Kinds: */
enum view_journal_op {
	VJ_OP_MKDIR = 1,
	VJ_OP_CREATE, /* an exclusive create */
	VJ_OP_REMOVE, /* unlink or rmdir */
	VJ_OP_RENAME,
};
/* Records that request unique does op in directory parent. Returns the index (for
 * view_journal_op_set and view_journal_write_end) or -ENOSPC. */
int view_journal_op_begin(struct view_journal *j, uint64_t unique, enum view_journal_op op,
			  uint64_t parent);
/* Sets the identity of the object record index works on (before the change is made). */
void view_journal_op_set(struct view_journal *j, int index, uint64_t ident);
/* The record a dead weir-node made for request unique (op in parent): 0 with the identity (0
 * if it was not set) and the index (this process's record from now on), or -ENOENT. */
int view_journal_op_find(struct view_journal *j, uint64_t unique, enum view_journal_op op,
			 uint64_t parent, uint64_t *ret_ident, int *ret_index);
/* Calls fn for each record a dead weir-node left that no resent request has taken, with the
 * identity it recorded (0: none). */
void view_journal_ops_left(struct view_journal *j,
			   void (*fn)(void *arg, uint64_t unique, enum view_journal_op op,
				      uint64_t parent, uint64_t ident),
			   void *arg);
/* Whether a record (this process's, or one a dead weir-node left that no resent request took
 * yet) may be request unique's namespace change: its temporary object is then in use. */
bool view_journal_op_busy(struct view_journal *j, uint64_t unique);
/* A number naming this view's journal, the same for every weir-node that serves it: objects
 * the view makes under temporary names are named for it and the request. Never 0. */
uint64_t view_journal_id(const struct view_journal *j);

/* Calls fn for each log record in append order; stops at the first torn or unknown record (the
 * tail a crash cut short). Returns the number of records read or fn's first negative return. */
int view_journal_replay(struct view_journal *j,
			int (*fn)(void *arg, const struct view_journal_rec *rec, const void *blob),
			void *arg);
