// SPDX-License-Identifier: Apache-2.0
// http:// and https:// UFS over libcurl. Reads: one thread owns a CURLM and keeps up to
// max_connections range GETs in flight, each on its own connection, resuming with backoff;
// list and stat: blocking transfers on the caller's thread, sharing connections through a CURLSH.
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include "http_url.h"
#include "http_version.h"
#include "memory.h"
#include "http_transfer.h"
#include "listing.h"
#include "log.h"
#include "ufs.h"
#include "thread_class.h"

#define HTTP_LISTING_MAX (64u << 20) /* a listing larger than this is refused */
#define HTTP_BACKOFF_FIRST_MS 100
#define HTTP_BACKOFF_MAX_MS 5000
#define HTTP_MAX_REDIRECTS 5
/* Bytes an attempt must add for its failure not to count against the retries. */
#define HTTP_PROGRESS_MIN (256u << 10)
#define HTTP_CAUSE_MAX 256

/* What a response's headers said; reset at each status line. */
struct http_resp {
	long status;
	char reason[48];
	char etag[UFS_ETAG_MAX];
	char content_type[96];
	char region[32]; /* x-amz-bucket-region: S3 names the bucket's region on a wrong one */
	int64_t mtime;
	bool have_length, have_total, have_first;
	uint64_t length, total, first;
};

/* One ufs_read_async() call, owned by the backend from submission until done runs. */
struct http_read {
	TAILQ_ENTRY(http_read) link; /* on queue, pending or inflight: one at a time */
	struct ufs *u;
	char *url;
	uint64_t off;
	size_t len; /* the segments' total */
	/* Where the bytes go, in order: one segment for ufs_read_async, several for
	 * ufs_read_segs_async (one request for consecutive blocks: a server that closes every
	 * connection, or checks a signature per request, pays per request, not per byte). segs
	 * points at one_seg or at an owned array. */
	struct ufs_seg *segs;
	struct ufs_seg one_seg;
	unsigned nsegs;
	unsigned seg;	/* the segment bytes go to now: those before it were delivered */
	size_t seg_got; /* bytes in segs[seg] so far */
	size_t got;	/* bytes received so far, across attempts */
	bool has_expect;
	struct ufs_attr expect;
	char first_etag[UFS_ETAG_MAX]; /* from the first response, so a resume sees the same object
					*/
	unsigned auth_gen;	       /* of the auth this attempt was signed with */
	bool reauth;		       /* asked again once already because the auth changed */
	/* the precondition binding the request to expect's version ("" when none) */
	char cond[UFS_ETAG_MAX + 32];
	bool cond_dropped; /* an If-Unmodified-Since the server refused, asked again without */
	/* this attempt's header lines: the auth's current ones and cond (rebuilt per attempt, so a
	 * retry after a key rotation is signed with the new keys) */
	struct curl_slist *headers;

	unsigned attempt;
	unsigned redirects;	/* followed so far (the root's origin only, as a stat does) */
	size_t attempt_got;	/* r->got when the last attempt started */
	uint64_t last_byte_ms;	/* when this attempt last received a byte (or started) */
	bool stalled;		/* this attempt was abandoned: no byte for the stall timeout */
	uint64_t not_before_ms; /* backoff: do not start before this */
	uint64_t queued_ms;	/* when submitted: the debug timeline's origin */
	CURL *easy;
	struct http_resp resp;
	bool body_started;
	bool discard; /* error body: not data (its start kept in ebody for the cause) */
	char ebody[1024];
	size_t ebody_len;
	uint64_t skip; /* a 200 answer: bytes before our range to drop */
	int abort_err; /* set by the write callback when it stops the transfer; 1: complete */
	char cause[HTTP_CAUSE_MAX];
	char errbuf[CURL_ERROR_SIZE];
};

/* A socket curl asked to watch, watched by one-shot io_uring poll requests. Owned by the backend
 * thread; outlives curl's interest until its poll's completion is reaped. */
struct http_sock {
	LIST_ENTRY(http_sock) link;
	curl_socket_t fd;
	int what;    /* CURL_POLL_IN/OUT/INOUT: what curl wants now */
	bool armed;  /* a poll request is in flight */
	bool gone;   /* curl forgot it: freed once no poll is in flight */
	bool acting; /* inside curl_multi_socket_action for it */
};

struct http {
	struct ufs_options opts;

	/* Guards sigv4, userpwd, cainfo and auth_headers: ufs_http_set_auth replaces them (S3 keys
	 * rotated while views read) while requests start on any thread. Held only to copy them into
	 * a curl handle or a header list: never across a transfer, a curl_multi call or a wait. */
	pthread_mutex_t auth_lock;
	char *sigv4, *userpwd, *cainfo;	 /* under auth_lock */
	struct curl_slist *auth_headers; /* under auth_lock */
	/* under auth_lock, bumped by each ufs_http_set_auth: a 401/403 to a request signed before
	 * the last change is asked again with the new auth (keys rotated mid-request) */
	unsigned auth_gen;
	void *client;			 /* the state of a UFS built on this engine (s3) */
	http_error_cause_fn error_cause; /* set before the first read; NULL: the status only */

	/* The DNS cache and connection pool shared by the backend thread's multi handle and the
	 * listing/HEAD requests made on other threads. share_locks[d] guards curl's shared data d
	 * and nothing of ours: only curl takes them (share_lock/share_unlock), around its own
	 * accesses to that data; our code never takes or holds them. */
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

	CURLM *multi;
	pthread_t thread;
	bool thread_started;
	/* Guards the submission queue and stopping: any thread queues, the backend thread takes.
	 * Held for list updates only, never across a curl call or a completion callback. */
	pthread_mutex_t lock;
	TAILQ_HEAD(, http_read) queue; /* under lock: submitted, not yet seen */
	bool stopping;		       /* under lock */
	/* The server refused an If-Unmodified-Since for an object whose Last-Modified and size
	 * were then the ones asked for: it compares the date at finer than its one-second
	 * resolution, so it gets none from now on. Set by the backend thread, read by the
	 * threads that queue reads. */
	atomic_bool date_cond_false;

	/* owned by the backend thread */
	TAILQ_HEAD(, http_read) pending; /* waiting for a slot or for their backoff, in order */
	TAILQ_HEAD(, http_read) inflight;
	unsigned n_inflight;

