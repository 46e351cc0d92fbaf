/* SPDX-License-Identifier: Apache-2.0 */
/* UFS clients: list a directory, stat a path, read a byte range of an under file system.
 * Backends (ufs_local.c, ufs_http.c, ufs_s3.c) sit behind struct ufs_ops. Paths are relative to the
 * UFS root, start with "/", are already decoded (plain UTF-8 bytes, no %xx), and never
 * contain "." or ".." components. All functions are thread-safe. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UFS_ETAG_MAX 128

/* What identifies one version of an object; a change in any field invalidates its blocks. */
/* A name beginning with this is an object a view is making (created under it, then renamed into
 * place: see op_mkdir in fuse/view.c); listings leave it out. */
#define UFS_TEMP_PREFIX ".weir-tmp-"

struct ufs_attr {
	uint64_t size;
	int64_t mtime; /* seconds since the epoch; 0 when unknown */
	bool is_dir;
	char etag[UFS_ETAG_MAX]; /* "" when the server gives none */
	/* Owner and permission bits, where the UFS has them (local://); not part of the version.
	 * has_owner false: the view shows the owner and mode its mount gives instead. */
	bool has_owner;
	/* mtime is the server's own to the second (Last-Modified, a JSON listing, S3, a stat), so
	 * it can go back as If-Unmodified-Since; false for HTML listings, which give minutes. Not
	 * part of the version. (Here, in what was padding: the layout journals hold is unchanged.)
	 */
	bool mtime_exact;
	uint32_t mode; /* permission bits (07777) */
	uint32_t uid, gid;
};

/* True when a and b are one version: same size, mtime and ETag (what the block store keys by). */
bool ufs_attr_same_version(const struct ufs_attr *a, const struct ufs_attr *b);

struct ufs_dirent {
	char *name; /* one component, decoded */
	struct ufs_attr attr;
	bool size_known; /* false: the listing gave no size; ufs_stat() finds it */
	/* A symbolic link at the source (local://), followed: attr is its target's, which may lie
	 * outside a view of a subdirectory that lists it (view.c checks only these entries). */
	bool via_link;
};

struct ufs_options {
	unsigned max_connections; /* parallel range requests in flight, whole UFS (default 16) */
	unsigned retries;	  /* attempts after the first on reset, timeout, 5xx (default 4) */
	unsigned connect_timeout_ms; /* default 5000 */
	unsigned
	    low_speed_timeout_s; /* abort a transfer under 1 KiB/s for this long (default 30) */
	/* An s3:// source's keys from its Dataset's Secret, used over the URL's, the environment's
	 * and the profile's; NULL or "": none. Borrowed for init only: the backend copies them. */
	const char *s3_access_key, *s3_secret_key, *s3_session_token;
};

/* Counters, updated atomically by the backend. */
struct ufs_stats {
	atomic_uint_fast64_t bytes;    /* payload bytes received by reads */
	atomic_uint_fast64_t requests; /* requests sent, listings and stats included */
	atomic_uint_fast64_t retries;
	atomic_uint_fast64_t errors; /* reads that failed after all retries */
};

/* Called once per ufs_read_async() on a backend thread: err is 0 (then nread bytes, which is
 * len unless the object ended first) or -errno. -ESTALE: the object no longer matches the
 * expected attributes. Must not block for long. */
typedef void (*ufs_read_done_fn)(void *userdata, int err, size_t nread);

/* One piece of a ufs_read_segs_async() request: the next len bytes of the object go to buf, and
 * done(userdata, ...) runs as soon as they are in, while the rest of the request goes on. */
struct ufs_seg {
	void *buf;
	size_t len;
	ufs_read_done_fn done;
	void *userdata;
};

struct ufs;

