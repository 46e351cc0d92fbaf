// SPDX-License-Identifier: Apache-2.0
// Peers: the MACs of requests and replies (forged, tampered, replayed late, wrong key), the key
// file's checks, and placement (every node computes the same owners; replicas bound the cache
// nodes; a node down moves only its own blocks).
/* RAND_set_rand_method (deprecated in OpenSSL 3, still honoured by RAND_bytes): the one way to
 * make this process's randomness fail for a test */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "member_prove.h"
#include "member_sync.h"
#include "near_cache.h"
#include "node_id.h"
#include "peer_auth.h"
#include "peer_client.h"
#include "rendezvous.h"
#include "store_kube.h"
#include "suites.h"
#include "peer_memo.h"

#include <xxhash.h>

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
				     .to = "n1",
				     .time = 1000,
				     .nonce = "00112233445566778899aabbccddeeff",
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
	char mac[PEER_AUTH_MAC_HEX], bad_mac_buf[PEER_AUTH_MAC_HEX];
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
	/* addressed to n1: it fails at any other node (a relay passing it on), and at a node that
	 * names none */
	t = rq;
	t.to = "n3";
	ck_assert_int_eq(peer_auth_verify_request(&k, &t, mac, 1010, 60), -EACCES);
	t.to = NULL;
	ck_assert_int_eq(peer_auth_verify_request(&k, &t, mac, 1010, 60), -EACCES);
	t.to = "n1\nn3";
	ck_assert_int_eq(peer_auth_sign_request(&k, &t, bad_mac_buf), -EINVAL);
	t = rq;
	t.etag = "\"abc-124\"";
	ck_assert_int_eq(peer_auth_verify_request(&k, &t, mac, 1010, 60), -EACCES);
	t = rq;
	t.time = 1001;
	ck_assert_int_eq(peer_auth_verify_request(&k, &t, mac, 1010, 60), -EACCES);
	/* the nonce is signed, and a request has one of 32 hex digits */
	t = rq;
	t.nonce = "00112233445566778899aabbccddeefe";
	ck_assert_int_eq(peer_auth_verify_request(&k, &t, mac, 1010, 60), -EACCES);
	t.nonce = NULL;
	ck_assert_int_eq(peer_auth_sign_request(&k, &t, bad_mac_buf), -EINVAL);
	t.nonce = "0011";
	ck_assert_int_eq(peer_auth_sign_request(&k, &t, bad_mac_buf), -EINVAL);
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

/* A member's proof in its Lease (weir.io/peer-mac): the key's HMAC of its name, URL and
 * identity, as a second implementation computes it (Python: hmac.new(key,
 * "weir-peer-member-v2\nn2\n" + url + "\n" + id, sha256)); another name, URL, identity or key,
 * or none, is no proof. */
START_TEST(member_mac_binds_name_url_and_id)
{
	struct peer_key k = key_of("0123456789abcdef0123"), other = key_of("0123456789abcdef0124");
	static const char url[] = "http://10.0.0.2:7070";
	char id[NODE_ID_PUB_HEX];
	memset(id, 'a', 64);
	id[64] = '\0';
	char mac[PEER_AUTH_MAC_HEX];
	ck_assert_int_eq(peer_auth_member_mac(&k, "n2", url, id, mac), 0);
	ck_assert_str_eq(mac, "36d1c1c662eaf38a453b691db9098598a023b333634c6b343828ecd6860ebbc5");
	ck_assert_int_eq(peer_auth_member_check(&k, "n2", url, id, mac), 0);
	ck_assert_int_eq(peer_auth_member_check(&k, "n3", url, id, mac), -EACCES);
	ck_assert_int_eq(peer_auth_member_check(&k, "n2", "http://10.6.6.6:7070", id, mac),
			 -EACCES);
	ck_assert_int_eq(peer_auth_member_check(&other, "n2", url, id, mac), -EACCES);
	ck_assert_int_eq(peer_auth_member_check(&k, "n2", url, id, ""), -EACCES);
	ck_assert_int_eq(peer_auth_member_check(&k, "n2", url, id, NULL), -EACCES);
	ck_assert_int_eq(peer_auth_member_mac(&k, "n2\nhttp://x:1", url, id, mac), -EINVAL);
	ck_assert_int_eq(peer_auth_member_mac(&k, "n2", url, "x\ny", mac), -EINVAL);
}
END_TEST

/* A Lease writer with the key's MAC for one identity cannot swap in another: the MAC for another
 * id, and a v1 MAC (name and URL only, what nodes wrote before identities), are refused. */
START_TEST(member_mac_refuses_another_id_and_v1)
{
	struct peer_key k = key_of("0123456789abcdef0123");
	static const char url[] = "http://10.0.0.2:7070";
	char id[NODE_ID_PUB_HEX], id2[NODE_ID_PUB_HEX];
	memset(id, 'a', 64);
	id[64] = '\0';
	memset(id2, 'b', 64);
	id2[64] = '\0';
	char mac[PEER_AUTH_MAC_HEX];
	ck_assert_int_eq(peer_auth_member_mac(&k, "n2", url, id, mac), 0);
	ck_assert_int_eq(peer_auth_member_check(&k, "n2", url, id2, mac), -EACCES);
	ck_assert_int_eq(peer_auth_member_check(&k, "n2", url, "", mac), -EACCES);
	/* v1: hmac.new(key, "weir-peer-member-v1\nn2\n" + url, sha256) */
	static const char v1[] = "263d2d84cd3f5ffb93cb2ac986d41911207d239c94fd62d2d32ac4453a3d95a4";
	ck_assert_int_eq(peer_auth_member_check(&k, "n2", url, id, v1), -EACCES);
	ck_assert_int_eq(peer_auth_member_check(&k, "n2", url, "", v1), -EACCES);
}
END_TEST

/* A fresh Lease as store_kube_peers reports it: node, url, id and the key's v2 MAC for them. */
static struct store_kube_peer lease_of(const struct peer_key *k, const char *node, const char *url,
				       char idc)
{
	struct store_kube_peer p = {0};
	snprintf(p.node, sizeof(p.node), "%s", node);
	snprintf(p.url, sizeof(p.url), "%s", url);
	if (idc) {
		memset(p.id, idc, 64);
		p.id[64] = '\0';
	}
	ck_assert_int_eq(peer_auth_member_mac(k, node, url, p.id, p.mac), 0);
	return p;
}

static void member_is(const struct member_entry *e, const char *node, const char *url, char idc)
{
	char id[NODE_ID_PUB_HEX];
	memset(id, idc, 64);
	id[64] = '\0';
	ck_assert_str_eq(e->node, node);
	ck_assert_str_eq(e->url, url);
	ck_assert_str_eq(e->id, id);
}

/* A node name's identity is pinned on first use: a Lease (with the key's MAC, as a key holder
 * who may write Leases can make) that names another identity is not taken while the pinned one
 * was seen within MEMBER_SYNC_PIN_KEEP_S; the member keeps its old record. Once the pinned one
 * has been unseen longer (a node whose node-id.key was replaced), the new one is taken. A Lease
 * with no identity, or a v1 MAC, is no member. */
START_TEST(lease_identities_are_pinned_while_fresh)
{
	struct peer_key k = key_of("0123456789abcdef0123");
	struct member_sync_kube *mk = calloc(1, sizeof(*mk));
	ck_assert_ptr_nonnull(mk);
	mk->key = &k;
	struct member_entry ret[4];
	static const char u1[] = "http://10.0.0.1:7070", u2[] = "http://10.0.0.2:7070",
			  u6[] = "http://10.6.6.6:7070";
	struct store_kube_peer l[3] = {lease_of(&k, "n1", u1, 'a'), lease_of(&k, "n2", u2, 'b')};
	ck_assert_uint_eq(member_sync_kube_take(mk, 1000, l, 2, ret), 2);
	member_is(&ret[0], "n1", u1, 'a');
	member_is(&ret[1], "n2", u2, 'b');
	/* n2's Lease rewritten with another identity and address, correctly signed: not taken */
	l[1] = lease_of(&k, "n2", u6, 'c');
	ck_assert_uint_eq(member_sync_kube_take(mk, 1010, l, 2, ret), 2);
	member_is(&ret[1], "n2", u2, 'b');
	/* the real n2 renews (seen at 1020), then the forged Lease is back until 1080: kept */
	l[1] = lease_of(&k, "n2", u2, 'b');
	ck_assert_uint_eq(member_sync_kube_take(mk, 1020, l, 2, ret), 2);
	l[1] = lease_of(&k, "n2", u6, 'c');
	for (int64_t t = 1021; t <= 1020 + MEMBER_SYNC_PIN_KEEP_S; t++) {
		ck_assert_uint_eq(member_sync_kube_take(mk, t, l, 2, ret), 2);
		member_is(&ret[1], "n2", u2, 'b');
	}
	/* the old identity unseen longer than that: the new one is taken, and pinned */
	ck_assert_uint_eq(member_sync_kube_take(mk, 1021 + MEMBER_SYNC_PIN_KEEP_S, l, 2, ret), 2);
	member_is(&ret[1], "n2", u6, 'c');
	l[1] = lease_of(&k, "n2", u2, 'b');
	ck_assert_uint_eq(member_sync_kube_take(mk, 1022 + MEMBER_SYNC_PIN_KEEP_S, l, 2, ret), 2);
	member_is(&ret[1], "n2", u6, 'c');
	/* a member that moves (same identity) is followed */
	l[0] = lease_of(&k, "n1", u6, 'a');
	ck_assert_uint_eq(member_sync_kube_take(mk, 1023 + MEMBER_SYNC_PIN_KEEP_S, l, 1, ret), 1);
	member_is(&ret[0], "n1", u6, 'a');
	/* no identity; a v1 MAC (name and URL only); a MAC for another identity: no member */
	l[0] = lease_of(&k, "n3", u1, 0);
	l[1] = lease_of(&k, "n4", u1, 'd');
	/* v1: hmac.new(key, "weir-peer-member-v1\nn4\n" + u1, sha256) */
	static const char v1[] = "066662379737b0104038bfe9eff799078369e151d4fdcc348046f4b904b6ad57";
	ck_assert_int_eq(peer_auth_member_mac(&k, "n4", u1, "", l[1].mac), 0);
	l[2] = lease_of(&k, "n5", u1, 'e');
	l[2].id[0] = 'f';
	ck_assert_uint_eq(member_sync_kube_take(mk, 1100, l, 3, ret), 0);
	snprintf(l[1].mac, sizeof(l[1].mac), "%s", v1);
	ck_assert_uint_eq(member_sync_kube_take(mk, 1100, l, 2, ret), 0);
	free(mk);
}
END_TEST

/* with_pod: l's node runs weir-node pod uid (created at created, its "peer" port port) at ip,
 * as its only one; the Lease renewed at renewed (store_kube_peers' attestation) */
static struct store_kube_peer with_pod(struct store_kube_peer l, const char *uid, const char *ip,
				       int port, int64_t created, int64_t renewed)
{
	memset(l.pods, 0, sizeof(l.pods));
	snprintf(l.pods[0].uid, sizeof(l.pods[0].uid), "%s", uid);
	snprintf(l.pods[0].ip, sizeof(l.pods[0].ip), "%s", ip);
	l.pods[0].port = port;
	l.pods[0].created = created;
	l.npods = 1;
	l.renewed = renewed;
	return l;
}

/* Which identity the weir-node at each URL holds, for a fake proof (member_sync_kube.prove) */
struct fake_prover {
	const char *url[4];
	char idc[4];
	int calls;
};

