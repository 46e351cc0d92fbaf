// SPDX-License-Identifier: Apache-2.0
// weir-csi's Identity, Node and registration handlers through gRPC, with no weir-node or
// weir-controller behind them: every refusal of a malformed or hostile request, and the
// answers that need no daemon. Publishing for real is tests/csi/publish.sh's.
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "csi.pb-c.h"
#include "grpc_client.h"
#include "plugin.h"
#include "pluginregistration.pb-c.h"
#include "server_fixture.h"
#include "suites.h"

static struct server_fixture fx;
static struct csi_plugin plugin;
static struct grpc_method methods[32];

static void setup(void)
{
	memset(&plugin, 0, sizeof(plugin));
	ck_assert_int_eq(csi_node_init(&plugin), 0);
	strcpy(plugin.driver_name, "weir.csi.io");
	strcpy(plugin.node_id, "node-a");
	strcpy(plugin.endpoint, "/run/x/csi.sock");
	strcpy(plugin.node_socket, "/nonexistent/node.sock");
	strcpy(plugin.state_dir, "/nonexistent/weir");
	strcpy(plugin.views_dir, "/nonexistent/weir/csi/views");
	strcpy(plugin.targets_dir, "/nonexistent/weir/csi/targets");
	size_t n = 0;
	for (size_t i = 0; i < csi_identity_n_methods; i++)
		methods[n++] = csi_identity_methods[i];
	for (size_t i = 0; i < csi_node_n_methods; i++)
		methods[n++] = csi_node_methods[i];
	for (size_t i = 0; i < csi_registration_n_methods; i++)
		methods[n++] = csi_registration_methods[i];
	server_fixture_start(&fx, methods, n, &plugin, 2);
}

static void teardown(void)
{
	server_fixture_stop(&fx);
	csi_node_cleanup(&plugin);
}

static int call(const char *path, const ProtobufCMessage *req, const ProtobufCMessageDescriptor *rd,
		ProtobufCMessage **resp, char *msg)
{
	return grpc_client_unary(fx.sock, path, req, rd, resp, msg, 512);
}

START_TEST(identity)
{
	ProtobufCMessage *resp;
	char msg[512];
	Csi__V1__GetPluginInfoRequest gi = CSI__V1__GET_PLUGIN_INFO_REQUEST__INIT;
	ck_assert_int_eq(call("/csi.v1.Identity/GetPluginInfo", &gi.base,
			      &csi__v1__get_plugin_info_response__descriptor, &resp, msg),
			 0);
	Csi__V1__GetPluginInfoResponse *info = (void *)resp;
	ck_assert_str_eq(info->name, "weir.csi.io");
	ck_assert(*info->vendor_version);
	protobuf_c_message_free_unpacked(resp, NULL);
	Csi__V1__GetPluginCapabilitiesRequest gc = CSI__V1__GET_PLUGIN_CAPABILITIES_REQUEST__INIT;
	ck_assert_int_eq(call("/csi.v1.Identity/GetPluginCapabilities", &gc.base,
			      &csi__v1__get_plugin_capabilities_response__descriptor, &resp, msg),
			 0);
	ck_assert_uint_eq(((Csi__V1__GetPluginCapabilitiesResponse *)resp)->n_capabilities, 0);
	protobuf_c_message_free_unpacked(resp, NULL);
	/* no weir-node: not ready */
	Csi__V1__ProbeRequest pr = CSI__V1__PROBE_REQUEST__INIT;
	ck_assert_int_eq(call("/csi.v1.Identity/Probe", &pr.base,
			      &csi__v1__probe_response__descriptor, &resp, msg),
			 0);
	Csi__V1__ProbeResponse *p = (void *)resp;
	ck_assert_ptr_nonnull(p->ready);
	ck_assert(!p->ready->value);
	protobuf_c_message_free_unpacked(resp, NULL);
}
END_TEST

