// SPDX-License-Identifier: Apache-2.0
// CSI Identity: the driver's name and version, no Controller service (a weir volume is a
// Dataset that weir-controller already made into a PV), and Probe, which is ready only when
// the node daemon answers: without it no publish could work.
#include <errno.h>

#include "csi.pb-c.h"
#include "plugin.h"

static int get_plugin_info(void *ctx, const ProtobufCMessage *req, struct grpc_reply *rp)
{
	struct csi_plugin *p = ctx;
	Csi__V1__GetPluginInfoResponse resp = CSI__V1__GET_PLUGIN_INFO_RESPONSE__INIT;
	resp.name = p->driver_name;
	resp.vendor_version = (char *)WEIR_VERSION;
	return grpc_reply_set(rp, &resp.base);
}

static int get_plugin_capabilities(void *ctx, const ProtobufCMessage *req, struct grpc_reply *rp)
{
	/* none: no CONTROLLER_SERVICE, no topology constraints (every node can serve a Dataset) */
	Csi__V1__GetPluginCapabilitiesResponse resp =
	    CSI__V1__GET_PLUGIN_CAPABILITIES_RESPONSE__INIT;
	return grpc_reply_set(rp, &resp.base);
}

static int probe(void *ctx, const ProtobufCMessage *req, struct grpc_reply *rp)
{
	struct csi_plugin *p = ctx;
	Csi__V1__BoolValue ready = CSI__V1__BOOL_VALUE__INIT;
	Csi__V1__ProbeResponse resp = CSI__V1__PROBE_RESPONSE__INIT;
	ready.value = csi_node_alive(p);
	resp.ready = &ready;
	return grpc_reply_set(rp, &resp.base);
}

const struct grpc_method csi_identity_methods[] = {
    {"/csi.v1.Identity/GetPluginInfo", &csi__v1__get_plugin_info_request__descriptor,
     get_plugin_info, true},
    {"/csi.v1.Identity/GetPluginCapabilities",
     &csi__v1__get_plugin_capabilities_request__descriptor, get_plugin_capabilities, true},
    {"/csi.v1.Identity/Probe", &csi__v1__probe_request__descriptor, probe, false},
};
const size_t csi_identity_n_methods =
    sizeof(csi_identity_methods) / sizeof(csi_identity_methods[0]);
