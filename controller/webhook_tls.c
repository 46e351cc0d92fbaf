// SPDX-License-Identifier: Apache-2.0
// In-memory CA and serving certificate for the webhook, with OpenSSL. Nothing touches disk: the
// key lives as long as the process, and a restart makes (and registers) a new pair.
#include "webhook_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *bio_text(BIO *b)
{
	char *p = NULL;
	long n = BIO_get_mem_data(b, &p);
	char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
	if (s) {
		memcpy(s, p, (size_t)n);
		s[n] = '\0';
	}
	return s;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -EINVAL;
	int ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -ENOMEM;
}

/* A certificate for key, named cn, signed by issuer_key (issuer NULL: self-signed). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key)
{
	X509 *c = X509_new();
	unsigned char serial[16];
	if (!c || RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f; /* positive */
	BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c))) {
		BN_free(bn);
		goto fail;
	}
	BN_free(bn);
	X509_set_version(c, 2);
	X509_gmtime_adj(X509_getm_notBefore(c), -3600);
	X509_gmtime_adj(X509_getm_notAfter(c), 365L * 86400);
	X509_set_pubkey(c, key);
	X509_NAME *name = X509_get_subject_name(c);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name);
	return c;
fail:
	X509_free(c);
	return NULL;
}

void webhook_tls_clear(struct webhook_tls *t)
{
	free(t->ca_pem);
	free(t->cert_pem);
	if (t->key_pem)
		explicit_bzero(t->key_pem, strlen(t->key_pem));
	free(t->key_pem);
	memset(t, 0, sizeof(*t));
}

int webhook_tls_new(const char *host, struct webhook_tls *ret, char *errbuf, size_t errlen)
{
	EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *key = EVP_EC_gen("P-256");
	X509 *ca = NULL, *cert = NULL;
	BIO *b1 = BIO_new(BIO_s_mem()), *b2 = BIO_new(BIO_s_mem()), *b3 = BIO_new(BIO_s_mem());
	struct webhook_tls t = {0};
	char san[300];
	unsigned char addr[16];
	int r = -ENOMEM;
	bool ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
	snprintf(san, sizeof(san), "%s:%s", ip ? "IP" : "DNS", host);
	if (!ca_key || !key || !b1 || !b2 || !b3)
		goto out;
	ca = make_cert(ca_key, "weir-controller webhook CA", NULL, NULL);
	cert = ca ? make_cert(key, host, ca, ca_key) : NULL;
	if (!cert)
		goto out;
	r = -EINVAL;
	if (add_ext(ca, ca, NID_basic_constraints, "critical,CA:TRUE") < 0 ||
	    add_ext(ca, ca, NID_key_usage, "critical,keyCertSign,cRLSign") < 0 ||
	    add_ext(cert, ca, NID_subject_alt_name, san) < 0 ||
	    add_ext(cert, ca, NID_ext_key_usage, "serverAuth") < 0 ||
	    add_ext(cert, ca, NID_key_usage, "critical,digitalSignature") < 0 ||
	    !X509_sign(ca, ca_key, EVP_sha256()) || !X509_sign(cert, ca_key, EVP_sha256()))
		goto out;
	r = -ENOMEM;
	if (!PEM_write_bio_X509(b1, ca) || !PEM_write_bio_X509(b2, cert) ||
	    !PEM_write_bio_PrivateKey(b3, key, NULL, NULL, 0, NULL, NULL))
		goto out;
	t.ca_pem = bio_text(b1);
	t.cert_pem = bio_text(b2);
	t.key_pem = bio_text(b3);
	if (!t.ca_pem || !t.cert_pem || !t.key_pem)
		goto out;
	*ret = t;
	t = (struct webhook_tls){0};
	r = 0;
out:
	if (r < 0)
		snprintf(errbuf, errlen, "webhook: cannot make a certificate for \"%s\"", host);
	webhook_tls_clear(&t);
	X509_free(ca);
	X509_free(cert);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
	BIO_free(b1);
	BIO_free(b2);
	BIO_free(b3);
	return r;
}