START_TEST(node_info_and_caps)
{
	ProtobufCMessage *resp;
	char msg[512];
	Csi__V1__NodeGetInfoRequest ni = CSI__V1__NODE_GET_INFO_REQUEST__INIT;
	ck_assert_int_eq(call("/csi.v1.Node/NodeGetInfo", &ni.base,
			      &csi__v1__node_get_info_response__descriptor, &resp, msg),
			 0);
	ck_assert_str_eq(((Csi__V1__NodeGetInfoResponse *)resp)->node_id, "node-a");
	protobuf_c_message_free_unpacked(resp, NULL);
	Csi__V1__NodeGetCapabilitiesRequest nc = CSI__V1__NODE_GET_CAPABILITIES_REQUEST__INIT;
	ck_assert_int_eq(call("/csi.v1.Node/NodeGetCapabilities", &nc.base,
			      &csi__v1__node_get_capabilities_response__descriptor, &resp, msg),
			 0);
	Csi__V1__NodeGetCapabilitiesResponse *c = (void *)resp;
	ck_assert_uint_eq(c->n_capabilities, 1);
	ck_assert_int_eq(c->capabilities[0]->rpc->type,
			 CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__GET_VOLUME_STATS);
	protobuf_c_message_free_unpacked(resp, NULL);
	Csi__V1__NodeStageVolumeRequest st = CSI__V1__NODE_STAGE_VOLUME_REQUEST__INIT;
	ck_assert_int_eq(call("/csi.v1.Node/NodeStageVolume", &st.base, NULL, NULL, msg),
			 GRPC_UNIMPLEMENTED);
	Csi__V1__NodeExpandVolumeRequest ex = CSI__V1__NODE_EXPAND_VOLUME_REQUEST__INIT;
	ck_assert_int_eq(call("/csi.v1.Node/NodeExpandVolume", &ex.base, NULL, NULL, msg),
			 GRPC_UNIMPLEMENTED);
	ck_assert_int_eq(call("/csi.v1.Controller/CreateVolume", &ex.base, NULL, NULL, msg),
			 GRPC_UNIMPLEMENTED);
}
END_TEST

START_TEST(registration)
{
	ProtobufCMessage *resp;
	char msg[512];
	Pluginregistration__InfoRequest ir = PLUGINREGISTRATION__INFO_REQUEST__INIT;
	ck_assert_int_eq(call("/pluginregistration.Registration/GetInfo", &ir.base,
			      &pluginregistration__plugin_info__descriptor, &resp, msg),
			 0);
	Pluginregistration__PluginInfo *pi = (void *)resp;
	ck_assert_str_eq(pi->type, "CSIPlugin");
	ck_assert_str_eq(pi->name, "weir.csi.io");
	ck_assert_str_eq(pi->endpoint, "/run/x/csi.sock");
	ck_assert_uint_eq(pi->n_supported_versions, 1);
	ck_assert_str_eq(pi->supported_versions[0], "1.0.0");
	protobuf_c_message_free_unpacked(resp, NULL);
	Pluginregistration__RegistrationStatus rs = PLUGINREGISTRATION__REGISTRATION_STATUS__INIT;
	rs.plugin_registered = true;
	ck_assert_int_eq(call("/pluginregistration.Registration/NotifyRegistrationStatus", &rs.base,
			      &pluginregistration__registration_status_response__descriptor, &resp,
			      msg),
			 0);
	protobuf_c_message_free_unpacked(resp, NULL);
}
END_TEST

/* A publish request everything in which is valid; tests break one field at a time. */
struct pub {
	Csi__V1__NodePublishVolumeRequest req;
	Csi__V1__VolumeCapability cap;
	Csi__V1__VolumeCapability__MountVolume mount;
	Csi__V1__VolumeCapability__AccessMode mode;
	Csi__V1__NodePublishVolumeRequest__VolumeContextEntry ctx[4];
	Csi__V1__NodePublishVolumeRequest__VolumeContextEntry *ctxp[4];
	char target[128];
};

