// SPDX-License-Identifier: Apache-2.0
// local:// UFS: plain files under a root directory (a local disk or an NFS mount). Every open is
// resolved beneath the root fd (openat2 RESOLVE_BENEATH), so neither ".." nor a symlink leaves it;
// the root itself is reached through no symlink.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "ufs.h"
#include "uring_io.h"

#define LOCAL_RING_DEPTH 64

/* One read in flight: its io_uring request owns buf until the completion calls local_read_end. */
struct local_job {
	struct uring_io_req req; /* first: the completion gets it back */
	struct ufs *u;
	int fd; /* the file, opened and checked at submission; closed at the completion */
	ufs_read_done_fn done;
	void *userdata;
	bool has_expect;	 /* checked again when the read ends: */
	struct ufs_attr expect; /* the version the caller asked for */
	char path[];		 /* for messages */
};

struct local {
	char *root; /* absolute path, for messages */
	int root_fd;
	struct uring_io *io; /* reads: io_uring, or pread at submission where it is unavailable */
	/* Guards inflight and stopping; held for counting only. */
	pthread_mutex_t lock;
	pthread_cond_t idle; /* inflight went to 0 */
	unsigned inflight;   /* under lock: reads submitted, not yet completed */
	bool stopping;	     /* under lock */
};

static void set_error(struct ufs *u, const char *path, int err)
{
	ufs_set_error(u, "%s%s: %s", u->url, strcmp(path, "/") == 0 ? "/" : path, strerror(-err));
}

/* openat2, tried again on EAGAIN: with RESOLVE_BENEATH the kernel fails a ".." it walked while
 * any rename or mount happened anywhere on the machine (it cannot then tell the ".." stayed
 * beneath), and callers would take EAGAIN for an unreachable UFS (ufs_error_is_outage). A
 * stream of renames elsewhere could make it fail every time: a bounded number of tries. */
static long openat2_retry(int dir_fd, const char *rel, struct open_how *how)
{
	long fd;
	int tries = 0;
	do
		fd = syscall(SYS_openat2, dir_fd, rel, how, sizeof(*how));
	while (fd < 0 && errno == EAGAIN && ++tries < 16);
	return fd;
}

/* openat2's stand-in on kernels before 5.6 (ENOSYS): rel opened one component at a time from
 * dir_fd ("/" first when rel is absolute), through no symbolic link (-ELOOP) and no ".."
 * (-EACCES). Narrower than RESOLVE_BENEATH, which follows links that stay beneath: on such a
 * kernel a link in a source reads as refused, never as what lies outside. Returns an fd or
 * -errno. */
