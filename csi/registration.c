// SPDX-License-Identifier: Apache-2.0
// The kubelet's plugin registration service (pluginregistration v1), served by weir-csi itself
// on <registration-dir>/<driver>-reg.sock, so no node-driver-registrar sidecar is needed. The
// kubelet calls GetInfo, dials the endpoint it names, then NotifyRegistrationStatus.
#include "log.h"
#include "pluginregistration.pb-c.h"
#include "plugin.h"

static int get_info(void *ctx, const ProtobufCMessage *req, struct grpc_reply *rp)
{
	struct csi_plugin *p = ctx;
	static char *versions[] = {"1.0.0"};
	Pluginregistration__PluginInfo resp = PLUGINREGISTRATION__PLUGIN_INFO__INIT;
	resp.type = "CSIPlugin";
	resp.name = p->driver_name;
	resp.endpoint = p->endpoint;
	resp.supported_versions = versions;
	resp.n_supported_versions = 1;
	return grpc_reply_set(rp, &resp.base);
}

static int notify_registration_status(void *ctx, const ProtobufCMessage *req, struct grpc_reply *rp)
{
	struct csi_plugin *p = ctx;
	const Pluginregistration__RegistrationStatus *st = (const void *)req;
	p->registered = st->plugin_registered;
	if (st->plugin_registered)
		log_info("the kubelet registered driver \"%s\"", p->driver_name);
	else
		log_err("the kubelet refused to register driver \"%s\": %s", p->driver_name,
			st->error);
	Pluginregistration__RegistrationStatusResponse resp =
	    PLUGINREGISTRATION__REGISTRATION_STATUS_RESPONSE__INIT;
	return grpc_reply_set(rp, &resp.base);
}

const struct grpc_method csi_registration_methods[] = {
    {"/pluginregistration.Registration/GetInfo", &pluginregistration__info_request__descriptor,
     get_info, true},
    {"/pluginregistration.Registration/NotifyRegistrationStatus",
     &pluginregistration__registration_status__descriptor, notify_registration_status, true},
};
const size_t csi_registration_n_methods =
    sizeof(csi_registration_methods) / sizeof(csi_registration_methods[0]);