static void pub_init(struct pub *p)
{
	Csi__V1__NodePublishVolumeRequest r = CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__INIT;
	Csi__V1__VolumeCapability c = CSI__V1__VOLUME_CAPABILITY__INIT;
	Csi__V1__VolumeCapability__MountVolume m = CSI__V1__VOLUME_CAPABILITY__MOUNT_VOLUME__INIT;
	Csi__V1__VolumeCapability__AccessMode a = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__INIT;
	p->req = r;
	p->cap = c;
	p->mount = m;
	p->mode = a;
	p->mode.mode = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__MULTI_NODE_READER_ONLY;
	p->cap.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT;
	p->cap.mount = &p->mount;
	p->cap.access_mode = &p->mode;
	static const char *kv[4][2] = {{"namespace", "development"},
				       {"dataset", "spark"},
				       {"readOnly", "true"},
				       {"csi.storage.k8s.io/pod.namespace", "development"}};
	for (int i = 0; i < 4; i++) {
		Csi__V1__NodePublishVolumeRequest__VolumeContextEntry e =
		    CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__VOLUME_CONTEXT_ENTRY__INIT;
		p->ctx[i] = e;
		p->ctx[i].key = (char *)kv[i][0];
		p->ctx[i].value = (char *)kv[i][1];
		p->ctxp[i] = &p->ctx[i];
	}
	snprintf(p->target, sizeof(p->target), "%s/target", fx.dir);
	p->req.volume_id = "development/spark";
	p->req.target_path = p->target;
	p->req.volume_capability = &p->cap;
	p->req.volume_context = p->ctxp;
	p->req.n_volume_context = 4;
}

static int publish(struct pub *p, char *msg)
{
	return call("/csi.v1.Node/NodePublishVolume", &p->req.base, NULL, NULL, msg);
}