	/* The backend thread's event loop on io_uring (curl_multi_socket_action): curl's sockets
	 * and the wake eventfd are poll requests on ring. Without io_uring (ring_ok false) the
	 * thread runs curl_multi_poll instead. ring, socks and timer_at_ms: backend thread only
	 * (and http_fini after it joined). */
	struct io_uring ring;
	bool ring_ok;
	int wake_fd;	     /* eventfd: a read was queued, or stopping; -1 without ring */
	int64_t timer_at_ms; /* curl's timer (now_ms() clock); -1: none */
	LIST_HEAD(, http_sock) socks;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init_once(void)
{
	curl_init_result = memory_curl_global_init(CURL_GLOBAL_DEFAULT);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Exponential, with half of it random: many readers throttled at once (S3's 503 SlowDown) must
 * not come back in step. */
static uint64_t backoff_ms(unsigned attempt)
{
	uint64_t ms = HTTP_BACKOFF_FIRST_MS;
	for (unsigned i = 1; i < attempt && ms < HTTP_BACKOFF_MAX_MS; i++)
		ms *= 2;
	if (ms > HTTP_BACKOFF_MAX_MS)
		ms = HTTP_BACKOFF_MAX_MS;
	uint64_t half = ms / 2;
	return half + (half ? (uint64_t)random() % (half + 1) : 0);
}

/* The one place curl codes become errnos. */
static int curl_to_errno(CURLcode cc)
{
	switch (cc) {
	case CURLE_OK:
		return 0;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

/* Transport failures worth another attempt: the server or the path may come back. */
static bool curl_retryable(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_HTTP3:
		return true;
	default:
		return false;
	}
}

/* The one place HTTP statuses become errnos; 2xx is 0, 416 is EOF and handled by readers. */
static int status_to_errno(long status)
{
	if (status >= 200 && status < 300)
		return 0;
	switch (status) {
	case 404:
	case 410:
		return -ENOENT;
	case 401:
	case 403:
		return -EACCES;
	case 412:
		return -ESTALE; /* If-Match/If-Unmodified-Since failed: the version is gone */
	default:
		return -EIO;
	}
}

static bool status_retryable(long status)
{
	/* 501 and 505 say what the server can never do */
	return (status >= 500 && status != 501 && status != 505) || status == 408 || status == 429;
}

static const char *status_reason(const struct http_resp *r)
{
	if (r->reason[0])
		return r->reason;
	/* HTTP/2 has no reason phrase */
	switch (r->status) {
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 410:
		return "Gone";
	case 412:
		return "Precondition Failed";
	case 416:
		return "Range Not Satisfiable";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "";
	}
}

static void curl_cause(CURL *easy, CURLcode cc, const char *errbuf, char *cause, size_t len)
{
	long os_errno = 0;
	curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno);
	if (cc == CURLE_COULDNT_CONNECT && os_errno)
		snprintf(cause, len, "%s", strerror((int)os_errno));
	else if (errbuf[0])
		snprintf(cause, len, "%s", errbuf);
	else
		snprintf(cause, len, "%s", curl_easy_strerror(cc));
}

static void set_error(struct ufs *u, const char *url, const char *cause)
{
	ufs_set_error(u, "%s: %s", url, cause);
}

/* Percent-encodes each component of path (decoded, "/"-separated) after the base URL. */
static char *url_for(struct ufs *u, const char *path, bool dir)
{
	char *ep = http_url_escape(path, true), *url = NULL;
	if (ep) {
		size_t el = strlen(ep);
		bool slash = dir && (el ? ep[el - 1] : u->url[strlen(u->url) - 1]) != '/';
		if (asprintf(&url, "%s%s%s", u->url, ep, slash ? "/" : "") < 0)
			url = NULL;
	}
	free(ep);
	return url;
}

/* Copies header value v (n bytes) into out without its surrounding blanks, cut to outlen - 1.
 * Returns its whole length, so a caller can tell it was cut. */
static size_t trim_value(const char *v, size_t n, char *out, size_t outlen)
{
	while (n && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	size_t whole = n;
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, v, n);
	out[n] = '\0';
	return whole;
}

static size_t header_cb(char *data, size_t size, size_t nitems, void *userdata)
{
	struct http_resp *r = userdata;
	size_t n = size * nitems;
	char v[256];
	if (n > 5 && strncmp(data, "HTTP/", 5) == 0) {
		*r = (struct http_resp){0};
		const char *sp = memchr(data, ' ', n);
		if (sp) {
			r->status = strtol(sp + 1, NULL, 10);
			const char *rs = memchr(sp + 1, ' ', n - (sp + 1 - data));
			if (rs)
				trim_value(rs + 1, n - (rs + 1 - data), r->reason,
					   sizeof(r->reason));
		}
		return n;
	}
	const char *colon = memchr(data, ':', n);
	if (!colon)
		return n;
	size_t kl = colon - data;
	trim_value(colon + 1, n - kl - 1, v, sizeof(v));
	if (kl == 4 && strncasecmp(data, "etag", 4) == 0) {
		/* a tag cut short would go back in If-Match and never match: none, then */
		if (trim_value(colon + 1, n - kl - 1, r->etag, sizeof(r->etag)) >= sizeof(r->etag))
			r->etag[0] = '\0';
	} else if (kl == 13 && strncasecmp(data, "last-modified", 13) == 0) {
		time_t t = curl_getdate(v, NULL);
		r->mtime = t > 0 ? (int64_t)t : 0;
	} else if (kl == 14 && strncasecmp(data, "content-length", 14) == 0) {
		r->have_length = sscanf(v, "%" SCNu64, &r->length) == 1;
	} else if (kl == 19 && strncasecmp(data, "x-amz-bucket-region", 19) == 0) {
		trim_value(colon + 1, n - kl - 1, r->region, sizeof(r->region));
	} else if (kl == 12 && strncasecmp(data, "content-type", 12) == 0) {
		trim_value(colon + 1, n - kl - 1, r->content_type, sizeof(r->content_type));
	} else if (kl == 13 && strncasecmp(data, "content-range", 13) == 0) {
		struct http_content_range cr;
		if (http_version_parse_content_range(v, &cr) == 0) {
			r->have_first = cr.have_range;
			r->first = cr.first;
			r->have_total = cr.have_total;
			r->total = cr.total;
		}
	}
	return n;
}

/* Does the response describe the object we expect? */
static bool resp_matches(const struct http_resp *r, const struct ufs_attr *want)
{
	struct http_version_seen seen = {
	    .etag = r->etag, .mtime = r->mtime, .have_total = r->have_total, .total = r->total};
	return http_version_matches(&seen, want);
}

static struct curl_slist *headers_with(const struct curl_slist *base, const char *line);

/* Sets up e for url with the current auth. *ret_headers (owned, NULL when empty, the caller
 * frees it after the transfer) gets the auth's header lines and extra; *ret_gen that auth's
 * generation. Returns 0 or -ENOMEM. */
static int common_setup(struct http *h, CURL *e, const char *url, char *errbuf,
			struct http_resp *resp, const char *extra, struct curl_slist **ret_headers,
			unsigned *ret_gen)
{
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)h->opts.connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)h->opts.low_speed_timeout_s);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "weir/0.1");
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, resp);
	errbuf[0] = '\0';
	/* curl copies string options; the header list it does not: each transfer owns a copy */
	pthread_mutex_lock(&h->auth_lock);
	if (h->sigv4) {
		curl_easy_setopt(e, CURLOPT_AWS_SIGV4, h->sigv4);
		curl_easy_setopt(e, CURLOPT_USERPWD, h->userpwd);
	}
	if (h->cainfo)
		curl_easy_setopt(e, CURLOPT_CAINFO, h->cainfo);
	struct curl_slist *hl = NULL;
	bool want = h->auth_headers || (extra && *extra);
	if (want)
		hl = headers_with(h->auth_headers, extra);
	unsigned gen = h->auth_gen;
	pthread_mutex_unlock(&h->auth_lock);
	if (want && !hl)
		return -ENOMEM;
	if (hl)
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
	*ret_headers = hl;
	*ret_gen = gen;
	return 0;
}

/* Was a request signed with auth generation gen refused (401, 403) while the auth changed? */
static bool auth_changed_since(struct http *h, long status, unsigned gen)
{
	if (status != 401 && status != 403)
		return false;
	pthread_mutex_lock(&h->auth_lock);
	bool changed = h->auth_gen != gen;
	pthread_mutex_unlock(&h->auth_lock);
	return changed;
}

