// SPDX-License-Identifier: Apache-2.0
// Peers: the MACs of requests and replies (forged, tampered, replayed late, wrong key), the key
// file's checks, and placement (every node computes the same owners; replicas bound the cache
// nodes; a node down moves only its own blocks).
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "near_cache.h"
#include "peer_auth.h"
#include "peer_client.h"
#include "rendezvous.h"
#include "suites.h"

static struct peer_key key_of(const char *s)
{
	struct peer_key k = {.len = strlen(s)};
	memcpy(k.bytes, s, k.len);
	return k;
}

static struct peer_request sample(void)
{
	return (struct peer_request){.method = "GET",
				     .endpoint = "/v1/block",
				     .node = "n2",
				     .time = 1000,
				     .source = "0123456789abcdef",
				     .path = "/a/b.bin",
				     .block = 3,
				     .size = 20000000,
				     .mtime = 1700000000,
				     .etag = "\"abc-123\""};
}

START_TEST(request_mac_checks_every_field)
{
	struct peer_key k = key_of("0123456789abcdef0123");
	struct peer_request rq = sample();
	char mac[PEER_AUTH_MAC_HEX];
	ck_assert_int_eq(peer_auth_sign_request(&k, &rq, mac), 0);
	ck_assert_uint_eq(strlen(mac), 64);
	ck_assert_int_eq(peer_auth_verify_request(&k, &rq, mac, 1010, 60), 0);
	/* each field changed alone breaks it */
	struct peer_request t = rq;
	t.path = "/a/c.bin";
	ck_assert_int_eq(peer_auth_verify_request(&k, &t, mac, 1010, 60), -EACCES);
	t = rq;
	t.block = 4;
	ck_assert_int_eq(peer_auth_verify_request(&k, &t, mac, 1010, 60), -EACCES);
	t = rq;
	t.node = "n3";
	ck_assert_int_eq(peer_auth_verify_request(&k, &t, mac, 1010, 60), -EACCES);
	t = rq;
	t.source = "fedcba9876543210";
	ck_assert_int_eq(peer_auth_verify_request(&k, &t, mac, 1010, 60), -EACCES);
	t = rq;
	t.etag = "\"abc-124\"";
	ck_assert_int_eq(peer_auth_verify_request(&k, &t, mac, 1010, 60), -EACCES);
	t = rq;
	t.time = 1001;
	ck_assert_int_eq(peer_auth_verify_request(&k, &t, mac, 1010, 60), -EACCES);
	/* another key */
	struct peer_key other = key_of("0123456789abcdef0124");
	ck_assert_int_eq(peer_auth_verify_request(&other, &rq, mac, 1010, 60), -EACCES);
	/* replayed too late, or from the future */
	ck_assert_int_eq(peer_auth_verify_request(&k, &rq, mac, 1061, 60), -ETIME);
	ck_assert_int_eq(peer_auth_verify_request(&k, &rq, mac, 939, 60), -ETIME);
	/* a truncated, empty, upper-cased or missing MAC */
	char bad[PEER_AUTH_MAC_HEX];
	snprintf(bad, sizeof(bad), "%.63s", mac);
	ck_assert_int_eq(peer_auth_verify_request(&k, &rq, bad, 1010, 60), -EACCES);
	ck_assert_int_eq(peer_auth_verify_request(&k, &rq, "", 1010, 60), -EACCES);
	ck_assert_int_eq(peer_auth_verify_request(&k, &rq, NULL, 1010, 60), -EACCES);
}
END_TEST

START_TEST(method_and_endpoint_are_signed)
{
	struct peer_key k = key_of("0123456789abcdef0123");
	struct peer_request rq = sample();
	char mac[PEER_AUTH_MAC_HEX];
	ck_assert_int_eq(peer_auth_sign_request(&k, &rq, mac), 0);
	/* a captured GET replayed as a PUT (with or without a body digest), a POST, or to
	 * another endpoint */
	struct peer_request t = rq;
	t.method = "PUT";
	ck_assert_int_eq(peer_auth_verify_request(&k, &t, mac, 1010, 60), -EACCES);
	char digest[PEER_AUTH_MAC_HEX];
	peer_auth_body_digest("", 0, digest);
	t.body_sha256 = digest;
	ck_assert_int_eq(peer_auth_verify_request(&k, &t, mac, 1010, 60), -EACCES);
	t = rq;
	t.method = "POST";
	ck_assert_int_eq(peer_auth_verify_request(&k, &t, mac, 1010, 60), -EACCES);
	t = rq;
	t.endpoint = "/v1/load";
	ck_assert_int_eq(peer_auth_verify_request(&k, &t, mac, 1010, 60), -EACCES);
	/* and a PUT's MAC is no GET's */
	t = rq;
	t.method = "PUT";
	t.body_sha256 = digest;
	char pmac[PEER_AUTH_MAC_HEX];
	ck_assert_int_eq(peer_auth_sign_request(&k, &t, pmac), 0);
	ck_assert_int_eq(peer_auth_verify_request(&k, &t, pmac, 1010, 60), 0);
	ck_assert_int_eq(peer_auth_verify_request(&k, &rq, pmac, 1010, 60), -EACCES);
	/* a request must say its method and endpoint; neither may hide a newline */
	t = rq;
	t.method = NULL;
	ck_assert_int_eq(peer_auth_sign_request(&k, &t, mac), -EINVAL);
	t = rq;
	t.endpoint = "";
	ck_assert_int_eq(peer_auth_sign_request(&k, &t, mac), -EINVAL);
	t = rq;
	t.method = "GET\n/v1/block";
	ck_assert_int_eq(peer_auth_sign_request(&k, &t, mac), -EINVAL);
}
END_TEST

