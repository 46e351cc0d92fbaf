// SPDX-License-Identifier: Apache-2.0
// /metrics' bearer token (metrics_token.h): made once in the state directory, read per scrape so
// a rotated Secret takes effect without a restart, compared by SHA-256 in constant time.
#include "metrics_token.h"
#include "private_file.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static void sha256(const void *buf, size_t len, unsigned char out[32])
{
	unsigned int mdlen = 32;
	if (EVP_Digest(buf, len, out, &mdlen, EVP_sha256(), NULL) != 1)
		/* a digest that matches nothing real: never equal to a token's */
		memset(out, 0xff, 32);
}

static size_t trim_len(const char *s, size_t len)
{
	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' ' ||
			   s[len - 1] == '\t'))
		len--;
	return len;
}

int metrics_token_ensure(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST)
			return 0;
		int e = errno;
		snprintf(err, errlen, "cannot create the metrics token \"%s\": %s", path,
			 strerror(e));
		return -e;
	}
	unsigned char rnd[32];
	char text[sizeof(rnd) * 2 + 2];
	int r = 1;
	if (RAND_bytes(rnd, (int)sizeof(rnd)) != 1) {
		r = -EIO;
		snprintf(err, errlen, "no random bytes for the metrics token \"%s\"", path);
	} else {
		for (size_t i = 0; i < sizeof(rnd); i++)
			snprintf(text + 2 * i, 3, "%02x", rnd[i]);
		text[2 * sizeof(rnd)] = '\n';
		size_t len = 2 * sizeof(rnd) + 1;
		errno = 0;
		if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0) {
			r = errno ? -errno : -EIO;
			snprintf(err, errlen, "cannot write the metrics token \"%s\": %s", path,
				 strerror(-r));
		}
	}
	OPENSSL_cleanse(rnd, sizeof(rnd));
	OPENSSL_cleanse(text, sizeof(text));
	close(fd);
	if (r < 0)
		unlink(path);
	return r;
}

int metrics_token_load(const char *path, unsigned char ret_digest[32], char *err, size_t errlen)
{
	char buf[METRICS_TOKEN_MAX + 2];
	ssize_t n = private_file_read("metrics token", path, 0, buf, sizeof(buf), err, errlen);
	int r = n < 0 ? (int)n : 0;
	size_t len = n < 0 ? 0 : trim_len(buf, (size_t)n);
	if (r == 0 && ((size_t)n > METRICS_TOKEN_MAX || len < METRICS_TOKEN_MIN)) {
		r = -EINVAL;
		snprintf(err, errlen, "metrics token \"%s\" holds %s bytes; it needs %d to %d",
			 path, (size_t)n > METRICS_TOKEN_MAX ? "too many" : "too few",
			 METRICS_TOKEN_MIN, METRICS_TOKEN_MAX);
	}
	if (r == 0)
		sha256(buf, len, ret_digest);
	OPENSSL_cleanse(buf, sizeof(buf));
	return r;
}

bool metrics_token_matches(const unsigned char digest[32], const char *authorization)
{
	static const char scheme[] = "Bearer ";
	if (!authorization || strncasecmp(authorization, scheme, sizeof(scheme) - 1) != 0)
		return false;
	const char *tok = authorization + sizeof(scheme) - 1;
	while (*tok == ' ')
		tok++;
	unsigned char got[32];
	sha256(tok, trim_len(tok, strlen(tok)), got);
	bool eq = CRYPTO_memcmp(got, digest, 32) == 0;
	OPENSSL_cleanse(got, sizeof(got));
	return eq;
}