START_TEST(publish_refusals)
{
	struct pub p;
	char msg[512];
	pub_init(&p);
	p.req.volume_id = "";
	ck_assert_int_eq(publish(&p, msg), GRPC_INVALID_ARGUMENT);
	ck_assert_str_eq(msg, "volume_id is empty");

	static const char *const bad_targets[] = {"",	    "relative/t", "/a/../b",
						  "/a/./b", "/a//b",	  "/a/.."};
	for (size_t i = 0; i < sizeof(bad_targets) / sizeof(bad_targets[0]); i++) {
		pub_init(&p);
		p.req.target_path = (char *)bad_targets[i];
		ck_assert_int_eq(publish(&p, msg), GRPC_INVALID_ARGUMENT);
		ck_assert_ptr_nonnull(strstr(msg, "target_path"));
	}
	/* weir's state directory, what is in it and what is above it: refused before anything
	 * is made (a view there would stand in for weir's own files) */
	static const char *const state_targets[] = {"/nonexistent/weir/stores", "/nonexistent/weir",
						    "/nonexistent/weir/", "/nonexistent",
						    "/nonexistent/weir/csi/views/x"};
	for (size_t i = 0; i < sizeof(state_targets) / sizeof(state_targets[0]); i++) {
		pub_init(&p);
		p.req.target_path = (char *)state_targets[i];
		ck_assert_int_eq(publish(&p, msg), GRPC_INVALID_ARGUMENT);
		ck_assert_msg(strstr(msg, "weir's state directory /nonexistent/weir"), "%s: %s",
			      state_targets[i], msg);
	}
	pub_init(&p);
	p.req.target_path = "/nonexistent/weirx";
	ck_assert_int_ne(publish(&p, msg), GRPC_INVALID_ARGUMENT); /* a sibling is not in it */
	pub_init(&p);
	char *longp = malloc(5000);
	memset(longp, 'a', 4999);
	longp[0] = '/';
	longp[4999] = '\0';
	p.req.target_path = longp;
	ck_assert_int_eq(publish(&p, msg), GRPC_INVALID_ARGUMENT);
	free(longp);

	pub_init(&p);
	p.req.volume_capability = NULL;
	ck_assert_int_eq(publish(&p, msg), GRPC_INVALID_ARGUMENT);
	ck_assert_str_eq(msg, "volume_capability is missing");

	pub_init(&p);
	Csi__V1__VolumeCapability__BlockVolume blk = CSI__V1__VOLUME_CAPABILITY__BLOCK_VOLUME__INIT;
	p.cap.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK;
	p.cap.block = &blk;
	ck_assert_int_eq(publish(&p, msg), GRPC_INVALID_ARGUMENT);

	pub_init(&p);
	p.cap.access_mode = NULL;
	ck_assert_int_eq(publish(&p, msg), GRPC_INVALID_ARGUMENT);
	pub_init(&p);
	p.mode.mode = 99;
	ck_assert_int_eq(publish(&p, msg), GRPC_INVALID_ARGUMENT);

	pub_init(&p);
	char *flags[] = {"ro", "exec"};
	p.mount.mount_flags = flags;
	p.mount.n_mount_flags = 2;
	ck_assert_int_eq(publish(&p, msg), GRPC_INVALID_ARGUMENT);
	ck_assert_str_eq(msg, "mount flag \"exec\" is not supported (only ro, rw)");

	pub_init(&p);
	p.mount.fs_type = "ext4";
	ck_assert_int_eq(publish(&p, msg), GRPC_INVALID_ARGUMENT);

	pub_init(&p);
	p.req.n_volume_context = 1; /* no dataset */
	ck_assert_int_eq(publish(&p, msg), GRPC_INVALID_ARGUMENT);

	static const char *const bad_ns[] = {"../etc", "Dev", "a_b", "-x", "", "x/y", "a.b"};
	for (size_t i = 0; i < sizeof(bad_ns) / sizeof(bad_ns[0]); i++) {
		pub_init(&p);
		p.ctx[0].value = (char *)bad_ns[i];
		ck_assert_int_eq(publish(&p, msg), GRPC_INVALID_ARGUMENT);
	}
	static const char *const bad_ds[] = {"..", "spark/../x", "x_y", ".x", "x."};
	for (size_t i = 0; i < sizeof(bad_ds) / sizeof(bad_ds[0]); i++) {
		pub_init(&p);
		p.ctx[1].value = (char *)bad_ds[i];
		ck_assert_int_eq(publish(&p, msg), GRPC_INVALID_ARGUMENT);
	}
	pub_init(&p);
	p.ctx[2].value = "yes";
	ck_assert_int_eq(publish(&p, msg), GRPC_INVALID_ARGUMENT);

	/* the PV's subpath: an absolute path without "." or ".." (it is resolved beneath the view)
	 */
	static const char *const bad_sub[] = {"", "spark-3.3.1", "/a/../b", "/..", "/a/./b", "//a"};
	for (size_t i = 0; i < sizeof(bad_sub) / sizeof(bad_sub[0]); i++) {
		pub_init(&p);
		p.ctx[2].key = "subpath";
		p.ctx[2].value = (char *)bad_sub[i];
		ck_assert_int_eq(publish(&p, msg), GRPC_INVALID_ARGUMENT);
		ck_assert_ptr_nonnull(strstr(msg, "volume_context subpath"));
	}
}
END_TEST

/* A key that differs from the pod's namespace key only after a NUL byte (a PV's volumeAttributes
 * may hold one; the kubelet adds the real key beside it) reads as the same key in C: whichever
 * came first decided the pod's namespace, so a PV could name the Dataset's own namespace for a
 * pod of another. Two keys that read the same are refused. */