START_TEST(pushed_body_is_signed_by_its_sha256)
{
	struct peer_key k = key_of("0123456789abcdef0123");
	/* the digest is SHA-256 itself (FIPS 180-2's "abc" vector), not a fast checksum */
	char digest[PEER_AUTH_MAC_HEX];
	peer_auth_body_digest("abc", 3, digest);
	ck_assert_str_eq(digest,
			 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	size_t len = 1048576 + 123;
	unsigned char *body = malloc(len);
	ck_assert_ptr_nonnull(body);
	for (size_t i = 0; i < len; i++)
		body[i] = (unsigned char)(i * 2654435761u >> 13);
	struct peer_request rq = sample();
	rq.method = "PUT";
	rq.body_sha256 = digest;
	peer_auth_body_digest(body, len, digest);
	char mac[PEER_AUTH_MAC_HEX];
	ck_assert_int_eq(peer_auth_sign_request(&k, &rq, mac), 0);
	ck_assert_int_eq(peer_auth_verify_request(&k, &rq, mac, 1010, 60), 0);
	/* any byte flipped (first, last, and every 65,537th between) gives a body the MAC refuses:
	 * the server digests what it received and checks the MAC with that digest */
	for (size_t i = 0; i <= len / 65537 + 1; i++) {
		size_t at = i <= len / 65537 ? i * 65537 : len - 1;
		char got[PEER_AUTH_MAC_HEX];
		body[at] ^= 0x01;
		peer_auth_body_digest(body, len, got);
		body[at] ^= 0x01;
		ck_assert_str_ne(got, digest);
		struct peer_request t = rq;
		t.body_sha256 = got;
		ck_assert_int_eq(peer_auth_verify_request(&k, &t, mac, 1010, 60), -EACCES);
	}
	/* one byte short, or no digest at all */
	char got[PEER_AUTH_MAC_HEX];
	peer_auth_body_digest(body, len - 1, got);
	struct peer_request t = rq;
	t.body_sha256 = got;
	ck_assert_int_eq(peer_auth_verify_request(&k, &t, mac, 1010, 60), -EACCES);
	t.body_sha256 = NULL;
	ck_assert_int_eq(peer_auth_verify_request(&k, &t, mac, 1010, 60), -EACCES);
	/* the same signed push replayed outside the time window */
	ck_assert_int_eq(peer_auth_verify_request(&k, &rq, mac, 1061, 60), -ETIME);
	ck_assert_int_eq(peer_auth_verify_request(&k, &rq, mac, 939, 60), -ETIME);
	free(body);
}
END_TEST

START_TEST(newlines_cannot_shift_fields)
{
	struct peer_key k = key_of("0123456789abcdef0123");
	/* "a\nb" as a path would sign like other fields split differently */
	struct peer_request rq = sample();
	rq.path = "/a\n3";
	char mac[PEER_AUTH_MAC_HEX];
	ck_assert_int_eq(peer_auth_sign_request(&k, &rq, mac), -EINVAL);
	rq = sample();
	rq.node = "n2\n1000";
	ck_assert_int_eq(peer_auth_sign_request(&k, &rq, mac), -EINVAL);
}
END_TEST

START_TEST(reply_mac_binds_bytes_to_request)
{
	struct peer_key k = key_of("0123456789abcdef0123");
	struct peer_request rq = sample();
	char mac[PEER_AUTH_MAC_HEX], mac2[PEER_AUTH_MAC_HEX], rmac[PEER_AUTH_MAC_HEX];
	ck_assert_int_eq(peer_auth_sign_request(&k, &rq, mac), 0);
	rq.block = 5;
	ck_assert_int_eq(peer_auth_sign_request(&k, &rq, mac2), 0);
	peer_auth_sign_reply(&k, mac, 4096, 0x1234, rmac);
	ck_assert_int_eq(peer_auth_verify_reply(&k, mac, 4096, 0x1234, rmac), 0);
	ck_assert_int_eq(peer_auth_verify_reply(&k, mac, 4096, 0x1235, rmac), -EACCES);
	ck_assert_int_eq(peer_auth_verify_reply(&k, mac, 4095, 0x1234, rmac), -EACCES);
	/* a reply to one request is no reply to another */
	ck_assert_int_eq(peer_auth_verify_reply(&k, mac2, 4096, 0x1234, rmac), -EACCES);
	/* nor is a request's MAC a reply's */
	ck_assert_int_eq(peer_auth_verify_reply(&k, mac, 4096, 0x1234, mac), -EACCES);
	struct peer_key other = key_of("another key of 20 bytes");
	ck_assert_int_eq(peer_auth_verify_reply(&other, mac, 4096, 0x1234, rmac), -EACCES);
}
END_TEST

static void write_key(const char *path, const char *data, mode_t mode)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

START_TEST(key_file_checks)
{
	char dir[] = "/tmp/weir-check-peer.XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char path[256], err[512];
	snprintf(path, sizeof(path), "%s/peer.key", dir);
	struct peer_key k;
	ck_assert_int_eq(peer_auth_load_key(path, &k, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, path));
	write_key(path, "0123456789abcdef0123\n", 0600);
	ck_assert_int_eq(peer_auth_load_key(path, &k, err, sizeof(err)), 0);
	ck_assert_uint_eq(k.len, 20); /* the newline is not part of it */
	write_key(path, "0123456789abcdef0123\n", 0644);
	ck_assert_int_eq(peer_auth_load_key(path, &k, err, sizeof(err)), -EPERM);
	ck_assert_ptr_nonnull(strstr(err, "chmod 600"));
	write_key(path, "short\n", 0600);
	ck_assert_int_eq(peer_auth_load_key(path, &k, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "needs 16"));
	char link[300];
	snprintf(link, sizeof(link), "%s/link.key", dir);
	write_key(path, "0123456789abcdef0123\n", 0600);
	ck_assert_int_eq(symlink(path, link), 0);
	ck_assert_int_eq(peer_auth_load_key(link, &k, err, sizeof(err)), -ELOOP);
	unlink(link);
	unlink(path);
	rmdir(dir);
}
END_TEST

/* A key from a Secret's bytes is checked as a key file's are. */
START_TEST(key_from_bytes)
{
	struct peer_key k;
	char err[512] = "";
	ck_assert_int_eq(
	    peer_auth_key_from("0123456789abcdef\n", 17, "in Secret d/s", &k, err, sizeof(err)), 0);
	ck_assert_uint_eq(k.len, 16); /* the newline is not part of it */
	ck_assert_int_eq(peer_auth_key_from("short\n", 6, "in Secret d/s", &k, err, sizeof(err)),
			 -EINVAL);
	ck_assert_msg(strstr(err, "peer key in Secret d/s holds 5 bytes; it needs 16 to 256"), "%s",
		      err);
	char big[PEER_AUTH_KEY_MAX + 1];
	memset(big, 'k', sizeof(big));
	ck_assert_int_eq(peer_auth_key_from(big, sizeof(big), "x", &k, err, sizeof(err)), -EINVAL);
}
END_TEST

static const char *const three = "n1=http://10.0.0.1:7000,n2=http://10.0.0.2:7000,"
				 "n3=http://10.0.0.3:7000";

static struct cluster *cluster_of(const char *self, const char *peers, unsigned replicas)
{
	struct cluster_config cfg = {
	    .self = self, .peers = peers, .replicas = replicas, .down_ms = 60000};
	struct cluster *c = NULL;
	char err[512];
	ck_assert_msg(cluster_new(&cfg, &c, err, sizeof(err)) == 0, "%s", err);
	return c;
}

/* An owner standing in for weir-node's push handler: checks each PUT as the real one does (MAC
 * over method, endpoint, fields and the body's SHA-256, the body against that digest), answers
 * 503 with Retry-After: 1 `busy` times, then 200. */
struct busy_owner {
	struct peer_key key;
	atomic_int busy, puts, bad;
	struct timespec first, last;
};

struct busy_body {
	char *buf;
	size_t len;
};

static const char *hdr(struct MHD_Connection *c, const char *n)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, n);
}

