// SPDX-License-Identifier: Apache-2.0
// Peer authentication: HMAC-SHA256 (OpenSSL) over newline-separated fields under a version tag,
// so a request's MAC can never be replayed as a reply's, as another version's or as another
// method's; a pushed body is covered by its SHA-256 among the request's fields; a reply's body
// by Poly1305 under a key used once (a Poly1305 key that tags two messages gives it away).
#include "peer_auth.h"
#include "private_file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block_sum.h"
#include "hex.h"

int peer_auth_key_from(const void *bytes, size_t len, const char *what, struct peer_key *ret,
		       char *errbuf, size_t errlen)
{
	const unsigned char *b = bytes;
	if (len > 0 && b[len - 1] == '\n')
		len--;
	if (len < PEER_AUTH_KEY_MIN || len > PEER_AUTH_KEY_MAX) {
		snprintf(errbuf, errlen, "peer key %s holds %zu bytes; it needs %d to %d", what,
			 len, PEER_AUTH_KEY_MIN, PEER_AUTH_KEY_MAX);
		return -EINVAL;
	}
	memcpy(ret->bytes, b, len);
	ret->len = len;
	return 0;
}

int peer_auth_load_key(const char *path, struct peer_key *ret, char *errbuf, size_t errlen)
{
	unsigned char buf[PEER_AUTH_KEY_MAX + 2];
	ssize_t n = private_file_read("peer key", path, O_NOFOLLOW, buf, sizeof(buf), errbuf,
				      errlen);
	int r = (int)n;
	if (n >= 0) {
		char what[PATH_MAX + 16];
		snprintf(what, sizeof(what), "\"%s\"", path);
		r = peer_auth_key_from(buf, (size_t)n, what, ret, errbuf, errlen);
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return r;
}

/* OpenSSL's HMAC and Poly1305, fetched once for the process (macs_once): OpenSSL 3's one-shot
 * HMAC() and an EVP_MAC_fetch() per reply went through the provider's method store, under its
 * lock, twice for every block a peer served or read and once per request signed or checked.
 * Written once by macs_fetch, read-only after; never freed (the process's, like the provider).
 * NULL when OpenSSL has none: every MAC with it then fails with -ENOMEM. */
static EVP_MAC *hmac_impl, *poly1305_impl;
static pthread_once_t macs_once = PTHREAD_ONCE_INIT;

static void macs_fetch(void)
{
	hmac_impl = EVP_MAC_fetch(NULL, "HMAC", NULL);
	poly1305_impl = EVP_MAC_fetch(NULL, "POLY1305", NULL);
}

/* A context of the once-fetched MAC *impl, or NULL. */
static EVP_MAC_CTX *mac_ctx_new(EVP_MAC *const *impl)
{
	if (pthread_once(&macs_once, macs_fetch) != 0 || !*impl)
		return NULL;
	return EVP_MAC_CTX_new(*impl);
}

/* HMAC-SHA256 of msg under k into md (32 bytes). Returns 0 or -ENOMEM. */
static int hmac_sha256(const struct peer_key *k, const void *msg, size_t len, unsigned char md[32])
{
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
			       OSSL_PARAM_construct_end()};
	EVP_MAC_CTX *ctx = mac_ctx_new(&hmac_impl);
	size_t mdlen = 0;
	int r = ctx && EVP_MAC_init(ctx, k->bytes, k->len, params) == 1 &&
			EVP_MAC_update(ctx, msg, len) == 1 &&
			EVP_MAC_final(ctx, md, &mdlen, 32) == 1 && mdlen == 32
		    ? 0
		    : -ENOMEM;
	EVP_MAC_CTX_free(ctx);
	return r;
}

static int mac_of(const struct peer_key *k, const char *msg, size_t len, char *out)
{
	unsigned char md[32];
	int r = hmac_sha256(k, msg, len, md);
	if (r == 0)
		hex_encode(md, sizeof(md), out);
	return r;
}

static bool has_newline(const char *s)
{
	return s && strchr(s, '\n');
}

void peer_auth_body_digest(const void *buf, size_t len, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL);
	hex_encode(md, mdlen, out);
}

/* The signed text of a request into *ret (owned); NULL strings are empty. Returns its length,
 * -EINVAL or -ENOMEM. Of any length: a load start's spec lists up to 1024 paths. */