START_TEST(publish_context_nul_key)
{
	struct pub p;
	char msg[1024];
	pub_init(&p);
	Csi__V1__NodePublishVolumeRequest__VolumeContextEntry e[5], *ep[5];
	static const char *kv[5][2] = {{"namespace", "development"},
				       {"dataset", "spark"},
				       {"readOnly", "true"},
				       {"csi.storage.k8s.io/pod.namespace#", "development"},
				       {"csi.storage.k8s.io/pod.namespace", "qa"}};
	for (int i = 0; i < 5; i++) {
		csi__v1__node_publish_volume_request__volume_context_entry__init(&e[i]);
		e[i].key = (char *)kv[i][0];
		e[i].value = (char *)kv[i][1];
		ep[i] = &e[i];
	}
	p.req.volume_context = ep;
	p.req.n_volume_context = 5;
	size_t len;
	uint8_t *b = grpc_frame_pack(&p.req.base, &len);
	ck_assert_ptr_nonnull(b);
	uint8_t *hash = memmem(b, len, "pod.namespace#", 14);
	ck_assert_ptr_nonnull(hash);
	hash[13] = '\0';
	struct grpc_call c = {.path = "/csi.v1.Node/NodePublishVolume", .body = b, .len = len};
	ck_assert_int_eq(grpc_client_run(fx.sock, &c, 1), 0);
	free(b);
	free(c.resp);
	snprintf(msg, sizeof(msg), "%s", c.message);
	ck_assert_msg(c.grpc_status == GRPC_INVALID_ARGUMENT, "answered %d: %s", c.grpc_status,
		      msg);
	ck_assert_str_eq(msg, "volume_context has the key \"csi.storage.k8s.io/pod.namespace\" "
			      "twice");
}
END_TEST

START_TEST(publish_grant)
{
	struct pub p;
	char msg[512];
	/* a pod of another namespace: refused, whatever the PV says */
	pub_init(&p);
	p.ctx[3].value = "qa";
	ck_assert_int_eq(publish(&p, msg), GRPC_PERMISSION_DENIED);
	ck_assert_ptr_nonnull(strstr(msg, "pod namespace \"qa\" may not mount dataset "
					  "development/spark"));
	/* no pod namespace at all (CSIDriver without podInfoOnMount) */
	pub_init(&p);
	p.req.n_volume_context = 3;
	ck_assert_int_eq(publish(&p, msg), GRPC_PERMISSION_DENIED);
	ck_assert_ptr_nonnull(strstr(msg, "podInfoOnMount"));
	/* valid, but nobody to ask: unavailable, and nothing mounted */
	pub_init(&p);
	ck_assert_int_eq(publish(&p, msg), GRPC_UNAVAILABLE);
	ck_assert_ptr_nonnull(strstr(msg, "weir-node does not answer"));
	struct stat st;
	ck_assert_int_eq(stat(p.target, &st), -1); /* created, and removed again */
	/* a directory that was there before stays */
	ck_assert_int_eq(mkdir(p.target, 0700), 0);
	ck_assert_int_eq(publish(&p, msg), GRPC_UNAVAILABLE);
	ck_assert_int_eq(stat(p.target, &st), 0);
	rmdir(p.target);
}
END_TEST