static const char *qarg(struct MHD_Connection *c, const char *n)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, n);
}

static enum MHD_Result busy_answer(void *cls, struct MHD_Connection *conn, const char *url,
				   const char *method, const char *version, const char *upload,
				   size_t *upload_size, void **con_cls)
{
	struct busy_owner *o = cls;
	struct busy_body *b = *con_cls;
	if (!b) {
		*con_cls = calloc(1, sizeof(*b));
		return *con_cls ? MHD_YES : MHD_NO;
	}
	if (*upload_size) {
		char *nb = realloc(b->buf, b->len + *upload_size);
		if (!nb)
			return MHD_NO;
		memcpy(nb + b->len, upload, *upload_size);
		b->buf = nb;
		b->len += *upload_size;
		*upload_size = 0;
		return MHD_YES;
	}
	char digest[PEER_AUTH_MAC_HEX];
	peer_auth_body_digest(b->buf, b->len, digest);
	struct peer_request rq = {.method = method,
				  .endpoint = url,
				  .body_sha256 = hdr(conn, "X-Weir-Body-Sha256"),
				  .node = hdr(conn, "X-Weir-Node"),
				  .source = qarg(conn, "source"),
				  .path = qarg(conn, "path"),
				  .etag = qarg(conn, "etag")};
	rq.time = strtoll(hdr(conn, "X-Weir-Time") ? hdr(conn, "X-Weir-Time") : "0", NULL, 10);
	rq.block = strtoull(qarg(conn, "block") ? qarg(conn, "block") : "0", NULL, 10);
	rq.size = strtoull(qarg(conn, "size") ? qarg(conn, "size") : "0", NULL, 10);
	rq.mtime = strtoll(qarg(conn, "mtime") ? qarg(conn, "mtime") : "0", NULL, 10);
	bool ok =
	    strcmp(method, "PUT") == 0 && rq.body_sha256 && strcmp(rq.body_sha256, digest) == 0 &&
	    peer_auth_verify_request(&o->key, &rq, hdr(conn, "X-Weir-Auth"), time(NULL), 60) == 0;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (atomic_fetch_add(&o->puts, 1) == 0)
		o->first = now;
	o->last = now;
	unsigned status = MHD_HTTP_OK;
	if (!ok) {
		atomic_fetch_add(&o->bad, 1);
		status = MHD_HTTP_FORBIDDEN;
	} else if (atomic_fetch_sub(&o->busy, 1) > 0) {
		status = MHD_HTTP_SERVICE_UNAVAILABLE;
	}
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
	if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	enum MHD_Result r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

static void busy_done(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct busy_body *b = *con_cls;
	if (b)
		free(b->buf);
	free(b);
	*con_cls = NULL;
}

/* A push to a busy owner waits its Retry-After and tries again, signed anew, up to
 * PEER_PUT_TRIES times; every try carries a MAC over PUT and the body's SHA-256. */
START_TEST(push_retries_a_busy_owner)
{
	struct busy_owner o = {.key = key_of("0123456789abcdef0123")};
	struct MHD_Daemon *d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL, 0, NULL,
	    NULL, busy_answer, &o, MHD_OPTION_SOCK_ADDR,
	    (struct sockaddr *)&(struct sockaddr_in){.sin_family = AF_INET,
						     .sin_addr.s_addr = htonl(INADDR_LOOPBACK)},
	    MHD_OPTION_NOTIFY_COMPLETED, busy_done, NULL, MHD_OPTION_END);
	ck_assert_ptr_nonnull(d);
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	ck_assert_ptr_nonnull(di);
	char peers[200];
	snprintf(peers, sizeof(peers), "n1=http://127.0.0.1:1,n2=http://127.0.0.1:%u",
		 (unsigned)di->port);
	struct cluster *c = cluster_of("n1", peers, 0);
	struct peer_client_config pcfg = {.cluster = c, .key = &o.key};
	struct peer_client *pc = NULL;
	ck_assert_int_eq(peer_client_new(&pcfg, &pc), 0);
	size_t len = 65536 + 3;
	char *buf = malloc(len);
	ck_assert_ptr_nonnull(buf);
	memset(buf, 'z', len);
	struct ufs_attr a = {.size = 10 * len, .mtime = 1700000000};
	snprintf(a.etag, sizeof(a.etag), "\"e1\"");
	struct cluster_view *v = cluster_view_get(c);
	int idx = cluster_find(v, "n2");
	ck_assert_int_ge(idx, 0);
	/* busy twice, then taken: three tries, a second or more apart */
	atomic_store(&o.busy, 2);
	ck_assert_int_eq(peer_client_put(pc, v, idx, "src", "/a.bin", &a, 0, buf, (uint32_t)len),
			 0);
	ck_assert_int_eq(atomic_load(&o.puts), 3);
	ck_assert_int_eq(atomic_load(&o.bad), 0);
	double waited = (double)(o.last.tv_sec - o.first.tv_sec) +
			(double)(o.last.tv_nsec - o.first.tv_nsec) / 1e9;
	ck_assert_msg(waited >= 1.9, "3 tries within %.2f s: Retry-After: 1 not honoured", waited);
	/* busy for ever: PEER_PUT_TRIES tries, then -EAGAIN (the load asks the owner instead) */
	atomic_store(&o.puts, 0);
	atomic_store(&o.busy, 1000);
	ck_assert_int_eq(peer_client_put(pc, v, idx, "src", "/a.bin", &a, 0, buf, (uint32_t)len),
			 -EAGAIN);
	ck_assert_int_eq(atomic_load(&o.puts), PEER_PUT_TRIES);
	ck_assert_int_eq(atomic_load(&o.bad), 0);
	cluster_view_put(v);
	peer_client_free(pc);
	cluster_free(c);
	MHD_stop_daemon(d);
	free(buf);
}
END_TEST

