// SPDX-License-Identifier: Apache-2.0
// The controller's request server: one request per connection, handled in order on the main
// thread. Writes go through apply.c under the lock and wake the reconciler.
#include "controller.h"

#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "control.h"
#include "log.h"
#include "members.h"
#include "reconcile.h"
#include "redact.h"
#include "secrets.h"

struct reply {
	Weir__Response resp;
	char msg[2048];
	struct apply_result results;
	char delete_line[512];
	char *delete_linep;
	struct store_list objects;
	char **object_texts;
	Weir__MountRequest mount;
	struct mount_plan plan;
	Weir__TierSpec tiers[MOUNT_PLAN_MAX_TIERS];
	Weir__TierSpec *tierp[MOUNT_PLAN_MAX_TIERS];
};

static void reply_error(struct reply *rp, int r)
{
	rp->resp.error = r < 0 ? r : -EIO;
	redact_text(rp->msg, sizeof(rp->msg)); /* a mountPoint's password stays out of replies */
	rp->resp.message = rp->msg;
}

static void handle_apply(struct controller *ctl, const Weir__ApplyRequest *a, struct reply *rp)
{
	pthread_mutex_lock(&ctl->lock);
	int r = apply_objects(ctl->store, (const char *const *)a->objects, a->n_objects, a->create,
			      a->source, time(NULL), &rp->results, rp->msg, sizeof(rp->msg));
	if (r >= 0)
		controller_changed(ctl);
	pthread_mutex_unlock(&ctl->lock);
	if (r < 0) {
		log_info("apply refused: %s", rp->msg);
		reply_error(rp, r);
		return;
	}
	for (size_t i = 0; i < rp->results.n; i++)
		log_info("%s", rp->results.lines[i]);
	rp->resp.results = rp->results.lines;
	rp->resp.n_results = rp->results.n;
}

/* The Dataset or its Runtime is gone: so is its cache (tier files, index), as in Fluid. */
void controller_close_source(struct controller *ctl, const char *ns, const char *name)
{
	char sid[320];
	Weir__SourceRequest s = WEIR__SOURCE_REQUEST__INIT;
	s.source_id = mount_plan_source_id(ns, name, sid, sizeof(sid));
	s.close = true;
	s.purge = true;
	Weir__Request req = WEIR__REQUEST__INIT;
	req.body_case = WEIR__REQUEST__BODY_SOURCE;
	req.source = &s;
	Weir__Response *resp = NULL;
	int r = control_call(ctl->cfg.node_socket, &req, &resp);
	if (r < 0)
		log_debug("close source \"%s\": weir-node: %s", sid, strerror(-r));
	else if (resp->error)
		log_notice("close source \"%s\": %s", sid, resp->message);
	if (resp)
		weir__response__free_unpacked(resp, NULL);
}

static void handle_delete(struct controller *ctl, const Weir__DeleteRequest *d, struct reply *rp)
{
	pthread_mutex_lock(&ctl->lock);
	int r = apply_delete(ctl->store, d->kind, d->namespace_, d->name, ctl->cfg.deny_by_default,
			     rp->delete_line, sizeof(rp->delete_line), rp->msg, sizeof(rp->msg));
	if (r >= 0)
		controller_changed(ctl);
	pthread_mutex_unlock(&ctl->lock);
	if (r < 0) {
		log_info("delete refused: %s", rp->msg);
		reply_error(rp, r);
		return;
	}
	log_info("%s", rp->delete_line);
	/* on Kubernetes the finalizer purges, once the apiserver marks the object deleting */
	if (!ctl->kube && (!strcmp(d->kind, "Dataset") || !strcmp(d->kind, "Runtime")))
		controller_close_source(ctl, d->namespace_, d->name);
	rp->delete_linep = rp->delete_line;
	rp->resp.results = &rp->delete_linep;
	rp->resp.n_results = 1;
}

