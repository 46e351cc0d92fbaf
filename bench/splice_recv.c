// SPDX-License-Identifier: Apache-2.0
// The estimate behind a peer read by splice (bench/splice-recv.sh, issue 15 (c)): what a reading
// weir-node pays to take N bytes off a TCP socket into a tmpfs tier file, 4 MiB blocks, each
// block's XXH3 and its reply's Poly1305 tag (OpenSSL, as weir's peer_auth) taken, by four routes:
//   curl    recv into a 512 KiB buffer (curl's, CURLOPT_BUFFERSIZE), memcpy into the block
//           buffer with the sum and tag updated per part (as peer_client's body_cb), pwrite of the
//           whole block to the tier file (what io_uring's worker does for weir)
//   direct  recv straight into the block buffer, sum, pwrite: the cheapest user-space route
//   splice  splice(socket -> pipe -> tier file) per block, then the sum read from the tier file's
//           pages through a read-only mapping, both in one pass of 256 KiB pieces ("write
//           unverified, sum from the page cache")
//   splice-hot  the same, each 256 KiB piece summed and tagged as soon as it is in the file
//   splice-nosum, curl-nosum  without sum or tag: what each route's copies cost alone
// The sender serves a tmpfs file with sendfile, as a weir-node's peer server does.
//   splice_recv send PORT FILE           accepts one connection per run, sends FILE, repeats
//   splice_recv recv HOST PORT MODE TIER  reads one FILE's worth; prints
//                                         "MODE bytes wall_s user_s sys_s xxh3"
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <xxhash.h>

#define BLOCK (4u << 20)
#define CURLBUF (512u << 10)
#define PIECE (256u << 10)

static void die(const char *what);
static EVP_MAC *poly;
static const unsigned char mac_key[32] = "weir bench splice-recv one key.";

// the reply tag: Poly1305 under a one-time key (a fixed one here, so the routes' tags compare)
static EVP_MAC_CTX *mac_new(void)
{
	EVP_MAC_CTX *c = EVP_MAC_CTX_new(poly);
	if (!c || EVP_MAC_init(c, mac_key, sizeof mac_key, NULL) != 1)
		die("Poly1305");
	return c;
}

static uint64_t mac_end(EVP_MAC_CTX *c)
{
	unsigned char md[16];
	size_t n = 0;
	uint64_t v;
	if (EVP_MAC_final(c, md, &n, sizeof md) != 1)
		die("Poly1305 final");
	EVP_MAC_CTX_free(c);
	memcpy(&v, md, sizeof v);
	return v;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static _Noreturn void do_send(int port, const char *path)
{
	// no descriptor of the caller's kept open for as long as this runs (a bench lock's, say)
	close_range(3, ~0u, 0);
	int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	if (ls < 0)
		die("socket");
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 4))
		die("bind/listen");
	printf("listening %d\n", (int)getpid());
	fflush(stdout);
	for (;;) {
		int c = accept(ls, NULL, NULL), f = open(path, O_RDONLY);
		struct stat st;
		if (c < 0 || f < 0 || fstat(f, &st))
			die("accept/open");
		uint64_t sz = st.st_size;
		if (write(c, &sz, sizeof sz) != sizeof sz) // the length first, as a Content-Length
			die("write");
		off_t off = 0;
		while (off < st.st_size) {
			ssize_t n = sendfile(c, f, &off, st.st_size - off);
			if (n <= 0)
				die("sendfile");
		}
		close(f);
		close(c);
	}
}

// read_full: recv exactly len bytes into p
static void read_full(int s, char *p, size_t len)
{
	while (len) {
		ssize_t n = recv(s, p, len, 0);
		if (n <= 0)
			die("recv");
		p += n, len -= n;
	}
}

