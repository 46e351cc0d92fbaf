// SPDX-License-Identifier: Apache-2.0
// A view's recoverable state in a memfd: lookup counts in place, the rest appended. The file
// outlives weir-node because the keeper holds a descriptor of it; nothing in it is trusted
// beyond this machine's boot (it is never written to disk).
#include "view_journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* The layout of the file: a header page, the lookup counts, then the log. A weir-node built
 * with another record layout refuses the journal rather than misread it. */
#define VIEW_JOURNAL_MAGIC (0x77656972766a0000ull | (uint64_t)sizeof(struct view_journal_rec))
#define HEADER_BYTES 4096u
#define COUNTS_BYTES ((uint64_t)VIEW_JOURNAL_MAX_INODES * sizeof(uint64_t))
#define LOG_START (HEADER_BYTES + COUNTS_BYTES)

struct view_journal {
	int fd;		/* the memfd */
	int append_fd;	/* the same file opened O_APPEND: whole records, never interleaved */
	_Atomic uint64_t *counts; /* mapped, shared */
};

static int map(struct view_journal *j)
{
	void *p = mmap(NULL, COUNTS_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, j->fd, HEADER_BYTES);
	if (p == MAP_FAILED)
		return -errno;
	j->counts = p;
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
	*ret = j;
	return 0;
}

void view_journal_free(struct view_journal *j)
{
	if (!j)
		return;
	if (j->counts)
		munmap((void *)j->counts, COUNTS_BYTES);
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
		if (rec.type < VJ_INIT || rec.type > VJ_RENAME || rec.blob_len > 65536 ||
		    off + sizeof(rec) + rec.blob_len > end)
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