static int fake_prove(void *arg, const char *url, const char *node, const char *id, char *err,
		      size_t errlen)
{
	struct fake_prover *fp = arg;
	fp->calls++;
	/* asked about the Lease's own name: n<digit>, at that node's URL */
	char at[8], at6[8];
	snprintf(at, sizeof(at), "%c:70", node[1]);
	snprintf(at6, sizeof(at6), "%c]:70", node[1]);
	ck_assert_msg(node[0] == 'n' && (strstr(url, at) || strstr(url, at6)),
		      "asked about %s at %s", node, url);
	for (int i = 0; i < 4; i++)
		if (fp->url[i] && !strcmp(fp->url[i], url)) {
			char want[NODE_ID_PUB_HEX];
			memset(want, fp->idc[i], 64);
			want[64] = '\0';
			if (!strcmp(want, id))
				return 0;
			snprintf(err, errlen, "another identity there");
			return -EACCES;
		}
	snprintf(err, errlen, "nobody there");
	return -ECONNREFUSED;
}

/* With the weir-nodes' pods watched (attest): a Lease, however well signed, is a member only
 * while a weir-node pod runs on its node at its URL's address and port, created before the
 * Lease's last renewal, and a Lease not as pinned (a new node, pod, URL or identity) only once
 * the weir-node at its URL proves the identity. A forged identity is never taken, under the same
 * pod or a new one; the pinned member is given for MEMBER_SYNC_PIN_FRESH_S after its identity
 * was last seen, then not at all; a new key that its weir-node proves is taken at once. */
START_TEST(lease_members_need_a_weir_node_pod)
{
	struct peer_key k = key_of("0123456789abcdef0123");
	struct member_sync_kube *mk = calloc(1, sizeof(*mk));
	ck_assert_ptr_nonnull(mk);
	static const char u1[] = "http://10.0.0.1:7070", u2[] = "http://10.0.0.2:7070",
			  u6[] = "http://[fd00::6]:7070";
	struct fake_prover fp = {.url = {u1, u2, u6}, .idc = {'a', 'b', 'e'}};
	mk->key = &k;
	mk->attest = true;
	mk->prove = fake_prove;
	mk->prove_arg = &fp;
	struct member_entry ret[4];
	struct store_kube_peer l[3] = {lease_of(&k, "n1", u1, 'a'), lease_of(&k, "n2", u2, 'b'),
				       lease_of(&k, "n6", u6, 'e')};
	/* no pod anywhere: nobody, and nobody asked */
	ck_assert_uint_eq(member_sync_kube_take(mk, 1000, l, 3, ret), 0);
	ck_assert_int_eq(fp.calls, 0);
	/* pods on n1 and n6; on n2 one at another address, then at another port, then created
	 * after the Lease was last renewed (the Lease of the pod it replaced) */
	l[0] = with_pod(l[0], "uid-1", "10.0.0.1", 7070, 900, 1000);
	l[1] = with_pod(l[1], "uid-2", "10.0.0.9", 7070, 900, 1000);
	l[2] = with_pod(l[2], "uid-6", "fd00:0:0::6", 7070, 900, 1000); /* written another way */
	ck_assert_uint_eq(member_sync_kube_take(mk, 1001, l, 3, ret), 2);
	member_is(&ret[0], "n1", u1, 'a');
	member_is(&ret[1], "n6", u6, 'e');
	ck_assert_int_eq(fp.calls, 2); /* each proved once ... */
	ck_assert_uint_eq(member_sync_kube_take(mk, 1002, l, 3, ret), 2);
	ck_assert_int_eq(fp.calls, 2); /* ... and then known */
	l[1] = with_pod(l[1], "uid-2", "10.0.0.2", 7071, 900, 1000);
	ck_assert_uint_eq(member_sync_kube_take(mk, 1002, l, 3, ret), 2);
	l[1] = with_pod(l[1], "uid-2", "10.0.0.2", 7070, 1001, 1000);
	ck_assert_uint_eq(member_sync_kube_take(mk, 1003, l, 3, ret), 2);
	/* a dual-stack pod whose second address is the URL's */
	l[1] = with_pod(l[1], "uid-2", "fd00::2", 7070, 900, 1004);
	l[1].pods[1] = l[1].pods[0];
	snprintf(l[1].pods[1].ip, sizeof(l[1].pods[1].ip), "10.0.0.2");
	l[1].npods = 2;
	ck_assert_uint_eq(member_sync_kube_take(mk, 1004, l, 3, ret), 3);
	member_is(&ret[1], "n2", u2, 'b');

	/* n2's Lease rewritten with another identity, correctly signed, under n2's pod: the
	 * weir-node at u2 does not prove it. The old member is given while its identity was seen
	 * within MEMBER_SYNC_PIN_FRESH_S (the Leases' wall time), then n2 is no member */
	struct store_kube_peer two[2] = {
	    l[0], with_pod(lease_of(&k, "n2", u2, 'c'), "uid-2", "10.0.0.2", 7070, 900, 1005)};
	int calls = fp.calls;
	for (int64_t t = 1005; t <= 1004 + MEMBER_SYNC_PIN_FRESH_S; t++) {
		ck_assert_uint_eq(member_sync_kube_take(mk, t, two, 2, ret), 2);
		member_is(&ret[1], "n2", u2, 'b');
	}
	/* asked once: the failure is kept MEMBER_SYNC_PROVE_RETRY_S of the monotonic clock, and
	 * this loop takes a few ms of it */
	ck_assert_int_eq(fp.calls - calls, 1);
	for (int64_t t = 1005 + MEMBER_SYNC_PIN_FRESH_S; t <= 1004 + 5 * MEMBER_SYNC_PIN_KEEP_S;
	     t += 7) {
		two[1].renewed = t;
		ck_assert_uint_eq(member_sync_kube_take(mk, t, two, 2, ret), 1);
		member_is(&ret[0], "n1", u1, 'a');
	}
	/* nor under a new pod (a rollout), long after n2's own identity was last seen */
	two[1] = with_pod(lease_of(&k, "n2", u2, 'c'), "uid-2b", "10.0.0.2", 7070, 1390, 1391);
	ck_assert_uint_eq(member_sync_kube_take(mk, 1391, two, 2, ret), 1);
	/* n2's own Lease under the new pod: proven (asked, though its identity is pinned: the pod
	 * is not the one it was proven under), a member again */
	two[1] = with_pod(lease_of(&k, "n2", u2, 'b'), "uid-2b", "10.0.0.2", 7070, 1390, 1400);
	calls = fp.calls;
	ck_assert_uint_eq(member_sync_kube_take(mk, 1400, two, 2, ret), 2);
	member_is(&ret[1], "n2", u2, 'b');
	ck_assert_int_eq(fp.calls, calls + 1);
	/* its node-id.key replaced (the weir-node at u2 now holds d): taken at once */
	fp.idc[1] = 'd';
	two[1] = with_pod(lease_of(&k, "n2", u2, 'd'), "uid-2b", "10.0.0.2", 7070, 1390, 1401);
	ck_assert_uint_eq(member_sync_kube_take(mk, 1401, two, 2, ret), 2);
	member_is(&ret[1], "n2", u2, 'd');

	/* kept across a restart: written, read back into a fresh source, known there (no proof
	 * asked), and a forged identity still not taken */
	char dir[] = "/tmp/weir-pins-XXXXXX", path[64];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/member-pins", dir);
	mk->pins_path = path;
	mk->pins_dirty = true;
	ck_assert_int_eq(member_sync_kube_save(mk), 0);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	struct member_sync_kube *mk2 = calloc(1, sizeof(*mk2));
	ck_assert_ptr_nonnull(mk2);
	mk2->key = &k;
	mk2->attest = true;
	mk2->prove = fake_prove;
	mk2->prove_arg = &fp;
	mk2->pins_path = path;
	ck_assert_int_eq(member_sync_kube_load(mk2, 5000), 3);
	calls = fp.calls;
	two[1].renewed = 5001;
	two[0].renewed = 5001;
	ck_assert_uint_eq(member_sync_kube_take(mk2, 5001, two, 2, ret), 2);
	member_is(&ret[1], "n2", u2, 'd');
	ck_assert_int_eq(fp.calls, calls);
	two[1] = with_pod(lease_of(&k, "n2", u2, 'c'), "uid-2b", "10.0.0.2", 7070, 1390, 5002);
	ck_assert_uint_eq(member_sync_kube_take(mk2, 5002, two, 2, ret), 2);
	member_is(&ret[1], "n2", u2, 'd');
	/* a file others may read or write is not believed */
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_int_eq(member_sync_kube_load(mk2, 5000), -EPERM);
	unlink(path);
	rmdir(dir);
	free(mk2);

	/* a Lease whose MAC fails is still no member, pod or not; nor one that is not a URL */
	two[0].mac[0] = two[0].mac[0] == '0' ? '1' : '0';
	ck_assert_uint_eq(member_sync_kube_take(mk, 1700, two, 1, ret), 0);
	two[0] = with_pod(lease_of(&k, "n1", "node-1.example:7070", 'a'), "uid-1", "10.0.0.1", 7070,
			  900, 1700);
	ck_assert_uint_eq(member_sync_kube_take(mk, 1701, two, 1, ret), 0);
	free(mk);
}
END_TEST

/* The proof itself: the node's own identity proves, for its name and the asker's nonce only,
 * under a label of its own (members.sh asks real weir-nodes). */
