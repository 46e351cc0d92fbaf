// SPDX-License-Identifier: Apache-2.0
// A view's recoverable state in a memfd: lookup counts in place, the rest appended. The file
// outlives weir-node because the keeper holds a descriptor of it; nothing in it is trusted
// beyond this machine's boot (it is never written to disk).
#include "view_journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* One handle number's slot: live is set last and cleared first, so a slot a crash caught
 * half-written reads as empty (the kernel never got that handle: its reply comes after). */
struct slot {
	_Atomic uint32_t live;
	uint32_t pad;
	struct view_journal_rec rec;
};

/* One append in flight (view_journal.h). unique is written last and cleared first: 0 is free,
 * WRITE_CLAIMED is being filled (a crash there leaves a write that never began). */
struct write_rec {
	_Atomic uint64_t unique;
	uint64_t fh;
	int64_t off;
	uint64_t len;
};
#define WRITE_CLAIMED UINT64_MAX
/* fh of a namespace change's record (never a handle number): OP_TAG | the op; off is the
 * identity, len the directory. */
#define OP_TAG (1ull << 63)

/* The header page: the magic, the highest handle number ever given a slot, the appends in
 * flight (after room the first two fields left, zero in a journal of an older weir-node). */
struct header {
	uint64_t magic;
	_Atomic uint64_t max_fh;
	uint64_t id; /* view_journal_id; 0 in a journal of an older weir-node, then set at open */
	uint64_t reserved[5];
	struct write_rec writes[VIEW_JOURNAL_MAX_WRITES];
};

/* The layout of the file: the header page, the lookup counts, the handle slots, then the log.
 * A weir-node built with another record layout refuses the journal rather than misread it. */
#define VIEW_JOURNAL_MAGIC (0x77656972766a0000ull | (uint64_t)sizeof(struct slot))
#define HEADER_BYTES 4096u
#define COUNTS_BYTES ((uint64_t)VIEW_JOURNAL_MAX_INODES * sizeof(uint64_t))
#define SLOTS_BYTES ((uint64_t)VIEW_JOURNAL_MAX_HANDLES * sizeof(struct slot))
#define MAPPED_BYTES (HEADER_BYTES + COUNTS_BYTES + SLOTS_BYTES)
#define LOG_START MAPPED_BYTES
_Static_assert(sizeof(struct header) <= HEADER_BYTES, "the header outgrew its page");

struct view_journal {
	int fd;	       /* the memfd */
	int append_fd; /* the same file opened O_APPEND: whole records, never interleaved */
	void *map;     /* header, counts and slots, shared */
	struct header *hdr;
	_Atomic uint64_t *counts;
	struct slot *slots; /* slots[fh - 1] */
	/* Bit i: writes[i] is a dead weir-node's, not yet found by its resent request: the
	 * only records view_journal_write_begin may take when none is free. */
	_Atomic uint64_t inherited[(VIEW_JOURNAL_MAX_WRITES + 63) / 64];
};

static void set_id(struct view_journal *j)
{
	uint64_t id = 0;
	while (id == 0)
		if (getrandom(&id, sizeof(id), 0) != sizeof(id))
			id = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
	j->hdr->id = id;
}