static int request_text(const struct peer_request *rq, char **ret)
{
	if (!rq->method || !rq->endpoint || !rq->method[0] || !rq->endpoint[0] ||
	    has_newline(rq->method) || has_newline(rq->endpoint) || has_newline(rq->node) ||
	    has_newline(rq->to) || has_newline(rq->source) || has_newline(rq->path) ||
	    has_newline(rq->etag) || has_newline(rq->body_sha256) || !rq->nonce ||
	    strlen(rq->nonce) != PEER_AUTH_NONCE_HEX - 1 || has_newline(rq->nonce))
		return -EINVAL;
	int n = asprintf(ret,
			 "weir-peer-request-v4\n%s\n%s\n%s\n%s\n%" PRId64 "\n%s\n%s\n%s\n%" PRIu64
			 "\n%" PRIu64 "\n%" PRId64 "\n%s\n%s",
			 rq->method, rq->endpoint, rq->node ? rq->node : "", rq->to ? rq->to : "",
			 rq->time, rq->nonce, rq->source ? rq->source : "",
			 rq->path ? rq->path : "", rq->block, rq->size, rq->mtime,
			 rq->etag ? rq->etag : "", rq->body_sha256 ? rq->body_sha256 : "");
	if (n < 0) {
		*ret = NULL;
		return -ENOMEM;
	}
	return n;
}

int peer_auth_sign_request(const struct peer_key *k, const struct peer_request *rq, char *out)
{
	char *text;
	int n = request_text(rq, &text);
	if (n < 0)
		return n;
	int r = mac_of(k, text, (size_t)n, out);
	free(text);
	return r;
}

static int mac_equal(const char *want, const char *got)
{
	if (!got || strlen(got) != PEER_AUTH_MAC_HEX - 1)
		return -EACCES;
	return CRYPTO_memcmp(want, got, PEER_AUTH_MAC_HEX - 1) == 0 ? 0 : -EACCES;
}

int peer_auth_verify_request(const struct peer_key *k, const struct peer_request *rq,
			     const char *mac, int64_t now, int64_t skew_s)
{
	char want[PEER_AUTH_MAC_HEX];
	if (peer_auth_sign_request(k, rq, want) < 0)
		return -EACCES;
	int r = mac_equal(want, mac);
	if (r < 0)
		return r;
	if (rq->time > now + skew_s || rq->time < now - skew_s)
		return -ETIME;
	return 0;
}

int peer_auth_member_mac(const struct peer_key *k, const char *node, const char *url,
			 const char *id, char *out)
{
	if (!node || !url || !id || has_newline(node) || has_newline(url) || has_newline(id))
		return -EINVAL;
	char *text = NULL;
	int n = asprintf(&text, "weir-peer-member-v2\n%s\n%s\n%s", node, url, id);
	if (n < 0)
		return -ENOMEM;
	int r = mac_of(k, text, (size_t)n, out);
	free(text);
	return r;
}

int peer_auth_member_check(const struct peer_key *k, const char *node, const char *url,
			   const char *id, const char *mac)
{
	char want[PEER_AUTH_MAC_HEX];
	if (peer_auth_member_mac(k, node, url, id, want) < 0)
		return -EACCES;
	return mac_equal(want, mac);
}

int peer_auth_nonce(char *out)
{
	unsigned char b[(PEER_AUTH_NONCE_HEX - 1) / 2];
	if (RAND_bytes(b, (int)sizeof(b)) != 1)
		return -EIO;
	hex_encode(b, sizeof(b), out);
	return 0;
}

int peer_auth_reply_begin(struct peer_reply_mac *m, const struct peer_key *k, const char *req_mac,
			  const char *reply_nonce, unsigned status, uint64_t len, uint64_t xxh3)
{
	*m = (struct peer_reply_mac){0};
	if (!hex_is(req_mac, PEER_AUTH_MAC_HEX - 1) ||
	    !hex_is(reply_nonce, PEER_AUTH_NONCE_HEX - 1))
		return -EINVAL;
	/* the one-time key: fresh per request (its MAC covers its nonce) and per reply */
	char text[160];
	int n =
	    snprintf(text, sizeof(text), "weir-peer-reply-key-v2\n%s\n%s", req_mac, reply_nonce);
	unsigned char otk[32];
	EVP_MAC_CTX *ctx = NULL;
	int r = hmac_sha256(k, text, (size_t)n, otk);
	if (r < 0)
		goto fail;
	r = -ENOMEM;
	ctx = mac_ctx_new(&poly1305_impl);
	if (!ctx || EVP_MAC_init(ctx, otk, sizeof(otk), NULL) != 1)
		goto fail;
	n = snprintf(text, sizeof(text), "weir-peer-reply-v2\n%u\n%" PRIu64 "\n%016" PRIx64 "\n",
		     status, len, xxh3);
	if (EVP_MAC_update(ctx, (const unsigned char *)text, (size_t)n) != 1)
		goto fail;
	OPENSSL_cleanse(otk, sizeof(otk));
	m->ctx = ctx;
	m->want = len;
	return 0;
fail:
	OPENSSL_cleanse(otk, sizeof(otk));
	EVP_MAC_CTX_free(ctx);
	return r;
}

