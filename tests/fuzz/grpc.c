// SPDX-License-Identifier: Apache-2.0
// What the kubelet (or anyone who can reach weir-csi's socket) sends: an HTTP/2 byte stream
// with gRPC calls, fed to a memory connection of a server whose table has CSI's methods. The
// first byte picks the read size, so frames are cut at every place.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csi.pb-c.h"
#include "fuzz.h"
#include "grpc_server.h"
#include "log.h"
#include "pluginregistration.pb-c.h"

static int answer(void *ctx, const ProtobufCMessage *req, struct grpc_reply *rp)
{
	if (req->descriptor->n_fields & 1)
		return grpc_reply_error(rp, -EINVAL, "field \"%s\"", req->descriptor->short_name);
	Csi__V1__NodeGetInfoResponse resp = CSI__V1__NODE_GET_INFO_RESPONSE__INIT;
	resp.node_id = "fuzz";
	return grpc_reply_set(rp, &resp.base);
}

static const struct grpc_method methods[] = {
    {"/csi.v1.Identity/GetPluginInfo", &csi__v1__get_plugin_info_request__descriptor, answer,
     false},
    {"/csi.v1.Identity/Probe", &csi__v1__probe_request__descriptor, answer, false},
    {"/csi.v1.Node/NodePublishVolume", &csi__v1__node_publish_volume_request__descriptor, answer,
     false},
    {"/csi.v1.Node/NodeUnpublishVolume", &csi__v1__node_unpublish_volume_request__descriptor,
     answer, false},
    {"/csi.v1.Node/NodeGetVolumeStats", &csi__v1__node_get_volume_stats_request__descriptor, answer,
     false},
    {"/pluginregistration.Registration/GetInfo", &pluginregistration__info_request__descriptor,
     answer, false},
};

static struct grpc_server *server(void)
{
	static struct grpc_server *srv;
	if (srv)
		return srv;
	log_state.max_level = LOG_CRIT;
	char sock[108];
	snprintf(sock, sizeof(sock), "/tmp/weir-fuzz-grpc-%d.sock", (int)getpid());
	srv = grpc_server_new(0);
	if (!srv || grpc_server_listen(srv, sock, 0600, methods,
				       sizeof(methods) / sizeof(methods[0]), NULL) < 0)
		abort();
	unlink(sock); /* the listener stays; only memory connections are used */
	return srv;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct grpc_conn *c = grpc_conn_new_mem(server(), 0);
	if (!c)
		abort();
	size_t chunk = 1 + data[0], off = 1;
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;
		if (grpc_conn_feed(c, data + off, n) < 0)
			break;
		off += n;
	}
	grpc_conn_free(c);
	return 0;
}