START_TEST(member_prove_signs_a_nonce)
{
	char dir[] = "/tmp/weir-prove-XXXXXX", path[80], err[600];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/node-id.key", dir);
	struct node_id *id = NULL;
	ck_assert_int_eq(node_id_load(path, &id, err, sizeof(err)), 0);
	char sig[NODE_ID_SIG_HEX], msg[256];
	char nonce[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	ck_assert_int_eq(member_prove_answer(id, "n1", nonce, sig), 0);
	int n = member_prove_msg("n1", nonce, msg, sizeof(msg));
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(
	    node_id_verify(node_id_public(id), NODE_ID_LABEL_PROVE, msg, (size_t)n, sig), 0);
	/* for another name, or as a request signature: no */
	n = member_prove_msg("n2", nonce, msg, sizeof(msg));
	ck_assert_int_eq(
	    node_id_verify(node_id_public(id), NODE_ID_LABEL_PROVE, msg, (size_t)n, sig), -EACCES);
	n = member_prove_msg("n1", nonce, msg, sizeof(msg));
	ck_assert_int_eq(
	    node_id_verify(node_id_public(id), NODE_ID_LABEL_REQUEST, msg, (size_t)n, sig),
	    -EACCES);
	/* nonces not of the form */
	ck_assert_int_eq(member_prove_answer(id, "n1", "abc", sig), -EINVAL);
	ck_assert_int_eq(member_prove_answer(id, "n1", NULL, sig), -EINVAL);
	nonce[3] = 'g';
	ck_assert_int_eq(member_prove_answer(id, "n1", nonce, sig), -EINVAL);
	/* nobody at the URL */
	ck_assert_int_lt(
	    member_prove_ask("http://127.0.0.1:1", "n1", node_id_public(id), 500, err, sizeof(err)),
	    0);
	node_id_free(id);
	unlink(path);
	rmdir(dir);
}
END_TEST

/* The pins are bounded; a name that finds no free pin takes the one unseen longest, but never
 * one seen within MEMBER_SYNC_PIN_KEEP_S (a flood of names must not unpin a live node). */
START_TEST(lease_pins_are_bounded)
{
	struct peer_key k = key_of("0123456789abcdef0123");
	struct member_sync_kube *mk = calloc(1, sizeof(*mk));
	ck_assert_ptr_nonnull(mk);
	mk->key = &k;
	struct member_entry ret[2];
	char name[32];
	struct store_kube_peer l;
	for (int i = 0; i < MEMBER_SYNC_PINS; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		l = lease_of(&k, name, "http://10.0.0.1:7070", 'a');
		ck_assert_uint_eq(member_sync_kube_take(mk, 1000 + i, &l, 1, ret), 1);
	}
	l = lease_of(&k, "new", "http://10.0.0.1:7070", 'b');
	ck_assert_uint_eq(member_sync_kube_take(mk, 1000 + MEMBER_SYNC_PIN_KEEP_S, &l, 1, ret), 0);
	ck_assert_uint_eq(member_sync_kube_take(mk, 1001 + MEMBER_SYNC_PIN_KEEP_S, &l, 1, ret), 1);
	member_is(&ret[0], "new", "http://10.0.0.1:7070", 'b');
	/* and it is pinned in its turn */
	l = lease_of(&k, "new", "http://10.6.6.6:7070", 'c');
	ck_assert_uint_eq(member_sync_kube_take(mk, 1002 + MEMBER_SYNC_PIN_KEEP_S, &l, 1, ret), 1);
	member_is(&ret[0], "new", "http://10.0.0.1:7070", 'b');
	free(mk);
}
END_TEST

/* A load start's spec lists up to 1024 paths: a request whose fields pass 8 KiB (what the
 * signed text's buffer held) is signed and checked like any other, not refused. */
START_TEST(long_requests_are_signed)
{
	struct peer_key k = key_of("0123456789abcdef0123");
	struct peer_request rq = sample();
	size_t len = 30000;
	char *spec = malloc(len + 1);
	ck_assert_ptr_nonnull(spec);
	memset(spec, 'p', len);
	spec[len] = '\0';
	rq.path = spec;
	char mac[PEER_AUTH_MAC_HEX];
	ck_assert_int_eq(peer_auth_sign_request(&k, &rq, mac), 0);
	ck_assert_int_eq(peer_auth_verify_request(&k, &rq, mac, 1010, 60), 0);
	spec[len - 1] = 'q'; /* the last byte is signed too */
	ck_assert_int_eq(peer_auth_verify_request(&k, &rq, mac, 1010, 60), -EACCES);
	free(spec);
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

/* A body of len bytes that differ from one another. */
static unsigned char *body_of(size_t len)
{
	unsigned char *b = malloc(len);
	ck_assert_ptr_nonnull(b);
	for (size_t i = 0; i < len; i++)
		b[i] = (unsigned char)(i * 2654435761u >> 13);
	return b;
}

static const char rnonce[] = "ffeeddccbbaa99887766554433221100";

/* A reply's MAC covers every body byte (Poly1305 under a one-time key), its status, length and
 * XXH3, and binds it to one request (its MAC, so its nonce and fields) and one reply nonce. */
START_TEST(reply_mac_binds_bytes_to_request)
{
	struct peer_key k = key_of("0123456789abcdef0123");
	struct peer_request rq = sample();
	char mac[PEER_AUTH_MAC_HEX], rtag[PEER_AUTH_TAG_HEX];
	ck_assert_int_eq(peer_auth_sign_request(&k, &rq, mac), 0);
	size_t len = 4194304;
	unsigned char *body = body_of(len);
	uint64_t sum = 0x1234; /* the MAC takes the XXH3 the header declares */
	ck_assert_int_eq(peer_auth_sign_reply(&k, mac, rnonce, 200, body, len, sum, rtag), 0);
	ck_assert_uint_eq(strlen(rtag), 32);
	ck_assert_int_eq(peer_auth_verify_reply(&k, mac, rnonce, 200, body, len, sum, rtag), 0);
	/* one flipped byte anywhere (first, last, every 65,537th): refused, whatever XXH3 a relay
	 * writes beside it */
	for (size_t i = 0; i <= len / 65537 + 1; i++) {
		size_t at = i <= len / 65537 ? i * 65537 : len - 1;
		body[at] ^= 0x01;
		ck_assert_int_eq(peer_auth_verify_reply(&k, mac, rnonce, 200, body, len, sum, rtag),
				 -EACCES);
		body[at] ^= 0x01;
	}
	/* cut short, by one byte or to nothing */
	ck_assert_int_eq(peer_auth_verify_reply(&k, mac, rnonce, 200, body, len - 1, sum, rtag),
			 -EACCES);
	ck_assert_int_eq(peer_auth_verify_reply(&k, mac, rnonce, 200, body, 0, sum, rtag), -EACCES);
	/* another status, XXH3, reply nonce or key */
	ck_assert_int_eq(peer_auth_verify_reply(&k, mac, rnonce, 409, body, len, sum, rtag),
			 -EACCES);
	ck_assert_int_eq(peer_auth_verify_reply(&k, mac, rnonce, 200, body, len, sum + 1, rtag),
			 -EACCES);
	ck_assert_int_eq(peer_auth_verify_reply(&k, mac, "ffeeddccbbaa99887766554433221101", 200,
						body, len, sum, rtag),
			 -EACCES);
	struct peer_key other = key_of("another key of 20 bytes");
	ck_assert_int_eq(peer_auth_verify_reply(&other, mac, rnonce, 200, body, len, sum, rtag),
			 -EACCES);
	/* the reply recorded for this request answers no other: another nonce (the same block
	 * asked again), another block (offset), another size, path or version */
	struct peer_request others[5];
	for (int i = 0; i < 5; i++)
		others[i] = rq;
	others[0].nonce = "00112233445566778899aabbccddeefe";
	others[1].block = 4;
	others[2].size = 20000001;
	others[3].path = "/a/c.bin";
	others[4].etag = "\"abc-124\"";
	for (int i = 0; i < 5; i++) {
		char omac[PEER_AUTH_MAC_HEX];
		ck_assert_int_eq(peer_auth_sign_request(&k, &others[i], omac), 0);
		ck_assert_int_eq(
		    peer_auth_verify_reply(&k, omac, rnonce, 200, body, len, sum, rtag), -EACCES);
	}
	/* a request's MAC is no reply's; malformed tags and nonces are refused */
	ck_assert_int_eq(peer_auth_verify_reply(&k, mac, rnonce, 200, body, len, sum, mac),
			 -EACCES);
	ck_assert_int_eq(peer_auth_verify_reply(&k, mac, rnonce, 200, body, len, sum, ""), -EACCES);
	ck_assert_int_eq(peer_auth_verify_reply(&k, mac, rnonce, 200, body, len, sum, NULL),
			 -EACCES);
	ck_assert_int_eq(peer_auth_verify_reply(&k, mac, "", 200, body, len, sum, rtag), -EACCES);
	ck_assert_int_eq(peer_auth_verify_reply(&k, mac, "FFEEDDCCBBAA99887766554433221100", 200,
						body, len, sum, rtag),
			 -EACCES);
	/* fed in pieces as a body streams in: the same tag; more bytes than signed: no tag */
	struct peer_reply_mac m;
	char piece[PEER_AUTH_TAG_HEX];
	ck_assert_int_eq(peer_auth_reply_begin(&m, &k, mac, rnonce, 200, len, sum), 0);
	for (size_t off = 0; off < len; off += 100003)
		peer_auth_reply_update(&m, body + off, len - off < 100003 ? len - off : 100003);
	ck_assert_int_eq(peer_auth_reply_final(&m, piece), 0);
	ck_assert_str_eq(piece, rtag);
	ck_assert_int_eq(peer_auth_reply_begin(&m, &k, mac, rnonce, 200, len - 1, sum), 0);
	peer_auth_reply_update(&m, body, len);
	ck_assert_int_eq(peer_auth_reply_final(&m, piece), -EBADMSG);
	/* no one-time key twice: the same body under two reply nonces gets unrelated tags */
	char tag2[PEER_AUTH_TAG_HEX];
	ck_assert_int_eq(peer_auth_sign_reply(&k, mac, "ffeeddccbbaa99887766554433221101", 200,
					      body, len, sum, tag2),
			 0);
	ck_assert_str_ne(tag2, rtag);
	char n1[PEER_AUTH_NONCE_HEX], n2[PEER_AUTH_NONCE_HEX];
	ck_assert_int_eq(peer_auth_nonce(n1), 0);
	ck_assert_int_eq(peer_auth_nonce(n2), 0);
	ck_assert_uint_eq(strlen(n1), 32);
	ck_assert_str_ne(n1, n2);
	free(body);
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
	atomic_int forge; /* answer 200 under another key's MAC, as a relay that lies would */
	const char *retry_after; /* on 503 ("1" when NULL) */
	struct timespec first, last;
};

/* Queues status with text under the MAC (peer_auth.h) of key for the request whose MAC is
 * req_mac, as weir-node signs what a sender acts on. */
static enum MHD_Result queue_signed_reply(struct MHD_Connection *conn, const struct peer_key *key,
					  const char *req_mac, unsigned status, const char *text,
					  const char *retry_after)
{
	size_t len = strlen(text);
	uint64_t sum = XXH3_64bits(text, len);
	char nonce[PEER_AUTH_NONCE_HEX], tag[PEER_AUTH_TAG_HEX] = "", sumhex[24];
	ck_assert_int_eq(peer_auth_nonce(nonce), 0);
	if (req_mac)
		peer_auth_sign_reply(key, req_mac, nonce, status, text, len, sum, tag);
	snprintf(sumhex, sizeof(sumhex), "%016" PRIx64, sum);
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(resp, "X-Weir-Xxh3", sumhex);
	MHD_add_response_header(resp, "X-Weir-Reply-Nonce", nonce);
	MHD_add_response_header(resp, "X-Weir-Auth", tag);
	if (retry_after)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
	enum MHD_Result r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

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
				  .to = "n2", /* this fake owner is member n2 */
				  .nonce = hdr(conn, "X-Weir-Nonce"),
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
	if (!ok) {
		atomic_fetch_add(&o->bad, 1);
		return queue_signed_reply(conn, &o->key, NULL, MHD_HTTP_FORBIDDEN, "refused\n",
					  NULL);
	}
	if (atomic_load(&o->forge)) {
		struct peer_key liar = key_of("not the cluster's key at all");
		return queue_signed_reply(conn, &liar, hdr(conn, "X-Weir-Auth"), MHD_HTTP_OK,
					  "kept\n", NULL);
	}
	if (atomic_fetch_sub(&o->busy, 1) > 0)
		return queue_signed_reply(conn, &o->key, hdr(conn, "X-Weir-Auth"),
					  MHD_HTTP_SERVICE_UNAVAILABLE, "busy\n",
					  o->retry_after ? o->retry_after : "1");
	return queue_signed_reply(conn, &o->key, hdr(conn, "X-Weir-Auth"), MHD_HTTP_OK, "kept\n",
				  NULL);
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

/* A peer on loopback (an MHD daemon answering with `answer`) as n2, and n1's client of it
 * under `key` (the peer tests' common setup). */
struct rig {
	struct MHD_Daemon *d;
	struct cluster *c;
	struct peer_client *pc;
	struct cluster_view *v;
	int idx;
};

static void rig_up(struct rig *r, MHD_AccessHandlerCallback answer, void *cls,
		   MHD_RequestCompletedCallback done, const struct peer_key *key, unsigned threads)
{
	r->d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL, 0, NULL,
	    NULL, answer, cls, MHD_OPTION_SOCK_ADDR,
	    (struct sockaddr *)&(struct sockaddr_in){.sin_family = AF_INET,
						     .sin_addr.s_addr = htonl(INADDR_LOOPBACK)},
	    MHD_OPTION_NOTIFY_COMPLETED, done, NULL, MHD_OPTION_END);
	ck_assert_ptr_nonnull(r->d);
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(r->d, MHD_DAEMON_INFO_BIND_PORT);
	ck_assert_ptr_nonnull(di);
	char peers[200];
	snprintf(peers, sizeof(peers), "n1=http://127.0.0.1:1,n2=http://127.0.0.1:%u",
		 (unsigned)di->port);
	r->c = cluster_of("n1", peers, 0);
	struct peer_client_config pcfg = {.cluster = r->c, .key = key, .threads = threads};
	ck_assert_int_eq(peer_client_new(&pcfg, &r->pc), 0);
	r->v = cluster_view_get(r->c);
	r->idx = cluster_find(r->v, "n2");
	ck_assert_int_ge(r->idx, 0);
}

static void rig_down(struct rig *r)
{
	cluster_view_put(r->v);
	peer_client_free(r->pc);
	cluster_free(r->c);
	MHD_stop_daemon(r->d);
}

/* One busy owner as the peer, and the block the pusher offers it (push tests). */
struct push_rig {
	struct rig rig;
	char *buf;
	size_t len;
	struct ufs_attr a;
};

static void push_rig_up(struct push_rig *r, struct busy_owner *o)
{
	rig_up(&r->rig, busy_answer, o, busy_done, &o->key, 0);
	r->len = 65536 + 3;
	r->buf = malloc(r->len);
	ck_assert_ptr_nonnull(r->buf);
	memset(r->buf, 'z', r->len);
	r->a = (struct ufs_attr){.size = 10 * r->len, .mtime = 1700000000};
	snprintf(r->a.etag, sizeof(r->a.etag), "\"e1\"");
}

static void push_rig_down(struct push_rig *r)
{
	rig_down(&r->rig);
	free(r->buf);
}

/* A push to a busy owner waits its Retry-After and tries again, signed anew, up to
 * PEER_PUT_TRIES times; every try carries a MAC over PUT and the body's SHA-256. */
START_TEST(push_retries_a_busy_owner)
{
	struct busy_owner o = {.key = key_of("0123456789abcdef0123")};
	struct push_rig r;
	push_rig_up(&r, &o);
	/* busy twice, then taken: three tries, a second or more apart */
	atomic_store(&o.busy, 2);
	ck_assert_int_eq(peer_client_put(r.rig.pc, r.rig.v, r.rig.idx, "src", "/a.bin", &r.a, 0,
					 r.buf, r.len, NULL),
			 0);
	ck_assert_int_eq(atomic_load(&o.puts), 3);
	ck_assert_int_eq(atomic_load(&o.bad), 0);
	double waited = (double)(o.last.tv_sec - o.first.tv_sec) +
			(double)(o.last.tv_nsec - o.first.tv_nsec) / 1e9;
	ck_assert_msg(waited >= 1.9, "3 tries within %.2f s: Retry-After: 1 not honoured", waited);
	/* busy for ever: PEER_PUT_TRIES tries, then -EAGAIN (the load asks the owner instead) */
	atomic_store(&o.puts, 0);
	atomic_store(&o.busy, 1000);
	ck_assert_int_eq(peer_client_put(r.rig.pc, r.rig.v, r.rig.idx, "src", "/a.bin", &r.a, 0,
					 r.buf, r.len, NULL),
			 -EAGAIN);
	ck_assert_int_eq(atomic_load(&o.puts), PEER_PUT_TRIES);
	ck_assert_int_eq(atomic_load(&o.bad), 0);
	push_rig_down(&r);
}
END_TEST

/* A 200 to a push that does not carry the owner's MAC for that request (a relay, or a host
 * without the key, answering in the owner's place) is no "kept": the pusher leaves the block
 * to its owner. */
START_TEST(push_forged_reply_is_not_kept)
{
	struct busy_owner o = {.key = key_of("0123456789abcdef0123")};
	struct push_rig r;
	push_rig_up(&r, &o);
	ck_assert_int_eq(peer_client_put(r.rig.pc, r.rig.v, r.rig.idx, "src", "/a.bin", &r.a, 0,
					 r.buf, r.len, NULL),
			 0);
	atomic_store(&o.forge, 1);
	ck_assert_int_eq(peer_client_put(r.rig.pc, r.rig.v, r.rig.idx, "src", "/a.bin", &r.a, 0,
					 r.buf, r.len, NULL),
			 -EBADMSG);
	ck_assert_int_eq(atomic_load(&o.puts), 2);
	ck_assert_int_eq(atomic_load(&o.bad), 0);
	push_rig_down(&r);
}
END_TEST

static bool flag_set(const void *arg)
{
	return atomic_load((const atomic_int *)arg) != 0;
}

struct raise_later {
	atomic_int *flag;
	unsigned ms;
};

static void *raise_after(void *arg)
{
	struct raise_later *rl = arg;
	nanosleep(&(struct timespec){.tv_nsec = (long)rl->ms * 1000000L}, NULL);
	atomic_store(rl->flag, 1);
	return NULL;
}

/* A cancelled load does not wait out a busy owner's Retry-After: the push returns -ECANCELED
 * within a fraction of the wait, after one try. */
START_TEST(push_cancel_ends_the_wait)
{
	struct busy_owner o = {.key = key_of("0123456789abcdef0123"), .retry_after = "5"};
	struct push_rig r;
	push_rig_up(&r, &o);
	atomic_store(&o.busy, 1000);
	atomic_int halt_flag = 0;
	struct peer_halt halt = {.halted = flag_set, .arg = &halt_flag};
	struct raise_later rl = {.flag = &halt_flag, .ms = 300};
	pthread_t t;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(pthread_create(&t, NULL, raise_after, &rl), 0);
	int res = peer_client_put(r.rig.pc, r.rig.v, r.rig.idx, "src", "/a.bin", &r.a, 0, r.buf,
				  r.len, &halt);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pthread_join(t, NULL);
	double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ck_assert_int_eq(res, -ECANCELED);
	ck_assert_msg(took < 1.5, "a cancelled push took %.2f s: it waited out Retry-After: 5",
		      took);
	ck_assert_int_eq(atomic_load(&o.puts), 1);
	/* halted before it starts: nothing is sent */
	ck_assert_int_eq(peer_client_put(r.rig.pc, r.rig.v, r.rig.idx, "src", "/a.bin", &r.a, 0,
					 r.buf, r.len, &halt),
			 -ECANCELED);
	ck_assert_int_eq(atomic_load(&o.puts), 1);
	push_rig_down(&r);
}
END_TEST

/* A peer that answers every load request "no such load here" (404), signed for the request
 * when `sign`, else as a relay in its place would, without the peer's MAC. */
struct gone_peer {
	struct peer_key key;
	atomic_int sign, requests;
};

static enum MHD_Result gone_answer(void *cls, struct MHD_Connection *conn, const char *url,
				   const char *method, const char *version, const char *upload,
				   size_t *upload_size, void **con_cls)
{
	struct gone_peer *g = cls;
	if (!*con_cls) {
		*con_cls = g; /* the headers: answered once the (empty) body is in */
		return MHD_YES;
	}
	*upload_size = 0;
	atomic_fetch_add(&g->requests, 1);
	return queue_signed_reply(conn, &g->key,
				  atomic_load(&g->sign) ? hdr(conn, "X-Weir-Auth") : NULL,
				  MHD_HTTP_NOT_FOUND, "no such load here\n", NULL);
}

/* What a load's asker acts on must be its peer's word: an unsigned 404 to a progress poll
 * (which drops the peer's share at once, marks the peer down and redoes its blocks here) is
 * refused as a bad reply; the same 404 under the peer's MAC is believed. */
START_TEST(load_refusal_needs_the_peers_mac)
{
	struct gone_peer g = {.key = key_of("0123456789abcdef0123")};
	struct rig r;
	rig_up(&r, gone_answer, &g, NULL, &g.key, 1);
	struct peer_client *pc = r.pc;
	struct cluster_view *v = r.v;
	int idx = r.idx;
	struct load_share rep;
	ck_assert_int_eq(peer_client_load(pc, v, idx, PEER_LOAD_STATUS, "src", NULL, 7, &rep),
			 -EBADMSG);
	atomic_store(&g.sign, 1);
	ck_assert_int_eq(peer_client_load(pc, v, idx, PEER_LOAD_STATUS, "src", NULL, 7, &rep),
			 -ENOENT);
	ck_assert_int_eq(atomic_load(&g.requests), 2);
	rig_down(&r);
}
END_TEST

/* A peer (or a relay in front of one) answering block reads in one of these ways. */
enum lie {
	LIE_NONE,      /* the block, as weir-node serves it */
	LIE_FLIP,      /* one byte flipped, XXH3 fixed up to match, the MAC passed on */
	LIE_REPLAY,    /* the reply recorded for the first request, for every later one */
	LIE_TRUNCATE,  /* the last byte cut off, the header's XXH3 and MAC passed on */
	LIE_WRONG_MAC, /* the right bytes and XXH3, a MAC under another key */
	LIE_NO_NONCE,  /* the right bytes, XXH3 and MAC, without the reply's nonce */
	LIE_NO_TAG,    /* a flipped byte with its XXH3 fixed up, and no MAC at all */
	LIE_COLLIDE,   /* other bytes with the same XXH3: the header and MAC passed on as sent */
	/* the right bytes under a wrong XXH3 that the right key signed (a peer that summed them
	 * wrong): only the asker's own running sum of the body can refuse it */
	LIE_SIGNED_WRONG_SUM,
};

/* XXH3_64bits' default secret, its first 16 bytes (xxhash.h, XXH3_kSecret): what lane 0 of the
 * first two stripes of an input longer than 240 bytes is mixed with. */
static const unsigned char xxh3_secret16[16] = {0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe,
						0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c};

/* Makes blk (longer than 1 KiB) one of a pair with the same XXH3, and returns its twin (owned):
 * XXH3 adds each 8-byte lane into one accumulator and the product of the low and high halves
 * of (lane ^ secret) into another; with the low half of lane 0 of stripes 0 and 1 equal to the
 * secret's, both products are 0 whatever their high halves, so moving d from one high half to
 * the other keeps every accumulator. No XXH3 check can tell the twins apart: only a MAC over
 * the bytes can. */
static unsigned char *xxh3_twin_of(unsigned char *blk, size_t len)
{
	memcpy(blk, xxh3_secret16, 4);
	memcpy(blk + 64, xxh3_secret16 + 8, 4);
	unsigned char *twin = malloc(len);
	ck_assert_ptr_nonnull(twin);
	memcpy(twin, blk, len);
	uint64_t x, y, d = (uint64_t)0x01020304 << 32;
	memcpy(&x, twin, 8);
	memcpy(&y, twin + 64, 8);
	x += d;
	y -= d;
	memcpy(twin, &x, 8);
	memcpy(twin + 64, &y, 8);
	ck_assert_int_ne(memcmp(blk, twin, len), 0);
	ck_assert_msg(XXH3_64bits(blk, len) == XXH3_64bits(twin, len),
		      "the XXH3 twin does not collide: has xxhash's default secret changed?");
	return twin;
}

struct lying_peer {
	struct peer_key key;
	atomic_int lie;
	unsigned char *blk, *twin; /* the block and its XXH3 twin (xxh3_twin_of) */
	size_t len;
	char first_mac[PEER_AUTH_MAC_HEX]; /* the first request's MAC */
	char first_nonce[PEER_AUTH_NONCE_HEX], first_tag[PEER_AUTH_TAG_HEX];
	atomic_int requests;
};

static enum MHD_Result lying_answer(void *cls, struct MHD_Connection *conn, const char *url,
				    const char *method, const char *version, const char *upload,
				    size_t *upload_size, void **con_cls)
{
	struct lying_peer *p = cls;
	const char *req_mac = hdr(conn, "X-Weir-Auth");
	enum lie lie = atomic_load(&p->lie);
	int n = atomic_fetch_add(&p->requests, 1);
	unsigned char *out = malloc(p->len);
	memcpy(out, p->blk, p->len);
	size_t len = p->len;
	uint64_t sum = XXH3_64bits(p->blk, p->len);
	char nonce[PEER_AUTH_NONCE_HEX], tag[PEER_AUTH_TAG_HEX], sumhex[24];
	ck_assert_int_eq(peer_auth_nonce(nonce), 0);
	ck_assert_int_eq(peer_auth_sign_reply(&p->key, req_mac ? req_mac : "", nonce, 200, p->blk,
					      p->len, sum, tag),
			 0);
	if (n == 0) {
		snprintf(p->first_mac, sizeof(p->first_mac), "%s", req_mac);
		snprintf(p->first_nonce, sizeof(p->first_nonce), "%s", nonce);
		snprintf(p->first_tag, sizeof(p->first_tag), "%s", tag);
	}
	switch (lie) {
	case LIE_NONE:
	case LIE_NO_NONCE:
		break;
	case LIE_COLLIDE:
		memcpy(out, p->twin, len);
		break;
	case LIE_NO_TAG:
	case LIE_FLIP:
		out[len / 2] ^= 0x01;
		sum = XXH3_64bits(out, len);
		break;
	case LIE_REPLAY:
		snprintf(nonce, sizeof(nonce), "%s", p->first_nonce);
		snprintf(tag, sizeof(tag), "%s", p->first_tag);
		break;
	case LIE_TRUNCATE:
		len--;
		break;
	case LIE_SIGNED_WRONG_SUM:
		sum ^= 1;
		ck_assert_int_eq(peer_auth_sign_reply(&p->key, req_mac ? req_mac : "", nonce, 200,
						      p->blk, p->len, sum, tag),
				 0);
		break;
	case LIE_WRONG_MAC: {
		struct peer_key liar = key_of("not the cluster's key at all");
		peer_auth_sign_reply(&liar, req_mac, nonce, 200, p->blk, p->len, sum, tag);
		break;
	}
	}
	snprintf(sumhex, sizeof(sumhex), "%016" PRIx64, sum);
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(len, out, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "X-Weir-Xxh3", sumhex);
	if (lie != LIE_NO_NONCE)
		MHD_add_response_header(resp, "X-Weir-Reply-Nonce", nonce);
	if (lie != LIE_NO_TAG)
		MHD_add_response_header(resp, "X-Weir-Auth", tag);
	enum MHD_Result r = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return r;
}

struct got_block {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int err;
};

static void got_done(void *userdata, int err, uint64_t xxh3)
{
	struct got_block *g = userdata;
	pthread_mutex_lock(&g->lock);
	g->done = true;
	g->err = err;
	pthread_cond_signal(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

/* What peer_client makes of one block read from the lying peer. */
static int read_block(struct peer_client *pc, struct cluster_view *v, int idx, size_t len,
		      unsigned char *buf)
{
	struct got_block g = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
	struct ufs_attr a = {.size = 3 * len, .mtime = 1700000000};
	snprintf(a.etag, sizeof(a.etag), "\"e1\"");
	memset(buf, 0, len);
	ck_assert_int_eq(peer_client_get_async(pc, v, idx, "src", "/a.bin", &a, 1, (uint32_t)len,
					       buf, got_done, &g),
			 0);
	pthread_mutex_lock(&g.lock);
	while (!g.done)
		pthread_cond_wait(&g.cond, &g.lock);
	pthread_mutex_unlock(&g.lock);
	return g.err;
}

/* A peer whose GETs the test holds (hold set) until it releases them, counting what it got;
 * it then answers an unsigned 404, or `status` (the client fails the request: a 404 does not
 * mark the peer down, a 500 does). */
struct held_peer {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool hold, release;
	unsigned status; /* 0: 404 */
	unsigned got;	 /* requests that reached it */
	struct MHD_Daemon *d;
};

static enum MHD_Result held_answer(void *cls, struct MHD_Connection *conn, const char *url,
				   const char *method, const char *version, const char *upload,
				   size_t *upload_size, void **con_cls)
{
	struct held_peer *p = cls;
	pthread_mutex_lock(&p->lock);
	p->got++;
	pthread_cond_broadcast(&p->cond);
	while (p->hold && !p->release)
		pthread_cond_wait(&p->cond, &p->lock);
	unsigned status = p->status ? p->status : MHD_HTTP_NOT_FOUND;
	pthread_mutex_unlock(&p->lock);
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	enum MHD_Result r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

static unsigned held_up(struct held_peer *p, bool hold)
{
	*p = (struct held_peer){.hold = hold};
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL, 0, NULL,
	    NULL, held_answer, p, MHD_OPTION_SOCK_ADDR,
	    (struct sockaddr *)&(struct sockaddr_in){.sin_family = AF_INET,
						     .sin_addr.s_addr = htonl(INADDR_LOOPBACK)},
	    MHD_OPTION_END);
	ck_assert_ptr_nonnull(p->d);
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(p->d, MHD_DAEMON_INFO_BIND_PORT);
	ck_assert_ptr_nonnull(di);
	return di->port;
}

static unsigned held_got(struct held_peer *p)
{
	pthread_mutex_lock(&p->lock);
	unsigned n = p->got;
	pthread_mutex_unlock(&p->lock);
	return n;
}

static void held_wait_got(struct held_peer *p, unsigned n)
{
	pthread_mutex_lock(&p->lock);
	while (p->got < n)
		pthread_cond_wait(&p->cond, &p->lock);
	pthread_mutex_unlock(&p->lock);
}

static void held_down(struct held_peer *p)
{
	pthread_mutex_lock(&p->lock);
	p->release = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	MHD_stop_daemon(p->d);
}

/* n1's client (2 workers, timeout_ms) of n2 (slow: held) and n3 (fast), and a block of each. */
struct share_rig {
	struct held_peer slow, fast;
	struct peer_key key;
	struct cluster *c;
	struct peer_client *pc;
	struct cluster_view *v;
	int n2, n3;
	struct ufs_attr a;
	char buf[8][64];
	struct got_block g[8];
};

static void share_up(struct share_rig *r, unsigned timeout_ms)
{
	unsigned slow = held_up(&r->slow, true), fast = held_up(&r->fast, false);
	char peers[200];
	snprintf(peers, sizeof(peers),
		 "n1=http://127.0.0.1:1,n2=http://127.0.0.1:%u,n3=http://127.0.0.1:%u", slow, fast);
	r->c = cluster_of("n1", peers, 0);
	r->key = key_of("0123456789abcdef0123");
	struct peer_client_config pcfg = {
	    .cluster = r->c, .key = &r->key, .threads = 2, .timeout_ms = timeout_ms};
	ck_assert_int_eq(peer_client_new(&pcfg, &r->pc), 0);
	r->v = cluster_view_get(r->c);
	r->n2 = cluster_find(r->v, "n2");
	r->n3 = cluster_find(r->v, "n3");
	r->a = (struct ufs_attr){.size = 8 * 64, .mtime = 1700000000};
	for (unsigned i = 0; i < 8; i++)
		r->g[i] = (struct got_block){.lock = PTHREAD_MUTEX_INITIALIZER,
					     .cond = PTHREAD_COND_INITIALIZER};
}

static void share_ask(struct share_rig *r, unsigned i, int idx)
{
	ck_assert_int_eq(peer_client_get_async(r->pc, r->v, idx, "src", "/a.bin", &r->a, i, 64,
					       r->buf[i], got_done, &r->g[i]),
			 0);
}

static int share_wait(struct share_rig *r, unsigned i)
{
	struct got_block *g = &r->g[i];
	pthread_mutex_lock(&g->lock);
	while (!g->done)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
	return g->err;
}

static void share_down(struct share_rig *r, unsigned asked)
{
	held_down(&r->slow);
	for (unsigned i = 0; i < asked; i++)
		share_wait(r, i);
	cluster_view_put(r->v);
	peer_client_free(r->pc);
	cluster_free(r->c);
	held_down(&r->fast);
}

/* Two other members, two workers: each peer holds at most one, whichever source asks. A slow
 * n2 asked twice holds one worker; n3's block is read with the other, at once. */
START_TEST(a_slow_peer_holds_only_its_share)
{
	struct share_rig r;
	share_up(&r, 30000); /* the held requests never time out in this test */
	share_ask(&r, 0, r.n2);
	share_ask(&r, 1, r.n2);
	held_wait_got(&r.slow, 1);
	share_ask(&r, 2, r.n3);
	share_wait(&r, 2);
	ck_assert_uint_eq(held_got(&r.fast), 1);
	/* the second request to n2 still queued, the first still held: neither done */
	ck_assert_uint_eq(held_got(&r.slow), 1);
	pthread_mutex_lock(&r.g[0].lock);
	ck_assert_msg(!r.g[0].done, "n3's block waited for n2's request to end");
	pthread_mutex_unlock(&r.g[0].lock);
	share_down(&r, 3);
}
END_TEST

/* A request queued behind its peer's share fails with -ETIMEDOUT after timeout_ms in the queue,
 * without being sent: three to a peer that holds every request, one worker each at a time.
 * The first is sent and times out; of the other two at most one is sent after it, and the
 * other (queued as long as the first was in flight) fails unsent. On a client whose queue
 * has no deadline all three are sent, one after another. */
START_TEST(a_queued_request_times_out)
{
	struct share_rig r;
	share_up(&r, 500);
	for (unsigned i = 0; i < 3; i++)
		share_ask(&r, i, r.n2);
	for (unsigned i = 0; i < 3; i++)
		ck_assert_int_eq(share_wait(&r, i), -ETIMEDOUT);
	ck_assert_msg(held_got(&r.slow) <= 2, "%u of 3 requests sent: none expired in the queue",
		      held_got(&r.slow));
	share_down(&r, 3);
}
END_TEST

/* Requests queued behind their peer's share fail at once, unsent, with -EHOSTDOWN when a
 * request to that peer fails in a way that marks it down (here HTTP 500): they do not wait
 * their turn behind a peer that is given up, and are read from the UFS. Three requests to a
 * held n2 (one sent, two queued; share 1 of 2 workers), then n2 answers 500. A client that
 * keeps them queued sends both to n2 after the first (-EIO each, 3 requests at n2). */
START_TEST(a_peer_given_up_fails_its_queued_requests)
{
	struct share_rig r;
	share_up(&r, 30000);
	for (unsigned i = 0; i < 3; i++)
		share_ask(&r, i, r.n2);
	held_wait_got(&r.slow, 1);
	pthread_mutex_lock(&r.slow.lock);
	r.slow.status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	r.slow.release = true;
	pthread_cond_broadcast(&r.slow.cond);
	pthread_mutex_unlock(&r.slow.lock);
	ck_assert_int_eq(share_wait(&r, 0), -EIO);
	for (unsigned i = 1; i < 3; i++)
		ck_assert_int_eq(share_wait(&r, i), -EHOSTDOWN);
	ck_assert_uint_eq(held_got(&r.slow), 1);
	ck_assert(!cluster_is_up(r.v, r.n2));
	share_down(&r, 3);
}
END_TEST

/* A peer that answers 200 and then trickles the body: TRICKLE_STEP bytes every 250 ms (2 KiB/s,
 * over the 1 KiB/s a silent peer falls under), until the asker hangs up or the test stops it. */
#define TRICKLE_STEP 512
struct trickle_peer {
	atomic_bool stop;
	atomic_int sent; /* bytes of body sent */
};

static ssize_t trickle_body(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct trickle_peer *p = cls;
	if (atomic_load(&p->stop))
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (pos > 0)
		nanosleep(&(struct timespec){.tv_nsec = 250 * 1000000L}, NULL);
	size_t n = max < TRICKLE_STEP ? max : TRICKLE_STEP;
	memset(buf, 'x', n);
	atomic_fetch_add(&p->sent, (int)n);
	return (ssize_t)n;
}

static enum MHD_Result trickle_answer(void *cls, struct MHD_Connection *conn, const char *url,
				      const char *method, const char *version, const char *upload,
				      size_t *upload_size, void **con_cls)
{
	const char *size = qarg(conn, "size");
	uint64_t len = strtoull(size ? size : "0", NULL, 10);
	struct MHD_Response *resp =
	    MHD_create_response_from_callback(len, TRICKLE_STEP, trickle_body, cls, NULL);
	MHD_add_response_header(resp, "X-Weir-Xxh3", "0000000000000000");
	MHD_add_response_header(resp, "X-Weir-Reply-Nonce", "00112233445566778899aabbccddeeff");
	MHD_add_response_header(resp, "X-Weir-Auth", "00");
	enum MHD_Result r = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return r;
}

/* A peer that trickles a block (2 KiB/s: 128 s for its 256 KiB, past the 60 s timeout) is given
 * up after stall_s (1 s here), not at the timeout: the request fails with -ETIMEDOUT and the
 * peer is marked down, so its other blocks go elsewhere. On a client whose floor is 1 KiB/s
 * the request runs the whole 60 s, past this TCase's timeout. */
START_TEST(a_trickling_peer_is_given_up)
{
	struct trickle_peer p = {0};
	struct MHD_Daemon *d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL, 0, NULL,
	    NULL, trickle_answer, &p, MHD_OPTION_SOCK_ADDR,
	    (struct sockaddr *)&(struct sockaddr_in){.sin_family = AF_INET,
						     .sin_addr.s_addr = htonl(INADDR_LOOPBACK)},
	    MHD_OPTION_END);
	ck_assert_ptr_nonnull(d);
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	ck_assert_ptr_nonnull(di);
	char peers[200];
	snprintf(peers, sizeof(peers), "n1=http://127.0.0.1:1,n2=http://127.0.0.1:%u",
		 (unsigned)di->port);
	struct cluster *c = cluster_of("n1", peers, 0);
	struct peer_key key = key_of("0123456789abcdef0123");
	struct peer_client_config pcfg = {.cluster = c, .key = &key, .threads = 2, .stall_s = 1};
	struct peer_client *pc;
	ck_assert_int_eq(peer_client_new(&pcfg, &pc), 0);
	struct cluster_view *v = cluster_view_get(c);
	int idx = cluster_find(v, "n2");
	size_t len = 256 << 10;
	unsigned char *buf = malloc(len);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(read_block(pc, v, idx, len, buf), -ETIMEDOUT);
	ck_assert_msg(atomic_load(&p.sent) > 0, "the peer sent no body: nothing trickled");
	ck_assert_msg(!cluster_is_up(v, idx), "the trickling peer is not marked down");
	atomic_store(&p.stop, true);
	cluster_view_put(v);
	peer_client_free(pc);
	cluster_free(c);
	MHD_stop_daemon(d);
	free(buf);
}
END_TEST

/* A rig over the lying peer P (its key and len set): P's block made (and its XXH3 twin with
 * TWIN), before the server's thread reads them; returns a buffer of the block's size. */
static unsigned char *lying_up(struct rig *r, struct lying_peer *p, bool twin)
{
	p->blk = body_of(p->len);
	if (twin)
		p->twin = xxh3_twin_of(p->blk, p->len);
	rig_up(r, lying_answer, p, NULL, &p->key, 1);
	unsigned char *buf = malloc(p->len);
	ck_assert_ptr_nonnull(buf);
	return buf;
}

static void lying_down(struct rig *r, struct lying_peer *p, unsigned char *buf)
{
	rig_down(r);
	free(buf);
	free(p->blk);
	free(p->twin);
}

/* The block read through R is P's, byte for byte. */
static void read_honest(struct rig *r, const struct lying_peer *p, unsigned char *buf)
{
	ck_assert_int_eq(read_block(r->pc, r->v, r->idx, p->len, buf), 0);
	ck_assert_int_eq(memcmp(buf, p->blk, p->len), 0);
}

/* A block read whose reply was spoiled on the way (a flipped byte with its XXH3 fixed up, a
 * reply recorded for another request, cut short, under a MAC of another key, without its
 * nonce, without its MAC, other bytes with the same XXH3, the right bytes under a wrong XXH3 the
 * right key signed) fails with -EBADMSG; the caller reads the UFS instead. The honest reply
 * passes, byte for byte (the asker's running sum of its pieces is their XXH3). */
START_TEST(spoiled_block_replies_are_refused)
{
	struct lying_peer p = {.key = key_of("0123456789abcdef0123"), .len = 1048576 + 17};
	struct rig r;
	unsigned char *buf = lying_up(&r, &p, true);
	/* the first (honest) reply is the one LIE_REPLAY plays back later */
	read_honest(&r, &p, buf);
	static const struct {
		enum lie lie;
		const char *what;
	} lies[] = {
	    {LIE_FLIP, "a flipped byte with its XXH3 fixed up"},
	    {LIE_REPLAY, "a reply recorded for another request (same block, other nonce)"},
	    {LIE_TRUNCATE, "a reply cut one byte short"},
	    {LIE_WRONG_MAC, "the right bytes and XXH3 under another key's MAC"},
	    {LIE_NO_NONCE, "a reply without its nonce"},
	    {LIE_NO_TAG, "a flipped byte with its XXH3 fixed up and no MAC"},
	    {LIE_COLLIDE, "other bytes with the same XXH3, header and MAC as sent"},
	    {LIE_SIGNED_WRONG_SUM, "the right bytes under a wrong XXH3 the right key signed"},
	};
	for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
		atomic_store(&p.lie, lies[i].lie);
		int got = read_block(r.pc, r.v, r.idx, p.len, buf);
		ck_assert_msg(got == -EBADMSG, "%s: peer_client gave %d, not -EBADMSG",
			      lies[i].what, got);
	}
	atomic_store(&p.lie, LIE_NONE);
	read_honest(&r, &p, buf);
	ck_assert_int_eq(atomic_load(&p.requests), 10);
	lying_down(&r, &p, buf);
}
END_TEST

static int no_rand_bytes(unsigned char *buf, int num)
{
	return 0;
}

static int no_rand_status(void)
{
	return 0;
}

/* When this node has no randomness for a request's nonce, nothing is sent and the read goes to
 * the UFS; the peer did nothing wrong and stays up for the next read (marking it down would
 * send every read of its blocks to the UFS for the down time). */
START_TEST(no_randomness_blames_no_peer)
{
	struct lying_peer p = {.key = key_of("0123456789abcdef0123"), .len = 65536};
	struct rig r;
	unsigned char *buf = lying_up(&r, &p, false);
	static const RAND_METHOD no_rand = {.bytes = no_rand_bytes, .status = no_rand_status};
	ck_assert_int_eq(RAND_set_rand_method(&no_rand), 1);
	char n[PEER_AUTH_NONCE_HEX];
	ck_assert_int_eq(peer_auth_nonce(n), -EIO); /* the failure is real */
	ck_assert_int_ne(read_block(r.pc, r.v, r.idx, p.len, buf), 0);
	ck_assert_int_eq(atomic_load(&p.requests), 0);
	ck_assert_msg(cluster_is_up(r.v, r.idx),
		      "the peer was marked down for this node's failure");
	RAND_set_rand_method(NULL);
	read_honest(&r, &p, buf);
	lying_down(&r, &p, buf);
}
END_TEST

#define ID_X "1111000000000000000000000000000000000000000000000000000000000001"
#define ID_Y "2222000000000000000000000000000000000000000000000000000000000002"
#define ID_UPPER "ABCD000000000000000000000000000000000000000000000000000000000002"

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
	    /* identities: ;id= and 64 lower-case hex digits, this node's its own */
	    {"n1", "n1=http://10.0.0.1:7000;key=" ID_X, "only ;id=KEY may follow"},
	    {"n1", "n1=http://10.0.0.1:7000,n2=http://10.0.0.2:7000;id=abc",
	     "is not a node identity"},
	    {"n1", "n1=http://10.0.0.1:7000,n2=http://10.0.0.2:7000;id=" ID_UPPER,
	     "is not a node identity"},
	    {"n1", "n1=http://10.0.0.1:7000;id=" ID_Y, "is not the public key of its own"},
	    /* an empty id (an unset variable) is not "none" */
	    {"n1", "n1=http://10.0.0.1:7000,n2=http://10.0.0.2:7000;id=", "is not a node identity"},
	    {"n1", "n1=http://10.0.0.1:7000;id=,n2=http://10.0.0.2:7000", "is not a node identity"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cluster_config cfg = {
		    .self = bad[i].self, .peers = bad[i].peers, .self_id = ID_X};
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
	const struct cluster_member one[] = {{"n9", "http://10.0.0.9:7000", NULL}};
	ck_assert_int_eq(cluster_set_members(cl, one, 1), -EPERM);
	ck_assert_uint_eq(cluster_count(cl), 3);
	cluster_view_put(c);
	cluster_free(cl);
	/* a list with identities: each member's is kept ("" for one given none) */
	struct cluster_config cfg = {
	    .self = "n1",
	    .self_id = ID_X,
	    .peers = "n1=http://10.0.0.1:7000;id=" ID_X ",n2=http://10.0.0.2:7000;id=" ID_Y
		     ",n3=http://10.0.0.3:7000"};
	char err[512] = "";
	ck_assert_msg(cluster_new(&cfg, &cl, err, sizeof(err)) == 0, "%s", err);
	c = cluster_view_get(cl);
	ck_assert_str_eq(cluster_node_url(c, 1), "http://10.0.0.2:7000");
	ck_assert_str_eq(cluster_node_id(c, 0), ID_X);
	ck_assert_str_eq(cluster_node_id(c, 1), ID_Y);
	ck_assert_str_eq(cluster_node_id(c, 2), "");
	cluster_view_put(c);
	cluster_free(cl);
	/* this node knows its own identity even where its entry gives none (trailing blanks and
	 * a CR after a key are no part of it) */
	cfg.peers = "n1=http://10.0.0.1:7000,n2=http://10.0.0.2:7000;id=" ID_Y " \r";
	ck_assert_msg(cluster_new(&cfg, &cl, err, sizeof(err)) == 0, "%s", err);
	c = cluster_view_get(cl);
	ck_assert_str_eq(cluster_node_id(c, 0), ID_X);
	ck_assert_str_eq(cluster_node_id(c, 1), ID_Y);
	cluster_view_put(c);
	cluster_free(cl);
}
END_TEST

struct rounds_arg {
	struct cluster *cl;
	int ret;
	bool kicked;
};

static void *refresh_thread(void *arg)
{
	struct rounds_arg *a = arg;
	a->ret = cluster_refresh(a->cl, 30000);
	return NULL;
}

/* cluster_refresh: -ENOTSUP with no round thread; otherwise it wakes the round thread
 * (round_wait says so) and returns once a round that started after it ended; a round under
 * way when it was called does not count; rounds_end releases a waiter at once. */
START_TEST(member_refresh_waits_for_a_new_round)
{
	struct cluster_config cfg = {.self = "n1", .self_url = "http://10.0.0.1:7000"};
	struct cluster *cl = NULL;
	char err[256];
	ck_assert_msg(cluster_new(&cfg, &cl, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(cluster_refresh(cl, 100), -ENOTSUP);
	cluster_round_start(cl); /* a round under way */
	struct rounds_arg a = {.cl = cl, .ret = 1};
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, refresh_thread, &a), 0);
	ck_assert(cluster_round_wait(cl, 5000)); /* woken by the refresh */
	cluster_round_done(cl);			 /* the old round ends: not enough */
	usleep(100 * 1000);
	ck_assert_int_eq(a.ret, 1);
	cluster_round_start(cl);
	ck_assert(!cluster_round_wait(cl, 10)); /* the kick was taken by this round */
	cluster_round_done(cl);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(a.ret, 0);
	/* the round thread stops: a waiter is let go at once, not after its timeout */
	a.ret = 1;
	ck_assert_int_eq(pthread_create(&t, NULL, refresh_thread, &a), 0);
	ck_assert(cluster_round_wait(cl, 5000));
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cluster_rounds_end(cl);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_eq(a.ret, -ETIMEDOUT);
	ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 20); /* not the 30 s timeout */
	ck_assert_int_eq(cluster_refresh(cl, 100), -ENOTSUP);
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
	    {"n2", "http://10.0.0.2:7000", NULL},
	    {"n3", "http://10.0.0.3:7000", NULL},
	    {"n1", "http://10.9.9.9:1", NULL}, /* self: its own URL wins */
	    {"bad name", "http://10.0.0.4:7000", NULL},
	    {"n5", "ftp://10.0.0.5:7000", NULL}};
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
		m[i] = (struct cluster_member){name[i], url[i], NULL};
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

START_TEST(near_cache_churns_only_on_young_blocks)
{
	struct near_cache *nc;
	struct near_block out[16];
	ck_assert_int_eq(near_cache_new(10, &nc), 0);
	ck_assert(!near_cache_churns(nc, 4, 60000)); /* empty: it fits */
	ck_assert_uint_eq(near_cache_add(nc, 1, 0, 4, 0, out, 16), 0);
	ck_assert_uint_eq(near_cache_add(nc, 1, 1, 4, 0, out, 16), 0);
	ck_assert(!near_cache_churns(nc, 2, 60000)); /* fits beside them */
	/* would push out block 0, added just now: within a minute's window, not a 0 ms one */
	ck_assert(near_cache_churns(nc, 4, 60000));
	ck_assert(!near_cache_churns(nc, 4, 0));
	/* the add itself refuses such a block, in the same hold of the lock, and changes nothing */
	ck_assert_int_eq(near_cache_add(nc, 9, 0, 4, 60000, out, 16), -EBUSY);
	ck_assert_uint_eq(near_cache_bytes(nc), 8);
	ck_assert_int_eq(near_cache_add(nc, 9, 0, 4, 0, out, 16), 1);
	ck_assert_uint_eq(out[0].obj, 1);
	ck_assert_uint_eq(near_cache_bytes(nc), 8);
	near_cache_forget(nc, 9, 0);
	ck_assert_uint_eq(near_cache_add(nc, 1, 0, 4, 0, out, 16), 0);
	/* a block put back (pinned when named) counts as old: only it would leave */
	ck_assert_uint_eq(near_cache_add(nc, 2, 0, 2, 0, out, 16), 0);
	ck_assert_uint_eq(near_cache_add(nc, 3, 0, 4, 0, out, 16), 1);
	near_cache_keep(nc, &out[0]);
	ck_assert_uint_eq(near_cache_bytes(nc), 14);
	ck_assert(!near_cache_churns(nc, 0, 60000)); /* 4 over: the put-back block alone */
	ck_assert(near_cache_churns(nc, 1, 60000));  /* 5 over: block 1 too, added just now */
	near_cache_free(nc);
}
END_TEST

START_TEST(near_cache_stays_within_its_bound)
{
	struct near_cache *nc;
	struct near_block out[16];
	ck_assert_int_eq(near_cache_new(10, &nc), 0);
	ck_assert_uint_eq(near_cache_add(nc, 1, 0, 4, 0, out, 16), 0);
	ck_assert_uint_eq(near_cache_add(nc, 1, 1, 4, 0, out, 16), 0);
	/* the same block again is counted once and becomes the newest */
	ck_assert_uint_eq(near_cache_add(nc, 1, 0, 4, 0, out, 16), 0);
	ck_assert_uint_eq(near_cache_bytes(nc), 8);
	/* past the bound: the oldest (block 1, not block 0 added again) leaves */
	ck_assert_uint_eq(near_cache_add(nc, 2, 0, 4, 0, out, 16), 1);
	ck_assert_uint_eq(out[0].obj, 1);
	ck_assert_uint_eq(out[0].block, 1);
	ck_assert_uint_eq(out[0].len, 4);
	ck_assert_uint_eq(near_cache_bytes(nc), 8);
	/* a big one pushes out as many as it takes, oldest first */
	ck_assert_uint_eq(near_cache_add(nc, 3, 0, 9, 0, out, 16), 2);
	ck_assert_uint_eq(out[0].obj, 1);
	ck_assert_uint_eq(out[1].obj, 2);
	ck_assert_uint_eq(near_cache_bytes(nc), 9);
	/* one that could not leave is back as the oldest, and named first next time */
	near_cache_keep(nc, &out[0]);
	ck_assert_uint_eq(near_cache_bytes(nc), 13);
	ck_assert_uint_eq(near_cache_add(nc, 4, 0, 1, 0, out, 16), 1);
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

/* The wire format is the contract between nodes of two builds (a rolling upgrade): the request
 * MAC and a reply's tag for fixed inputs, as a second implementation computes them (Python's
 * hmac and the cryptography package's Poly1305, over the texts peer_auth.h documents):
 *   text = "weir-peer-request-v4\nGET\n/v1/block\nn2\nn1\n1000\n<nonce>\n<source>\n/a/b.bin\n3\n"
 *          "20000000\n1700000000\n\"abc-123\"\n"
 *   mac  = hmac.new(key, text, sha256).hexdigest()
 *   otk  = hmac.new(key, "weir-peer-reply-key-v2\n" + mac + "\n" + rnonce, sha256).digest()
 *   tag  = Poly1305.generate_tag(otk, "weir-peer-reply-v2\n200\n5\n0123456789abcdef\n" + body)
 */
static const char kat_req_mac[] =
    "24e2c9db8dc139dd8dee253b80c201cdca6fe2e908e54140ab61ce3346110833";
static const char kat_reply_tag[] = "fe5403189209555e0bab5f0ea7eab557";
static const char kat_rnonce[] = "ffeeddccbbaa99887766554433221100";

static void *kat_thread(void *arg)
{
	struct peer_key k = key_of("0123456789abcdef0123");
	struct peer_request rq = sample();
	long bad = 0;
	for (int i = 0; i < 200; i++) {
		char mac[PEER_AUTH_MAC_HEX], tag[PEER_AUTH_TAG_HEX];
		if (peer_auth_sign_request(&k, &rq, mac) != 0 || strcmp(mac, kat_req_mac) != 0 ||
		    peer_auth_sign_reply(&k, mac, kat_rnonce, 200, "kept\n", 5,
					 0x0123456789abcdefull, tag) != 0 ||
		    strcmp(tag, kat_reply_tag) != 0)
			bad++;
	}
	return (void *)bad;
}

/* The MACs equal a second implementation's, from the first use on (the MAC implementations are
 * fetched from OpenSSL once, by whichever thread comes first) and on 8 threads at once. */
START_TEST(macs_match_a_second_implementation_on_many_threads)
{
	struct peer_key k = key_of("0123456789abcdef0123");
	struct peer_request rq = sample();
	char mac[PEER_AUTH_MAC_HEX], tag[PEER_AUTH_TAG_HEX];
	pthread_t t[8];
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, kat_thread, NULL), 0);
	for (int i = 0; i < 8; i++) {
		void *bad;
		pthread_join(t[i], &bad);
		ck_assert_msg(bad == NULL,
			      "thread %d: %ld MACs differ from the second implementation", i,
			      (long)bad);
	}
	ck_assert_int_eq(peer_auth_sign_request(&k, &rq, mac), 0);
	ck_assert_str_eq(mac, kat_req_mac);
	ck_assert_int_eq(
	    peer_auth_sign_reply(&k, mac, kat_rnonce, 200, "kept\n", 5, 0x0123456789abcdefull, tag),
	    0);
	ck_assert_str_eq(tag, kat_reply_tag);
	ck_assert_int_eq(peer_auth_verify_reply(&k, mac, kat_rnonce, 200, "kept\n", 5,
						0x0123456789abcdefull, kat_reply_tag),
			 0);
}
END_TEST