void peer_auth_reply_update(struct peer_reply_mac *m, const void *buf, size_t n)
{
	m->got += n;
	if (m->ctx && m->got <= m->want)
		EVP_MAC_update(m->ctx, buf, n);
}

void peer_auth_reply_abort(struct peer_reply_mac *m)
{
	EVP_MAC_CTX_free(m->ctx);
	m->ctx = NULL;
	if (m->v3)
		OPENSSL_cleanse(m->otk, sizeof(m->otk));
	m->v3 = false;
}

int peer_auth_reply_update_fd(struct peer_reply_mac *m, struct block_sum_state *st, int fd,
			      uint64_t off, size_t len)
{
	unsigned char piece[64 * 1024];
	for (size_t done = 0; done < len;) {
		size_t n = len - done < sizeof(piece) ? len - done : sizeof(piece);
		ssize_t got = pread(fd, piece, n, (off_t)(off + done));
		if (got <= 0) {
			int e = got < 0 ? -errno : -EIO;
			peer_auth_reply_abort(m);
			return e;
		}
		peer_auth_reply_update(m, piece, (size_t)got);
		if (st)
			block_sum_update(st, piece, (size_t)got);
		done += (size_t)got;
	}
	return 0;
}

/* Poly1305 of a then b under key (32 bytes) into tag (16 bytes). Returns 0 or -ENOMEM. */
static int poly1305_two(const unsigned char key[32], const void *a, size_t alen, const void *b,
			size_t blen, unsigned char tag[16])
{
	EVP_MAC_CTX *ctx = mac_ctx_new(&poly1305_impl);
	size_t taglen = 0;
	int r = ctx && EVP_MAC_init(ctx, key, 32, NULL) == 1 && EVP_MAC_update(ctx, a, alen) == 1 &&
			EVP_MAC_update(ctx, b, blen) == 1 &&
			EVP_MAC_final(ctx, tag, &taglen, 16) == 1 && taglen == 16
		    ? 0
		    : -ENOMEM;
	EVP_MAC_CTX_free(ctx);
	return r;
}

int peer_auth_body_hash_begin(struct peer_reply_mac *m, const struct peer_key *k, uint64_t len)
{
	*m = (struct peer_reply_mac){0};
	static const char label[] = "weir-peer-body-key-v3";
	unsigned char bk[32];
	int r = hmac_sha256(k, label, sizeof(label) - 1, bk);
	EVP_MAC_CTX *ctx = r == 0 ? mac_ctx_new(&poly1305_impl) : NULL;
	if (r == 0 && (!ctx || EVP_MAC_init(ctx, bk, sizeof(bk), NULL) != 1)) {
		EVP_MAC_CTX_free(ctx);
		r = -ENOMEM;
	}
	OPENSSL_cleanse(bk, sizeof(bk));
	if (r < 0)
		return r;
	m->ctx = ctx;
	m->want = len;
	return 0;
}

int peer_auth_body_hash_final(struct peer_reply_mac *m, unsigned char out[PEER_AUTH_BODY_HASH])
{
	size_t hlen = 0;
	int r = m->ctx && m->got == m->want &&
			EVP_MAC_final(m->ctx, out, &hlen, PEER_AUTH_BODY_HASH) == 1 &&
			hlen == PEER_AUTH_BODY_HASH
		    ? 0
		    : -EBADMSG;
	EVP_MAC_CTX_free(m->ctx);
	m->ctx = NULL;
	return r;
}

/* A v3 reply's one-time key into otk and its header text into head (96 bytes); the text's
 * length, or -errno. */