static void handle_get(struct controller *ctl, const Weir__GetRequest *g, struct reply *rp)
{
	bool is_ns = !strcmp(g->kind, "Namespace");
	const char *ns = is_ns ? "" : (g->namespace_[0] ? g->namespace_ : NULL);
	pthread_mutex_lock(&ctl->lock);
	int r = store_list(ctl->store, g->kind, ns, &rp->objects);
	pthread_mutex_unlock(&ctl->lock);
	if (r < 0) {
		snprintf(rp->msg, sizeof(rp->msg), "cannot list the store: %s", strerror(-r));
		reply_error(rp, r);
		return;
	}
	rp->object_texts = calloc(rp->objects.n + 1, sizeof(char *));
	if (!rp->object_texts) {
		snprintf(rp->msg, sizeof(rp->msg), "out of memory");
		reply_error(rp, -ENOMEM);
		return;
	}
	size_t n = 0;
	for (size_t i = 0; i < rp->objects.n; i++) {
		if (g->name[0] && strcmp(rp->objects.items[i].name, g->name))
			continue;
		struct store_object *so = &rp->objects.items[i];
		if (!strcmp(so->kind, "Secret")) {
			/* keys only: the sealed data stays in the store */
			char *shown = secrets_shown_json(so->json);
			if (!shown)
				continue;
			free(so->json);
			so->json = shown;
		}
		rp->object_texts[n++] = so->json;
	}
	if (g->name[0] && n == 0) {
		char rn[128];
		snprintf(rp->msg, sizeof(rp->msg), "%s \"%s\" not found%s%s%s",
			 apply_resource_name(g->kind, true, rn, sizeof(rn)), g->name,
			 ns ? " in namespace \"" : "", ns ? ns : "", ns ? "\"" : "");
		reply_error(rp, -ENOENT);
		return;
	}
	rp->resp.objects = rp->object_texts;
	rp->resp.n_objects = n;
}

static void handle_dataset_mount(struct controller *ctl, const Weir__DatasetMountRequest *m,
				 struct reply *rp)
{
	struct objmodel_list *l = NULL;
	pthread_mutex_lock(&ctl->lock);
	int r = store_load_models(ctl->store, NULL, &l, rp->msg, sizeof(rp->msg));
	pthread_mutex_unlock(&ctl->lock);
	if (r >= 0)
		r = mount_plan_make(l, m->namespace_, m->dataset, ctl->cfg.deny_by_default,
				    &rp->plan, rp->msg, sizeof(rp->msg));
	if (r >= 0) {
		/* the namespace that owns the source must be allowed its UFS (ufs-roots) */
		pthread_mutex_lock(&ctl->lock);
		r = ufs_policy_check(ctl->policy, rp->plan.source_ns, rp->plan.ufs_url, rp->msg,
				     sizeof(rp->msg));
		pthread_mutex_unlock(&ctl->lock);
	}
	objmodel_list_free(l);
	if (r < 0) {
		reply_error(rp, r);
		return;
	}
	struct mount_plan *p = &rp->plan;
	weir__mount_request__init(&rp->mount);
	for (size_t i = 0; i < p->n_tiers; i++) {
		weir__tier_spec__init(&rp->tiers[i]);
		rp->tiers[i].medium = p->tiers[i].medium;
		rp->tiers[i].path = p->tiers[i].path;
		rp->tiers[i].quota = p->tiers[i].quota;
		rp->tierp[i] = &rp->tiers[i];
	}
	rp->mount.tiers = rp->tierp;
	rp->mount.n_tiers = p->n_tiers;
	rp->mount.ufs_url = p->ufs_url;
	rp->mount.source_id = p->source_id;
	rp->mount.subpath = p->subpath;
	rp->mount.read_write = p->read_write;
	rp->mount.uid = p->uid;
	rp->mount.gid = p->gid;
	rp->mount.credentials = p->credentials;
	rp->mount.high = p->high;
	rp->mount.cache_replicas = p->cache_replicas;
	rp->mount.low = p->low;
	rp->mount.namespace_ = m->namespace_;
	rp->mount.dataset = m->dataset;
	rp->resp.mount = &rp->mount;
}

/* A weir-node's heartbeat (the embedded default's Lease): record it, answer the members and the
 * cluster's traffic. */
/* A heartbeat makes its sender a member that peers send block requests to: only a weir-node
 * sends one, and weir-nodes run as root (or as this controller's user). The group that may use
 * the socket for the CLI may not: a member of it could otherwise take a node's name, or add a
 * member at an address of its own. 0, or -EPERM with rp's message saying why. */
static int heartbeat_sender_ok(int fd, struct reply *rp)
{
	if (control_peer_is_root(fd))
		return 0;
	snprintf(rp->msg, sizeof(rp->msg),
		 "member heartbeats come from weir-nodes, which run as root: a caller that is "
		 "not root may not send one");
	return -EPERM;
}