static int open_walk(int dir_fd, const char *rel, int flags, unsigned mode)
{
	char buf[PATH_MAX];
	if (strlen(rel) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, rel);
	int cur = -1, base = dir_fd, r;
	if (buf[0] == '/') {
		if ((cur = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
			return -errno;
		base = cur;
	}
	char *save = NULL, *comp = strtok_r(buf, "/", &save);
	if (!comp)
		comp = "."; /* "/" itself */
	while (comp) {
		char *next = strtok_r(NULL, "/", &save);
		if (strcmp(comp, "..") == 0) {
			r = -EACCES;
			goto fail;
		}
		int fd = next ? openat(base, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
			      : openat(base, comp, flags | O_NOFOLLOW, mode);
		if (fd < 0) {
			r = -errno;
			goto fail;
		}
		struct stat st;
		/* O_PATH | O_NOFOLLOW opens a link itself rather than failing */
		if (fstat(fd, &st) < 0 || S_ISLNK(st.st_mode)) {
			close(fd);
			r = -ELOOP;
			goto fail;
		}
		if (cur >= 0)
			close(cur);
		base = cur = fd;
		comp = next;
	}
	return cur;
fail:
	if (cur >= 0)
		close(cur);
	return r;
}

/* Opens rel beneath dir_fd, with the resolve flags extra besides. Returns an fd or -errno;
 * -EACCES when resolution would leave dir_fd. No RESOLVE_NO_XDEV: a mount below a source's root
 * is one root made (an NFS export, a disk); a user cannot make one weir-node sees, and a FUSE
 * mount of theirs (fusermount3) serves only bytes they could have written there anyway. */
static int open_beneath_how(int dir_fd, const char *rel, int flags, uint64_t extra)
{
	/* openat2 refuses O_NOCTTY with O_PATH */
	flags |= O_CLOEXEC | ((flags & O_PATH) ? 0 : O_NOCTTY);
	struct open_how how = {.flags = (uint64_t)flags,
			       .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | extra};
	long fd = openat2_retry(dir_fd, rel, &how);
	if (fd < 0 && errno == ENOSYS)
		return open_walk(dir_fd, rel, flags, 0);
	if (fd < 0)
		return errno == EXDEV ? -EACCES : -errno;
	return (int)fd;
}

/* Opens path (UFS-relative, "/"-prefixed) beneath the root. Returns an fd or -errno;
 * -EACCES when resolution would leave the root. */
static int open_beneath_fd(int dir_fd, const char *rel, int flags)
{
	return open_beneath_how(dir_fd, rel, flags, 0);
}

static int open_beneath(struct local *l, const char *path, int flags)
{
	return open_beneath_fd(l->root_fd, path[1] ? path + 1 : ".", flags);
}

static void attr_from_stat(const struct stat *st, struct ufs_attr *attr)
{
	*attr = (struct ufs_attr){.mtime = st->st_mtim.tv_sec,
				  .mtime_exact = true,
				  .is_dir = S_ISDIR(st->st_mode),
				  .has_owner = true,
				  .mode = st->st_mode & 07777,
				  .uid = st->st_uid,
				  .gid = st->st_gid};
	if (attr->is_dir)
		return;
	attr->size = (uint64_t)st->st_size;
	/* inode and nanosecond mtime catch a rewrite within the same second */
	snprintf(attr->etag, sizeof(attr->etag), "%llx-%llx-%llx", (unsigned long long)st->st_ino,
		 (unsigned long long)st->st_mtim.tv_sec * 1000000000ull + st->st_mtim.tv_nsec,
		 (unsigned long long)st->st_size);
}

static int local_stat(struct ufs *u, const char *path, struct ufs_attr *ret_attr)
{
	struct local *l = u->priv;
	struct stat st;
	atomic_fetch_add(&u->stats.requests, 1);
	int fd = open_beneath(l, path, O_PATH);
	if (fd < 0) {
		set_error(u, path, fd);
		log_debug("stat %s%s: %s", l->root, path, strerror(-fd));
		return fd;
	}
	int r = fstat(fd, &st) < 0 ? -errno : 0;
	close(fd);
	if (r < 0) {
		set_error(u, path, r);
		return r;
	}
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		set_error(u, path, -ENOENT);
		return -ENOENT;
	}
	attr_from_stat(&st, ret_attr);
	return 0;
}

/* Through no symbolic link at all: a view's root (a reference's subdirectory) and a directory a
 * walk enters are where they are named, not where a link in the source points (pub/up -> ..
 * would make a reference to pub/up one to the whole source, and a -> . loop a walk). */
static int local_open_dir(struct ufs *u, const char *path)
{
	struct local *l = u->priv;
	return open_beneath_how(l->root_fd, path[1] ? path + 1 : ".", O_PATH | O_DIRECTORY,
				RESOLVE_NO_SYMLINKS);
}

static int local_stat_beneath(struct ufs *u, int dir_fd, const char *rel,
			      struct ufs_attr *ret_attr)
{
	struct stat st;
	int fd = open_beneath_fd(dir_fd, *rel ? rel : ".", O_PATH);
	if (fd < 0)
		return fd;
	int r = fstat(fd, &st) < 0 ? -errno : 0;
	close(fd);
	if (r < 0)
		return r;
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		return -ENOENT;
	attr_from_stat(&st, ret_attr);
	(void)u;
	return 0;
}

static int local_list(struct ufs *u, const char *path, struct ufs_dirent **ret_ents, size_t *ret_n)
{
	struct local *l = u->priv;
	struct ufs_dirent *v = NULL;
	size_t n = 0, cap = 0;
	char *child = NULL;
	int r;

	atomic_fetch_add(&u->stats.requests, 1);
	int fd = open_beneath(l, path, O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		r = fd;
		goto fail;
	}
	DIR *dir = fdopendir(fd);
	if (!dir) {
		r = -errno;
		close(fd);
		goto fail;
	}
	size_t plen = strlen(path);
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(dir);
		if (!de) {
			r = -errno;
			if (r < 0)
				goto fail_dir;
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strncmp(de->d_name, UFS_TEMP_PREFIX, strlen(UFS_TEMP_PREFIX)) == 0)
			continue;
		struct stat st;
		if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			log_debug("list %s%s: %s vanished", l->root, path, de->d_name);
			continue;
		}
		bool link = S_ISLNK(st.st_mode);
		if (link) {
			/* follow it, but only while it stays under the root */
			free(child);
			child = malloc(plen + strlen(de->d_name) + 2);
			if (!child) {
				r = -ENOMEM;
				goto fail_dir;
			}
			sprintf(child, "%s/%s", plen > 1 ? path : "", de->d_name);
			int cfd = open_beneath(l, child, O_PATH);
			if (cfd == -EACCES) {
				log_warn("%s%s: ignoring symlink \"%s\": it leads out of the root",
					 u->url, path, de->d_name);
				continue;
			}
			if (cfd < 0 || fstat(cfd, &st) < 0) {
				if (cfd >= 0)
					close(cfd);
				log_debug("list %s: dangling symlink %s", l->root, child);
				continue;
			}
			close(cfd);
		}
		if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 32;
			struct ufs_dirent *nv = realloc(v, ncap * sizeof(*nv));
			if (!nv) {
				r = -ENOMEM;
				goto fail_dir;
			}
			v = nv;
			cap = ncap;
		}
		struct ufs_dirent *e = &v[n];
		e->name = strdup(de->d_name);
		if (!e->name) {
			r = -ENOMEM;
			goto fail_dir;
		}
		attr_from_stat(&st, &e->attr);
		e->size_known = true;
		e->via_link = link;
		n++;
	}
	closedir(dir);
	free(child);
	*ret_ents = v;
	*ret_n = n;
	return 0;