#include "peer_v3_kat.h"

/* Reply MAC v3 for the fixed inputs above equals the second implementation's (generated
 * fixture): the body hash alone, the tag streamed in odd pieces, and the tag from a kept hash. */
START_TEST(reply_mac_v3_matches_a_second_implementation)
{
	struct peer_key k = key_of("0123456789abcdef0123");
	for (size_t i = 0; i < sizeof(kat3) / sizeof(kat3[0]); i++) {
		size_t len = kat3[i].len;
		unsigned char *body = len == 5 ? (unsigned char *)strdup("kept\n") : body_of(len);
		struct peer_reply_mac m;
		unsigned char h[PEER_AUTH_BODY_HASH];
		char hh[PEER_AUTH_TAG_HEX], tag[PEER_AUTH_TAG_HEX];
		ck_assert_int_eq(peer_auth_body_hash_begin(&m, &k, len), 0);
		peer_auth_reply_update(&m, body, len);
		ck_assert_int_eq(peer_auth_body_hash_final(&m, h), 0);
		for (int j = 0; j < 16; j++)
			snprintf(hh + 2 * j, 3, "%02x", h[j]);
		ck_assert_str_eq(hh, kat3[i].body_hash);
		ck_assert_int_eq(peer_auth_reply_begin_v3(&m, &k, kat_req_mac, kat3_rnonce, 200,
							  len, 0x0123456789abcdefull),
				 0);
		for (size_t off = 0; off < len; off += 7919)
			peer_auth_reply_update(&m, body + off, len - off < 7919 ? len - off : 7919);
		ck_assert_int_eq(peer_auth_reply_final(&m, tag), 0);
		ck_assert_str_eq(tag, kat3[i].tag);
		ck_assert_int_eq(peer_auth_reply_tag_v3(&k, kat_req_mac, kat3_rnonce, 200, len,
							0x0123456789abcdefull, h, tag),
				 0);
		ck_assert_str_eq(tag, kat3[i].tag);
		free(body);
	}
}
END_TEST