START_TEST(unpublish_and_stats)
{
	char msg[512], target[128];
	Csi__V1__NodeUnpublishVolumeRequest u = CSI__V1__NODE_UNPUBLISH_VOLUME_REQUEST__INIT;
	ck_assert_int_eq(call("/csi.v1.Node/NodeUnpublishVolume", &u.base, NULL, NULL, msg),
			 GRPC_INVALID_ARGUMENT);
	u.volume_id = "development/spark";
	ck_assert_int_eq(call("/csi.v1.Node/NodeUnpublishVolume", &u.base, NULL, NULL, msg),
			 GRPC_INVALID_ARGUMENT);
	u.target_path = "/x/../y";
	ck_assert_int_eq(call("/csi.v1.Node/NodeUnpublishVolume", &u.base, NULL, NULL, msg),
			 GRPC_INVALID_ARGUMENT);
	/* an unknown target is already unpublished; a directory weir-csi did not make is left */
	snprintf(target, sizeof(target), "%s/t", fx.dir);
	ck_assert_int_eq(mkdir(target, 0700), 0);
	u.target_path = target;
	ProtobufCMessage *resp;
	ck_assert_int_eq(call("/csi.v1.Node/NodeUnpublishVolume", &u.base,
			      &csi__v1__node_unpublish_volume_response__descriptor, &resp, msg),
			 0);
	protobuf_c_message_free_unpacked(resp, NULL);
	struct stat st;
	ck_assert_int_eq(stat(target, &st), 0);
	ck_assert_int_eq(call("/csi.v1.Node/NodeUnpublishVolume", &u.base,
			      &csi__v1__node_unpublish_volume_response__descriptor, &resp, msg),
			 0);
	protobuf_c_message_free_unpacked(resp, NULL);
	ck_assert_int_eq(rmdir(target), 0); /* the fixture removes an empty directory only */
	/* a mount that is not weir's is not unmounted: /proc is always mounted; / is no target */
	u.target_path = "/proc";
	ck_assert_int_eq(call("/csi.v1.Node/NodeUnpublishVolume", &u.base, NULL, NULL, msg),
			 GRPC_INVALID_ARGUMENT);
	ck_assert_str_eq(msg, "target_path \"/proc\" is not a weir volume");
	u.target_path = "/";
	ck_assert_int_eq(call("/csi.v1.Node/NodeUnpublishVolume", &u.base, NULL, NULL, msg),
			 GRPC_INVALID_ARGUMENT);

	Csi__V1__NodeGetVolumeStatsRequest s = CSI__V1__NODE_GET_VOLUME_STATS_REQUEST__INIT;
	s.volume_path = "/x";
	ck_assert_int_eq(call("/csi.v1.Node/NodeGetVolumeStats", &s.base, NULL, NULL, msg),
			 GRPC_INVALID_ARGUMENT);
	s.volume_id = "v";
	s.volume_path = "";
	ck_assert_int_eq(call("/csi.v1.Node/NodeGetVolumeStats", &s.base, NULL, NULL, msg),
			 GRPC_INVALID_ARGUMENT);
	static const char *const unknown[] = {"some/path", "/", "/nonexistent", "/a/../b"};
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		s.volume_path = (char *)unknown[i];
		ck_assert_int_eq(call("/csi.v1.Node/NodeGetVolumeStats", &s.base, NULL, NULL, msg),
				 GRPC_NOT_FOUND);
	}
}
END_TEST

