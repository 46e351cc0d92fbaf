// SPDX-License-Identifier: Apache-2.0
// UFS dispatch: picks a backend by URL scheme, checks paths before any backend sees them
// (absolute, no "." or ".." components), and wraps the async read in a blocking one.
#include "ufs.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

static const struct ufs_ops *const backends[] = {&ufs_local_ops, &ufs_http_ops, &ufs_s3_ops};

/* "/" or "/a/b": absolute, no empty, "." or ".." components, no trailing slash. */
static bool path_ok(const char *path)
{
	if (!path || path[0] != '/')
		return false;
	if (path[1] == '\0')
		return true;
	for (const char *c = path + 1;;) {
		size_t n = strcspn(c, "/");
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (c[n] == '\0')
			return true;
		c += n + 1;
	}
}

bool ufs_attr_same_version(const struct ufs_attr *a, const struct ufs_attr *b)
{
	return a->size == b->size && a->mtime == b->mtime && a->is_dir == b->is_dir &&
	       strcmp(a->etag, b->etag) == 0;
}

int ufs_new(const char *url, const struct ufs_options *opts, struct ufs **ret, char *errbuf,
	    size_t errlen)
{
	const char *sep = url ? strstr(url, "://") : NULL;
	if (!sep || sep == url) {
		snprintf(errbuf, errlen, "invalid UFS URL \"%s\": expected scheme://...",
			 url ? url : "");
		return -EINVAL;
	}
	size_t slen = sep - url;
	const struct ufs_ops *ops = NULL;
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]) && !ops; i++) {
		if (strlen(backends[i]->scheme) == slen &&
		    strncasecmp(url, backends[i]->scheme, slen) == 0)
			ops = backends[i];
	}
	if (!ops && slen == 5 && strncasecmp(url, "https", 5) == 0)
		ops = &ufs_http_ops;
	if (!ops) {
		snprintf(errbuf, errlen,
			 "unsupported UFS URL \"%s\": use local://, http://, https:// or s3://",
			 url);
		return -EPROTONOSUPPORT;
	}

	struct ufs_options o = {.max_connections = 16,
				.retries = 4,
				.connect_timeout_ms = 5000,
				.low_speed_timeout_s = 30};
	if (opts) {
		if (opts->max_connections)
			o.max_connections = opts->max_connections;
		if (opts->retries)
			o.retries = opts->retries;
		if (opts->connect_timeout_ms)
			o.connect_timeout_ms = opts->connect_timeout_ms;
		o.s3_access_key = opts->s3_access_key;
		o.s3_secret_key = opts->s3_secret_key;
		o.s3_session_token = opts->s3_session_token;
		if (opts->low_speed_timeout_s)
			o.low_speed_timeout_s = opts->low_speed_timeout_s;
	}

	int r;
	struct ufs *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->ops = ops;
	pthread_mutex_init(&u->error_lock, NULL);
	u->url = strdup(url);
	if (!u->url) {
		r = -ENOMEM;
		goto err_free;
	}
	size_t l = strlen(u->url);
	while (l > slen + 3 && u->url[l - 1] == '/')
		u->url[--l] = '\0';
	r = ops->init(u, &o);
	if (r < 0) {
		char cause[sizeof(u->last_error)];
		ufs_error_copy(u, cause, sizeof(cause));
		snprintf(errbuf, errlen, "invalid UFS URL \"%s\": %s", url,
			 cause[0] ? cause : strerror(-r));
		goto err_free;
	}
	*ret = u;
	return 0;
err_free:
	pthread_mutex_destroy(&u->error_lock);
	free(u->url);
	free(u);
	return r;
}

void ufs_free(struct ufs *u)
{
	if (!u)
		return;
	u->ops->fini(u);
	pthread_mutex_destroy(&u->error_lock);
	free(u->url);
	free(u);
}