static int map(struct view_journal *j)
{
	void *p = mmap(NULL, MAPPED_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, j->fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	j->map = p;
	j->hdr = p;
	j->counts = (_Atomic uint64_t *)((char *)p + HEADER_BYTES);
	j->slots = (struct slot *)((char *)p + HEADER_BYTES + COUNTS_BYTES);
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", j->fd);
	j->append_fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	return j->append_fd < 0 ? -errno : 0;
}

int view_journal_new(const char *mountpoint, struct view_journal **ret)
{
	struct view_journal *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->append_fd = -1;
	char name[64];
	snprintf(name, sizeof(name), "weir-view:%.48s", mountpoint);
	j->fd = memfd_create(name, MFD_CLOEXEC);
	int r = j->fd < 0 ? -errno : 0;
	uint64_t magic = VIEW_JOURNAL_MAGIC;
	if (r == 0 && ftruncate(j->fd, (off_t)LOG_START) < 0)
		r = -errno;
	if (r == 0 && pwrite(j->fd, &magic, sizeof(magic), 0) != sizeof(magic))
		r = -EIO;
	if (r == 0)
		r = map(j);
	if (r < 0) {
		view_journal_free(j);
		return r;
	}
	set_id(j);
	*ret = j;
	return 0;
}

int view_journal_open(int fd, struct view_journal **ret)
{
	struct view_journal *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->append_fd = -1;
	j->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	int r = j->fd < 0 ? -errno : 0;
	uint64_t magic = 0;
	struct stat st;
	if (r == 0 && (fstat(j->fd, &st) < 0 || (uint64_t)st.st_size < LOG_START ||
		       pread(j->fd, &magic, sizeof(magic), 0) != sizeof(magic)))
		r = -EPROTO;
	if (r == 0 && magic != VIEW_JOURNAL_MAGIC)
		r = -EPROTO;
	if (r == 0)
		r = map(j);
	if (r < 0) {
		view_journal_free(j);
		return r;
	}
	for (int i = 0; i < VIEW_JOURNAL_MAX_WRITES; i++) {
		uint64_t u = atomic_load(&j->hdr->writes[i].unique);
		if (u == WRITE_CLAIMED) /* the dead process never began that write */
			atomic_store(&j->hdr->writes[i].unique, 0);
		else if (u != 0)
			atomic_fetch_or(&j->inherited[i / 64], 1ull << (i % 64));
	}
	if (j->hdr->id == 0)
		set_id(j);
	*ret = j;
	return 0;
}

/* Takes inherited record i for this process; false if another thread took it first. */
static bool take_inherited(struct view_journal *j, int i)
{
	uint64_t bit = 1ull << (i % 64);
	return atomic_fetch_and(&j->inherited[i / 64], ~bit) & bit;
}

int view_journal_write_begin(struct view_journal *j, uint64_t unique, uint64_t fh, int64_t off,
			     uint64_t len)
{
	struct write_rec *w = j->hdr->writes;
	int at = -1;
	for (int i = 0; i < VIEW_JOURNAL_MAX_WRITES && at < 0; i++) {
		uint64_t free = 0;
		if (atomic_compare_exchange_strong(&w[i].unique, &free, WRITE_CLAIMED))
			at = i;
	}
	/* None free: records dead weir-nodes left behind, all but a few of which belong to
	 * requests they had answered (they died between the reply and the record's end). The
	 * oldest request goes first: a resent one comes at the head of the queue, so it is
	 * found long before this, if it is one at all. */
	while (at < 0) {
		int old = -1;
		uint64_t oldest = UINT64_MAX;
		for (int i = 0; i < VIEW_JOURNAL_MAX_WRITES; i++) {
			uint64_t u = atomic_load(&w[i].unique);
			if ((atomic_load(&j->inherited[i / 64]) & (1ull << (i % 64))) &&
			    u < oldest) {
				old = i;
				oldest = u;
			}
		}
		if (old < 0)
			return -ENOSPC;
		if (take_inherited(j, old))
			at = old;
	}
	atomic_store(&w[at].unique, WRITE_CLAIMED);
	w[at].fh = fh;
	w[at].off = off;
	w[at].len = len;
	atomic_store_explicit(&w[at].unique, unique, memory_order_release);
	return at;
}

int view_journal_write_find(struct view_journal *j, uint64_t unique, uint64_t fh, uint64_t len,
			    int64_t *ret_off, int *ret_index)
{
	struct write_rec *w = j->hdr->writes;
	for (int i = 0; i < VIEW_JOURNAL_MAX_WRITES; i++) {
		if (atomic_load_explicit(&w[i].unique, memory_order_acquire) != unique ||
		    w[i].fh != fh || w[i].len != len)
			continue;
		int64_t off = w[i].off;
		if (!take_inherited(j, i))
			continue; /* taken for another write meanwhile */
		*ret_off = off;
		*ret_index = i;
		return 0;
	}
	return -ENOENT;
}

void view_journal_write_end(struct view_journal *j, int index)
{
	if (index >= 0 && index < VIEW_JOURNAL_MAX_WRITES)
		atomic_store_explicit(&j->hdr->writes[index].unique, 0, memory_order_release);
}

int view_journal_op_begin(struct view_journal *j, uint64_t unique, enum view_journal_op op,
			  uint64_t parent)
{
	return view_journal_write_begin(j, unique, OP_TAG | op, 0, parent);
}

void view_journal_op_set(struct view_journal *j, int index, uint64_t ident)
{
	if (index >= 0 && index < VIEW_JOURNAL_MAX_WRITES)
		j->hdr->writes[index].off = (int64_t)ident;
}

int view_journal_op_find(struct view_journal *j, uint64_t unique, enum view_journal_op op,
			 uint64_t parent, uint64_t *ret_ident, int *ret_index)
{
	int64_t off;
	int r = view_journal_write_find(j, unique, OP_TAG | op, parent, &off, ret_index);
	if (r == 0)
		*ret_ident = (uint64_t)off;
	return r;
}

void view_journal_ops_left(struct view_journal *j,
			   void (*fn)(void *arg, uint64_t unique, enum view_journal_op op,
				      uint64_t parent, uint64_t ident),
			   void *arg)
{
	struct write_rec *w = j->hdr->writes;
	for (int i = 0; i < VIEW_JOURNAL_MAX_WRITES; i++) {
		uint64_t u = atomic_load_explicit(&w[i].unique, memory_order_acquire);
		if (!(atomic_load(&j->inherited[i / 64]) & (1ull << (i % 64))) ||
		    !(w[i].fh & OP_TAG))
			continue;
		fn(arg, u, (enum view_journal_op)(w[i].fh & ~OP_TAG), w[i].len, (uint64_t)w[i].off);
	}
}

bool view_journal_op_busy(struct view_journal *j, uint64_t unique)
{
	struct write_rec *w = j->hdr->writes;
	for (int i = 0; i < VIEW_JOURNAL_MAX_WRITES; i++) {
		uint64_t u = atomic_load_explicit(&w[i].unique, memory_order_acquire);
		if (u == WRITE_CLAIMED || (u == unique && (w[i].fh & OP_TAG)))
			return true; /* being filled: it may be that one */
	}
	return false;
}

uint64_t view_journal_id(const struct view_journal *j)
{
	return j->hdr->id;
}

void view_journal_free(struct view_journal *j)
{
	if (!j)
		return;
	if (j->map)
		munmap(j->map, MAPPED_BYTES);
	if (j->append_fd >= 0)
		close(j->append_fd);
	if (j->fd >= 0)
		close(j->fd);
	free(j);
}

int view_journal_fd(const struct view_journal *j)
{
	return j->fd;
}

int view_journal_append(struct view_journal *j, const struct view_journal_rec *rec,
			const void *blob)
{
	struct iovec iov[2] = {{(void *)rec, sizeof(*rec)}, {(void *)blob, rec->blob_len}};
	size_t want = sizeof(*rec) + rec->blob_len;
	ssize_t n = writev(j->append_fd, iov, rec->blob_len ? 2 : 1);
	if (n < 0)
		return -errno;
	return (size_t)n == want ? 0 : -EIO;
}

int view_journal_set_handle(struct view_journal *j, const struct view_journal_rec *rec)
{
	if (rec->fh == 0 || rec->fh > VIEW_JOURNAL_MAX_HANDLES)
		return -ERANGE;
	struct slot *s = &j->slots[rec->fh - 1];
	atomic_store_explicit(&s->live, 0, memory_order_relaxed);
	s->rec = *rec;
	atomic_store_explicit(&s->live, 1, memory_order_release);
	uint64_t m = atomic_load(&j->hdr->max_fh);
	while (m < rec->fh && !atomic_compare_exchange_weak(&j->hdr->max_fh, &m, rec->fh))
		;
	return 0;
}

void view_journal_clear_handle(struct view_journal *j, uint64_t fh)
{
	if (fh >= 1 && fh <= VIEW_JOURNAL_MAX_HANDLES)
		atomic_store_explicit(&j->slots[fh - 1].live, 0, memory_order_release);
}

int view_journal_handles(struct view_journal *j,
			 int (*fn)(void *arg, const struct view_journal_rec *rec), void *arg)
{
	uint64_t max = atomic_load(&j->hdr->max_fh);
	if (max > VIEW_JOURNAL_MAX_HANDLES)
		return -EPROTO;
	int n = 0;
	for (uint64_t i = 0; i < max; i++) {
		struct slot *s = &j->slots[i];
		if (!atomic_load_explicit(&s->live, memory_order_acquire))
			continue;
		struct view_journal_rec rec = s->rec;
		if (rec.type != VJ_OPEN || rec.fh != i + 1)
			continue; /* torn: never a handle the kernel was given */
		int r = fn(arg, &rec);
		if (r < 0)
			return r;
		n++;
	}
	return n;
}

_Atomic uint64_t *view_journal_nlookup(struct view_journal *j, uint64_t ino)
{
	return ino < VIEW_JOURNAL_MAX_INODES ? &j->counts[ino] : NULL;
}

int view_journal_replay(struct view_journal *j,
			int (*fn)(void *arg, const struct view_journal_rec *rec, const void *blob),
			void *arg)
{
	struct stat st;
	if (fstat(j->fd, &st) < 0)
		return -errno;
	uint64_t off = LOG_START, end = (uint64_t)st.st_size;
	int n = 0;
	char *blob = NULL;
	size_t cap = 0;
	while (off + sizeof(struct view_journal_rec) <= end) {
		struct view_journal_rec rec;
		if (pread(j->fd, &rec, sizeof(rec), (off_t)off) != sizeof(rec))
			break;
		if (rec.type < VJ_INIT || rec.type > VJ_BIND || rec.type == VJ_OPEN ||
		    rec.blob_len > 65536 || off + sizeof(rec) + rec.blob_len > end)
			break;
		if (rec.blob_len + 1 > cap) {
			char *nb = realloc(blob, rec.blob_len + 1);
			if (!nb) {
				free(blob);
				return -ENOMEM;
			}
			blob = nb;
			cap = rec.blob_len + 1;
		}
		if (rec.blob_len &&
		    pread(j->fd, blob, rec.blob_len, (off_t)(off + sizeof(rec))) != rec.blob_len)
			break;
		if (blob)
			blob[rec.blob_len] = '\0';
		int r = fn(arg, &rec, blob);
		if (r < 0) {
			free(blob);
			return r;
		}
		n++;
		off += sizeof(rec) + rec.blob_len;
	}
	free(blob);
	return n;
}