/* ---- blocking transfers: list and stat, on the caller's thread ---- */

struct http_body {
	char *data;
	size_t len, cap;
	bool too_big;
	bool headers_only; /* stop at the first body byte: only the headers matter */
};

static size_t body_cb(char *data, size_t size, size_t nitems, void *userdata)
{
	struct http_body *b = userdata;
	size_t n = size * nitems;
	if (!b)
		return n; /* a body on a HEAD answer: not ours to keep */
	if (b->headers_only)
		return 0;
	if (b->len + n > HTTP_LISTING_MAX) {
		b->too_big = true;
		return 0;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *d = realloc(b->data, cap);
		if (!d)
			return 0;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* GET (or HEAD) url, retrying transport failures and 5xx with backoff, following redirects that
 * stay on the origin. Returns 0 with *resp filled (any final status) and *ret_url (owned, the
 * URL that answered), or -errno with the cause set (ufs_set_error). */
static int http_blocking(struct ufs *u, const char *url, bool head, const char *range,
			 struct http_body *body, struct http_resp *resp, char **ret_url)
{
	struct http *h = u->priv;
	char errbuf[CURL_ERROR_SIZE];
	char cause[HTTP_CAUSE_MAX];
	char *cur = strdup(url);
	int r = 0;
	if (!cur)
		return -ENOMEM;
	CURL *e = curl_easy_init();
	if (!e) {
		free(cur);
		return -ENOMEM;
	}
	unsigned attempt = 0, redirects = 0, gen = 0;
	bool reauth = false;
	struct curl_slist *hl = NULL;
	for (;;) {
		curl_easy_reset(e);
		curl_slist_free_all(hl);
		hl = NULL;
		*resp = (struct http_resp){0};
		if (body) {
			body->len = 0;
			body->too_big = false;
		}
		if (common_setup(h, e, cur, errbuf, resp, NULL, &hl, &gen) < 0) {
			r = -ENOMEM;
			goto out;
		}
		curl_easy_setopt(e, CURLOPT_SHARE, h->share);
		if (head)
			curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
		else if (range)
			curl_easy_setopt(e, CURLOPT_RANGE, range);
		else
			curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, body_cb);
		curl_easy_setopt(e, CURLOPT_WRITEDATA, body);
		atomic_fetch_add(&u->stats.requests, 1);
		CURLcode cc = curl_easy_perform(e);
		bool retry;
		if (cc == CURLE_WRITE_ERROR && body && body->headers_only)
			cc = CURLE_OK;
		if (cc != CURLE_OK) {
			if (body && body->too_big) {
				snprintf(cause, sizeof(cause), "listing larger than %u MiB",
					 HTTP_LISTING_MAX >> 20);
				r = -EFBIG;
				set_error(u, cur, cause);
				goto out;
			}
			r = curl_to_errno(cc);
			retry = curl_retryable(cc);
			curl_cause(e, cc, errbuf, cause, sizeof(cause));
		} else if (status_retryable(resp->status)) {
			r = -EIO;
			retry = true;
			snprintf(cause, sizeof(cause), "HTTP %ld %s", resp->status,
				 status_reason(resp));
		} else if (!reauth && auth_changed_since(h, resp->status, gen)) {
			reauth = true; /* once: the keys rotated while it was on its way */
			log_debug("%s %s: HTTP %ld, the keys changed meanwhile: asking again",
				  head ? "HEAD" : "GET", cur, resp->status);
			continue;
		} else if (resp->status >= 300 && resp->status < 400 && resp->status != 304) {
			char *loc = NULL;
			curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &loc);
			if (!loc && h->client) {
				r = 0; /* S3's wrong-region 301: the caller reads the region */
				goto out;
			}
			/* the root's origin only (http_url.c), in curl's normal form */
			char *next = loc ? http_url_redirect(u->url, cur, loc) : NULL;
			if (!next || ++redirects > HTTP_MAX_REDIRECTS) {
				free(next);
				snprintf(cause, sizeof(cause),
					 "HTTP %ld redirect to %s not followed", resp->status,
					 loc ? loc : "nowhere");
				r = -EIO;
				set_error(u, cur, cause);
				goto out;
			}
			log_debug("%s: redirected to %s", cur, next);
			free(cur);
			cur = next;
			continue;
		} else {
			r = 0;
			goto out;
		}
		if (!retry || attempt >= h->opts.retries) {
			set_error(u, cur, cause);
			log_debug("%s %s: %s", head ? "HEAD" : "GET", cur, cause);
			goto out;
		}
		attempt++;
		atomic_fetch_add(&u->stats.retries, 1);
		uint64_t ms = backoff_ms(attempt);
		log_debug("%s %s: %s; retry %u in %" PRIu64 " ms", head ? "HEAD" : "GET", cur,
			  cause, attempt, ms);
		struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
		nanosleep(&ts, NULL);
	}
out:
	curl_easy_cleanup(e);
	curl_slist_free_all(hl);
	if (r == 0)
		*ret_url = cur;
	else
		free(cur);
	return r;
}

static int http_status_error(struct ufs *u, const char *url, const struct http_resp *resp)
{
	char cause[HTTP_CAUSE_MAX];
	snprintf(cause, sizeof(cause), "HTTP %ld %s", resp->status, status_reason(resp));
	set_error(u, url, cause);
	log_debug("%s: %s", url, cause);
	return status_to_errno(resp->status);
}

static int http_stat(struct ufs *u, const char *path, struct ufs_attr *ret_attr)
{
	struct http_resp resp;
	char *final = NULL;
	bool root = strcmp(path, "/") == 0;
	char *url = url_for(u, path, root);
	if (!url)
		return -ENOMEM;
	int r = http_blocking(u, url, true, NULL, NULL, &resp, &final);
	if (r < 0)
		goto out;
	/* No HEAD here, or a HEAD of a file that gives no Content-Length (a dynamic server's):
	 * ask for one byte and read the size from Content-Range. Never a size of 0 for want of
	 * one: the file would read empty, without an error. */
	bool sizeless = resp.status >= 200 && resp.status < 300 && !resp.have_length && final &&
			final[0] && final[strlen(final) - 1] != '/';
	if (resp.status == 405 || resp.status == 501 || sizeless) {
		struct http_body probe = {.headers_only = true};
		free(final);
		final = NULL;
		r = http_blocking(u, url, false, "0-0", &probe, &resp, &final);
		if (r < 0)
			goto out;
		if ((resp.status == 206 || resp.status == 416) && resp.have_total) {
			resp.status = 200; /* a 416 that names a total: an empty file */
			resp.have_length = true;
			resp.length = resp.total;
		}
		if (resp.status >= 200 && resp.status < 300 && !resp.have_length &&
		    final[strlen(final) - 1] != '/') {
			set_error(u, final,
				  "the server gives no size for this file (no Content-Length, "
				  "no Content-Range)");
			r = -EIO;
			goto out;
		}
	}
	if (resp.status == 404 && !root) {
		/* a server that does not redirect "dir" to "dir/" may still answer "dir/" */
		char *durl = url_for(u, path, true);
		char *dfinal = NULL;
		struct http_resp dresp;
		if (!durl) {
			r = -ENOMEM;
			goto out;
		}
		if (http_blocking(u, durl, true, NULL, NULL, &dresp, &dfinal) == 0 &&
		    dresp.status >= 200 && dresp.status < 300) {
			free(final);
			final = dfinal;
			resp = dresp;
		} else {
			free(dfinal);
		}
		free(durl);
	}
	if (resp.status < 200 || resp.status >= 300) {
		r = http_status_error(u, final, &resp);
		goto out;
	}
	struct ufs_attr a = {.mtime = resp.mtime, .mtime_exact = resp.mtime > 0};
	size_t fl = strlen(final);
	if (final[fl - 1] == '/') {
		a.is_dir = true;
	} else if (!resp.have_length) {
		/* neither Content-Length nor Content-Range: no size, not an empty file */
		set_error(u, final,
			  "the server gives no size (no Content-Length, no Content-Range)");
		log_warn("%s: the server gives no size (no Content-Length, no Content-Range)",
			 final);
		r = -EIO;
		goto out;
	} else {
		a.size = resp.length;
		snprintf(a.etag, sizeof(a.etag), "%s", resp.etag);
	}
	*ret_attr = a;
out:
	free(final);
	free(url);
	return r;
}