void ufs_set_error(struct ufs *u, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pthread_mutex_lock(&u->error_lock);
	vsnprintf(u->last_error, sizeof(u->last_error), fmt, ap);
	pthread_mutex_unlock(&u->error_lock);
	va_end(ap);
}

char *ufs_error_copy(struct ufs *u, char *buf, size_t len)
{
	if (!len)
		return buf;
	pthread_mutex_lock(&u->error_lock);
	snprintf(buf, len, "%s", u->last_error);
	pthread_mutex_unlock(&u->error_lock);
	return buf;
}

int ufs_list(struct ufs *u, const char *path, struct ufs_dirent **ret_ents, size_t *ret_n)
{
	if (!path_ok(path))
		return -EINVAL;
	return u->ops->list(u, path, ret_ents, ret_n);
}

void ufs_dirents_free(struct ufs_dirent *ents, size_t n)
{
	if (!ents)
		return;
	for (size_t i = 0; i < n; i++)
		free(ents[i].name);
	free(ents);
}

int ufs_stat(struct ufs *u, const char *path, struct ufs_attr *ret_attr)
{
	if (!path_ok(path))
		return -EINVAL;
	return u->ops->stat(u, path, ret_attr);
}

int ufs_read_async(struct ufs *u, const char *path, uint64_t off, size_t len, void *buf,
		   const struct ufs_attr *expect, ufs_read_done_fn done, void *userdata)
{
	if (!path_ok(path) || path[1] == '\0' || !done || (len && !buf))
		return -EINVAL;
	return u->ops->read_async(u, path, off, len, buf, expect, done, userdata);
}

struct sync_read {
	pthread_mutex_t lock; /* guards finished (and err, nread with it); held to set or test it */
	pthread_cond_t cond;
	bool finished; /* under lock */
	int err;
	size_t nread;
};

static void sync_read_done(void *userdata, int err, size_t nread)
{
	struct sync_read *s = userdata;
	pthread_mutex_lock(&s->lock);
	s->err = err;
	s->nread = nread;
	s->finished = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

bool ufs_reads_segments(const struct ufs *u)
{
	return u->ops->read_segs_async != NULL;
}

uint32_t ufs_min_request(const struct ufs *u)
{
	return u->ops->read_segs_async ? u->ops->min_request : 0;
}

int ufs_read_segs_async(struct ufs *u, const char *path, uint64_t off, const struct ufs_seg *segs,
			unsigned nsegs, const struct ufs_attr *expect)
{
	if (!path_ok(path) || path[1] == '\0' || !segs || nsegs == 0)
		return -EINVAL;
	for (unsigned i = 0; i < nsegs; i++)
		if (!segs[i].done || (segs[i].len && !segs[i].buf))
			return -EINVAL;
	if (!u->ops->read_segs_async)
		return -EOPNOTSUPP;
	return u->ops->read_segs_async(u, path, off, segs, nsegs, expect);
}

long ufs_read(struct ufs *u, const char *path, uint64_t off, size_t len, void *buf,
	      const struct ufs_attr *expect)
{
	struct sync_read s = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
	int r = ufs_read_async(u, path, off, len, buf, expect, sync_read_done, &s);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s.lock);
	while (!s.finished)
		pthread_cond_wait(&s.cond, &s.lock);
	pthread_mutex_unlock(&s.lock);
	pthread_cond_destroy(&s.cond);
	pthread_mutex_destroy(&s.lock);
	return s.err < 0 ? s.err : (long)s.nread;
}

int ufs_probe(struct ufs *u, char *errbuf, size_t errlen)
{
	struct ufs_dirent *ents;
	size_t n;
	ufs_set_error(u, "%s", "");
	int r = ufs_list(u, "/", &ents, &n);
	if (r >= 0) {
		ufs_dirents_free(ents, n);
		return 0;
	}
	/* backends record "<url>: <cause>" for the URL they failed on, here "<root>/" */
	ufs_error_copy(u, errbuf, errlen);
	if (errlen && !errbuf[0])
		snprintf(errbuf, errlen, "%s/: %s", u->url, strerror(-r));
	return r;
}