static int do_recv(const char *host, int port, const char *mode, const char *tier)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	inet_pton(AF_INET, host, &a.sin_addr);
	int t = open(tier, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (s < 0 || t < 0)
		die("socket/open tier");
	int curl = !strncmp(mode, "curl", 4), direct = !strcmp(mode, "direct");
	int sp = !strncmp(mode, "splice", 6), hot = !strcmp(mode, "splice-hot");
	int sum = strstr(mode, "-nosum") == NULL;
	if (!curl && !direct && !sp) {
		fprintf(stderr,
			"mode: curl, curl-nosum, direct, splice, splice-hot or splice-nosum\n");
		return 2;
	}
	char *blk = NULL, *cbuf = NULL;
	int pfd[2] = {-1, -1};
	if (!sp) {
		blk = aligned_alloc(4096, BLOCK); // reused, as weir keeps its block buffers
		memset(blk, 0, BLOCK);
		if (curl) {
			cbuf = malloc(CURLBUF);
			memset(cbuf, 0, CURLBUF);
		}
	} else {
		if (pipe(pfd))
			die("pipe");
		// as large as an unprivileged process may make it (pipe-max-size, 1 MiB here)
		if (fcntl(pfd[1], F_SETPIPE_SZ, 1 << 20) < 0)
			die("F_SETPIPE_SZ");
	}
	struct rusage r0, r1;
	getrusage(RUSAGE_SELF, &r0);
	double t0 = now();
	if (connect(s, (struct sockaddr *)&a, sizeof a))
		die("connect");
	uint64_t total, done = 0, xsum = 0;
	read_full(s, (char *)&total, sizeof total);
	while (done < total) {
		size_t len = total - done < BLOCK ? total - done : BLOCK;
		uint64_t h = 0, tag = 0;
		if (curl) {
			XXH3_state_t *st = XXH3_createState();
			EVP_MAC_CTX *mc = sum ? mac_new() : NULL;
			XXH3_64bits_reset(st);
			size_t got = 0;
			while (got < len) {
				size_t want = len - got < CURLBUF ? len - got : CURLBUF;
				ssize_t n =
				    recv(s, cbuf, want, 0); // curl hands on what one recv gave
				if (n <= 0)
					die("recv");
				if (sum) { // body_cb's order: tag, sum, copy
					EVP_MAC_update(mc, (unsigned char *)cbuf, n);
					XXH3_64bits_update(st, cbuf, n);
				}
				memcpy(blk + got, cbuf, n);
				got += n;
			}
			if (sum) {
				h = XXH3_64bits_digest(st);
				tag = mac_end(mc);
			}
			XXH3_freeState(st);
		} else if (direct) {
			read_full(s, blk, len);
			EVP_MAC_CTX *mc = mac_new();
			EVP_MAC_update(mc, (unsigned char *)blk, len);
			tag = mac_end(mc);
			h = XXH3_64bits(blk, len);
		}
		if (!sp) {
			if (pwrite(t, blk, len, done) != (ssize_t)len)
				die("pwrite");
		} else {
			size_t in = 0, out = 0, hashed = 0;
			loff_t off = done;
			// splice-hot: each piece summed and tagged as soon as it is in the file,
			// while its pages are still in the CPU's cache
			XXH3_state_t *hst = NULL;
			EVP_MAC_CTX *hmc = NULL;
			if (hot) {
				hst = XXH3_createState();
				XXH3_64bits_reset(hst);
				hmc = mac_new();
			}
			while (out < len) {
				if (in < len) {
					ssize_t n = splice(s, NULL, pfd[1], NULL, len - in,
							   SPLICE_F_MOVE | SPLICE_F_MORE);
					if (n <= 0)
						die("splice from the socket");
					in += n;
				}
				while (out < in) {
					ssize_t n =
					    splice(pfd[0], NULL, t, &off, in - out, SPLICE_F_MOVE);
					if (n <= 0)
						die("splice into the tier file");
					out += n;
				}
				while (hot && hashed < out &&
				       (out - hashed >= PIECE || out == len)) {
					size_t k = out - hashed < PIECE ? out - hashed : PIECE;
					char *m = mmap(NULL, k, PROT_READ,
						       MAP_SHARED | MAP_POPULATE, t, done + hashed);
					if (m == MAP_FAILED)
						die("mmap");
					XXH3_64bits_update(hst, m, k);
					EVP_MAC_update(hmc, (unsigned char *)m, k);
					munmap(m, k);
					hashed += k;
				}
			}
			if (hot) {
				h = XXH3_64bits_digest(hst);
				tag = mac_end(hmc);
				XXH3_freeState(hst);
			} else if (sum) {
				char *m =
				    mmap(NULL, len, PROT_READ, MAP_SHARED | MAP_POPULATE, t, done);
				if (m == MAP_FAILED)
					die("mmap");
				XXH3_state_t *st = XXH3_createState();
				EVP_MAC_CTX *mc = mac_new();
				XXH3_64bits_reset(st);
				for (size_t o = 0; o < len;
				     o += PIECE) { // both over a piece while in cache
					size_t k = len - o < PIECE ? len - o : PIECE;
					XXH3_64bits_update(st, m + o, k);
					EVP_MAC_update(mc, (unsigned char *)m + o, k);
				}
				h = XXH3_64bits_digest(st);
				tag = mac_end(mc);
				XXH3_freeState(st);
				munmap(m, len);
			}
		}
		xsum ^= (h ^ tag) + done;
		done += len;
	}
	double t1 = now();
	getrusage(RUSAGE_SELF, &r1);
	double us = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) +
		    (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6;
	double ss = (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
		    (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
	printf("%s %llu %.3f %.3f %.3f %016llx\n", mode, (unsigned long long)total, t1 - t0, us, ss,
	       (unsigned long long)xsum);
	close(s);
	close(t);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "send"))
		do_send(atoi(argv[2]), argv[3]);
	poly = EVP_MAC_fetch(NULL, "POLY1305", NULL);
	if (!poly)
		die("EVP_MAC_fetch POLY1305");
	if (argc == 6 && !strcmp(argv[1], "recv"))
		return do_recv(argv[2], atoi(argv[3]), argv[4], argv[5]);
	fprintf(stderr, "usage: %s send PORT FILE | recv HOST PORT MODE TIER\n", argv[0]);
	return 2;
}
