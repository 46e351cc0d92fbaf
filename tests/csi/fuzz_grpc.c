// SPDX-License-Identifier: Apache-2.0
// A bounded random-mutation fuzzer for weir-csi's gRPC layer: valid HTTP/2 conversations
// (made by an nghttp2 client in memory: CSI calls with good, bad and oversize frames) are
// mutated (bit flips, byte runs, cuts, splices, duplications) and fed, in random chunk sizes,
// to server connections whose method table has every CSI path and request type. Also feeds
// random bodies to the frame decoder. Crashes and sanitizer reports are the failures.
//
//   fuzz_grpc [ITERATIONS [SEED]]     (defaults: 20000, time-based; prints the seed)
#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "csi.pb-c.h"
#include "grpc_client.h"
#include "grpc_server.h"
#include "pluginregistration.pb-c.h"

static int empty_reply(void *ctx, const ProtobufCMessage *req, struct grpc_reply *rp)
{
	/* answer every other call with an error, so both response forms are exercised */
	unsigned long *calls = ctx;
	if ((*calls)++ & 1)
		return grpc_reply_error(rp, -EINVAL, "field \"%s\" \x01 100%%",
					req->descriptor->short_name);
	Csi__V1__NodeGetInfoResponse resp = CSI__V1__NODE_GET_INFO_RESPONSE__INIT;
	resp.node_id = "fuzz";
	return grpc_reply_set(rp, &resp.base);
}

#define M(path, desc)                                                                              \
	{                                                                                          \
		path, &desc, empty_reply, false                                                    \
	}
static const struct grpc_method methods[] = {
    M("/csi.v1.Identity/GetPluginInfo", csi__v1__get_plugin_info_request__descriptor),
    M("/csi.v1.Identity/Probe", csi__v1__probe_request__descriptor),
    M("/csi.v1.Node/NodePublishVolume", csi__v1__node_publish_volume_request__descriptor),
    M("/csi.v1.Node/NodeUnpublishVolume", csi__v1__node_unpublish_volume_request__descriptor),
    M("/csi.v1.Node/NodeGetVolumeStats", csi__v1__node_get_volume_stats_request__descriptor),
    M("/csi.v1.Node/NodeStageVolume", csi__v1__node_stage_volume_request__descriptor),
    M("/pluginregistration.Registration/GetInfo", pluginregistration__info_request__descriptor),
};

/* ---- seeds: what a client sends, captured from an nghttp2 client session ---- */

#define NV(n, v)                                                                                   \
	{                                                                                          \
		(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE         \
	}

static size_t make_seed(uint8_t *out, size_t cap, int variant)
{
	nghttp2_session_callbacks *cbs;
	nghttp2_session *s;
	nghttp2_session_callbacks_new(&cbs);
	nghttp2_session_client_new(&s, cbs, NULL);
	nghttp2_session_callbacks_del(cbs);
	nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, NULL, 0);

	Csi__V1__NodePublishVolumeRequest pub = CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__INIT;
	Csi__V1__VolumeCapability vc = CSI__V1__VOLUME_CAPABILITY__INIT;
	Csi__V1__VolumeCapability__MountVolume mv = CSI__V1__VOLUME_CAPABILITY__MOUNT_VOLUME__INIT;
	Csi__V1__VolumeCapability__AccessMode am = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__INIT;
	Csi__V1__NodePublishVolumeRequest__VolumeContextEntry e =
	    CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__VOLUME_CONTEXT_ENTRY__INIT;
	Csi__V1__NodePublishVolumeRequest__VolumeContextEntry *ep = &e;
	e.key = "dataset";
	e.value = "spark";
	am.mode = 3;
	vc.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT;
	vc.mount = &mv;
	vc.access_mode = &am;
	pub.volume_id = "development/spark";
	pub.target_path = "/fuzz/target";
	pub.volume_capability = &vc;
	pub.volume_context = &ep;
	pub.n_volume_context = 1;
	static uint8_t bodies[4][512];
	size_t n = protobuf_c_message_get_packed_size(&pub.base);
	grpc_frame_header(bodies[0], (uint32_t)n);
	protobuf_c_message_pack(&pub.base, bodies[0] + 5);
	size_t lens[4] = {5 + n, 5, 6, 9};
	memset(bodies[1], 0, 5);
	memcpy(bodies[2], "\x01\0\0\0\x01\x00", 6);
	memcpy(bodies[3], "\0\xff\xff\xff\xff\0\0\0\0", 9);
	static const char *const paths[] = {"/csi.v1.Node/NodePublishVolume",
					    "/csi.v1.Identity/Probe", "/csi.v1.Node/Nope",
					    "/pluginregistration.Registration/GetInfo"};
	struct grpc_body_src b[6];
	for (int i = 0; i < 6; i++) {
		int k = (i + variant) % 4;
		nghttp2_nv hdrs[] = {NV(":method", "POST"),
				     NV(":scheme", "http"),
				     NV(":authority", "x"),
				     NV(":path", paths[(i + variant) % 4]),
				     NV("content-type", "application/grpc"),
				     NV("te", "trailers")};
		b[i] = (struct grpc_body_src){bodies[k], lens[k], 0};
		nghttp2_data_provider dp = {.source.ptr = &b[i],
					    .read_callback = grpc_client_body_read};
		nghttp2_submit_request(s, NULL, hdrs, 6, &dp, NULL);
	}
	nghttp2_submit_ping(s, NGHTTP2_FLAG_NONE, NULL);
	size_t len = 0;
	for (;;) {
		const uint8_t *d;
		ssize_t got = nghttp2_session_mem_send(s, &d);
		if (got <= 0 || len + (size_t)got > cap)
			break;
		memcpy(out + len, d, (size_t)got);
		len += (size_t)got;
	}
	nghttp2_session_del(s);
	return len;
}