START_TEST(probe_hung_node)
{
	/* a weir-node that accepts and never answers: Probe says not ready after its deadline,
	 * and the server answers other calls meanwhile */
	char sock[160];
	snprintf(sock, sizeof(sock), "%s/hung.sock", fx.dir);
	int lfd = control_listen(sock);
	ck_assert_int_ge(lfd, 0);
	snprintf(plugin.node_socket, sizeof(plugin.node_socket), "%s", sock);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ProtobufCMessage *resp;
	char msg[512];
	Csi__V1__ProbeRequest pr = CSI__V1__PROBE_REQUEST__INIT;
	ck_assert_int_eq(call("/csi.v1.Identity/Probe", &pr.base,
			      &csi__v1__probe_response__descriptor, &resp, msg),
			 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert(!((Csi__V1__ProbeResponse *)resp)->ready->value);
	protobuf_c_message_free_unpacked(resp, NULL);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	ck_assert_msg(secs >= 1.5 && secs < 5, "Probe took %.2f s against a hung weir-node", secs);
	close(lfd);
	unlink(sock);
}
END_TEST

struct pub_thread {
	struct pub p;
	int r;
	char msg[512];
};

static void *publish_thread(void *arg)
{
	struct pub_thread *t = arg;
	t->r = publish(&t->p, t->msg);
	return NULL;
}

START_TEST(concurrent_publish_aborted)
{
	/* a weir-node that never answers holds the first publish until its deadline; a
	 * second publish of the same target or dataset meanwhile is ABORTED, not queued */
	char sock[160];
	snprintf(sock, sizeof(sock), "%s/hung-ctl.sock", fx.dir);
	int lfd = control_listen(sock);
	ck_assert_int_ge(lfd, 0);
	snprintf(plugin.node_socket, sizeof(plugin.node_socket), "%s", sock);
	plugin.call_timeout_ms = 1500;
	struct pub_thread t;
	pub_init(&t.p);
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, publish_thread, &t), 0);
	usleep(300 * 1000);
	struct pub p;
	char msg[512];
	pub_init(&p);
	ck_assert_int_eq(publish(&p, msg), GRPC_ABORTED);
	ck_assert_ptr_nonnull(strstr(msg, "in progress; retry"));
	Csi__V1__NodeUnpublishVolumeRequest u = CSI__V1__NODE_UNPUBLISH_VOLUME_REQUEST__INIT;
	u.volume_id = "development/spark";
	u.target_path = p.target;
	ck_assert_int_eq(call("/csi.v1.Node/NodeUnpublishVolume", &u.base, NULL, NULL, msg),
			 GRPC_ABORTED);
	/* other calls are answered meanwhile */
	ProtobufCMessage *resp;
	Csi__V1__NodeGetInfoRequest ni = CSI__V1__NODE_GET_INFO_REQUEST__INIT;
	ck_assert_int_eq(call("/csi.v1.Node/NodeGetInfo", &ni.base,
			      &csi__v1__node_get_info_response__descriptor, &resp, msg),
			 0);
	protobuf_c_message_free_unpacked(resp, NULL);
	pthread_join(th, NULL);
	ck_assert_int_eq(t.r, GRPC_DEADLINE_EXCEEDED);
	ck_assert_ptr_nonnull(strstr(t.msg, "weir-node does not answer"));
	close(lfd);
	unlink(sock);
}
END_TEST

START_TEST(slow_publishes_leave_info_answered)
{
	/* as many publishes as workers, each held by a weir-node that accepted its call and never
	 * answers (a view whose UFS hangs): the kubelet's NodeGetCapabilities (asked before every
	 * publish and unpublish), NodeGetInfo and registration must still be answered, not queued
	 * behind them until their deadline */
	char sock[160];
	snprintf(sock, sizeof(sock), "%s/hung-slow.sock", fx.dir);
	int lfd = control_listen(sock);
	ck_assert_int_ge(lfd, 0);
	snprintf(plugin.node_socket, sizeof(plugin.node_socket), "%s", sock);
	plugin.call_timeout_ms = 25000; /* longer than the client's 20 s: a queued call fails */
	struct pub_thread t[2];
	pthread_t th[2];
	static const char *ds[2] = {"spark", "other"};
	for (int i = 0; i < 2; i++) {
		pub_init(&t[i].p);
		t[i].p.ctx[1].value = (char *)ds[i];
		snprintf(t[i].p.target, sizeof(t[i].p.target), "%s/target%d", fx.dir, i);
		ck_assert_int_eq(pthread_create(&th[i], NULL, publish_thread, &t[i]), 0);
	}
	/* both workers are in their weir-node call once it has both connections */
	int cfd[2];
	for (int i = 0; i < 2; i++)
		ck_assert_int_ge(cfd[i] = accept(lfd, NULL, NULL), 0);
	ProtobufCMessage *resp;
	char msg[512];
	Csi__V1__NodeGetCapabilitiesRequest gc = CSI__V1__NODE_GET_CAPABILITIES_REQUEST__INIT;
	ck_assert_int_eq(call("/csi.v1.Node/NodeGetCapabilities", &gc.base,
			      &csi__v1__node_get_capabilities_response__descriptor, &resp, msg),
			 0);
	protobuf_c_message_free_unpacked(resp, NULL);
	Csi__V1__NodeGetInfoRequest ni = CSI__V1__NODE_GET_INFO_REQUEST__INIT;
	ck_assert_int_eq(call("/csi.v1.Node/NodeGetInfo", &ni.base,
			      &csi__v1__node_get_info_response__descriptor, &resp, msg),
			 0);
	protobuf_c_message_free_unpacked(resp, NULL);
	/* weir-node goes away: the publishes fail now, not at their deadline */
	for (int i = 0; i < 2; i++)
		close(cfd[i]);
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(t[i].r, GRPC_UNAVAILABLE);
	}
	close(lfd);
	unlink(sock);
}
END_TEST