/* A v3 reply's check, as the asker streams it: 0 for the honest reply; -EACCES for each of a
 * flipped body byte, another header field (status, length, XXH3), a truncated body, a reply
 * recorded for another block's request, another key, and the v2 tag of the same reply (and v2
 * checks refuse the v3 tag). */
static int check_v3(const struct peer_key *k, const char *req_mac, unsigned status,
		    const unsigned char *body, uint64_t len, size_t fed, uint64_t sum,
		    const char *tag)
{
	struct peer_reply_mac m;
	if (peer_auth_reply_begin_v3(&m, k, req_mac, rnonce, status, len, sum) < 0)
		return -EINVAL;
	peer_auth_reply_update(&m, body, fed);
	return peer_auth_reply_check(&m, tag);
}

START_TEST(reply_mac_v3_refuses_tampering)
{
	struct peer_key k = key_of("0123456789abcdef0123");
	struct peer_request rq = sample();
	char mac[PEER_AUTH_MAC_HEX], mac4[PEER_AUTH_MAC_HEX], tag[PEER_AUTH_TAG_HEX],
	    tag4[PEER_AUTH_TAG_HEX], v2[PEER_AUTH_TAG_HEX];
	ck_assert_int_eq(peer_auth_sign_request(&k, &rq, mac), 0);
	size_t len = 1048576 + 17;
	unsigned char *body = body_of(len), h[PEER_AUTH_BODY_HASH];
	uint64_t sum = 0x1234;
	struct peer_reply_mac m;
	ck_assert_int_eq(peer_auth_body_hash_begin(&m, &k, len), 0);
	peer_auth_reply_update(&m, body, len);
	ck_assert_int_eq(peer_auth_body_hash_final(&m, h), 0);
	ck_assert_int_eq(peer_auth_reply_tag_v3(&k, mac, rnonce, 200, len, sum, h, tag), 0);
	ck_assert_int_eq(check_v3(&k, mac, 200, body, len, len, sum, tag), 0);
	/* a flipped body byte: first, middle, last */
	size_t at[] = {0, len / 2, len - 1};
	for (size_t i = 0; i < 3; i++) {
		body[at[i]] ^= 0x80;
		ck_assert_int_eq(check_v3(&k, mac, 200, body, len, len, sum, tag), -EACCES);
		body[at[i]] ^= 0x80;
	}
	/* a header byte: status, length, XXH3 */
	ck_assert_int_eq(check_v3(&k, mac, 201, body, len, len, sum, tag), -EACCES);
	ck_assert_int_eq(check_v3(&k, mac, 200, body, len - 1, len - 1, sum, tag), -EACCES);
	ck_assert_int_eq(check_v3(&k, mac, 200, body, len, len, sum ^ 1, tag), -EACCES);
	/* a truncated body (fewer bytes than the header says) */
	ck_assert_int_eq(check_v3(&k, mac, 200, body, len, len - 1, sum, tag), -EACCES);
	ck_assert_int_eq(check_v3(&k, mac, 200, body, len, 0, sum, tag), -EACCES);
	/* the honest reply to block 4's request, same bytes, replayed for block 3 */
	rq.block = 4;
	ck_assert_int_eq(peer_auth_sign_request(&k, &rq, mac4), 0);
	ck_assert_int_eq(peer_auth_reply_tag_v3(&k, mac4, rnonce, 200, len, sum, h, tag4), 0);
	ck_assert_int_eq(check_v3(&k, mac4, 200, body, len, len, sum, tag4), 0);
	ck_assert_int_eq(check_v3(&k, mac, 200, body, len, len, sum, tag4), -EACCES);
	/* another key */
	struct peer_key other = key_of("another key of 20 bytes");
	ck_assert_int_eq(check_v3(&other, mac, 200, body, len, len, sum, tag), -EACCES);
	/* v2 and v3 tags of one reply never pass for each other */
	ck_assert_int_eq(peer_auth_sign_reply(&k, mac, rnonce, 200, body, len, sum, v2), 0);
	ck_assert_str_ne(v2, tag);
	ck_assert_int_eq(check_v3(&k, mac, 200, body, len, len, sum, v2), -EACCES);
	ck_assert_int_eq(peer_auth_verify_reply(&k, mac, rnonce, 200, body, len, sum, tag),
			 -EACCES);
	/* malformed nonce or request MAC: refused to start */
	ck_assert_int_eq(peer_auth_reply_begin_v3(&m, &k, "zz", rnonce, 200, len, sum), -EINVAL);
	ck_assert_int_eq(peer_auth_reply_tag_v3(&k, mac, "ABC", 200, len, sum, h, tag), -EINVAL);
	free(body);
}
END_TEST