START_TEST(cluster_rejects_bad_members)
{
	static const struct {
		const char *self, *peers, *want;
	} bad[] = {
	    {"n1", "n1=http://10.0.0.1:7000,n1=http://10.0.0.2:7000", "listed twice"},
	    {"n1", "n1=ftp://10.0.0.1:7000", "is not http://HOST:PORT"},
	    {"n1", "n1=http://10.0.0.1:7000/x", "is not http://HOST:PORT"},
	    {"n1", "n1=http://u:p@10.0.0.1:7000", "is not http://HOST:PORT"},
	    {"n1", "n1=http://0.0.0.0:7000",
	     "is not http://HOST:PORT"}, /* peers would dial themselves */
	    {"n1", "n1=http://[::]:7000", "is not http://HOST:PORT"},
	    {"n1", "n1", "is not NAME=URL"},
	    {"n1", "n 1=http://10.0.0.1:7000", "is not a member name"},
	    {"n9", "n1=http://10.0.0.1:7000", "\"n9\", is not among them"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cluster_config cfg = {.self = bad[i].self, .peers = bad[i].peers};
		struct cluster *c = NULL;
		char err[512] = "";
		ck_assert_int_eq(cluster_new(&cfg, &c, err, sizeof(err)), -EINVAL);
		ck_assert_msg(strstr(err, bad[i].want), "%s: got \"%s\"", bad[i].peers, err);
	}
	struct cluster *cl = cluster_of("n2", three, 0);
	struct cluster_view *c = cluster_view_get(cl);
	ck_assert_uint_eq(cluster_size(c), 3);
	ck_assert_int_eq(cluster_self(c), 1);
	ck_assert_str_eq(cluster_node_url(c, 2), "http://10.0.0.3:7000");
	/* a fixed list stays fixed */
	ck_assert(!cluster_is_dynamic(cl));
	const struct cluster_member one[] = {{"n9", "http://10.0.0.9:7000"}};
	ck_assert_int_eq(cluster_set_members(cl, one, 1), -EPERM);
	ck_assert_uint_eq(cluster_count(cl), 3);
	cluster_view_put(c);
	cluster_free(cl);
}
END_TEST

START_TEST(every_node_agrees_and_shares_are_even)
{
	struct cluster *cl[3] = {cluster_of("n1", three, 0), cluster_of("n2", three, 0),
				 cluster_of("n3",
					    "n3=http://10.0.0.3:7000,n1=http://10.0.0.1:7000,"
					    "n2=http://10.0.0.2:7000",
					    0)};
	struct cluster_view *c[3];
	for (int i = 0; i < 3; i++)
		c[i] = cluster_view_get(cl[i]);
	unsigned count[3] = {0};
	for (uint64_t b = 0; b < 3000; b++) {
		int o[3][3];
		for (int i = 0; i < 3; i++)
			ck_assert_uint_eq(cluster_owners(c[i], "src", 0, "/f", b, o[i], 3), 3);
		/* the same order on every node, whatever the order of its peers list */
		for (int j = 0; j < 3; j++) {
			ck_assert_str_eq(cluster_node_name(c[0], o[0][j]),
					 cluster_node_name(c[1], o[1][j]));
			ck_assert_str_eq(cluster_node_name(c[0], o[0][j]),
					 cluster_node_name(c[2], o[2][j]));
		}
		count[o[0][0]]++;
	}
	for (int i = 0; i < 3; i++)
		ck_assert_msg(count[i] > 800 && count[i] < 1200, "node %d owns %u of 3000", i,
			      count[i]);
	for (int i = 0; i < 3; i++) {
		cluster_view_put(c[i]);
		cluster_free(cl[i]);
	}
}
END_TEST

START_TEST(a_node_down_moves_only_its_blocks)
{
	struct cluster *cl = cluster_of("n1", three, 0);
	struct cluster_view *c = cluster_view_get(cl);
	int before[2000];
	for (uint64_t b = 0; b < 2000; b++) {
		int o[1];
		ck_assert_uint_eq(cluster_owners(c, "src", 0, "/f", b, o, 1), 1);
		before[b] = o[0];
	}
	cluster_mark_down(c, 2);
	ck_assert(!cluster_is_up(c, 2));
	for (uint64_t b = 0; b < 2000; b++) {
		int o[3];
		size_t n = cluster_owners(c, "src", 0, "/f", b, o, 3);
		ck_assert_uint_eq(n, 2); /* the dead one is not a candidate */
		if (before[b] != 2)
			ck_assert_int_eq(o[0], before[b]);
		else
			ck_assert_int_ne(o[0], 2);
	}
	/* this node is never marked down */
	cluster_mark_down(c, 0);
	ck_assert(cluster_is_up(c, 0));
	cluster_view_put(c);
	cluster_free(cl);
}
END_TEST

START_TEST(replicas_bound_the_cache_nodes)
{
	struct cluster *cl = cluster_of("n1", three, 2);
	struct cluster_view *c = cluster_view_get(cl);
	for (int s = 0; s < 20; s++) {
		char src[16];
		snprintf(src, sizeof(src), "source-%d", s);
		int cache = 0, client = -1;
		for (int i = 0; i < 3; i++) {
			if (cluster_is_cache_node(c, src, 0, i))
				cache++;
			else
				client = i;
		}
		ck_assert_int_eq(cache, 2);
		for (uint64_t b = 0; b < 200; b++) {
			int o[3];
			size_t n = cluster_owners(c, src, 0, "/f", b, o, 3);
			ck_assert_uint_eq(n, 2);
			ck_assert_int_ne(o[0], client);
			ck_assert_int_ne(o[1], client);
		}
	}
	cluster_view_put(c);
	cluster_free(cl);
}
END_TEST

START_TEST(a_source_sets_its_own_replicas)
{
	/* the cluster's default is all three; a source (its Runtime) asks for one or two */
	struct cluster *cl = cluster_of("n1", three, 0);
	struct cluster_view *c = cluster_view_get(cl);
	for (unsigned want = 1; want <= 3; want++) {
		int cache = 0;
		for (int i = 0; i < 3; i++)
			cache += cluster_is_cache_node(c, "src", want, i);
		ck_assert_int_eq(cache, (int)want);
		for (uint64_t b = 0; b < 100; b++) {
			int o[3];
			size_t n = cluster_owners(c, "src", want, "/f", b, o, 3);
			ck_assert_uint_eq(n, want);
			for (size_t k = 0; k < n; k++)
				ck_assert(cluster_is_cache_node(c, "src", want, o[k]));
		}
	}
	/* the cache nodes of a source with two are among those of it with three, and the one
	 * node of a source with one is among its two: growing replicas adds nodes */
	for (int i = 0; i < 3; i++) {
		if (cluster_is_cache_node(c, "src", 1, i))
			ck_assert(cluster_is_cache_node(c, "src", 2, i));
	}
	cluster_view_put(c);
	cluster_free(cl);
}
END_TEST

/* Members from the API: a view is swapped in per change; a node joining or leaving moves only
 * its own share, and a reader holding the old view reads it unchanged. */
START_TEST(members_change_at_run_time)
{
	struct cluster_config cfg = {
	    .self = "n1", .self_url = "http://10.0.0.1:7000", .down_ms = 60000};
	struct cluster *cl = NULL;
	char err[512];
	ck_assert_msg(cluster_new(&cfg, &cl, err, sizeof(err)) == 0, "%s", err);
	ck_assert(cluster_is_dynamic(cl));
	ck_assert_uint_eq(cluster_count(cl), 1);
	const struct cluster_member two[] = {
	    {"n2", "http://10.0.0.2:7000"},
	    {"n3", "http://10.0.0.3:7000"},
	    {"n1", "http://10.9.9.9:1"}, /* self: its own URL wins */
	    {"bad name", "http://10.0.0.4:7000"},
	    {"n5", "ftp://10.0.0.5:7000"}};
	ck_assert_int_eq(cluster_set_members(cl, two, 5), 1);
	ck_assert_int_eq(cluster_set_members(cl, two, 5), 0); /* the same: no new view */
	struct cluster_view *v3 = cluster_view_get(cl);
	ck_assert_uint_eq(cluster_size(v3), 3);
	ck_assert_str_eq(cluster_node_url(v3, cluster_self(v3)), "http://10.0.0.1:7000");
	ck_assert_int_lt(cluster_find(v3, "n5"), 0);
	char names[256];
	cluster_describe(cl, names, sizeof(names));
	ck_assert_str_eq(names, "n1,n2,n3");
	/* n3 leaves: only its blocks move; v3, still held, is unchanged */
	ck_assert_int_eq(cluster_set_members(cl, two, 1), 1);
	struct cluster_view *v2 = cluster_view_get(cl);
	ck_assert_uint_eq(cluster_size(v2), 2);
	ck_assert_uint_eq(cluster_size(v3), 3);
	ck_assert_int_lt(cluster_find(v2, "n3"), 0);
	unsigned moved = 0, n3 = 0;
	for (uint64_t b = 0; b < 3000; b++) {
		int o3[1], o2[1];
		ck_assert_uint_eq(cluster_owners(v3, "src", 0, "/f", b, o3, 1), 1);
		ck_assert_uint_eq(cluster_owners(v2, "src", 0, "/f", b, o2, 1), 1);
		const char *was = cluster_node_name(v3, o3[0]), *now = cluster_node_name(v2, o2[0]);
		if (strcmp(was, "n3") == 0)
			n3++;
		else
			ck_assert_str_eq(was, now);
		moved += strcmp(was, now) != 0;
	}
	ck_assert_uint_eq(moved, n3);
	ck_assert_msg(n3 > 800 && n3 < 1200, "n3 owned %u of 3000", n3);
	/* a mark on a member that stays carries over to the next view */
	cluster_mark_down(v2, cluster_find(v2, "n2"));
	ck_assert_int_eq(cluster_set_members(cl, two, 2), 1); /* n3 back */
	struct cluster_view *back = cluster_view_get(cl);
	ck_assert(!cluster_is_up(back, cluster_find(back, "n2")));
	ck_assert(cluster_is_up(back, cluster_find(back, "n3")));
	ck_assert_uint_eq(atomic_load(&cluster_get_stats(cl)->changes), 3);
	cluster_view_put(back);
	cluster_view_put(v2);
	/* the cluster goes before the last reader: the reader's view stays whole */
	cluster_free(cl);
	ck_assert_str_eq(cluster_node_name(v3, 2), "n3");
	cluster_view_put(v3);
}
END_TEST

START_TEST(dynamic_self_needs_a_url)
{
	struct cluster_config cfg = {.self = "n1", .self_url = "http://10.0.0.1"}; /* no port */
	struct cluster *cl = NULL;
	char err[512] = "";
	ck_assert_int_eq(cluster_new(&cfg, &cl, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "peer URL \"http://10.0.0.1\""), "got \"%s\"", err);
	/* peer-listen on every address gives no URL a peer can dial: peer-url must be set */
	cfg.self_url = "http://0.0.0.0:7070";
	ck_assert_int_eq(cluster_new(&cfg, &cl, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "peer URL \"http://0.0.0.0:7070\""), "got \"%s\"", err);
}
END_TEST

struct swap_race {
	struct cluster *cl;
	atomic_bool stop;
	atomic_uint reads;
};

static void *race_reader(void *arg)
{
	struct swap_race *r = arg;
	while (!atomic_load(&r->stop)) {
		struct cluster_view *v = cluster_view_get(r->cl);
		int o[CLUSTER_MAX_NODES];
		size_t n = cluster_owners(v, "src", 0, "/f", atomic_load(&r->reads), o, 4);
		ck_assert_uint_ge(n, 1);
		for (size_t i = 0; i < n; i++)
			ck_assert_ptr_nonnull(strchr(cluster_node_url(v, o[i]), ':'));
		cluster_view_put(v);
		atomic_fetch_add(&r->reads, 1);
	}
	return NULL;
}

/* Readers on four threads while the member set changes 2000 times: none sees a torn or freed
 * view (run under ASan: a use after free fails it). */
START_TEST(readers_race_member_changes)
{
	struct cluster_config cfg = {.self = "n0", .self_url = "http://10.0.0.1:7000"};
	struct swap_race r = {0};
	char err[512];
	ck_assert_msg(cluster_new(&cfg, &r.cl, err, sizeof(err)) == 0, "%s", err);
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, race_reader, &r), 0);
	char name[16][8], url[16][40];
	struct cluster_member m[16];
	for (int i = 0; i < 16; i++) {
		snprintf(name[i], sizeof(name[i]), "n%d", i + 1);
		snprintf(url[i], sizeof(url[i]), "http://10.0.1.%d:7000", i + 1);
		m[i] = (struct cluster_member){name[i], url[i]};
	}
	for (int k = 0; k < 2000; k++)
		ck_assert_int_ge(cluster_set_members(r.cl, m, (size_t)(k % 16)), 0);
	atomic_store(&r.stop, true);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	ck_assert_uint_gt(atomic_load(&r.reads), 0);
	cluster_free(r.cl);
}
END_TEST