struct ufs_ops {
	const char *scheme; /* "local", "http" */
	bool owners;	    /* list and stat give owner and mode (ufs_attr.has_owner) */
	/* list gives each object's exact version (size, ETag, mtime, as its own headers would):
	 * an open may bind to a fresh listing without a stat (S3's ListObjectsV2) */
	bool listing_versions;
	/* Bytes a request for bytes fetched ahead should carry at least, when that many
	 * consecutive bytes wait (0: no minimum): where each request costs the server more than
	 * its bytes (S3: a signature to check, a connection, its own per-request work) */
	uint32_t min_request;
	int (*init)(struct ufs *u, const struct ufs_options *opts);
	void (*fini)(struct ufs *u);
	int (*list)(struct ufs *u, const char *path, struct ufs_dirent **ret_ents, size_t *ret_n);
	int (*stat)(struct ufs *u, const char *path, struct ufs_attr *ret_attr);
	int (*read_async)(struct ufs *u, const char *path, uint64_t off, size_t len, void *buf,
			  const struct ufs_attr *expect, ufs_read_done_fn done, void *userdata);
	/* One request for consecutive segments (ufs_read_segs_async); NULL where a request costs
	 * little (local) */
	int (*read_segs_async)(struct ufs *u, const char *path, uint64_t off,
			       const struct ufs_seg *segs, unsigned nsegs,
			       const struct ufs_attr *expect);
	/* Writing; NULL in read-only backends (http), and the wrappers say -EROFS. */
	int (*open_write)(struct ufs *u, const char *path, int flags, unsigned mode);
	/* Writable sources: path opened to read, checked to be version expect (-ESTALE if not);
	 * and the version an open descriptor of the source holds now, as stat would say. */
	int (*open_read)(struct ufs *u, const char *path, const struct ufs_attr *expect);
	int (*fd_stat)(struct ufs *u, int fd, struct ufs_attr *ret_attr);
	int (*mkdir)(struct ufs *u, const char *path, unsigned mode);
	int (*remove)(struct ufs *u, const char *path, bool dir);
	int (*rename)(struct ufs *u, const char *from, const char *to, unsigned flags);
	int (*ident)(struct ufs *u, const char *path, uint64_t *ret_id);
	int (*chown)(struct ufs *u, const char *path, unsigned uid, unsigned gid);
	/* Sources with owners (local): a directory's descriptor, and a stat beneath one. */
	int (*open_dir)(struct ufs *u, const char *path);
	int (*stat_beneath)(struct ufs *u, int dir_fd, const char *rel, struct ufs_attr *ret_attr);
	/* Replaces the keys requests are signed with (a rotated Secret); NULL where a backend has
	 * none (local, http). Thread-safe against requests in flight. */
	int (*set_keys)(struct ufs *u, const char *access_key, const char *secret_key,
			const char *session_token);
};

struct ufs {
	const struct ufs_ops *ops;
	char *url;  /* as given, without a trailing slash */
	void *priv; /* backend state */
	struct ufs_stats stats;
	/* Guards last_error and nothing else. Held only for the copy in or out (a vsnprintf, a
	 * memcpy): no I/O, no log call, no other lock taken under it. Use ufs_set_error() and
	 * ufs_error_copy(), never the field. */
	pthread_mutex_t error_lock;
	char last_error[512]; /* under error_lock: most recent failure cause, for messages */
};

/* Records the most recent failure cause of u ("<url>: <cause>" where a URL failed), printf
 * style, truncated to fit; replaces the previous one. Any thread. */