static struct peer_memo_key memo_key(const char *path, uint64_t block, uint64_t xxh3)
{
	return (struct peer_memo_key){.source = "0123456789abcdef",
				      .path = path,
				      .block = block,
				      .size = 20000000,
				      .mtime = 1700000000,
				      .etag = "\"e1\"",
				      .xxh3 = xxh3};
}

/* The memo keeps at most its capacity, dropping the least recently used; a hit needs the same
 * version and XXH3; a replaced block (forget, or put again) is never answered with its old
 * hash. */
START_TEST(memo_evicts_and_invalidates)
{
	struct peer_memo *m = peer_memo_new(4);
	ck_assert_ptr_nonnull(m);
	unsigned char h[PEER_AUTH_BODY_HASH], got[PEER_AUTH_BODY_HASH];
	for (uint64_t b = 0; b < 4; b++) {
		memset(h, (int)b + 1, sizeof(h));
		struct peer_memo_key k = memo_key("/a", b, 100 + b);
		peer_memo_put(m, &k, h);
	}
	ck_assert_uint_eq(peer_memo_size(m), 4);
	struct peer_memo_key k0 = memo_key("/a", 0, 100);
	ck_assert(peer_memo_get(m, &k0, got)); /* block 0 used: block 1 is now the oldest */
	ck_assert_uint_eq(got[0], 1);
	struct peer_memo_key k4 = memo_key("/a", 4, 104);
	memset(h, 5, sizeof(h));
	peer_memo_put(m, &k4, h);
	ck_assert_uint_eq(peer_memo_size(m), 4);
	struct peer_memo_key k1 = memo_key("/a", 1, 101);
	ck_assert(!peer_memo_get(m, &k1, got));
	ck_assert(peer_memo_get(m, &k0, got));
	ck_assert(peer_memo_get(m, &k4, got));
	ck_assert_uint_eq(got[0], 5);
	/* another version or XXH3 of the same block: a miss */
	struct peer_memo_key kv = k4;
	kv.mtime++;
	ck_assert(!peer_memo_get(m, &kv, got));
	kv = k4;
	kv.etag = "\"e2\"";
	ck_assert(!peer_memo_get(m, &kv, got));
	kv = k4;
	kv.xxh3++;
	ck_assert(!peer_memo_get(m, &kv, got));
	kv = k4;
	kv.path = "/b";
	ck_assert(!peer_memo_get(m, &kv, got));
	/* replaced: put again keeps one entry with the new hash; forget drops it */
	kv = k4;
	kv.xxh3 = 999;
	memset(h, 9, sizeof(h));
	peer_memo_put(m, &kv, h);
	ck_assert_uint_eq(peer_memo_size(m), 4);
	ck_assert(!peer_memo_get(m, &k4, got));
	ck_assert(peer_memo_get(m, &kv, got));
	ck_assert_uint_eq(got[0], 9);
	peer_memo_forget(m, kv.source, kv.path, kv.block);
	ck_assert(!peer_memo_get(m, &kv, got));
	ck_assert_uint_eq(peer_memo_size(m), 3);
	peer_memo_forget(m, "nope", "/x", 7); /* unknown: harmless */
	peer_memo_free(m);
	/* the default capacity */
	m = peer_memo_new(0);
	for (uint64_t b = 0; b < PEER_MEMO_MAX + 10; b++) {
		struct peer_memo_key k = memo_key("/big", b, b);
		peer_memo_put(m, &k, h);
	}
	ck_assert_uint_eq(peer_memo_size(m), PEER_MEMO_MAX);
	struct peer_memo_key first = memo_key("/big", 0, 0),
			     last = memo_key("/big", PEER_MEMO_MAX + 9, PEER_MEMO_MAX + 9);
	ck_assert(!peer_memo_get(m, &first, got));
	ck_assert(peer_memo_get(m, &last, got));
	peer_memo_free(m);
}
END_TEST