/* A DataLoad share (loader.c) keys a block as cluster_owners() does, so the node that loads a
 * block is the one readers ask for it. */
START_TEST(load_share_owner_is_read_owner)
{
	struct cluster *cl = cluster_of("n2", three, 0);
	struct cluster_view *c = cluster_view_get(cl);
	const char *names[3] = {"n3", "n1", "n2"}; /* another order: the owner must not change */
	for (uint64_t b = 0; b < 500; b++) {
		int o[3];
		ck_assert_uint_eq(cluster_owners(c, "0123abcd", 0, "/d/f.bin", b, o, 3), 3);
		char key[128];
		snprintf(key, sizeof(key), "%s\n%s\n%llu", "0123abcd", "/d/f.bin",
			 (unsigned long long)b);
		int share = rendezvous_owner(key, names, 3);
		ck_assert_int_ge(share, 0);
		ck_assert_str_eq(names[share], cluster_node_name(c, o[0]));
	}
	cluster_view_put(c);
	cluster_free(cl);
}
END_TEST

START_TEST(near_cache_stays_within_its_bound)
{
	struct near_cache *nc;
	struct near_block out[16];
	ck_assert_int_eq(near_cache_new(10, &nc), 0);
	ck_assert_uint_eq(near_cache_add(nc, 1, 0, 4, out, 16), 0);
	ck_assert_uint_eq(near_cache_add(nc, 1, 1, 4, out, 16), 0);
	/* the same block again is counted once and becomes the newest */
	ck_assert_uint_eq(near_cache_add(nc, 1, 0, 4, out, 16), 0);
	ck_assert_uint_eq(near_cache_bytes(nc), 8);
	/* past the bound: the oldest (block 1, not block 0 added again) leaves */
	ck_assert_uint_eq(near_cache_add(nc, 2, 0, 4, out, 16), 1);
	ck_assert_uint_eq(out[0].obj, 1);
	ck_assert_uint_eq(out[0].block, 1);
	ck_assert_uint_eq(out[0].len, 4);
	ck_assert_uint_eq(near_cache_bytes(nc), 8);
	/* a big one pushes out as many as it takes, oldest first */
	ck_assert_uint_eq(near_cache_add(nc, 3, 0, 9, out, 16), 2);
	ck_assert_uint_eq(out[0].obj, 1);
	ck_assert_uint_eq(out[1].obj, 2);
	ck_assert_uint_eq(near_cache_bytes(nc), 9);
	/* one that could not leave is back as the oldest, and named first next time */
	near_cache_keep(nc, &out[0]);
	ck_assert_uint_eq(near_cache_bytes(nc), 13);
	ck_assert_uint_eq(near_cache_add(nc, 4, 0, 1, out, 16), 1);
	ck_assert_uint_eq(out[0].obj, 1);
	ck_assert_uint_eq(near_cache_bytes(nc), 10);
	/* forgetting a block gives its bytes back; forgetting an unknown one is harmless */
	near_cache_forget(nc, 3, 0);
	near_cache_forget(nc, 99, 9);
	ck_assert_uint_eq(near_cache_bytes(nc), 1);
	near_cache_free(nc);
	near_cache_free(NULL);
}
END_TEST

