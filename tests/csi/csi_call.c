// SPDX-License-Identifier: Apache-2.0
// A CSI client for the shell tests, playing the kubelet: one call per run, prints
// "<CODE>: <grpc-message>" (and what the answer holds), exits with the gRPC status (0 = OK,
// 100 = no answer). Also serves a static Controller for csi-sanity (serve-controller).
//
//   csi-call SOCK probe | info | caps | plugin-info | reg-info
//   csi-call SOCK publish VOLID TARGET [--ro] [--mode N] [KEY=VALUE...]   (volume context)
//   csi-call SOCK unpublish VOLID TARGET
//   csi-call SOCK stats VOLID PATH
//   csi-call SOCK serve-controller CSI_SOCK [--with-node]   CreateVolume returns volume_id
//   "<namespace>/<dataset>"
//                                       of its parameters, volume_context = the parameters;
//                                       Identity calls go to weir-csi at CSI_SOCK
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csi.pb-c.h"
#include "grpc_client.h"
#include "grpc_server.h"
#include "pluginregistration.pb-c.h"

static int report(int r, const char *msg)
{
	if (r < 0) {
		printf("NO_ANSWER: %s\n", strerror(-r));
		return 100;
	}
	printf("%s: %s\n", grpc_code_name(r), msg);
	return r;
}

/* ---- the static provisioner ---- */

static int create_volume(void *ctx, const ProtobufCMessage *msg, struct grpc_reply *rp)
{
	const Csi__V1__CreateVolumeRequest *r = (const void *)msg;
	if (!*r->name)
		return grpc_reply_error(rp, -EINVAL, "name is empty");
	if (r->n_volume_capabilities == 0)
		return grpc_reply_error(rp, -EINVAL, "volume_capabilities is empty");
	const char *ns = "", *ds = "";
	Csi__V1__Volume__VolumeContextEntry ents[16], *entp[16];
	size_t n = 0;
	for (size_t i = 0; i < r->n_parameters && n < 16; i++) {
		if (strcmp(r->parameters[i]->key, "namespace") == 0)
			ns = r->parameters[i]->value;
		if (strcmp(r->parameters[i]->key, "dataset") == 0)
			ds = r->parameters[i]->value;
		csi__v1__volume__volume_context_entry__init(&ents[n]);
		ents[n].key = r->parameters[i]->key;
		ents[n].value = r->parameters[i]->value;
		entp[n] = &ents[n];
		n++;
	}
	char id[512];
	snprintf(id, sizeof(id), "%s/%s", ns, ds);
	Csi__V1__Volume vol = CSI__V1__VOLUME__INIT;
	vol.volume_id = id;
	vol.volume_context = entp;
	vol.n_volume_context = n;
	Csi__V1__CreateVolumeResponse resp = CSI__V1__CREATE_VOLUME_RESPONSE__INIT;
	resp.volume = &vol;
	return grpc_reply_set(rp, &resp.base);
}

static int delete_volume(void *ctx, const ProtobufCMessage *msg, struct grpc_reply *rp)
{
	const Csi__V1__DeleteVolumeRequest *r = (const void *)msg;
	if (!*r->volume_id)
		return grpc_reply_error(rp, -EINVAL, "volume_id is empty");
	Csi__V1__DeleteVolumeResponse resp = CSI__V1__DELETE_VOLUME_RESPONSE__INIT;
	return grpc_reply_set(rp, &resp.base);
}

static int controller_caps(void *ctx, const ProtobufCMessage *msg, struct grpc_reply *rp)
{
	Csi__V1__ControllerServiceCapability__RPC rpc =
	    CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__INIT;
	rpc.type = CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__CREATE_DELETE_VOLUME;
	Csi__V1__ControllerServiceCapability cap = CSI__V1__CONTROLLER_SERVICE_CAPABILITY__INIT;
	cap.type_case = CSI__V1__CONTROLLER_SERVICE_CAPABILITY__TYPE_RPC;
	cap.rpc = &rpc;
	Csi__V1__ControllerServiceCapability *capp = &cap;
	Csi__V1__ControllerGetCapabilitiesResponse resp =
	    CSI__V1__CONTROLLER_GET_CAPABILITIES_RESPONSE__INIT;
	resp.capabilities = &capp;
	resp.n_capabilities = 1;
	return grpc_reply_set(rp, &resp.base);
}

