// SPDX-License-Identifier: Apache-2.0
// A member's identity proven at its peer URL (member_prove.h).
#include "member_prove.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "hex.h"

int member_prove_msg(const char *node, const char *nonce, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s\n%s", node, nonce);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : n;
}

static bool nonce_ok(const char *nonce)
{
	return nonce && strlen(nonce) == MEMBER_PROVE_NONCE_HEX - 1 &&
	       hex_is(nonce, MEMBER_PROVE_NONCE_HEX - 1);
}

int member_prove_answer(const struct node_id *id, const char *self, const char *nonce, char *sig)
{
	char msg[512];
	if (!id || !nonce_ok(nonce))
		return -EINVAL;
	int n = member_prove_msg(self, nonce, msg, sizeof(msg));
	if (n < 0)
		return -EINVAL;
	return node_id_sign(id, NODE_ID_LABEL_PROVE, msg, (size_t)n, sig);
}

/* The answer's X-Weir-Prove-Sig, as a header callback keeps it. */
struct prove_reply {
	char sig[NODE_ID_SIG_HEX];
};

static size_t on_header(char *line, size_t size, size_t n, void *arg)
{
	struct prove_reply *r = arg;
	size_t len = size * n;
	static const char name[] = "X-Weir-Prove-Sig:";
	if (len > sizeof(name) - 1 && !strncasecmp(line, name, sizeof(name) - 1)) {
		const char *v = line + sizeof(name) - 1;
		size_t vl = len - (sizeof(name) - 1);
		while (vl && (*v == ' ' || *v == '\t'))
			v++, vl--;
		while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
			vl--;
		if (vl < sizeof(r->sig)) {
			memcpy(r->sig, v, vl);
			r->sig[vl] = '\0';
		}
	}
	return len;
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

int member_prove_ask(const char *url, const char *node, const char *id, long timeout_ms, char *err,
		     size_t errlen)
{
	unsigned char rnd[32];
	char nonce[MEMBER_PROVE_NONCE_HEX], target[320], hdr[128], msg[512];
	if (RAND_bytes(rnd, (int)sizeof(rnd)) != 1) {
		snprintf(err, errlen, "no random bytes for a nonce");
		return -EIO;
	}
	hex_encode(rnd, sizeof(rnd), nonce);
	size_t ul = strlen(url);
	if (snprintf(target, sizeof(target), "%.*s/v1/prove",
		     (int)(ul && url[ul - 1] == '/' ? ul - 1 : ul), url) >= (int)sizeof(target)) {
		snprintf(err, errlen, "URL too long");
		return -ENAMETOOLONG;
	}
	snprintf(hdr, sizeof(hdr), "X-Weir-Prove-Nonce: %s", nonce);
	struct prove_reply reply = {{0}};
	CURL *c = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, hdr);
	if (!c || !h) {
		curl_easy_cleanup(c);
		curl_slist_free_all(h);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	curl_easy_setopt(c, CURLOPT_URL, target);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &reply);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	CURLcode cc = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s: %s", target, curl_easy_strerror(cc));
		return cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT
		       : cc == CURLE_COULDNT_CONNECT  ? -ECONNREFUSED
						      : -EIO;
	}
	if (status != 200 || !reply.sig[0]) {
		snprintf(err, errlen, "%s answered %ld without a signature", target, status);
		return -EPROTO;
	}
	int n = member_prove_msg(node, nonce, msg, sizeof(msg));
	if (n < 0) {
		snprintf(err, errlen, "node name too long");
		return n;
	}
	int r = node_id_verify(id, NODE_ID_LABEL_PROVE, msg, (size_t)n, reply.sig);
	if (r < 0) {
		snprintf(err, errlen,
			 "the weir-node at %s signs for \"%.64s\" under another identity than "
			 "%.16s...",
			 url, node, id);
		return -EACCES;
	}
	return 0;
}