/* ---- mutation ---- */

static uint64_t rng;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

static size_t mutate(uint8_t *b, size_t len, size_t cap)
{
	int rounds = 1 + rnd() % 8;
	for (int i = 0; i < rounds && len > 0; i++) {
		size_t at = rnd() % len;
		switch (rnd() % 6) {
		case 0:
			b[at] ^= (uint8_t)(1u << (rnd() % 8));
			break;
		case 1:
			b[at] = (uint8_t)rnd();
			break;
		case 2: { /* interesting bytes: lengths and flags */
			static const uint8_t v[] = {0, 1, 0x7f, 0x80, 0xff, 0xfe, 5, 0x40};
			b[at] = v[rnd() % sizeof(v)];
			break;
		}
		case 3: /* cut */
			len = at + (len - at) / 2;
			break;
		case 4: { /* duplicate a run */
			size_t n = 1 + rnd() % 64;
			if (at + n > len)
				n = len - at;
			if (len + n > cap)
				break;
			memmove(b + at + n, b + at, len - at);
			len += n;
			break;
		}
		case 5: { /* delete a run */
			size_t n = 1 + rnd() % 32;
			if (at + n > len)
				n = len - at;
			memmove(b + at, b + at + n, len - at - n);
			len -= n;
			break;
		}
		}
	}
	return len;
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 20000;
	uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : (uint64_t)time(NULL);
	rng = seed | 1;
	printf("fuzz_grpc: %ld iterations, seed %llu\n", iters, (unsigned long long)seed);
	unsigned long calls = 0;
	struct grpc_server *srv = grpc_server_new(0);
	char sock[64];
	snprintf(sock, sizeof(sock), "/tmp/weir-fuzz-%d.sock", (int)getpid());
	if (!srv || grpc_server_listen(srv, sock, 0600, methods,
				       sizeof(methods) / sizeof(methods[0]), &calls) < 0) {
		fprintf(stderr, "fuzz_grpc: cannot set up the server\n");
		return 1;
	}
	static uint8_t seeds[4][16384], buf[32768];
	size_t seed_len[4];
	for (int v = 0; v < 4; v++)
		seed_len[v] = make_seed(seeds[v], sizeof(seeds[v]), v);
	for (int v = 0; v < 4; v++)
		printf("fuzz_grpc: seed %d is %zu bytes\n", v, seed_len[v]);
	long broken = 0;
	for (long i = 0; i < iters; i++) {
		int v = (int)(rnd() % 4);
		memcpy(buf, seeds[v], seed_len[v]);
		/* keep the preface intact most of the time, so frames get parsed */
		size_t keep = rnd() % 4 ? 24 : 0;
		size_t len = keep + mutate(buf + keep, seed_len[v] - keep, sizeof(buf) - keep);
		struct grpc_conn *c = grpc_conn_new_mem(srv, 0);
		for (size_t off = 0; off < len;) {
			size_t n = 1 + rnd() % 512;
			if (n > len - off)
				n = len - off;
			if (grpc_conn_feed(c, buf + off, n) < 0) {
				broken++;
				break;
			}
			off += n;
		}
		grpc_conn_free(c);
		/* the frame decoder alone, on random bodies */
		uint8_t body[64];
		size_t bl = rnd() % sizeof(body);
		for (size_t k = 0; k < bl; k++)
			body[k] = (uint8_t)(rnd() % 3 ? rnd() % 4 : rnd());
		const uint8_t *m;
		size_t ml;
		if (grpc_frame_decode(body, bl, 32, &m, &ml) == 0 &&
		    (ml > 32 || m != body + 5 || ml + 5 != bl)) {
			fprintf(stderr, "fuzz_grpc: decode accepted a bad frame (seed %llu, %ld)\n",
				(unsigned long long)seed, i);
			return 1;
		}
	}
	grpc_server_free(srv);
	printf("fuzz_grpc: done; %ld of %ld conversations broke the session (refused cleanly), "
	       "%lu calls reached a handler\n",
	       broken, iters, calls);
	return 0;
}