/* Identity on the stand-in's socket is weir-csi's, forwarded: csi-sanity asks both endpoints.
 * With --with-node the stand-in also forwards the Node service and adds CONTROLLER_SERVICE to
 * weir-csi's capabilities: csi-sanity runs its whole-lifecycle node specs ("should work") only
 * for plugins with a Controller, and this way they still exercise weir-csi's Node handlers. */
static const char *identity_sock;
static bool with_node;

/* The gRPC status weir-csi answered, back as the -errno the server turns into it again. */
static int errno_of_status(int code)
{
	static const int map[][2] = {
	    {GRPC_INVALID_ARGUMENT, EINVAL},   {GRPC_NOT_FOUND, ENOENT},
	    {GRPC_ALREADY_EXISTS, EEXIST},     {GRPC_PERMISSION_DENIED, EPERM},
	    {GRPC_FAILED_PRECONDITION, EBUSY}, {GRPC_UNIMPLEMENTED, ENOSYS},
	    {GRPC_UNAVAILABLE, EAGAIN},	       {GRPC_RESOURCE_EXHAUSTED, EMSGSIZE},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i][0] == code)
			return -map[i][1];
	return -EIO;
}

static int forward(const char *path, const ProtobufCMessageDescriptor *rd,
		   const ProtobufCMessage *msg, struct grpc_reply *rp)
{
	ProtobufCMessage *resp = NULL;
	int r = grpc_client_unary(identity_sock, path, msg, rd, &resp, rp->message,
				  sizeof(rp->message));
	if (r < 0)
		return grpc_reply_error(rp, -EAGAIN, "weir-csi at \"%s\": %s", identity_sock,
					strerror(-r));
	if (r > 0)
		return errno_of_status(r);
	if (with_node && rd == &csi__v1__get_plugin_capabilities_response__descriptor) {
		Csi__V1__GetPluginCapabilitiesResponse *c = (void *)resp;
		Csi__V1__PluginCapability__Service svc = CSI__V1__PLUGIN_CAPABILITY__SERVICE__INIT;
		Csi__V1__PluginCapability cap = CSI__V1__PLUGIN_CAPABILITY__INIT;
		Csi__V1__PluginCapability *caps[16];
		Csi__V1__GetPluginCapabilitiesResponse out =
		    CSI__V1__GET_PLUGIN_CAPABILITIES_RESPONSE__INIT;
		size_t n = 0;
		for (size_t i = 0; i < c->n_capabilities && n < 15; i++)
			caps[n++] = c->capabilities[i];
		svc.type = CSI__V1__PLUGIN_CAPABILITY__SERVICE__TYPE__CONTROLLER_SERVICE;
		cap.type_case = CSI__V1__PLUGIN_CAPABILITY__TYPE_SERVICE;
		cap.service = &svc;
		caps[n++] = &cap;
		out.capabilities = caps;
		out.n_capabilities = n;
		r = grpc_reply_set(rp, &out.base);
	} else {
		r = grpc_reply_set(rp, resp);
	}
	protobuf_c_message_free_unpacked(resp, NULL);
	return r;
}

#define FORWARD(fn, path, resp)                                                                    \
	static int fn(void *ctx, const ProtobufCMessage *msg, struct grpc_reply *rp)               \
	{                                                                                          \
		return forward(path, &resp, msg, rp);                                              \
	}
FORWARD(fwd_info, "/csi.v1.Identity/GetPluginInfo", csi__v1__get_plugin_info_response__descriptor)
FORWARD(fwd_caps, "/csi.v1.Identity/GetPluginCapabilities",
	csi__v1__get_plugin_capabilities_response__descriptor)
FORWARD(fwd_probe, "/csi.v1.Identity/Probe", csi__v1__probe_response__descriptor)
FORWARD(fwd_publish, "/csi.v1.Node/NodePublishVolume",
	csi__v1__node_publish_volume_response__descriptor)
FORWARD(fwd_unpublish, "/csi.v1.Node/NodeUnpublishVolume",
	csi__v1__node_unpublish_volume_response__descriptor)
FORWARD(fwd_stats, "/csi.v1.Node/NodeGetVolumeStats",
	csi__v1__node_get_volume_stats_response__descriptor)
FORWARD(fwd_node_info, "/csi.v1.Node/NodeGetInfo", csi__v1__node_get_info_response__descriptor)
FORWARD(fwd_node_caps, "/csi.v1.Node/NodeGetCapabilities",
	csi__v1__node_get_capabilities_response__descriptor)