void ufs_set_error(struct ufs *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Copies the most recent failure cause of u into buf (len bytes, NUL-terminated, truncated to
 * fit; "" when there is none, or when another thread's failure replaced it) and returns buf.
 * Any thread. */
char *ufs_error_copy(struct ufs *u, char *buf, size_t len);

/* Creates a client for url ("local:///abs/path", "http://...", "https://...").
 * Returns 0 and an owned *ret, or -EINVAL (bad URL; message in errbuf), -EPROTONOSUPPORT. */
int ufs_new(const char *url, const struct ufs_options *opts, struct ufs **ret, char *errbuf,
	    size_t errlen);
void ufs_free(struct ufs *u);

/* Lists path. On success *ret_ents (owned, free with ufs_dirents_free) holds the entries,
 * hostile ones (escaping the tree) dropped with a warning. -ENOENT, -ENOTDIR, -EACCES, -EIO. */
int ufs_list(struct ufs *u, const char *path, struct ufs_dirent **ret_ents, size_t *ret_n);
void ufs_dirents_free(struct ufs_dirent *ents, size_t n);
/* Attributes of path (HEAD for http). -ENOENT when it does not exist. */
int ufs_stat(struct ufs *u, const char *path, struct ufs_attr *ret_attr);

/* True when the backend's listings give exact versions (ufs_ops.listing_versions). */
bool ufs_listing_versions(const struct ufs *u);
/* Starts reading [off, off+len) of path into buf (caller keeps buf alive until done runs).
 * expect, if not NULL, binds the read to that version: the server is asked to check it (HTTP:
 * If-Match, else If-Unmodified-Since) and the response's validators are checked too; done
 * gets -ESTALE when that version is gone, never another version's bytes. Returns 0 when
 * queued (done will run exactly once) or -errno (done will not run). */
int ufs_read_async(struct ufs *u, const char *path, uint64_t off, size_t len, void *buf,
		   const struct ufs_attr *expect, ufs_read_done_fn done, void *userdata);
/* True when the backend reads consecutive segments in one request (ufs_read_segs_async). */
bool ufs_reads_segments(const struct ufs *u);
/* ufs_ops.min_request: bytes a request for bytes fetched ahead should carry at least (0: any). */
uint32_t ufs_min_request(const struct ufs *u);
/* ufs_read_async of [off, off + the segments' lengths) as one request, for a UFS whose every
 * request costs (a connection, a signature, the server's own work per request): the bytes go to
 * segs[0], then segs[1] ..., and each segment's done runs once, in order, as soon as its bytes
 * are in (0 and its length), with what it has when the object ends first (0 and fewer bytes,
 * then 0 and 0 for the segments after), or with the error the request failed with (-ESTALE
 * as ufs_read_async). segs is copied; its buffers stay the caller's and must live until their
 * done ran. Returns 0 when queued, -EOPNOTSUPP when the backend has no such request, or
 * -errno (no done will run). */
int ufs_read_segs_async(struct ufs *u, const char *path, uint64_t off, const struct ufs_seg *segs,
			unsigned nsegs, const struct ufs_attr *expect);
/* Blocking wrapper of ufs_read_async. Returns bytes read or -errno. */
long ufs_read(struct ufs *u, const char *path, uint64_t off, size_t len, void *buf,
	      const struct ufs_attr *expect);
/* Lists the root to check the UFS answers. Returns 0 or -errno with a message in errbuf
 * naming the URL and the cause ("http://127.0.0.1:9/: Connection refused"). */
int ufs_probe(struct ufs *u, char *errbuf, size_t errlen);

/* True when err says the UFS could not be asked or gave no answer (connection refused or
 * reset, unreachable host, timeout, 5xx after the retries, other I/O errors), as opposed to a
 * definite answer such as -ENOENT (404, 410), -ENOTDIR or -EACCES: an outage, during which
 * what is cached may be served stale. */
bool ufs_error_is_outage(int err);

/* True when the backend's attributes carry an owner and mode (local://). */
bool ufs_has_owners(const struct ufs *u);
/* Signs the requests that start from now on with these keys (an s3:// source whose Secret was
 * rotated): reads in flight finish with the keys they started with, a retry takes the new ones.
 * The keys are copied; session_token may be NULL or "". Any thread. Returns 0, -EINVAL (no
 * access or secret key, or too long), -ENOMEM, or -EOPNOTSUPP (the backend signs nothing). */
int ufs_set_keys(struct ufs *u, const char *access_key, const char *secret_key,
		 const char *session_token);

/* True when the backend can write (local://). */
bool ufs_writable(const struct ufs *u);
/* Opens path for writing (flags as open(2): O_WRONLY/O_RDWR, O_CREAT, O_TRUNC, O_EXCL),
 * beneath the root. Returns an O_CLOEXEC fd owned by the caller, or -errno (-EROFS). */
int ufs_open_write(struct ufs *u, const char *path, int flags, unsigned mode);
/* A descriptor of path to read (the caller closes it), checked to be version expect: >= 0, or
 * -ESTALE (another version), -EOPNOTSUPP (a read-only backend) or -errno. */
int ufs_open_read(struct ufs *u, const char *path, const struct ufs_attr *expect);
/* The version fd (from ufs_open_write or ufs_open_read) holds now, as ufs_stat gives versions.
 * Returns 0, -EOPNOTSUPP (a read-only backend) or -errno. */
int ufs_fd_stat(struct ufs *u, int fd, struct ufs_attr *ret_attr);
int ufs_mkdir(struct ufs *u, const char *path, unsigned mode);
/* Removes a file (dir false) or an empty directory. */
int ufs_remove(struct ufs *u, const char *path, bool dir);
/* flags: 0, or RENAME_NOREPLACE (-EEXIST where to exists). */
int ufs_rename(struct ufs *u, const char *from, const char *to, unsigned flags);
/* The identity of path itself (a symlink is not followed): its inode number at a local://
 * source. Returns 0, -ENOENT, -EOPNOTSUPP (a read-only backend) or -errno. */
int ufs_ident(struct ufs *u, const char *path, uint64_t *ret_id);
/* Gives path (never a symlink's target) to uid:gid, so that what a non-root writer created is
 * its own; only while path belongs to the daemon (else -EPERM). */
int ufs_chown(struct ufs *u, const char *path, unsigned uid, unsigned gid);
/* An O_PATH descriptor (owned by the caller) of directory path, resolved beneath the root as
 * ufs_stat resolves it but through no symbolic link (-ELOOP); -ENOSYS where the backend has no
 * owners (http, s3). */
int ufs_open_dir(struct ufs *u, const char *path);
/* As ufs_stat, for rel ("" or relative: "a/b") resolved beneath dir_fd (from ufs_open_dir):
 * neither ".." nor a link leads above dir_fd (-EACCES). With the caller's filesystem rights,
 * whatever they are now: a check of what a reader may reach below a view's root. */
int ufs_stat_beneath(struct ufs *u, int dir_fd, const char *rel, struct ufs_attr *ret_attr);

extern const struct ufs_ops ufs_local_ops;
extern const struct ufs_ops ufs_http_ops;
extern const struct ufs_ops ufs_s3_ops; /* s3://bucket/prefix on ufs_http.c's engine */