static int http_list(struct ufs *u, const char *path, struct ufs_dirent **ret_ents, size_t *ret_n)
{
	struct http_body body = {0};
	struct http_resp resp;
	char *final = NULL;
	char *url = url_for(u, path, true);
	if (!url)
		return -ENOMEM;
	int r = http_blocking(u, url, false, NULL, &body, &resp, &final);
	if (r < 0)
		goto out;
	if (resp.status == 404 && strcmp(path, "/") != 0) {
		/* a file under that name makes it ENOTDIR */
		struct ufs_attr a;
		char saved[sizeof(u->last_error)];
		r = http_status_error(u, final, &resp);
		ufs_error_copy(u, saved, sizeof(saved));
		if (http_stat(u, path, &a) == 0 && !a.is_dir)
			r = -ENOTDIR;
		ufs_set_error(u, "%s", saved);
		goto out;
	}
	if (resp.status < 200 || resp.status >= 300) {
		r = http_status_error(u, final, &resp);
		goto out;
	}
	r = listing_parse(body.data ? body.data : "", body.len, resp.content_type, final,
			  LISTING_AUTO, ret_ents, ret_n);
	if (r < 0) {
		set_error(u, final, "not a directory listing this client can read");
		log_debug("%s: unreadable listing (%s)", final, strerror(-r));
	}
out:
	free(body.data);
	free(final);
	free(url);
	return r;
}

/* ---- async reads: the backend thread ---- */

static size_t read_write_cb(char *data, size_t size, size_t nitems, void *userdata)
{
	struct http_read *r = userdata;
	size_t n = size * nitems;
	if (!r->body_started) {
		r->body_started = true;
		const struct http_resp *resp = &r->resp;
		if (resp->status == 206) {
			if (!resp->have_first || resp->first != r->off + r->got) {
				snprintf(r->cause, sizeof(r->cause), "server sent the wrong range");
				r->abort_err = -EIO;
				return 0;
			}
		} else if (resp->status == 200) {
			r->skip = r->off + r->got;
			if (resp->have_length) {
				r->resp.have_total = true;
				r->resp.total = resp->length;
			}
		} else {
			r->discard = true; /* its start is kept below, for the cause */
		}
		if (!r->discard && r->has_expect && !resp_matches(resp, &r->expect)) {
			snprintf(r->cause, sizeof(r->cause),
				 "object changed (ETag %.60s, expected %.60s)",
				 resp->etag[0] ? resp->etag : "none",
				 r->expect.etag[0] ? r->expect.etag : "none");
			r->abort_err = -ESTALE;
			return 0;
		}
		if (!r->discard && r->first_etag[0] && resp->etag[0] &&
		    !http_version_same_etag(r->first_etag, resp->etag)) {
			snprintf(r->cause, sizeof(r->cause),
				 "object changed while resuming (ETag %.50s, was %.50s)",
				 resp->etag, r->first_etag);
			r->abort_err = -ESTALE;
			return 0;
		}
		if (!r->discard && !r->first_etag[0])
			snprintf(r->first_etag, sizeof(r->first_etag), "%s", resp->etag);
	}
	if (r->discard) {
		size_t k = n < sizeof(r->ebody) - 1 - r->ebody_len
			       ? n
			       : sizeof(r->ebody) - 1 - r->ebody_len;
		memcpy(r->ebody + r->ebody_len, data, k);
		r->ebody_len += k;
		r->ebody[r->ebody_len] = '\0';
		return n;
	}
	size_t used = 0;
	if (r->skip) {
		size_t k = r->skip < n ? (size_t)r->skip : n;
		r->skip -= k;
		used += k;
	}
	r->last_byte_ms = now_ms();
	while (used < n && r->seg < r->nsegs) {
		struct ufs_seg *sg = &r->segs[r->seg];
		size_t k = n - used < sg->len - r->seg_got ? n - used : sg->len - r->seg_got;
		memcpy((char *)sg->buf + r->seg_got, data + used, k);
		r->seg_got += k;
		r->got += k;
		used += k;
		atomic_fetch_add(&r->u->stats.bytes, k);
		if (r->seg_got == sg->len) {
			/* its bytes are the expected version's (checked at the first byte): its
			 * reader need not wait for the rest of the request */
			r->seg++;
			r->seg_got = 0;
			sg->done(sg->userdata, 0, sg->len);
		}
	}
	if (used < n) {
		if (r->resp.status == 200) {
			r->abort_err = 1; /* the rest of a whole-object answer is not ours */
			return 0;
		}
		snprintf(r->cause, sizeof(r->cause), "server sent more than the range asked");
		r->abort_err = -EIO;
		return 0;
	}
	return n;
}

/* curl calls this at least once a second while LOW_SPEED_TIME is set. Its own low-speed check
 * averages over a window of several seconds, so a server that sent a little and then went
 * silent would hold the attempt for up to five seconds past the timeout: here silence alone
 * counts. */
static int read_progress_cb(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
			    curl_off_t ultotal, curl_off_t ulnow)
{
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	struct http_read *r = userdata;
	struct http *h = r->u->priv;
	if (now_ms() - r->last_byte_ms < (uint64_t)h->opts.low_speed_timeout_s * 1000)
		return 0;
	r->stalled = true;
	snprintf(r->cause, sizeof(r->cause), "no data for %u s", h->opts.low_speed_timeout_s);
	return 1;
}

static void read_free(struct http_read *r)
{
	if (r->segs != &r->one_seg)
		free(r->segs);
	if (r->easy)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	free(r->url);
	free(r);
}

static void read_complete(struct ufs *u, struct http_read *r, int err)
{
	if (err < 0) {
		atomic_fetch_add(&u->stats.errors, 1);
		set_error(u, r->url, r->cause[0] ? r->cause : strerror(-err));
		log_debug("read %s @%" PRIu64 "+%zu: %s", r->url, r->off, r->len,
			  r->cause[0] ? r->cause : strerror(-err));
	} else {
		log_debug("read %s @%" PRIu64 "+%zu: done %" PRIu64 " ms after submission", r->url,
			  r->off, r->len, now_ms() - r->queued_ms);
	}
	/* the segments not delivered yet, in order: the one the object ended in gets what it has */
	for (; r->seg < r->nsegs; r->seg++, r->seg_got = 0) {
		struct ufs_seg *sg = &r->segs[r->seg];
		sg->done(sg->userdata, err, err < 0 ? 0 : r->seg_got);
	}
	read_free(r);
}