fail_dir:
	closedir(dir);
fail:
	free(child);
	ufs_dirents_free(v, n);
	set_error(u, path, r);
	log_debug("list %s%s: %s", l->root, path, strerror(-r));
	return r;
}

static bool attr_matches(const struct ufs_attr *have, const struct ufs_attr *want)
{
	if (have->etag[0] && want->etag[0])
		return strcmp(have->etag, want->etag) == 0;
	return have->size == want->size && (!want->mtime || have->mtime == want->mtime);
}

/* Opens path for a read and checks it is the version expected. Returns the fd or -errno. */
static int local_open_read(struct ufs *u, const char *path, const struct ufs_attr *expect)
{
	struct local *l = u->priv;
	/* O_NONBLOCK: a FIFO put in a file's place must not hold the reader until a writer comes
	 * (nor a device its open); only regular files are read. */
	int fd = open_beneath(l, path, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return fd;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return expect ? -ESTALE : -ENOENT;
	}
	if (expect) {
		struct ufs_attr have;
		attr_from_stat(&st, &have);
		if (!attr_matches(&have, expect)) {
			close(fd);
			return -ESTALE;
		}
	}
	return fd;
}

static int local_fd_stat(struct ufs *u, int fd, struct ufs_attr *ret_attr)
{
	(void)u;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	attr_from_stat(&st, ret_attr);
	return 0;
}

/* res when fd is still the version expect, else -ESTALE (or fstat's -errno). */
static int still_version(int fd, const struct ufs_attr *expect, int res)
{
	struct stat st;
	struct ufs_attr have;

	if (fstat(fd, &st) < 0)
		return -errno;
	attr_from_stat(&st, &have);
	return attr_matches(&have, expect) ? res : -ESTALE;
}

/* The read's completion, on the queue's reaper thread: hands the bytes over and forgets the
 * job. A regular file reads short only at its end, which the caller sees in nread. */
static void local_read_end(struct uring_io_req *req, int res)
{
	struct local_job *j = (struct local_job *)req;
	struct ufs *u = j->u;
	struct local *l = u->priv;

	/* The version was checked at the open, before the read: a write landing in between would
	 * hand over the new bytes (or a mix) as the old version, to be cached under it. Checked
	 * again now, so such a read fails as stale, as it would have at the open. */
	if (res >= 0 && j->has_expect)
		res = still_version(j->fd, &j->expect, res);
	close(j->fd);
	if (res < 0) {
		set_error(u, j->path, res);
		atomic_fetch_add(&u->stats.errors, 1);
		log_debug("read %s%s @%llu+%u: %s", l->root, j->path,
			  (unsigned long long)j->req.off, j->req.len, strerror(-res));
	} else {
		atomic_fetch_add(&u->stats.bytes, (uint64_t)res);
	}
	j->done(j->userdata, res < 0 ? res : 0, res < 0 ? 0 : (size_t)res);
	free(j);
	pthread_mutex_lock(&l->lock);
	if (--l->inflight == 0)
		pthread_cond_broadcast(&l->idle);
	pthread_mutex_unlock(&l->lock);
}

/* Opens and checks the file on the caller's thread (metadata only), then queues the read on
 * io_uring; the completion calls done. */