/* A record file in dir named 64 times c (and suffix), holding len bytes of body. */
static void sweep_file(const char *dir, char c, const char *suffix, const char *body, size_t len)
{
	char name[128], path[4400];
	memset(name, c, 64);
	snprintf(name + 64, sizeof(name) - 64, "%s", suffix);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(body, 1, len, f), len);
	fclose(f);
}

static bool sweep_has(const char *dir, char c, const char *suffix)
{
	char name[128], path[4400];
	memset(name, c, 64);
	snprintf(name + 64, sizeof(name) - 64, "%s", suffix);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* The start's sweep: records of targets that are gone or have no weir mount go with their marks,
 * as do marks without a record and temporaries; records from before they named their target
 * (which cannot be checked) and files that are not weir-csi's stay. Live records: publish.sh. */
START_TEST(sweep_drops_stale_records)
{
	char tmp[] = "/tmp/weir-check-sweep.XXXXXX", body[4400], here[4200];
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	snprintf(plugin.targets_dir, sizeof(plugin.targets_dir), "%s/targets", tmp);
	snprintf(here, sizeof(here), "%s/here", tmp);
	ck_assert_int_eq(mkdir(plugin.targets_dir, 0700), 0);
	ck_assert_int_eq(mkdir(here, 0700), 0);
	const char *dir = plugin.targets_dir;
	/* a: its target is gone; b: it is there, with nothing mounted */
	int n = snprintf(body, sizeof(body), "cdevelopment/spark%c%s/gone", '\0', tmp);
	sweep_file(dir, 'a', "", body, (size_t)n);
	sweep_file(dir, 'a', ".made", "", 0);
	n = snprintf(body, sizeof(body), "edevelopment/spark%c%s", '\0', here);
	sweep_file(dir, 'b', "", body, (size_t)n);
	/* c: a record from before records named their target, with its mark */
	sweep_file(dir, 'c', "", "cdevelopment/spark", 18);
	sweep_file(dir, 'c', ".made", "", 0);
	sweep_file(dir, 'd', ".made", "", 0);
	sweep_file(dir, 'e', ".tmp", "x", 1);
	sweep_file(dir, 'f', "-not-weirs", "x", 1);
	csi_node_sweep(&plugin);
	ck_assert(!sweep_has(dir, 'a', ""));
	ck_assert(!sweep_has(dir, 'a', ".made"));
	ck_assert(!sweep_has(dir, 'b', ""));
	ck_assert(sweep_has(dir, 'c', ""));
	ck_assert(sweep_has(dir, 'c', ".made"));
	ck_assert(!sweep_has(dir, 'd', ".made"));
	ck_assert(!sweep_has(dir, 'e', ".tmp"));
	ck_assert(sweep_has(dir, 'f', "-not-weirs"));
	char cmd[4400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

Suite *csi_node_suite(void)
{
	Suite *s = suite_create("csi_node");
	TCase *tc = tcase_create("node");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, identity);
	tcase_add_test(tc, node_info_and_caps);
	tcase_add_test(tc, registration);
	tcase_add_test(tc, publish_refusals);
	tcase_add_test(tc, publish_context_nul_key);
	tcase_add_test(tc, publish_grant);
	tcase_add_test(tc, unpublish_and_stats);
	tcase_add_test(tc, probe_hung_node);
	tcase_add_test(tc, concurrent_publish_aborted);
	tcase_add_test(tc, slow_publishes_leave_info_answered);
	tcase_add_test(tc, sweep_drops_stale_records);
	suite_add_tcase(s, tc);
	return s;
}