static int read_start(struct ufs *u, struct http_read *r)
{
	struct http *h = u->priv;
	char range[64];
	CURL *e = curl_easy_init();
	if (!e)
		return -ENOMEM;
	r->easy = e;
	r->body_started = r->discard = false;
	r->ebody_len = 0;
	r->ebody[0] = '\0';
	r->skip = 0;
	r->abort_err = 0;
	r->cause[0] = '\0';
	r->resp = (struct http_resp){0};
	curl_slist_free_all(r->headers);
	r->headers = NULL;
	if (common_setup(h, e, r->url, r->errbuf, &r->resp, r->cond, &r->headers, &r->auth_gen) <
	    0) {
		r->easy = NULL;
		curl_easy_cleanup(e);
		return -ENOMEM;
	}
	snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64, r->off + r->got,
		 r->off + r->len - 1);
	curl_easy_setopt(e, CURLOPT_RANGE, range);
	/* a part is a MiB: 16 KiB a recv (curl's default) cost a syscall, a callback and an
	 * io_uring poll round per 16 KiB (profiled: 4.6k recvs for 67 MB) */
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 512L * 1024);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, read_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	r->last_byte_ms = now_ms();
	r->stalled = false;
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, read_progress_cb);
	curl_easy_setopt(e, CURLOPT_XFERINFODATA, r);
	CURLMcode mc = curl_multi_add_handle(h->multi, e);
	if (mc != CURLM_OK) {
		r->easy = NULL;
		curl_easy_cleanup(e);
		return -ENOMEM;
	}
	TAILQ_INSERT_HEAD(&h->inflight, r, link);
	h->n_inflight++;
	atomic_fetch_add(&u->stats.requests, 1);
	log_debug("read %s @%" PRIu64 "+%zu: started %" PRIu64 " ms after submission, %u in flight",
		  r->url, r->off, r->len, now_ms() - r->queued_ms, h->n_inflight);
	return 0;
}

/* Puts r back on the pending queue to be sent again at once, its ended transfer (easy handle)
 * gone: a request that is not a failure (a redirect, a capped range, a refused date) spends no
 * attempt and waits no backoff. */
static void ask_again_now(struct http *h, struct http_read *r)
{
	curl_multi_remove_handle(h->multi, r->easy);
	curl_easy_cleanup(r->easy);
	r->easy = NULL;
	r->not_before_ms = 0;
	TAILQ_INSERT_TAIL(&h->pending, r, link);
}

/* A redirect answered r: follows it as http_blocking does (the root's origin only, at most
 * HTTP_MAX_REDIRECTS), so that a file a stat found behind a redirect reads too. True when r was
 * queued again at once for the new URL (its easy handle gone); false: not followed. */
static bool read_redirect(struct ufs *u, struct http_read *r)
{
	struct http *h = u->priv;
	char *loc = NULL;
	curl_easy_getinfo(r->easy, CURLINFO_REDIRECT_URL, &loc);
	char *next = loc && r->redirects < HTTP_MAX_REDIRECTS
			 ? http_url_redirect(u->url, r->url, loc)
			 : NULL;
	if (!next)
		return false;
	log_debug("read %s @%" PRIu64 "+%zu: redirected to %s", r->url, r->off, r->len, next);
	r->redirects++;
	free(r->url);
	r->url = next;
	ask_again_now(h, r);
	return true;
}

/* A transfer ended: deliver, retry later, or fail. */
static void read_finished(struct ufs *u, struct http_read *r, CURLcode cc)
{
	struct http *h = u->priv;
	int err = 0;
	bool retry = false;
	const struct http_resp *resp = &r->resp;

	if (r->abort_err == 1) {
		err = 0;
	} else if (r->abort_err < 0) {
		/* a wrong range or too many bytes: a confused server or proxy may answer right
		 * next time (the bytes were never kept); a changed object (-ESTALE) will not */
		err = r->abort_err;
		retry = err == -EIO;
	} else if (r->stalled) {
		err = -ETIMEDOUT;
		retry = true;
	} else if (cc != CURLE_OK) {
		err = curl_to_errno(cc);
		retry = curl_retryable(cc);
		curl_cause(r->easy, cc, r->errbuf, r->cause, sizeof(r->cause));
	} else if (resp->status == 206 || resp->status == 200) {
		bool ended =
		    resp->status == 200 || (resp->have_total && r->off + r->got >= resp->total);
		if (r->got < r->len && !ended && resp->status == 206 && r->got > r->attempt_got) {
			/* A whole answer (curl saw its Content-Length through) of a shorter range
			 * than asked, from the right byte: a server may cap its ranges. Not a
			 * failure: the rest is asked for at once, no attempt spent. */
			log_debug("read %s @%" PRIu64
				  "+%zu: the server sent %zu bytes of the range; "
				  "asking for the rest",
				  r->url, r->off, r->len, r->got - r->attempt_got);
			r->attempt_got = r->got;
			ask_again_now(h, r);
			return;
		}
		if (r->got < r->len && !ended) {
			snprintf(r->cause, sizeof(r->cause), "short body: %zu of %zu bytes", r->got,
				 r->len);
			err = -EIO;
			retry = true;
		}
	} else if (resp->status == 416) {
		/* the range starts at or past the end: EOF, unless the object shrank under us */
		if (r->has_expect && !resp_matches(resp, &r->expect)) {
			snprintf(r->cause, sizeof(r->cause),
				 "object changed (now %" PRIu64 " bytes)", resp->total);
			err = -ESTALE;
		}
	} else if (resp->status == 412 && !r->cond_dropped &&
		   strncasecmp(r->cond, "If-Unmodified-Since:", 20) == 0) {
		/* A server that compares the date with its sub-second mtime (versitygw serving a
		 * file no PUT wrote, which has no ETag) refuses every object whose mtime is not a
		 * whole second. The answer's own Last-Modified and size are checked as any
		 * answer's (resp_matches, at the date's resolution): ask again without it, at once,
		 * and a changed object still ends in ESTALE. */
		log_debug("read %s @%" PRIu64 "+%zu: HTTP 412 to \"%s\"; asking without it",
			  r->url, r->off, r->len, r->cond);
		r->cond[0] = '\0';
		r->cond_dropped = true;
		ask_again_now(h, r);
		return;
	} else if (resp->status == 412) {
		snprintf(r->cause, sizeof(r->cause),
			 "object changed (HTTP 412 %s: no longer ETag %.60s, mtime %lld)",
			 status_reason(resp), r->expect.etag[0] ? r->expect.etag : "none",
			 (long long)r->expect.mtime);
		err = status_to_errno(resp->status);
	} else if (resp->status >= 300 && resp->status < 400 && resp->status != 304 &&
		   read_redirect(u, r)) {
		return; /* asked again at the new URL */
	} else {
		int said = 0;
		if (h->error_cause)
			said = h->error_cause(resp->status, r->ebody, r->ebody_len, r->cause,
					      sizeof(r->cause));
		else
			snprintf(r->cause, sizeof(r->cause), "HTTP %ld %s", resp->status,
				 status_reason(resp));
		err = said < 0 ? said : status_to_errno(resp->status);
		if (err == 0)
			err = -EIO; /* 1xx, 3xx: not followed */
		retry = status_retryable(resp->status);
		/* refused for its keys (401, 403, or what the body says, e.g. an expired token) */
		long refused = err == -EACCES ? 403 : resp->status;
		if (!r->reauth && auth_changed_since(h, refused, r->auth_gen)) {
			r->reauth = retry = true; /* the keys rotated while it was on its way */
			r->attempt = 0;
		}
	}

	curl_multi_remove_handle(h->multi, r->easy);
	curl_easy_cleanup(r->easy);
	r->easy = NULL;

	if (err < 0 && retry) {
		/* An attempt that moved a good way forward (a reset on a working link) does not
		 * use up the budget; one that stalled, or that crept a few bytes before failing,
		 * does: else a server trickling 4 KiB per attempt holds a reader for hundreds of
		 * stall timeouts instead of (retries + 1). */
		if (r->got - r->attempt_got >= HTTP_PROGRESS_MIN && err != -ETIMEDOUT)
			r->attempt = 0;
		r->attempt_got = r->got;
		if (r->attempt < h->opts.retries) {
			r->attempt++;
			uint64_t ms = backoff_ms(r->attempt);
			atomic_fetch_add(&u->stats.retries, 1);
			log_debug("read %s @%" PRIu64 "+%zu: %s; retry %u in %" PRIu64 " ms",
				  r->url, r->off, r->len, r->cause, r->attempt, ms);
			r->not_before_ms = now_ms() + ms;
			TAILQ_INSERT_TAIL(&h->pending, r, link);
			return;
		}
	}
	if (err == 0 && r->cond_dropped && !atomic_exchange(&h->date_cond_false, true))
		log_notice("the UFS server refused If-Unmodified-Since for an object of that very "
			   "date and size (it compares sub-second times): reads of its objects "
			   "without an ETag are checked by the answers' Last-Modified and size alone");
	read_complete(u, r, err);
}