static int local_read_async(struct ufs *u, const char *path, uint64_t off, size_t len, void *buf,
			    const struct ufs_attr *expect, ufs_read_done_fn done, void *userdata)
{
	struct local *l = u->priv;
	if (len > (1u << 30))
		return -EINVAL;
	size_t plen = strlen(path) + 1;
	struct local_job *j = calloc(1, sizeof(*j) + plen);
	if (!j)
		return -ENOMEM;
	memcpy(j->path, path, plen);
	atomic_fetch_add(&u->stats.requests, 1);
	pthread_mutex_lock(&l->lock);
	bool stopping = l->stopping;
	if (!stopping)
		l->inflight++;
	pthread_mutex_unlock(&l->lock);
	if (stopping) {
		free(j);
		return -ESHUTDOWN;
	}
	int fd = local_open_read(u, path, expect);
	if (fd < 0) {
		/* As the worker pool did: the failure comes through done, not the return. */
		j->fd = -1;
		j->u = u;
		j->done = done;
		j->userdata = userdata;
		set_error(u, path, fd);
		atomic_fetch_add(&u->stats.errors, 1);
		log_debug("read %s%s @%llu+%zu: %s", l->root, path, (unsigned long long)off, len,
			  strerror(-fd));
		done(userdata, fd, 0);
		free(j);
		pthread_mutex_lock(&l->lock);
		if (--l->inflight == 0)
			pthread_cond_broadcast(&l->idle);
		pthread_mutex_unlock(&l->lock);
		return 0;
	}
	j->req = (struct uring_io_req){
	    .fd = fd, .buf = buf, .len = (unsigned)len, .off = off, .complete = local_read_end};
	j->u = u;
	j->fd = fd;
	j->done = done;
	j->userdata = userdata;
	if (expect) {
		j->has_expect = true;
		j->expect = *expect;
	}
	struct uring_io_req *one = &j->req;
	uring_io_submit(l->io, &one, 1); /* completes (local_read_end) however it goes */
	return 0;
}

static void local_fini(struct ufs *u)
{
	struct local *l = u->priv;
	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	l->stopping = true;
	/* Every buffer stays the kernel's until its completion: wait for all of them. */
	while (l->inflight > 0)
		pthread_cond_wait(&l->idle, &l->lock);
	pthread_mutex_unlock(&l->lock);
	uring_io_free(l->io);
	pthread_cond_destroy(&l->idle);
	pthread_mutex_destroy(&l->lock);
	if (l->root_fd >= 0)
		close(l->root_fd);
	free(l->root);
	free(l);
	u->priv = NULL;
}

static int local_init(struct ufs *u, const struct ufs_options *opts)
{
	const char *root = u->url + strlen("local://");
	if (root[0] == '\0')
		root = "/";
	if (root[0] != '/') {
		ufs_set_error(u, "expected local:///absolute/path (three slashes)");
		return -EINVAL;
	}
	struct local *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->root_fd = -1;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->idle, NULL);
	u->priv = l;
	int r;
	l->root = strdup(root);
	if (!l->root) {
		r = -ENOMEM;
		goto fail;
	}
	/* No symlink on the way to the root either: ufs-roots compares paths as written, so a
	 * link under a granted root (local:///data/a/link -> /etc, or .../link/../b) would
	 * otherwise make the view a directory outside it. */
	struct open_how how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
			       .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
	long fd = openat2_retry(AT_FDCWD, root, &how);
	if (fd < 0 && errno == ENOSYS) {
		fd = open_walk(AT_FDCWD, root, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
		if (fd < 0)
			errno = (int)-fd;
	}
	if (fd < 0) {
		r = -errno;
		if (r == -ELOOP)
			ufs_set_error(
			    u,
			    "%s: the path goes through a symbolic link, which weir does not "
			    "follow on the way to a local:// root (it could lead out of the "
			    "roots a namespace was granted); give the real path",
			    root);
		else
			ufs_set_error(u, "%s: %s", root, strerror(-r));
		goto fail;
	}
	l->root_fd = (int)fd;
	(void)opts;
	r = uring_io_new(1, LOCAL_RING_DEPTH, &l->io);
	if (r == -ENOSYS || r == -EPERM || r == -EACCES) {
		log_warn("io_uring is unavailable (%s); reads of %s use pread", strerror(-r),
			 u->url);
		r = uring_io_new(0, 0, &l->io);
	}
	if (r < 0) {
		ufs_set_error(u, "cannot set up reads: %s", strerror(-r));
		goto fail;
	}
	return 0;
fail:
	local_fini(u);
	return r;
}