Suite *peer_suite(void)
{
	Suite *s = suite_create("peer");
	TCase *tc = tcase_create("auth");
	tcase_add_test(tc, request_mac_checks_every_field);
	tcase_add_test(tc, newlines_cannot_shift_fields);
	tcase_add_test(tc, method_and_endpoint_are_signed);
	tcase_add_test(tc, pushed_body_is_signed_by_its_sha256);
	tcase_add_test(tc, reply_mac_binds_bytes_to_request);
	tcase_add_test(tc, key_file_checks);
	tcase_add_test(tc, key_from_bytes);
	suite_add_tcase(s, tc);
	tc = tcase_create("placement");
	tcase_add_test(tc, cluster_rejects_bad_members);
	tcase_add_test(tc, every_node_agrees_and_shares_are_even);
	tcase_add_test(tc, a_node_down_moves_only_its_blocks);
	tcase_add_test(tc, replicas_bound_the_cache_nodes);
	tcase_add_test(tc, a_source_sets_its_own_replicas);
	tcase_add_test(tc, members_change_at_run_time);
	tcase_add_test(tc, dynamic_self_needs_a_url);
	tcase_add_test(tc, readers_race_member_changes);
	tcase_add_test(tc, load_share_owner_is_read_owner);
	suite_add_tcase(s, tc);
	tc = tcase_create("push");
	tcase_set_timeout(tc, 30); /* it waits 5 Retry-After seconds */
	tcase_add_test(tc, push_retries_a_busy_owner);
	suite_add_tcase(s, tc);
	tc = tcase_create("near-cache");
	tcase_add_test(tc, near_cache_stays_within_its_bound);
	suite_add_tcase(s, tc);
	return s;
}