static const struct grpc_method node_methods[] = {
    {"/csi.v1.Node/NodePublishVolume", &csi__v1__node_publish_volume_request__descriptor,
     fwd_publish, false},
    {"/csi.v1.Node/NodeUnpublishVolume", &csi__v1__node_unpublish_volume_request__descriptor,
     fwd_unpublish, false},
    {"/csi.v1.Node/NodeGetVolumeStats", &csi__v1__node_get_volume_stats_request__descriptor,
     fwd_stats, false},
    {"/csi.v1.Node/NodeGetInfo", &csi__v1__node_get_info_request__descriptor, fwd_node_info, false},
    {"/csi.v1.Node/NodeGetCapabilities", &csi__v1__node_get_capabilities_request__descriptor,
     fwd_node_caps, false},
};

static const struct grpc_method controller_methods[] = {
    {"/csi.v1.Identity/GetPluginInfo", &csi__v1__get_plugin_info_request__descriptor, fwd_info,
     false},
    {"/csi.v1.Identity/GetPluginCapabilities",
     &csi__v1__get_plugin_capabilities_request__descriptor, fwd_caps, false},
    {"/csi.v1.Identity/Probe", &csi__v1__probe_request__descriptor, fwd_probe, false},
    {"/csi.v1.Controller/CreateVolume", &csi__v1__create_volume_request__descriptor, create_volume,
     false},
    {"/csi.v1.Controller/DeleteVolume", &csi__v1__delete_volume_request__descriptor, delete_volume,
     false},
    {"/csi.v1.Controller/ControllerGetCapabilities",
     &csi__v1__controller_get_capabilities_request__descriptor, controller_caps, false},
};

static struct grpc_server *srv_for_signal;
static void on_term(int sig)
{
	grpc_server_stop(srv_for_signal);
}

static int serve_controller(const char *sock)
{
	struct grpc_server *srv = grpc_server_new(2);
	struct grpc_method all[16];
	size_t n = 0;
	for (size_t i = 0; i < sizeof(controller_methods) / sizeof(controller_methods[0]); i++)
		all[n++] = controller_methods[i];
	for (size_t i = 0; with_node && i < sizeof(node_methods) / sizeof(node_methods[0]); i++)
		all[n++] = node_methods[i];
	if (!srv || grpc_server_listen(srv, sock, 0600, all, n, NULL) < 0) {
		fprintf(stderr, "csi-call: cannot listen on \"%s\"\n", sock);
		return 1;
	}
	srv_for_signal = srv;
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	int r = grpc_server_run(srv, NULL, NULL, 0);
	grpc_server_free(srv);
	return r < 0;
}

/* ---- calls ---- */