bool ufs_error_is_outage(int err)
{
	switch (-err) {
	case ECONNREFUSED:
	case ECONNRESET:
	case ECONNABORTED:
	case EHOSTUNREACH:
	case EHOSTDOWN:
	case ENETUNREACH:
	case ENETDOWN:
	case ETIMEDOUT:
	case EAGAIN:
	case EIO: /* the HTTP client's 5xx after retries, a broken transfer */
	case EREMOTEIO:
		return true;
	default:
		return false;
	}
}

bool ufs_listing_versions(const struct ufs *u)
{
	return u->ops->listing_versions;
}

bool ufs_has_owners(const struct ufs *u)
{
	return u->ops->owners;
}

int ufs_set_keys(struct ufs *u, const char *access_key, const char *secret_key,
		 const char *session_token)
{
	if (!u->ops->set_keys)
		return -EOPNOTSUPP;
	if (!access_key || !*access_key || !secret_key || !*secret_key)
		return -EINVAL;
	return u->ops->set_keys(u, access_key, secret_key, session_token ? session_token : "");
}

bool ufs_writable(const struct ufs *u)
{
	return u->ops->open_write != NULL;
}

int ufs_open_write(struct ufs *u, const char *path, int flags, unsigned mode)
{
	if (!path_ok(path) || path[1] == '\0')
		return -EINVAL;
	return u->ops->open_write ? u->ops->open_write(u, path, flags, mode) : -EROFS;
}

int ufs_open_read(struct ufs *u, const char *path, const struct ufs_attr *expect)
{
	if (!path_ok(path) || path[1] == '\0')
		return -EINVAL;
	return u->ops->open_read ? u->ops->open_read(u, path, expect) : -EOPNOTSUPP;
}

int ufs_fd_stat(struct ufs *u, int fd, struct ufs_attr *ret_attr)
{
	return u->ops->fd_stat ? u->ops->fd_stat(u, fd, ret_attr) : -EOPNOTSUPP;
}

int ufs_mkdir(struct ufs *u, const char *path, unsigned mode)
{
	if (!path_ok(path) || path[1] == '\0')
		return -EINVAL;
	return u->ops->mkdir ? u->ops->mkdir(u, path, mode) : -EROFS;
}

int ufs_chown(struct ufs *u, const char *path, unsigned uid, unsigned gid)
{
	if (!path_ok(path) || path[1] == '\0')
		return -EINVAL;
	return u->ops->chown ? u->ops->chown(u, path, uid, gid) : -EROFS;
}

int ufs_open_dir(struct ufs *u, const char *path)
{
	if (!path_ok(path))
		return -EINVAL;
	return u->ops->open_dir ? u->ops->open_dir(u, path) : -ENOSYS;
}

int ufs_stat_beneath(struct ufs *u, int dir_fd, const char *rel, struct ufs_attr *ret_attr)
{
	if (rel[0] == '/')
		return -EINVAL;
	return u->ops->stat_beneath ? u->ops->stat_beneath(u, dir_fd, rel, ret_attr) : -ENOSYS;
}

int ufs_remove(struct ufs *u, const char *path, bool dir)
{
	if (!path_ok(path) || path[1] == '\0')
		return -EINVAL;
	return u->ops->remove ? u->ops->remove(u, path, dir) : -EROFS;
}

int ufs_rename(struct ufs *u, const char *from, const char *to, unsigned flags)
{
	if (!path_ok(from) || !path_ok(to) || from[1] == '\0' || to[1] == '\0')
		return -EINVAL;
	return u->ops->rename ? u->ops->rename(u, from, to, flags) : -EROFS;
}

int ufs_ident(struct ufs *u, const char *path, uint64_t *ret_id)
{
	if (!path_ok(path) || path[1] == '\0')
		return -EINVAL;
	return u->ops->ident ? u->ops->ident(u, path, ret_id) : -EOPNOTSUPP;
}