static int local_open_write(struct ufs *u, const char *path, int flags, unsigned mode)
{
	struct local *l = u->priv;
	flags &= O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_APPEND;
	if ((flags & O_ACCMODE) == O_RDONLY)
		flags = (flags & ~O_ACCMODE) | O_WRONLY;
	const char *rel = path + 1;
	struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK),
			       .mode = (flags & O_CREAT) ? (mode & 07777) : 0,
			       .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
	long fd = openat2_retry(l->root_fd, rel, &how);
	if (fd < 0 && errno == ENOSYS) {
		fd = open_walk(l->root_fd, rel, (int)how.flags, (unsigned)how.mode);
		if (fd < 0)
			errno = (int)-fd;
	}
	if (fd < 0) {
		int r = errno == EXDEV ? -EACCES : -errno;
		set_error(u, path, r);
		return r;
	}
	/* Opened O_NONBLOCK (a FIFO must not block the open); only a regular file is written,
	 * and then as usual, blocking. */
	struct stat st;
	if (fstat((int)fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    fcntl((int)fd, F_SETFL, fcntl((int)fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		close((int)fd);
		set_error(u, path, -EINVAL);
		return -EINVAL;
	}
	return (int)fd;
}

/* The directory holding path, opened beneath the root, and path's last component. */
static int open_parent(struct local *l, const char *path, const char **ret_name)
{
	const char *slash = strrchr(path, '/');
	char parent[4096];
	size_t len = slash > path ? (size_t)(slash - path) : 1;
	if (len >= sizeof(parent))
		return -ENAMETOOLONG;
	memcpy(parent, path, len);
	parent[len] = '\0';
	int fd = open_beneath(l, parent, O_PATH | O_DIRECTORY);
	if (fd >= 0)
		*ret_name = slash + 1;
	return fd;
}

static int local_mkdir(struct ufs *u, const char *path, unsigned mode)
{
	const char *name;
	int pfd = open_parent(u->priv, path, &name);
	if (pfd < 0)
		return pfd;
	int r = mkdirat(pfd, name, mode & 07777) < 0 ? -errno : 0;
	close(pfd);
	if (r < 0)
		set_error(u, path, r);
	return r;
}

static int local_chown(struct ufs *u, const char *path, unsigned uid, unsigned gid)
{
	const char *name;
	int pfd = open_parent(u->priv, path, &name);
	if (pfd < 0)
		return pfd;
	/* Only what the daemon itself owns (it just created it): were another file renamed in
	 * meanwhile, it keeps its owner. The check and the chown act on one descriptor. */
	int fd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	int r = fd < 0 || fstat(fd, &st) < 0 ? -errno : st.st_uid != geteuid() ? -EPERM : 0;
	if (r == 0 && fchownat(fd, "", uid, gid, AT_EMPTY_PATH) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	close(pfd);
	if (r < 0)
		set_error(u, path, r);
	return r;
}

static int local_remove(struct ufs *u, const char *path, bool dir)
{
	const char *name;
	int pfd = open_parent(u->priv, path, &name);
	if (pfd < 0)
		return pfd;
	int r = unlinkat(pfd, name, dir ? AT_REMOVEDIR : 0) < 0 ? -errno : 0;
	close(pfd);
	if (r < 0)
		set_error(u, path, r);
	return r;
}

static int local_rename(struct ufs *u, const char *from, const char *to, unsigned flags)
{
	const char *n1, *n2;
	int p1 = open_parent(u->priv, from, &n1);
	if (p1 < 0)
		return p1;
	int p2 = open_parent(u->priv, to, &n2);
	if (p2 < 0) {
		close(p1);
		return p2;
	}
	int r = renameat2(p1, n1, p2, n2, flags) < 0 ? -errno : 0;
	close(p1);
	close(p2);
	if (r < 0)
		set_error(u, from, r);
	return r;
}

static int local_ident(struct ufs *u, const char *path, uint64_t *ret_id)
{
	const char *name;
	int pfd = open_parent(u->priv, path, &name);
	if (pfd < 0)
		return pfd;
	struct stat st;
	int r = fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	close(pfd);
	if (r == 0)
		*ret_id = (uint64_t)st.st_ino;
	return r;
}

const struct ufs_ops ufs_local_ops = {
    .scheme = "local",
    .owners = true,
    .init = local_init,
    .fini = local_fini,
    .list = local_list,
    .stat = local_stat,
    .read_async = local_read_async,
    .open_write = local_open_write,
    .open_read = local_open_read,
    .fd_stat = local_fd_stat,
    .mkdir = local_mkdir,
    .remove = local_remove,
    .rename = local_rename,
    .ident = local_ident,
    .chown = local_chown,
    .open_dir = local_open_dir,
    .stat_beneath = local_stat_beneath,
};