static int publish(const char *sock, int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "csi-call: publish VOLID TARGET [--ro] [--mode N] [K=V...]\n");
		return 2;
	}
	Csi__V1__VolumeCapability__MountVolume mv = CSI__V1__VOLUME_CAPABILITY__MOUNT_VOLUME__INIT;
	Csi__V1__VolumeCapability__AccessMode am = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__INIT;
	Csi__V1__VolumeCapability cap = CSI__V1__VOLUME_CAPABILITY__INIT;
	am.mode = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__MULTI_NODE_READER_ONLY;
	cap.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT;
	cap.mount = &mv;
	cap.access_mode = &am;
	Csi__V1__NodePublishVolumeRequest req = CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__INIT;
	req.volume_id = argv[0];
	req.target_path = argv[1];
	req.volume_capability = &cap;
	Csi__V1__NodePublishVolumeRequest__VolumeContextEntry ents[32], *entp[32];
	size_t n = 0;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--ro") == 0) {
			req.readonly = true;
		} else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
			am.mode = atoi(argv[++i]);
		} else if (strchr(argv[i], '=') && n < 32) {
			char *eq = strchr(argv[i], '=');
			*eq = '\0';
			csi__v1__node_publish_volume_request__volume_context_entry__init(&ents[n]);
			ents[n].key = argv[i];
			ents[n].value = eq + 1;
			entp[n] = &ents[n];
			n++;
		} else {
			fprintf(stderr, "csi-call: publish: unexpected \"%s\"\n", argv[i]);
			return 2;
		}
	}
	req.volume_context = entp;
	req.n_volume_context = n;
	char msg[1024] = "";
	return report(grpc_client_unary(sock, "/csi.v1.Node/NodePublishVolume", &req.base, NULL,
					NULL, msg, sizeof(msg)),
		      msg);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: csi-call SOCK probe|info|caps|plugin-info|reg-info|publish|"
				"unpublish|stats|serve-controller ...\n");
		return 2;
	}
	const char *sock = argv[1], *cmd = argv[2];
	char msg[1024] = "";
	ProtobufCMessage *resp = NULL;
	int r;
	if (strcmp(cmd, "serve-controller") == 0 && (argc == 4 || argc == 5)) {
		identity_sock = argv[3];
		with_node = argc == 5 && strcmp(argv[4], "--with-node") == 0;
		return serve_controller(sock);
	}
	if (strcmp(cmd, "publish") == 0)
		return publish(sock, argc - 3, argv + 3);
	if (strcmp(cmd, "unpublish") == 0 && argc == 5) {
		Csi__V1__NodeUnpublishVolumeRequest req =
		    CSI__V1__NODE_UNPUBLISH_VOLUME_REQUEST__INIT;
		req.volume_id = argv[3];
		req.target_path = argv[4];
		return report(grpc_client_unary(sock, "/csi.v1.Node/NodeUnpublishVolume", &req.base,
						NULL, NULL, msg, sizeof(msg)),
			      msg);
	}
	if (strcmp(cmd, "stats") == 0 && argc == 5) {
		Csi__V1__NodeGetVolumeStatsRequest req =
		    CSI__V1__NODE_GET_VOLUME_STATS_REQUEST__INIT;
		req.volume_id = argv[3];
		req.volume_path = argv[4];
		r = grpc_client_unary(sock, "/csi.v1.Node/NodeGetVolumeStats", &req.base,
				      &csi__v1__node_get_volume_stats_response__descriptor, &resp,
				      msg, sizeof(msg));
		if (r == 0) {
			Csi__V1__NodeGetVolumeStatsResponse *s = (void *)resp;
			for (size_t i = 0; i < s->n_usage; i++)
				printf("used=%lld total=%lld available=%lld unit=%d\n",
				       (long long)s->usage[i]->used, (long long)s->usage[i]->total,
				       (long long)s->usage[i]->available, s->usage[i]->unit);
			protobuf_c_message_free_unpacked(resp, NULL);
		}
		return report(r, msg);
	}
	if (strcmp(cmd, "probe") == 0) {
		Csi__V1__ProbeRequest req = CSI__V1__PROBE_REQUEST__INIT;
		r = grpc_client_unary(sock, "/csi.v1.Identity/Probe", &req.base,
				      &csi__v1__probe_response__descriptor, &resp, msg,
				      sizeof(msg));
		if (r == 0) {
			Csi__V1__ProbeResponse *p = (void *)resp;
			printf("ready=%s\n", p->ready && p->ready->value ? "true" : "false");
			protobuf_c_message_free_unpacked(resp, NULL);
		}
		return report(r, msg);
	}
	if (strcmp(cmd, "info") == 0) {
		Csi__V1__NodeGetInfoRequest req = CSI__V1__NODE_GET_INFO_REQUEST__INIT;
		r = grpc_client_unary(sock, "/csi.v1.Node/NodeGetInfo", &req.base,
				      &csi__v1__node_get_info_response__descriptor, &resp, msg,
				      sizeof(msg));
		if (r == 0) {
			printf("node_id=%s\n", ((Csi__V1__NodeGetInfoResponse *)resp)->node_id);
			protobuf_c_message_free_unpacked(resp, NULL);
		}
		return report(r, msg);
	}
	if (strcmp(cmd, "reg-info") == 0) {
		Pluginregistration__InfoRequest req = PLUGINREGISTRATION__INFO_REQUEST__INIT;
		r = grpc_client_unary(sock, "/pluginregistration.Registration/GetInfo", &req.base,
				      &pluginregistration__plugin_info__descriptor, &resp, msg,
				      sizeof(msg));
		if (r == 0) {
			Pluginregistration__PluginInfo *pi = (void *)resp;
			printf("type=%s name=%s endpoint=%s versions=%s\n", pi->type, pi->name,
			       pi->endpoint,
			       pi->n_supported_versions ? pi->supported_versions[0] : "");
			protobuf_c_message_free_unpacked(resp, NULL);
		}
		return report(r, msg);
	}
	fprintf(stderr, "csi-call: unknown command \"%s\" or wrong arguments\n", cmd);
	return 2;
}