static void inflight_remove(struct http *h, struct http_read *r)
{
	TAILQ_REMOVE(&h->inflight, r, link);
	h->n_inflight--;
}

/* Takes the reads other threads queued and starts those whose slot and backoff allow. Returns
 * true when stopping; *timeout (ms) shrinks to the nearest backoff. */
static bool loop_admit(struct ufs *u, int *timeout)
{
	struct http *h = u->priv;
	pthread_mutex_lock(&h->lock);
	bool stopping = h->stopping;
	TAILQ_CONCAT(&h->pending, &h->queue, link);
	pthread_mutex_unlock(&h->lock);
	if (stopping)
		return true;

	uint64_t now = now_ms();
	struct http_read *r = TAILQ_FIRST(&h->pending), *next;
	for (; r; r = next) {
		next = TAILQ_NEXT(r, link);
		if (r->not_before_ms > now) {
			uint64_t wait = r->not_before_ms - now;
			if (wait < (uint64_t)*timeout)
				*timeout = (int)wait;
			continue;
		}
		if (h->n_inflight >= h->opts.max_connections)
			break;
		TAILQ_REMOVE(&h->pending, r, link);
		if (r->got >= r->len) {
			read_complete(u, r, 0); /* zero-length read */
			continue;
		}
		int err = read_start(u, r);
		if (err < 0) {
			snprintf(r->cause, sizeof(r->cause), "cannot start a transfer");
			read_complete(u, r, err);
		}
	}
	return false;
}

/* Delivers the transfers curl finished. */
static void loop_reap(struct ufs *u, int *timeout)
{
	struct http *h = u->priv;
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(h->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct http_read *r = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		CURLcode cc = m->data.result;
		inflight_remove(h, r);
		read_finished(u, r, cc);
		*timeout = 0; /* a slot or a retry may be ready */
	}
}

/* ---- the io_uring event loop ---- */

#define TAG_WAKE ((uint64_t)1)
#define TAG_CANCEL ((uint64_t)2)
#define RING_DEPTH 256
#define CQE_BATCH 64

/* An SQE, sending what is queued when the ring is full. NULL only if the ring is broken. */
static struct io_uring_sqe *ring_sqe(struct http *h)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&h->ring);
	if (!sqe) {
		io_uring_submit(&h->ring);
		sqe = io_uring_get_sqe(&h->ring);
	}
	if (!sqe)
		log_err("http: the io_uring submission queue is stuck; a socket goes unwatched");
	return sqe;
}

static void sock_arm(struct http *h, struct http_sock *s)
{
	struct io_uring_sqe *sqe = ring_sqe(h);
	if (!sqe)
		return;
	unsigned mask = POLLERR | POLLHUP;
	if (s->what & CURL_POLL_IN)
		mask |= POLLIN;
	if (s->what & CURL_POLL_OUT)
		mask |= POLLOUT;
	io_uring_prep_poll_add(sqe, s->fd, mask);
	io_uring_sqe_set_data(sqe, s);
	s->armed = true;
}

static void wake_arm(struct http *h)
{
	struct io_uring_sqe *sqe = ring_sqe(h);
	if (!sqe)
		return;
	io_uring_prep_poll_add(sqe, h->wake_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, TAG_WAKE);
}

static void sock_free(struct http_sock *s)
{
	LIST_REMOVE(s, link);
	free(s);
}

/* CURLMOPT_SOCKETFUNCTION, called inside curl_multi_* on the backend thread (or http_fini). */
static int sock_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct http *h = userp;
	struct http_sock *s = socketp;
	(void)e;
	if (what == CURL_POLL_REMOVE) {
		if (!s)
			return 0;
		curl_multi_assign(h->multi, fd, NULL);
		s->gone = true;
		s->what = 0;
		if (s->armed) {
			/* Its completion (cancelled or not) frees it. */
			struct io_uring_sqe *sqe = ring_sqe(h);
			if (sqe) {
				io_uring_prep_poll_remove(sqe, (__u64)(uintptr_t)s);
				io_uring_sqe_set_data64(sqe, TAG_CANCEL);
			}
		} else if (!s->acting) {
			sock_free(s);
		}
		return 0;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -1;
		s->fd = fd;
		LIST_INSERT_HEAD(&h->socks, s, link);
		curl_multi_assign(h->multi, fd, s);
	}
	int old = s->what;
	s->what = what;
	if (s->armed && old != what) {
		/* The poll in flight watches the old events: cancel it, and its completion
		 * re-arms with these. */
		struct io_uring_sqe *sqe = ring_sqe(h);
		if (sqe) {
			io_uring_prep_poll_remove(sqe, (__u64)(uintptr_t)s);
			io_uring_sqe_set_data64(sqe, TAG_CANCEL);
		}
	} else if (!s->armed && !s->acting) {
		sock_arm(h, s);
	}
	return 0;
}

/* CURLMOPT_TIMERFUNCTION. */
static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	struct http *h = userp;
	(void)m;
	h->timer_at_ms = timeout_ms < 0 ? -1 : (int64_t)now_ms() + timeout_ms;
	return 0;
}

