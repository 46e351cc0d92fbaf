// SPDX-License-Identifier: Apache-2.0
// AES-256-GCM through OpenSSL's EVP interface; a fresh 96-bit nonce from getrandom per seal.
// What must stay true: the key's memory is wiped on free, and a failed open returns no bytes.
#include "secret_box.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_LEN 32
#define NONCE_LEN 12
#define TAG_LEN 16
#define PREFIX "v1:"

struct secret_box {
	unsigned char key[KEY_LEN];
};

static int fill_random(unsigned char *p, size_t n)
{
	while (n) {
		ssize_t got = getrandom(p, n, 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

/* Creates the key file: written whole to a temporary name, then linked in place. */
static int create_key(const char *path, char *errbuf, size_t errlen)
{
	unsigned char key[KEY_LEN];
	char tmp[4200];
	int r = fill_random(key, sizeof(key));
	if (r < 0) {
		snprintf(errbuf, errlen, "secret key \"%s\": getrandom: %s", path, strerror(-r));
		return r;
	}
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		snprintf(errbuf, errlen, "secret key \"%s\": %s", tmp, strerror(-r));
		goto out;
	}
	if (write(fd, key, sizeof(key)) != (ssize_t)sizeof(key) || fsync(fd) < 0)
		r = -EIO;
	close(fd);
	if (r == 0 && link(tmp, path) < 0 && errno != EEXIST)
		r = -errno;
	unlink(tmp);
	if (r < 0)
		snprintf(errbuf, errlen, "secret key \"%s\": cannot create it: %s", path,
			 strerror(-r));
out:
	explicit_bzero(key, sizeof(key));
	return r;
}

int secret_box_open(const char *path, struct secret_box **ret, char *errbuf, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		int r = create_key(path, errbuf, errlen);
		if (r < 0)
			return r;
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0) {
		int r = -errno;
		snprintf(errbuf, errlen, "secret key \"%s\": %s%s", path, strerror(-r),
			 r == -ELOOP ? " (a symbolic link: refused)" : "");
		return r;
	}
	struct stat st;
	struct secret_box *b = NULL;
	int r = 0;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(errbuf, errlen, "secret key \"%s\": %s", path, strerror(-r));
	} else if (!S_ISREG(st.st_mode) || st.st_size != KEY_LEN) {
		snprintf(errbuf, errlen,
			 "secret key \"%s\" is not a file of %d bytes: move it away (the Secrets "
			 "sealed with it are then lost)",
			 path, KEY_LEN);
		r = -EINVAL;
	} else if ((st.st_mode & 077) || st.st_uid != geteuid()) {
		snprintf(errbuf, errlen,
			 "secret key \"%s\" has mode %04o, owner %u: it must be 0600 and ours "
			 "(chmod 600; chown)",
			 path, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid);
		r = -EPERM;
	} else if (!(b = calloc(1, sizeof(*b)))) {
		r = -ENOMEM;
		snprintf(errbuf, errlen, "out of memory");
	} else if (read(fd, b->key, KEY_LEN) != KEY_LEN) {
		r = -EIO;
		snprintf(errbuf, errlen, "secret key \"%s\": short read", path);
	}
	close(fd);
	if (r < 0) {
		secret_box_free(b);
		return r;
	}
	*ret = b;
	return 0;
}

void secret_box_free(struct secret_box *b)
{
	if (!b)
		return;
	explicit_bzero(b->key, sizeof(b->key));
	free(b);
}

int secret_box_seal(const struct secret_box *b, const char *aad, const void *plain, size_t len,
		    char **ret)
{
	size_t raw_len = NONCE_LEN + len + TAG_LEN;
	unsigned char *raw = malloc(raw_len);
	char *out = malloc(strlen(PREFIX) + 4 * ((raw_len + 2) / 3) + 1);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int r = -ENOMEM, n = 0;
	if (!raw || !out || !ctx)
		goto out;
	r = -EIO;
	if (fill_random(raw, NONCE_LEN) < 0 || len > INT32_MAX)
		goto out;
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, b->key, raw) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
	    EVP_EncryptUpdate(ctx, raw + NONCE_LEN, &n, plain, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(ctx, raw + NONCE_LEN + n, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, raw + NONCE_LEN + len) != 1)
		goto out;
	strcpy(out, PREFIX);
	EVP_EncodeBlock((unsigned char *)out + strlen(PREFIX), raw, (int)raw_len);
	*ret = out;
	out = NULL;
	r = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	free(raw);
	free(out);
	return r;
}

long secret_box_unseal(const struct secret_box *b, const char *aad, const char *sealed,
		       unsigned char **ret)
{
	size_t pl = strlen(PREFIX), sl = strlen(sealed);
	if (strncmp(sealed, PREFIX, pl) != 0 || (sl - pl) % 4 || sl - pl > (64u << 20))
		return -EBADMSG;
	size_t b64 = sl - pl;
	unsigned char *raw = malloc(b64 / 4 * 3 + 1);
	unsigned char *plain = NULL;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	long r = -ENOMEM;
	int n = 0, n2 = 0;
	if (!raw || !ctx)
		goto out;
	r = -EBADMSG;
	int got = EVP_DecodeBlock(raw, (const unsigned char *)sealed + pl, (int)b64);
	if (got < 0)
		goto out;
	/* our own encoder pads; the decoder counts padding as zero bytes */
	size_t pad = (b64 && sealed[sl - 1] == '=') + (b64 > 1 && sealed[sl - 2] == '=');
	size_t raw_len = (size_t)got - pad;
	if (raw_len < NONCE_LEN + TAG_LEN)
		goto out;
	size_t len = raw_len - NONCE_LEN - TAG_LEN;
	r = -ENOMEM;
	if (!(plain = malloc(len + 1)))
		goto out;
	r = -EBADMSG;
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, b->key, raw) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
	    EVP_DecryptUpdate(ctx, plain, &n, raw + NONCE_LEN, (int)len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, raw + NONCE_LEN + len) != 1 ||
	    EVP_DecryptFinal_ex(ctx, plain + n, &n2) != 1) {
		explicit_bzero(plain, len);
		goto out;
	}
	plain[len] = '\0';
	*ret = plain;
	plain = NULL;
	r = (long)len;
out:
	EVP_CIPHER_CTX_free(ctx);
	free(raw);
	free(plain);
	return r;
}