/* A tier read whose bytes do not sum to the index's XXH3 (changed under the index) is refused and
 * nothing is kept: a kept hash of such bytes would fail every later v3 reply of the block, even
 * once it is fetched again right. Bytes that do sum to it give the hash of the bytes, kept. */
START_TEST(memo_keeps_only_bytes_that_match_the_index)
{
	struct peer_key key = key_of("0123456789abcdef0123");
	struct peer_memo *m = peer_memo_new(4);
	ck_assert_ptr_nonnull(m);
	char path[] = "/tmp/weir-memo-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	size_t len = 300000; /* more than one of the read's pieces */
	unsigned char *good = malloc(len), *bad = malloc(len);
	ck_assert(good && bad);
	for (size_t i = 0; i < len; i++)
		good[i] = (unsigned char)(i * 7 + 3);
	memcpy(bad, good, len);
	bad[len / 2] ^= 1;
	uint64_t sum = XXH3_64bits(good, len);
	unsigned char want[PEER_AUTH_BODY_HASH], got[PEER_AUTH_BODY_HASH];
	struct peer_reply_mac mac;
	ck_assert_int_eq(peer_auth_body_hash_begin(&mac, &key, len), 0);
	peer_auth_reply_update(&mac, good, len);
	ck_assert_int_eq(peer_auth_body_hash_final(&mac, want), 0);

	/* the tier holds other bytes than the index's sum says: refused, nothing kept */
	ck_assert_int_eq(pwrite(fd, bad, len, 4096), (ssize_t)len);
	struct peer_memo_key k = memo_key("/a", 0, sum);
	ck_assert_int_eq(peer_memo_hash(m, &key, &k, NULL, fd, 4096, len, got), -EBADMSG);
	ck_assert_uint_eq(peer_memo_size(m), 0);
	/* refetched right: the hash of the right bytes, kept, and then served from the memo */
	ck_assert_int_eq(pwrite(fd, good, len, 4096), (ssize_t)len);
	ck_assert_int_eq(peer_memo_hash(m, &key, &k, NULL, fd, 4096, len, got), 0);
	ck_assert_mem_eq(got, want, sizeof(want));
	ck_assert_uint_eq(peer_memo_size(m), 1);
	ck_assert_int_eq(ftruncate(fd, 0), 0);
	memset(got, 0, sizeof(got));
	ck_assert_int_eq(peer_memo_hash(m, &key, &k, NULL, fd, 4096, len, got), 0);
	ck_assert_mem_eq(got, want, sizeof(want));
	/* a file shorter than its block (another block's key: not in the memo) */
	struct peer_memo_key k1 = memo_key("/a", 1, sum);
	ck_assert_int_eq(peer_memo_hash(m, &key, &k1, NULL, fd, 4096, len, got), -EIO);
	/* bytes in memory are the bytes served: hashed as they are */
	struct peer_memo_key k2 = memo_key("/a", 2, XXH3_64bits(bad, len));
	ck_assert_int_eq(peer_memo_hash(m, &key, &k2, bad, -1, 0, len, got), 0);
	ck_assert_uint_eq(peer_memo_size(m), 2);
	close(fd);
	free(good);
	free(bad);
	peer_memo_free(m);
}
END_TEST

