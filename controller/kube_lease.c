// SPDX-License-Identifier: Apache-2.0
// Leader election on a Lease. Times are the holder's renewTime against our clock: the replicas
// of one controller run on machines whose clocks agree to well under the lease duration.
#include "kube_lease.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "objmodel.h"

static const char *spec_str(json_object *spec, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(spec, key, &v) && json_object_is_type(v, json_type_string)
		   ? json_object_get_string(v)
		   : NULL;
}

static int64_t spec_int(json_object *spec, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(spec, key, &v) ? json_object_get_int64(v) : 0;
}

/* Sets the holder fields of spec. */
static void hold(json_object *spec, const char *identity, int duration_s, int64_t now, bool acquire)
{
	char ts[48];
	kube_micro_time(now, ts, sizeof(ts));
	json_object_object_add(spec, "holderIdentity", json_object_new_string(identity));
	json_object_object_add(spec, "leaseDurationSeconds", json_object_new_int(duration_s));
	json_object_object_add(spec, "renewTime", json_object_new_string(ts));
	if (acquire) {
		json_object_object_add(spec, "acquireTime", json_object_new_string(ts));
		json_object_object_add(
		    spec, "leaseTransitions",
		    json_object_new_int64(spec_int(spec, "leaseTransitions") + 1));
	}
}

int kube_lease_try(struct kube_client *c, const char *ns, const char *name, const char *identity,
		   int duration_s, int64_t now, char *ret_holder, size_t holder_len, char *errbuf,
		   size_t errlen)
{
	char path[512];
	json_object *cur = NULL, *spec;
	snprintf(path, sizeof(path), "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", ns,
		 name);
	int r = kube_request(c, "GET", path, NULL, &cur, errbuf, errlen);
	if (r == -ENOENT) {
		json_object *lease = json_object_new_object(), *meta = json_object_new_object();
		spec = json_object_new_object();
		json_object_object_add(lease, "apiVersion",
				       json_object_new_string("coordination.k8s.io/v1"));
		json_object_object_add(lease, "kind", json_object_new_string("Lease"));
		json_object_object_add(meta, "name", json_object_new_string(name));
		json_object_object_add(meta, "namespace", json_object_new_string(ns));
		json_object_object_add(lease, "metadata", meta);
		json_object_object_add(spec, "leaseTransitions", json_object_new_int(-1));
		hold(spec, identity, duration_s, now, true);
		json_object_object_add(lease, "spec", spec);
		snprintf(path, sizeof(path), "/apis/coordination.k8s.io/v1/namespaces/%s/leases",
			 ns);
		r = kube_request(c, "POST", path, lease, NULL, errbuf, errlen);
		json_object_put(lease);
		if (r == -EEXIST)
			return 0; /* another replica created it first */
		return r < 0 ? r : 1;
	}
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(cur, "spec", &spec)) {
		spec = json_object_new_object();
		json_object_object_add(cur, "spec", spec);
	}
	const char *holder = spec_str(spec, "holderIdentity");
	const char *renew = spec_str(spec, "renewTime");
	int64_t renewed = 0, dur = spec_int(spec, "leaseDurationSeconds");
	if (renew)
		objmodel_parse_time(renew, &renewed);
	bool mine = holder && !strcmp(holder, identity);
	bool expired = !holder || !*holder || renewed + (dur > 0 ? dur : duration_s) < now;
	if (!mine && !expired) {
		if (ret_holder)
			snprintf(ret_holder, holder_len, "%s", holder);
		json_object_put(cur);
		return 0;
	}
	hold(spec, identity, duration_s, now, !mine);
	/* the resourceVersion read rides along: a racing replica gets 409 */
	r = kube_request(c, "PUT", path, cur, NULL, errbuf, errlen);
	json_object_put(cur);
	if (r == -EAGAIN)
		return 0;
	return r < 0 ? r : 1;
}

int kube_lease_release(struct kube_client *c, const char *ns, const char *name,
		       const char *identity, char *errbuf, size_t errlen)
{
	char path[512];
	json_object *cur = NULL, *spec;
	snprintf(path, sizeof(path), "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", ns,
		 name);
	int r = kube_request(c, "GET", path, NULL, &cur, errbuf, errlen);
	if (r < 0)
		return r;
	const char *holder =
	    json_object_object_get_ex(cur, "spec", &spec) ? spec_str(spec, "holderIdentity") : NULL;
	if (holder && !strcmp(holder, identity)) {
		json_object_object_add(spec, "holderIdentity", json_object_new_string(""));
		r = kube_request(c, "PUT", path, cur, NULL, errbuf, errlen);
	}
	json_object_put(cur);
	return r;
}