/* One completion: a socket ready (or its poll cancelled), or a wake. */
static void ring_event(struct http *h, uint64_t data, int res)
{
	if (data == TAG_CANCEL)
		return;
	if (data == TAG_WAKE) {
		eventfd_t v;
		eventfd_read(h->wake_fd, &v);
		wake_arm(h);
		return;
	}
	struct http_sock *s = (struct http_sock *)(uintptr_t)data;
	s->armed = false;
	if (s->gone) {
		sock_free(s);
		return;
	}
	if (res != -ECANCELED) {
		int flags = 0, running;
		if (res < 0 || (res & (POLLERR | POLLHUP | POLLNVAL)))
			flags |= CURL_CSELECT_ERR;
		if (res > 0 && (res & POLLIN))
			flags |= CURL_CSELECT_IN;
		if (res > 0 && (res & POLLOUT))
			flags |= CURL_CSELECT_OUT;
		s->acting = true;
		curl_multi_socket_action(h->multi, s->fd, flags, &running);
		s->acting = false;
		if (s->gone) {
			if (!s->armed)
				sock_free(s);
			return;
		}
	}
	if (!s->armed)
		sock_arm(h, s);
}

static void ring_loop(struct ufs *u)
{
	struct http *h = u->priv;
	wake_arm(h);
	for (;;) {
		int timeout = 1000, running;
		if (loop_admit(u, &timeout))
			break;
		uint64_t now = now_ms();
		if (h->timer_at_ms >= 0 && (uint64_t)h->timer_at_ms <= now) {
			h->timer_at_ms = -1;
			curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
			timeout = 0;
		} else if (h->timer_at_ms >= 0 &&
			   (uint64_t)h->timer_at_ms - now < (uint64_t)timeout) {
			timeout = (int)((uint64_t)h->timer_at_ms - now);
		}
		loop_reap(u, &timeout);
		struct __kernel_timespec ts = {.tv_sec = timeout / 1000,
					       .tv_nsec = (long long)(timeout % 1000) * 1000000};
		struct io_uring_cqe *cqe;
		int r = io_uring_submit_and_wait_timeout(&h->ring, &cqe, timeout > 0 ? 1 : 0, &ts,
							 NULL);
		if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY)
			log_debug("http: io_uring wait: %s", strerror(-r));
		/* Reap every ready completion at once, then act on them: acting submits more. */
		for (;;) {
			struct {
				uint64_t data;
				int res;
			} batch[CQE_BATCH];
			unsigned head, n = 0;
			io_uring_for_each_cqe(&h->ring, head, cqe)
			{
				if (n == CQE_BATCH)
					break;
				batch[n].data = cqe->user_data;
				batch[n].res = cqe->res;
				n++;
			}
			io_uring_cq_advance(&h->ring, n);
			for (unsigned i = 0; i < n; i++)
				ring_event(h, batch[i].data, batch[i].res);
			if (n < CQE_BATCH)
				break;
		}
		loop_reap(u, &timeout);
	}
}

/* Without io_uring: curl's own poll loop. */
static void poll_loop(struct ufs *u)
{
	struct http *h = u->priv;
	for (;;) {
		int timeout = 1000, running;
		if (loop_admit(u, &timeout))
			break;
		curl_multi_perform(h->multi, &running);
		loop_reap(u, &timeout);
		if (timeout > 0)
			curl_multi_poll(h->multi, NULL, 0, timeout, NULL);
	}
}

static void *http_thread(void *arg)
{
	struct ufs *u = arg;
	pthread_setname_np(pthread_self(), "weir-http"); /* top -H, perf */
	thread_class_set(THREAD_CLASS_BULK); /* transfers: never ahead of a hit (thread_class.h) */
	struct http *h = u->priv;
	if (h->ring_ok)
		ring_loop(u);
	else
		poll_loop(u);

	/* shutting down: every request still owned gets its one done() */
	struct http_read *r;
	while ((r = TAILQ_FIRST(&h->inflight))) {
		TAILQ_REMOVE(&h->inflight, r, link);
		curl_multi_remove_handle(h->multi, r->easy);
		snprintf(r->cause, sizeof(r->cause), "UFS client shut down");
		read_complete(u, r, -ECANCELED);
	}
	h->n_inflight = 0;
	while ((r = TAILQ_FIRST(&h->pending))) {
		TAILQ_REMOVE(&h->pending, r, link);
		snprintf(r->cause, sizeof(r->cause), "UFS client shut down");
		read_complete(u, r, -ECANCELED);
	}
	return NULL;
}

/* Wakes the backend thread: a read was queued, or it must stop. */
static void http_wake(struct http *h)
{
	if (h->ring_ok)
		eventfd_write(h->wake_fd, 1);
	else
		curl_multi_wakeup(h->multi);
}

/* A copy of base with line appended unless NULL or "" (owned), or NULL (ENOMEM, or nothing). */
static struct curl_slist *headers_with(const struct curl_slist *base, const char *line)
{
	struct curl_slist *l = NULL, *n;
	for (; base; base = base->next) {
		if (!(n = curl_slist_append(l, base->data)))
			goto nomem;
		l = n;
	}
	if (!line || !*line)
		return l;
	if (!(n = curl_slist_append(l, line)))
		goto nomem;
	return n;
nomem:
	curl_slist_free_all(l);
	return NULL;
}

static int http_read_segs_async(struct ufs *u, const char *path, uint64_t off,
				const struct ufs_seg *segs, unsigned nsegs,
				const struct ufs_attr *expect)
{
	struct http *h = u->priv;
	struct http_read *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->segs = &r->one_seg;
	if (nsegs > 1 && !(r->segs = malloc(nsegs * sizeof(*segs)))) {
		free(r);
		return -ENOMEM;
	}
	memcpy(r->segs, segs, nsegs * sizeof(*segs));
	r->nsegs = nsegs;
	r->url = url_for(u, path, false);
	if (!r->url) {
		read_free(r);
		return -ENOMEM;
	}
	r->u = u;
	r->off = off;
	for (unsigned i = 0; i < nsegs; i++)
		r->len += segs[i].len;
	r->queued_ms = now_ms();
	if (expect) {
		char cond[UFS_ETAG_MAX + 32];
		r->has_expect = true;
		r->expect = *expect;
		/* The server checks the version too: a change between our responses cannot
		 * slip through as bytes of the new object under the old one's validators. */
		if (http_version_precondition(expect, cond, sizeof(cond)) == 0 && cond[0] &&
		    !(atomic_load(&h->date_cond_false) &&
		      strncasecmp(cond, "If-Unmodified-Since:", 20) == 0))
			snprintf(r->cond, sizeof(r->cond), "%s", cond);
	}
	pthread_mutex_lock(&h->lock);
	if (h->stopping) {
		pthread_mutex_unlock(&h->lock);
		read_free(r);
		return -ESHUTDOWN;
	}
	TAILQ_INSERT_TAIL(&h->queue, r, link);
	pthread_mutex_unlock(&h->lock);
	http_wake(h);
	return 0;
}

static int http_read_async(struct ufs *u, const char *path, uint64_t off, size_t len, void *buf,
			   const struct ufs_attr *expect, ufs_read_done_fn done, void *userdata)
{
	struct ufs_seg seg = {.buf = buf, .len = len, .done = done, .userdata = userdata};
	return http_read_segs_async(u, path, off, &seg, 1, expect);
}

static void share_lock(CURL *e, curl_lock_data data, curl_lock_access access, void *userptr)
{
	struct http *h = userptr;
	pthread_mutex_lock(&h->share_locks[data]);
}