static int v3_key_head(const struct peer_key *k, const char *req_mac, const char *reply_nonce,
		       unsigned status, uint64_t len, uint64_t xxh3, unsigned char otk[32],
		       char head[96])
{
	if (!hex_is(req_mac, PEER_AUTH_MAC_HEX - 1) ||
	    !hex_is(reply_nonce, PEER_AUTH_NONCE_HEX - 1))
		return -EINVAL;
	char text[160];
	int n =
	    snprintf(text, sizeof(text), "weir-peer-reply-key-v3\n%s\n%s", req_mac, reply_nonce);
	int r = hmac_sha256(k, text, (size_t)n, otk);
	if (r < 0)
		return r;
	return snprintf(head, 96, "weir-peer-reply-v3\n%u\n%" PRIu64 "\n%016" PRIx64 "\n", status,
			len, xxh3);
}

int peer_auth_reply_tag_v3(const struct peer_key *k, const char *req_mac, const char *reply_nonce,
			   unsigned status, uint64_t len, uint64_t xxh3,
			   const unsigned char body_hash[PEER_AUTH_BODY_HASH], char *out)
{
	unsigned char otk[32], tag[16];
	char head[96];
	int n = v3_key_head(k, req_mac, reply_nonce, status, len, xxh3, otk, head);
	int r = n < 0 ? n : poly1305_two(otk, head, (size_t)n, body_hash, PEER_AUTH_BODY_HASH, tag);
	OPENSSL_cleanse(otk, sizeof(otk));
	if (r == 0)
		hex_encode(tag, 16, out);
	return r;
}

int peer_auth_reply_begin_v3(struct peer_reply_mac *m, const struct peer_key *k,
			     const char *req_mac, const char *reply_nonce, unsigned status,
			     uint64_t len, uint64_t xxh3)
{
	unsigned char otk[32];
	char head[96];
	*m = (struct peer_reply_mac){0};
	int n = v3_key_head(k, req_mac, reply_nonce, status, len, xxh3, otk, head);
	int r = n < 0 ? n : peer_auth_body_hash_begin(m, k, len);
	if (r < 0) {
		OPENSSL_cleanse(otk, sizeof(otk));
		return r;
	}
	m->v3 = true;
	memcpy(m->otk, otk, sizeof(otk));
	OPENSSL_cleanse(otk, sizeof(otk));
	memcpy(m->head, head, (size_t)n);
	m->headlen = (size_t)n;
	return 0;
}

int peer_auth_reply_final(struct peer_reply_mac *m, char *out)
{
	unsigned char tag[16];
	size_t taglen = 0;
	int r;
	if (m->v3) {
		unsigned char h[PEER_AUTH_BODY_HASH];
		r = peer_auth_body_hash_final(m, h);
		if (r == 0 && poly1305_two(m->otk, m->head, m->headlen, h, sizeof(h), tag) < 0)
			r = -EBADMSG;
		OPENSSL_cleanse(m->otk, sizeof(m->otk));
		m->v3 = false;
	} else
		r = m->ctx && m->got == m->want &&
			    EVP_MAC_final(m->ctx, tag, &taglen, sizeof(tag)) == 1 && taglen == 16
			? 0
			: -EBADMSG;
	peer_auth_reply_abort(m);
	if (r == 0)
		hex_encode(tag, 16, out);
	return r;
}

int peer_auth_reply_check(struct peer_reply_mac *m, const char *mac)
{
	char want[PEER_AUTH_TAG_HEX];
	if (peer_auth_reply_final(m, want) < 0 || !mac || strlen(mac) != PEER_AUTH_TAG_HEX - 1)
		return -EACCES;
	return CRYPTO_memcmp(want, mac, PEER_AUTH_TAG_HEX - 1) == 0 ? 0 : -EACCES;
}

int peer_auth_sign_reply(const struct peer_key *k, const char *req_mac, const char *reply_nonce,
			 unsigned status, const void *body, uint64_t len, uint64_t xxh3, char *out)
{
	struct peer_reply_mac m;
	int r = peer_auth_reply_begin(&m, k, req_mac, reply_nonce, status, len, xxh3);
	if (r < 0)
		return r;
	peer_auth_reply_update(&m, body, len);
	return peer_auth_reply_final(&m, out);
}

int peer_auth_verify_reply(const struct peer_key *k, const char *req_mac, const char *reply_nonce,
			   unsigned status, const void *body, uint64_t len, uint64_t xxh3,
			   const char *mac)
{
	struct peer_reply_mac m;
	if (peer_auth_reply_begin(&m, k, req_mac, reply_nonce, status, len, xxh3) < 0)
		return -EACCES;
	peer_auth_reply_update(&m, body, len);
	return peer_auth_reply_check(&m, mac);
}
