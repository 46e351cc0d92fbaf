// SPDX-License-Identifier: Apache-2.0
// A node's Ed25519 identity (node_id.h): the 32-byte seed in a private file, signatures through
// OpenSSL's EVP one-shot interface.
#include "node_id.h"
#include "hex.h"
#include "private_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEED_LEN 32
#define SIG_LEN 64
#define MSG_MAX 4096

struct node_id {
	EVP_PKEY *key;
	char pub[NODE_ID_PUB_HEX];
};

bool node_id_pub_valid(const char *s)
{
	unsigned char b[SEED_LEN];
	return s && hex_decode(s, strlen(s), b, sizeof(b));
}

/* Makes path with a fresh seed, whole or not at all: written and synced under a temporary name
 * beside it, then linked to path (which fails with EEXIST when another start made it first: its
 * key wins), and the directory synced. So a reader never sees a short file, and a crash leaves
 * at most a temporary. Returns 0, -EEXIST, or -errno. */
static int create(const char *path, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "node identity key path \"%.200s...\" is too long", path);
		return -ENAMETOOLONG;
	}
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot create the node identity key \"%s\": %s", path,
			 strerror(e));
		return -e;
	}
	unsigned char seed[SEED_LEN];
	char text[2 * SEED_LEN + 2];
	int r = 0;
	if (fchmod(fd, 0600) < 0) {
		r = -errno;
	} else if (RAND_bytes(seed, (int)sizeof(seed)) != 1) {
		r = -EIO;
	} else {
		hex_encode(seed, sizeof(seed), text);
		text[2 * SEED_LEN] = '\n';
		size_t len = 2 * SEED_LEN + 1;
		errno = 0;
		if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0)
			r = errno ? -errno : -EIO;
	}
	OPENSSL_cleanse(seed, sizeof(seed));
	OPENSSL_cleanse(text, sizeof(text));
	close(fd);
	if (r == 0 && link(tmp, path) < 0)
		r = -errno;
	unlink(tmp);
	if (r < 0 && r != -EEXIST)
		snprintf(err, errlen, "cannot write the node identity key \"%s\": %s", path,
			 strerror(-r));
	if (r == 0) {
		/* the new name survives a crash: sync the directory that holds it */
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", path);
		char *slash = strrchr(dir, '/');
		if (slash)
			*(slash == dir ? slash + 1 : slash) = '\0';
		int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			(void)fsync(dfd);
			close(dfd);
		}
	}
	return r;
}

int node_id_load(const char *path, struct node_id **ret, char *err, size_t errlen)
{
	int r = create(path, err, errlen);
	if (r < 0 && r != -EEXIST)
		return r;
	char buf[2 * SEED_LEN + 8];
	ssize_t n = private_file_read("node identity key", path, O_NOFOLLOW, buf, sizeof(buf),
				      err, errlen);
	if (n < 0)
		return (int)n;
	size_t len = (size_t)n;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	unsigned char seed[SEED_LEN];
	bool ok = hex_decode(buf, len, seed, sizeof(seed));
	OPENSSL_cleanse(buf, sizeof(buf));
	if (!ok) {
		snprintf(err, errlen,
			 "node identity key \"%s\" does not hold 64 lower-case hex digits (remove "
			 "it: the node makes a new one, and its peers must learn the new public key)",
			 path);
		return -EINVAL;
	}
	struct node_id *id = calloc(1, sizeof(*id));
	if (!id) {
		OPENSSL_cleanse(seed, sizeof(seed));
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	id->key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, sizeof(seed));
	OPENSSL_cleanse(seed, sizeof(seed));
	unsigned char pub[SEED_LEN];
	size_t publen = sizeof(pub);
	if (!id->key || EVP_PKEY_get_raw_public_key(id->key, pub, &publen) != 1 ||
	    publen != sizeof(pub)) {
		node_id_free(id);
		snprintf(err, errlen, "OpenSSL cannot make an Ed25519 key of \"%s\"", path);
		return -ENOMEM;
	}
	hex_encode(pub, sizeof(pub), id->pub);
	*ret = id;
	return 0;
}

void node_id_free(struct node_id *id)
{
	if (!id)
		return;
	EVP_PKEY_free(id->key);
	free(id);
}

const char *node_id_public(const struct node_id *id)
{
	return id->pub;
}

/* "<label>\n" msg into a heap buffer (*ret, *ret_len); NULL when too long or out of memory. */
static unsigned char *labelled(const char *label, const void *msg, size_t len, size_t *ret_len)
{
	size_t ll = strlen(label);
	/* a label with a newline would let "a\nb" + "c" sign as "a" + "b\nc" */
	if (len > MSG_MAX || ll > 256 || strchr(label, '\n'))
		return NULL;
	unsigned char *b = malloc(ll + 1 + len + 1);
	if (!b)
		return NULL;
	memcpy(b, label, ll);
	b[ll] = '\n';
	if (len)
		memcpy(b + ll + 1, msg, len);
	*ret_len = ll + 1 + len;
	return b;
}

int node_id_sign(const struct node_id *id, const char *label, const void *msg, size_t len,
		 char *out)
{
	size_t blen;
	unsigned char *b = labelled(label, msg, len, &blen);
	EVP_MD_CTX *ctx = b ? EVP_MD_CTX_new() : NULL;
	unsigned char sig[SIG_LEN];
	size_t siglen = sizeof(sig);
	int r = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, id->key) == 1 &&
			EVP_DigestSign(ctx, sig, &siglen, b, blen) == 1 && siglen == SIG_LEN
		    ? 0
		    : -ENOMEM;
	EVP_MD_CTX_free(ctx);
	free(b);
	if (r == 0)
		hex_encode(sig, SIG_LEN, out);
	return r;
}

int node_id_verify(const char *pub, const char *label, const void *msg, size_t len,
		   const char *sig)
{
	unsigned char p[SEED_LEN], s[SIG_LEN];
	if (!pub || !sig || !hex_decode(pub, strlen(pub), p, sizeof(p)) ||
	    !hex_decode(sig, strlen(sig), s, sizeof(s)))
		return -EINVAL;
	size_t blen;
	unsigned char *b = labelled(label, msg, len, &blen);
	if (!b)
		return -EINVAL;
	EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, p, sizeof(p));
	EVP_MD_CTX *ctx = k ? EVP_MD_CTX_new() : NULL;
	int r = -EACCES;
	if (ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k) == 1 &&
	    EVP_DigestVerify(ctx, s, sizeof(s), b, blen) == 1)
		r = 0;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(k);
	free(b);
	return r;
}