static void share_unlock(CURL *e, curl_lock_data data, void *userptr)
{
	struct http *h = userptr;
	pthread_mutex_unlock(&h->share_locks[data]);
}

static void http_fini(struct ufs *u)
{
	struct http *h = u->priv;
	if (!h)
		return;
	if (h->thread_started) {
		pthread_mutex_lock(&h->lock);
		h->stopping = true;
		pthread_mutex_unlock(&h->lock);
		http_wake(h);
		pthread_join(h->thread, NULL);
	}
	if (h->multi)
		curl_multi_cleanup(h->multi); /* may still call sock_cb: the ring stays till here */
	while (!LIST_EMPTY(&h->socks))
		sock_free(LIST_FIRST(&h->socks));
	if (h->ring_ok)
		io_uring_queue_exit(&h->ring);
	if (h->wake_fd >= 0)
		close(h->wake_fd);
	if (h->share)
		curl_share_cleanup(h->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&h->share_locks[i]);
	pthread_mutex_destroy(&h->lock);
	pthread_mutex_destroy(&h->auth_lock);
	free(h->sigv4);
	free(h->cainfo);
	if (h->userpwd) /* the secret key: not left in freed memory */
		explicit_bzero(h->userpwd, strlen(h->userpwd));
	free(h->userpwd);
	curl_slist_free_all(h->auth_headers);
	free(h);
	u->priv = NULL;
}

static int http_init(struct ufs *u, const struct ufs_options *opts)
{
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_result != CURLE_OK) {
		ufs_set_error(u, "libcurl: %s", curl_easy_strerror(curl_init_result));
		return -EIO;
	}
	const char *auth = strstr(u->url, "://") + 3;
	size_t al = strcspn(auth, "/");
	if (al == 0 || strpbrk(u->url, "?#")) {
		ufs_set_error(u, "expected http[s]://host[:port]/path with no query or fragment");
		return -EINVAL;
	}
	struct http *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	u->priv = h;
	h->opts = *opts;
	h->wake_fd = -1;
	h->timer_at_ms = -1;
	LIST_INIT(&h->socks);
	TAILQ_INIT(&h->queue);
	TAILQ_INIT(&h->pending);
	TAILQ_INIT(&h->inflight);
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_init(&h->auth_lock, NULL);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&h->share_locks[i], NULL);
	int r = -ENOMEM;
	h->share = curl_share_init();
	h->multi = curl_multi_init();
	if (!h->share || !h->multi)
		goto fail;
	curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(h->share, CURLSHOPT_USERDATA, h);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	/* one transfer per connection: a server capping each connection must not cap us */
	curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)opts->max_connections);
	curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)opts->max_connections);
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)opts->max_connections);
	/* curl's sockets on io_uring; where it is unavailable (seccomp, io_uring_disabled),
	 * curl's own poll loop. */
	h->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (h->wake_fd >= 0 && io_uring_queue_init(RING_DEPTH, &h->ring, 0) == 0) {
		h->ring_ok = true;
		curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
		curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
		curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
		curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	} else {
		log_debug("http: io_uring unavailable; curl's poll loop drives %s", u->url);
	}
	r = -pthread_create(&h->thread, NULL, http_thread, u);
	if (r < 0)
		goto fail;
	h->thread_started = true;
	return 0;
fail:
	http_fini(u);
	return r;
}

const struct ufs_ops ufs_http_ops = {
    .scheme = "http",
    .init = http_init,
    .fini = http_fini,
    .list = http_list,
    .stat = http_stat,
    .read_async = http_read_async,
    .read_segs_async = http_read_segs_async,
};

void ufs_http_set_error_cause(struct ufs *u, http_error_cause_fn fn)
{
	struct http *h = u->priv;
	h->error_cause = fn;
}

int ufs_http_set_auth(struct ufs *u, const struct http_auth *a)
{
	struct http *h = u->priv;
	struct curl_slist *hl = NULL;
	char *sigv4 = NULL, *userpwd = NULL, *cainfo = NULL;
	for (const char *const *l = a->headers; l && *l; l++) {
		struct curl_slist *n = curl_slist_append(hl, *l);
		if (!n)
			goto nomem;
		hl = n;
	}
	if (a->sigv4 && !(sigv4 = strdup(a->sigv4)))
		goto nomem;
	if (a->userpwd && !(userpwd = strdup(a->userpwd)))
		goto nomem;
	if (a->cainfo && !(cainfo = strdup(a->cainfo)))
		goto nomem;
	if (sigv4 && !userpwd) {
		free(sigv4); /* no key: anonymous, nothing to sign with */
		sigv4 = NULL;
	}
	pthread_mutex_lock(&h->auth_lock);
	char *old_sigv4 = h->sigv4, *old_userpwd = h->userpwd, *old_cainfo = h->cainfo;
	struct curl_slist *old_hl = h->auth_headers;
	h->sigv4 = sigv4;
	h->userpwd = userpwd;
	h->cainfo = cainfo;
	h->auth_headers = hl;
	h->auth_gen++;
	pthread_mutex_unlock(&h->auth_lock);
	/* the old keys: not left in freed memory (the token header is one of the lines) */
	if (old_userpwd)
		explicit_bzero(old_userpwd, strlen(old_userpwd));
	for (struct curl_slist *l = old_hl; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	free(old_sigv4);
	free(old_userpwd);
	free(old_cainfo);
	curl_slist_free_all(old_hl);
	return 0;
nomem:
	curl_slist_free_all(hl);
	free(sigv4);
	free(userpwd);
	free(cainfo);
	return -ENOMEM;
}

int ufs_http_request(struct ufs *u, const char *url, bool head, struct http_reply *ret)
{
	struct http_body body = {0};
	struct http_resp resp;
	char *final = NULL;
	int r = http_blocking(u, url, head, NULL, head ? NULL : &body, &resp, &final);
	free(final);
	if (r < 0) {
		free(body.data);
		return r;
	}
	*ret = (struct http_reply){.status = resp.status,
				   .body = body.data,
				   .body_len = body.len,
				   .mtime = resp.mtime,
				   .have_length = resp.have_length,
				   .length = resp.length};
	snprintf(ret->etag, sizeof(ret->etag), "%s", resp.etag);
	snprintf(ret->region, sizeof(ret->region), "%s", resp.region);
	return 0;
}

void http_reply_clear(struct http_reply *r)
{
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}

int ufs_http_engine_init(struct ufs *u, const struct ufs_options *opts, void *client)
{
	int r = http_init(u, opts);
	if (r == 0)
		((struct http *)u->priv)->client = client;
	return r;
}

void ufs_http_engine_fini(struct ufs *u)
{
	http_fini(u);
}

void *ufs_http_client(struct ufs *u)
{
	return ((struct http *)u->priv)->client;
}

int ufs_http_read_async(struct ufs *u, const char *path, uint64_t off, size_t len, void *buf,
			const struct ufs_attr *expect, ufs_read_done_fn done, void *userdata)
{
	return http_read_async(u, path, off, len, buf, expect, done, userdata);
}

int ufs_http_read_segs_async(struct ufs *u, const char *path, uint64_t off,
			     const struct ufs_seg *segs, unsigned nsegs,
			     const struct ufs_attr *expect)
{
	return http_read_segs_async(u, path, off, segs, nsegs, expect);
}