static void handle_heartbeat(struct controller *ctl, int fd, const Weir__MemberHeartbeat *h,
			     struct reply *rp)
{
	if (heartbeat_sender_ok(fd, rp) < 0) {
		log_warn("%s", rp->msg);
		reply_error(rp, -EPERM);
		return;
	}
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	if (!ctl->members) {
		snprintf(rp->msg, sizeof(rp->msg),
			 "weir-controller keeps no members on Kubernetes: weir-nodes there find "
			 "each other in their Leases (run weir-node with --kubeconfig)");
		reply_error(rp, -EOPNOTSUPP);
		return;
	}
	int r = members_beat(ctl->members, h->node, h->peer_url, h->node_id, h->traffic, now,
			     rp->msg, sizeof(rp->msg));
	if (r >= 0)
		r = members_answer(ctl->members, now, &rp->resp);
	if (r == -EAGAIN) {
		snprintf(rp->msg, sizeof(rp->msg),
			 "weir-controller started a moment ago and is still hearing from the "
			 "members; keep yours and ask again");
		reply_error(rp, r);
	} else if (r < 0) {
		if (r == -ENOMEM)
			snprintf(rp->msg, sizeof(rp->msg), "out of memory");
		if (r != -EPERM) /* members_beat said that one once per identity */
			log_warn("%s", rp->msg);
		reply_error(rp, r);
	}
}

/* Handles one request; returns true when it was Shutdown. */
static bool handle(struct controller *ctl, int fd)
{
	ProtobufCMessage *m = NULL;
	int r = control_recv(fd, &weir__request__descriptor, &m);
	if (r < 0) {
		log_debug("request: %s", strerror(-r));
		return false;
	}
	Weir__Request *req = (Weir__Request *)m;
	struct reply *rp = calloc(1, sizeof(*rp));
	bool shutdown = false;
	if (!rp) {
		protobuf_c_message_free_unpacked(m, NULL);
		return false;
	}
	weir__response__init(&rp->resp);
	rp->resp.pid = (uint32_t)getpid();
	switch (req->body_case) {
	case WEIR__REQUEST__BODY_PING:
		break;
	case WEIR__REQUEST__BODY_SHUTDOWN:
		shutdown = true;
		break;
	case WEIR__REQUEST__BODY_APPLY:
		handle_apply(ctl, req->apply, rp);
		break;
	case WEIR__REQUEST__BODY_DELETE:
		handle_delete(ctl, req->delete_, rp);
		break;
	case WEIR__REQUEST__BODY_GET:
		handle_get(ctl, req->get, rp);
		break;
	case WEIR__REQUEST__BODY_DATASET_MOUNT:
		handle_dataset_mount(ctl, req->dataset_mount, rp);
		break;
	case WEIR__REQUEST__BODY_MEMBER_HEARTBEAT:
		handle_heartbeat(ctl, fd, req->member_heartbeat, rp);
		break;
	default:
		snprintf(rp->msg, sizeof(rp->msg),
			 "weir-controller does not serve this request (%d); is this weir-node's "
			 "request sent to the controller's socket?",
			 (int)req->body_case);
		reply_error(rp, -EOPNOTSUPP);
		break;
	}
	r = control_send(fd, &rp->resp.base);
	if (r < 0)
		log_debug("reply: %s", strerror(-r));
	apply_result_free(&rp->results);
	store_list_free(&rp->objects);
	free(rp->object_texts);
	free(rp);
	protobuf_c_message_free_unpacked(m, NULL);
	return shutdown;
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int server_run(struct controller *ctl, int listen_fd, int sig_fd)
{
	for (;;) {
		struct pollfd pfd[2] = {{listen_fd, POLLIN, 0}, {sig_fd, POLLIN, 0}};
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (pfd[1].revents) {
			struct signalfd_siginfo si;
			if (read(sig_fd, &si, sizeof(si)) == sizeof(si))
				log_notice("signal %u: stopping", si.ssi_signo);
			return 0;
		}
		if (!(pfd[0].revents & POLLIN))
			continue;
		int fd = control_accept(listen_fd, "weir-controller");
		if (fd < 0)
			continue;
		struct timeval tv = {10, 0};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		double t0 = mono_s();
		bool stop = handle(ctl, fd);
		close(fd);
		double took = mono_s() - t0;
		if (ctl->members && took > MEMBERS_STALL_S) {
			/* no heartbeat could be taken meanwhile: that silence is ours */
			members_credit(ctl->members, took);
			log_info(
			    "cluster: a request held weir-controller for %.1f s; the members keep "
			    "their place",
			    took);
		}
		if (stop) {
			log_notice("shutdown requested");
			return 0;
		}
	}
}
