// SPDX-License-Identifier: Apache-2.0
// Leader election on a Lease. Times are the holder's renewTime against our clock: the replicas
// of one controller run on machines whose clocks agree to well under the lease duration.
#include "kube_lease.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
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

struct kube_leader {
	struct kube_client *kc;
	char ns[64];
	char name[254];
	char identity[256];
	double duration;
	void (*on_lead)(void *arg);
	void *arg;
	pthread_t thread;
	atomic_bool stop;
	bool leading; /* the thread's; read by kube_leader_stop after joining it */
};

/* Sleeps up to seconds, waking early when asked to stop. */
static void nap(struct kube_leader *l, double seconds)
{
	for (double t = 0; t < seconds && !atomic_load(&l->stop); t += 0.1)
		nanosleep(&(struct timespec){0, 100000000L}, NULL);
}

static void *leader_main(void *arg)
{
	struct kube_leader *l = arg;
	int dur = (int)(l->duration + 0.5);
	if (dur < 1)
		dur = 1;
	int64_t last_ok = 0;
	char err[1024], holder[256] = "", seen[256] = "";
	while (!atomic_load(&l->stop)) {
		int64_t now = time(NULL);
		int r = kube_lease_try(l->kc, l->ns, l->name, l->identity, dur, now, holder,
				       sizeof(holder), err, sizeof(err));
		if (r == 1) {
			last_ok = now;
			if (!l->leading) {
				log_notice("leading: holding Lease %s/%s as \"%s\"", l->ns, l->name,
					   l->identity);
				l->leading = true;
				l->on_lead(l->arg);
			}
		} else if (r == 0) {
			if (l->leading) {
				log_err("lost Lease %s/%s to \"%s\"; exiting", l->ns, l->name,
					holder);
				_exit(1);
			}
			if (strcmp(seen, holder)) {
				log_notice("standby: Lease %s/%s is held by \"%s\"", l->ns, l->name,
					   holder);
				snprintf(seen, sizeof(seen), "%s", holder);
			}
		} else {
			log_warn("leader election: %s", err);
			if (l->leading && now - last_ok > dur) {
				log_err("could not renew Lease %s/%s for %d s; exiting", l->ns,
					l->name, dur);
				_exit(1);
			}
		}
		nap(l, l->duration / 3);
	}
	if (l->leading &&
	    kube_lease_release(l->kc, l->ns, l->name, l->identity, err, sizeof(err)) < 0)
		log_debug("releasing Lease %s/%s: %s", l->ns, l->name, err);
	return NULL;
}

int kube_leader_start(const struct kubeconfig *kc, const char *ns, const char *name,
		      const char *identity, double duration_s, void (*on_lead)(void *arg),
		      void *arg, struct kube_leader **ret)
{
	struct kube_leader *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	snprintf(l->ns, sizeof(l->ns), "%s", ns);
	snprintf(l->name, sizeof(l->name), "%s", name);
	snprintf(l->identity, sizeof(l->identity), "%s", identity);
	l->duration = duration_s;
	l->on_lead = on_lead;
	l->arg = arg;
	int r = kube_client_new(kc, &l->kc);
	if (r >= 0)
		r = -pthread_create(&l->thread, NULL, leader_main, l);
	if (r < 0) {
		kube_client_free(l->kc);
		free(l);
		return r;
	}
	*ret = l;
	return 0;
}

bool kube_leader_stop(struct kube_leader *l)
{
	if (!l)
		return false;
	atomic_store(&l->stop, true);
	pthread_join(l->thread, NULL);
	bool led = l->leading;
	kube_client_free(l->kc);
	free(l);
	return led;
}