Suite *peer_suite(void)
{
	Suite *s = suite_create("peer");
	TCase *tc = tcase_create("auth");
	tcase_add_test(tc, request_mac_checks_every_field);
	tcase_add_test(tc, member_refresh_waits_for_a_new_round);
	tcase_add_test(tc, member_mac_binds_name_url_and_id);
	tcase_add_test(tc, member_mac_refuses_another_id_and_v1);
	tcase_add_test(tc, lease_identities_are_pinned_while_fresh);
	tcase_add_test(tc, lease_pins_are_bounded);
	tcase_add_test(tc, lease_members_need_a_weir_node_pod);
	tcase_add_test(tc, member_prove_signs_a_nonce);
	tcase_add_test(tc, long_requests_are_signed);
	tcase_add_test(tc, newlines_cannot_shift_fields);
	tcase_add_test(tc, method_and_endpoint_are_signed);
	tcase_add_test(tc, pushed_body_is_signed_by_its_sha256);
	tcase_add_test(tc, reply_mac_binds_bytes_to_request);
	tcase_add_test(tc, spoiled_block_replies_are_refused);
	tcase_add_test(tc, no_randomness_blames_no_peer);
	tcase_add_test(tc, key_file_checks);
	tcase_add_test(tc, key_from_bytes);
	tcase_add_test(tc, macs_match_a_second_implementation_on_many_threads);
	tcase_add_test(tc, reply_mac_v3_matches_a_second_implementation);
	tcase_add_test(tc, reply_mac_v3_refuses_tampering);
	tcase_add_test(tc, memo_evicts_and_invalidates);
	tcase_add_test(tc, memo_keeps_only_bytes_that_match_the_index);
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
	tcase_add_test(tc, push_forged_reply_is_not_kept);
	tcase_add_test(tc, push_cancel_ends_the_wait);
	tcase_add_test(tc, load_refusal_needs_the_peers_mac);
	suite_add_tcase(s, tc);
	tc = tcase_create("share");
	tcase_set_timeout(tc, 60); /* on a client without shares, n3 waits out n2's 30 s */
	tcase_add_test(tc, a_slow_peer_holds_only_its_share);
	tcase_add_test(tc, a_queued_request_times_out);
	tcase_add_test(tc, a_peer_given_up_fails_its_queued_requests);
	suite_add_tcase(s, tc);
	tc = tcase_create("slow");
	tcase_set_timeout(tc, 30); /* a client without a rate floor waits out the 60 s timeout */
	tcase_add_test(tc, a_trickling_peer_is_given_up);
	suite_add_tcase(s, tc);
	tc = tcase_create("near-cache");
	tcase_add_test(tc, near_cache_stays_within_its_bound);
	tcase_add_test(tc, near_cache_churns_only_on_young_blocks);
	suite_add_tcase(s, tc);
	return s;
}
