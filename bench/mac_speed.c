// SPDX-License-Identifier: Apache-2.0
// What a block's integrity check costs per 4 MiB block, each in the same process, on the same
// blocks, in alternating rounds (bench/mac.sh builds and runs it): XXH3 (the index's checksum),
// SHA-256 (a pushed body's digest, peer_auth_body_digest), weir's reply MAC (peer_auth_sign_reply:
// an HMAC-SHA256 key derivation and Poly1305 over the body), GMAC (AES-256-GCM over the body as
// additional data, a fresh IV each time), and the server's reply MAC over a block mapped from a
// tmpfs tier file, mapped (mmap MAP_POPULATE + Poly1305 + munmap) or read in 64 KiB pieces into
// one small buffer (pread + Poly1305: what peer_server does before sendfile).
// Prints the median GB/s and µs per block of each, and ratios against SHA-256 and XXH3.
//   mac_speed BLOCK_BYTES NBLOCKS ROUNDS TIER_FILE
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "peer_auth.h"

enum { K_XXH3, K_SHA256, K_REPLY, K_GMAC, K_REPLY_MAPPED, K_REPLY_PREAD, K_N };
static const char *const names[K_N] = {
    "XXH3",	"SHA-256 (push body)",	       "reply MAC (HKDF+Poly1305)",
    "GMAC (AES-256-GCM)", "reply MAC, mmap of tier", "reply MAC, pread of tier"};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static volatile uint64_t sink;
static unsigned char piece[64 * 1024];

static void gmac(const unsigned char *buf, size_t len)
{
	static const unsigned char key[32] = {1, 2, 3};
	unsigned char iv[12] = {0}, tag[16];
	static uint64_t ctr;
	ctr++;
	memcpy(iv, &ctr, sizeof(ctr)); /* a unique IV per message, as GMAC needs */
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "GMAC", NULL);
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, "AES-256-GCM", 0),
	    OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_IV, iv, sizeof(iv)),
	    OSSL_PARAM_construct_end()};
	size_t tl = 0;
	if (!ctx || EVP_MAC_init(ctx, key, sizeof(key), params) != 1 ||
	    EVP_MAC_update(ctx, buf, len) != 1 || EVP_MAC_final(ctx, tag, &tl, sizeof(tag)) != 1) {
		fprintf(stderr, "mac_speed: GMAC failed\n");
		exit(1);
	}
	sink += tag[0];
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: mac_speed BLOCK_BYTES NBLOCKS ROUNDS TIER_FILE\n");
		return 2;
	}
	size_t bs = strtoull(argv[1], NULL, 10), nb = strtoull(argv[2], NULL, 10);
	int rounds = atoi(argv[3]);
	unsigned char *buf = malloc(bs * nb);
	if (!buf || rounds < 1 || nb < 1)
		return 2;
	for (size_t i = 0; i < bs * nb; i++)
		buf[i] = (unsigned char)(i * 2654435761u >> 13);
	int fd = open(argv[4], O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, buf, bs * nb) != (ssize_t)(bs * nb)) {
		fprintf(stderr, "mac_speed: cannot write the tier file %s\n", argv[4]);
		return 1;
	}
	struct peer_key key = {.len = 32};
	memset(key.bytes, 7, key.len);
	char req_mac[PEER_AUTH_MAC_HEX], tag[PEER_AUTH_TAG_HEX], nonce[PEER_AUTH_NONCE_HEX];
	char digest[PEER_AUTH_MAC_HEX];
	memset(req_mac, 'a', 64);
	req_mac[64] = '\0';
	double *secs = calloc((size_t)rounds * K_N, sizeof(double));
	for (int r = 0; r < rounds; r++) {
		/* each round runs every kind over the same nb blocks, in a rotated order */
		for (int j = 0; j < K_N; j++) {
			int k = (j + r) % K_N;
			double t0 = now();
			for (size_t b = 0; b < nb; b++) {
				const unsigned char *p = buf + b * bs;
				switch (k) {
				case K_XXH3:
					sink += XXH3_64bits(p, bs);
					break;
				case K_SHA256:
					peer_auth_body_digest(p, bs, digest);
					sink += (unsigned char)digest[0];
					break;
				case K_REPLY:
					peer_auth_nonce(nonce);
					if (peer_auth_sign_reply(&key, req_mac, nonce, 200, p, bs, 1,
								 tag) < 0)
						return 1;
					break;
				case K_GMAC:
					gmac(p, bs);
					break;
				case K_REPLY_MAPPED: {
					void *m = mmap(NULL, bs, PROT_READ, MAP_SHARED | MAP_POPULATE,
						       fd, (off_t)(b * bs));
					if (m == MAP_FAILED)
						return 1;
					peer_auth_nonce(nonce);
					if (peer_auth_sign_reply(&key, req_mac, nonce, 200, m, bs, 1,
								 tag) < 0)
						return 1;
					munmap(m, bs);
					break;
				}
				case K_REPLY_PREAD: {
					struct peer_reply_mac rm;
					peer_auth_nonce(nonce);
					if (peer_auth_reply_begin(&rm, &key, req_mac, nonce, 200, bs,
								  1) < 0)
						return 1;
					for (size_t off = 0; off < bs; off += sizeof(piece)) {
						size_t n = bs - off < sizeof(piece) ? bs - off
										    : sizeof(piece);
						if (pread(fd, piece, n, (off_t)(b * bs + off)) !=
						    (ssize_t)n)
							return 1;
						peer_auth_reply_update(&rm, piece, n);
					}
					if (peer_auth_reply_final(&rm, tag) < 0)
						return 1;
					break;
				}
				}
			}
			secs[k * rounds + r] = (now() - t0) / (double)nb;
		}
	}
	double med[K_N];
	for (int k = 0; k < K_N; k++) {
		qsort(secs + k * rounds, (size_t)rounds, sizeof(double), cmp_double);
		med[k] = secs[k * rounds + rounds / 2];
	}
	printf("%-30s %9s %12s %10s %10s\n", "per block of", "GB/s", "µs/block", "vs SHA-256",
	       "vs XXH3");
	for (int k = 0; k < K_N; k++)
		printf("%-30s %9.2f %12.1f %9.2fx %9.2fx\n", names[k], (double)bs / med[k] / 1e9,
		       med[k] * 1e6, med[K_SHA256] / med[k], med[K_XXH3] / med[k]);
	printf("(%zu-byte blocks, %zu per round, %d rounds, medians; speed ratios: >1 is faster)\n",
	       bs, nb, rounds);
	close(fd);
	unlink(argv[4]);
	free(secs);
	free(buf);
	return (int)(sink & 0);
}
