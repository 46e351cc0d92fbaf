// SPDX-License-Identifier: Apache-2.0
// View lifetime in weir-node: mountpoint claims, stop, references for callbacks, the views a
// dead weir-node left with the keeper (adopt) and handing them to the eBPF tracker.
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "access_tracker.h"
#include "fdstore.h"
#include "log.h"
#include "strmap.h"
#include "view.h"
#include "view_open_mode.h"

int node_open_mode(struct node *n, const Weir__MountRequest *m, struct view_config *vc,
		   const struct view_source *vs, char *why, size_t whylen, char *err,
		   size_t errlen)
{
	enum view_open_mode om;
	/* node.conf is read at start and never written since: no lock */
	const char *name = m->open_mode && *m->open_mode ? m->open_mode : n->cfg.open_mode;
	if (view_open_mode_parse(name, &om) < 0) {
		snprintf(err, errlen, "open mode \"%s\" is none of auto, open, no-open", name);
		return -EINVAL;
	}
	int r = view_open_mode_pick(om, vc->read_write, vs->meta, vc->subpath,
				    vc->metadata_ttl_ms, &vc->no_open, why, whylen);
	if (r < 0)
		snprintf(err, errlen, "view \"%s\": %s", vc->mountpoint, why);
	return r;
}

int node_keep_view(void *arg, int fuse_fd, int journal_fd)
{
	struct node_keep *k = arg;
	size_t len = weir__mount_request__get_packed_size(k->req);
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	weir__mount_request__pack(k->req, buf);
	int fds[2] = {fuse_fd, journal_fd};
	int r = fdstore_send(k->node->keeper_fd, FDSTORE_PUT, k->mountpoint, buf, len, fds, 2);
	free(buf);
	return r;
}

void node_view_free(struct node_view *nv)
{
	free(nv->url);
	free(nv->ns);
	free(nv->dataset);
	free(nv);
}

/* Claims mountpoint mp for one mount or unmount, waiting while another request holds it.
 * Returns 0, -ESHUTDOWN once the node stops, or -ENOMEM. Called and returns with lock held. */
int node_mp_claim_locked(struct node *n, const char *mp)
{
	while (!n->draining && strmap_get(n->busy, mp))
		pthread_cond_wait(&n->changed, &n->lock);
	if (n->draining)
		return -ESHUTDOWN;
	int err = 0;
	strmap_put(n->busy, mp, n, &err);
	return err;
}

void node_mp_release_locked(struct node *n, const char *mp)
{
	strmap_remove(n->busy, mp);
	pthread_cond_broadcast(&n->changed);
}

struct node_view *node_find_view_locked(struct node *n, const char *mp)
{
	struct node_view *v;
	LIST_FOREACH(v, &n->views, link)
	if (strcmp(view_mountpoint(v->view), mp) == 0)
		return v;
	return NULL;
}

static void track_unwatched_locked(struct node *n);

/* Stops a view already taken out of n->views, whose mountpoint the caller claimed (busy): waits
 * for the callbacks still using it, unmounts it and joins its thread without the lock, then drops
 * its source and releases the mountpoint. Called without the lock. */
void node_stop_view(struct node *n, struct node_view *nv)
{
	pthread_mutex_lock(&n->lock);
	while (nv->refs > 0)
		pthread_cond_wait(&n->view_idle, &n->lock);
	pthread_mutex_unlock(&n->lock);
	char mp[PATH_MAX];
	snprintf(mp, sizeof(mp), "%s", view_mountpoint(nv->view));
	log_info("unmounting \"%s\"", mp);
	pthread_mutex_lock(&n->lock);
	bool watched = nv->ebpf;
	if (watched) {
		nv->ebpf = false;
		/* its slot goes to a view eBPF refused, if any (nv is off the list already) */
		access_tracker_remove_view(n->tracker, view_dev(nv->view));
		n->bpf_views--;
		track_unwatched_locked(n);
	}
	pthread_mutex_unlock(&n->lock);
	view_stop(nv->view);
	/* Unmounted: the keeper lets go of its connection too. */
	if (n->keeper_fd >= 0) {
		int r = fdstore_send(n->keeper_fd, FDSTORE_DEL, mp, NULL, 0, NULL, 0);
		if (r < 0)
			log_warn("telling the keeper \"%s\" is gone: %s", mp, strerror(-r));
	}
	pthread_mutex_lock(&n->lock);
	node_drop_source_locked(n, nv->source);
	node_close_idle_plain_locked(n, nv->source);
	node_mp_release_locked(n, mp);
	pthread_mutex_unlock(&n->lock);
	node_view_free(nv);
}

/* A view for a callback to use with the lock dropped (put it back with node_view_put), or NULL. */
struct node_view *node_view_get_locked(struct node *n, uint32_t id)
{
	struct node_view *nv;
	LIST_FOREACH(nv, &n->views, link)
	if (nv->id == id) {
		nv->refs++;
		return nv;
	}
	return NULL;
}

void node_view_put(struct node *n, struct node_view *nv)
{
	pthread_mutex_lock(&n->lock);
	if (--nv->refs == 0)
		pthread_cond_broadcast(&n->view_idle);
	pthread_mutex_unlock(&n->lock);
}

/* Views whose loop ended (unmounted from outside with umount(8)) are closed. One a mount or an
 * unmount works on is left to that request, or to the next round. */
void node_reap_exited(struct node *n)
{
	for (;;) {
		pthread_mutex_lock(&n->lock);
		if (n->draining) {
			/* shutdown_all stops every view, and frees busy after */
			pthread_mutex_unlock(&n->lock);
			return;
		}
		struct node_view *nv;
		int err = -1;
		LIST_FOREACH(nv, &n->views, link)
		if (view_exited(nv->view) && !strmap_get(n->busy, view_mountpoint(nv->view))) {
			strmap_put(n->busy, view_mountpoint(nv->view), n, &err);
			break;
		}
		if (nv && err == 0) {
			log_notice("\"%s\" was unmounted from outside", view_mountpoint(nv->view));
			LIST_REMOVE(nv, link);
		}
		pthread_mutex_unlock(&n->lock);
		if (!nv || err < 0)
			break;
		node_stop_view(n, nv);
	}
	node_reap(n);
}

/* Takes over the views a dead weir-node left with the keeper, before any client is served. A
 * view that cannot be taken over is dropped from the keeper: its connection ends, and its
 * readers get ENOTCONN rather than wait for ever. */
void node_adopt_views(struct node *n)
{
	if (n->keeper_fd < 0)
		return;
	int r = fdstore_send(n->keeper_fd, FDSTORE_LIST, NULL, NULL, 0, NULL, 0);
	unsigned ok = 0, failed = 0;
	while (r == 0) {
		struct fdstore_msg m;
		r = fdstore_recv(n->keeper_fd, &m);
		if (r < 0 || m.op == FDSTORE_END) {
			if (r == 0)
				fdstore_msg_clear(&m);
			break;
		}
		Weir__MountRequest *req =
		    m.op == FDSTORE_ENTRY && m.nfds == 2
			? weir__mount_request__unpack(NULL, m.blob_len, m.blob)
			: NULL;
		Weir__Response resp = WEIR__RESPONSE__INIT;
		if (req) {
			struct node_adopt ad = {m.name, m.fds[0], m.fds[1]};
			node_handle_mount(n, req, &resp, &ad);
			weir__mount_request__free_unpacked(req, NULL);
		} else {
			resp.error = -EBADMSG;
			resp.message = "the keeper's entry is not a view";
		}
		if (resp.error < 0) {
			failed++;
			log_err(
			    "cannot take the view at \"%s\" over: %s; dropping it (its readers get "
			    "ENOTCONN; weir mount it again)",
			    m.name, resp.message ? resp.message : strerror(-resp.error));
			fdstore_send(n->keeper_fd, FDSTORE_DEL, m.name, NULL, 0, NULL, 0);
		} else {
			ok++;
		}
		fdstore_msg_clear(&m);
	}
	if (r < 0)
		log_err("the keeper's list of views: %s", strerror(-r));
	if (ok || failed)
		log_notice("took over %u views a previous weir-node left%s", ok,
			   failed ? " (some could not be: see above)" : "");
}

int node_track_view_locked(struct node *n, struct node_view *nv)
{
	int r;
	if (nv->ebpf)
		return 0;
	if (!n->tracker) {
		snprintf(nv->tracking, sizeof(nv->tracking), "weir-node: eBPF is %s",
			 n->cfg.bpf ? "not loaded" : "off (bpf = 0)");
		return -ENOTSUP;
	}
	r = n->bpf_views >= n->bpf_max_views
		? -E2BIG
		: access_tracker_add_view(n->tracker, view_dev(nv->view), nv->id);
	if (r == 0) {
		nv->ebpf = true;
		n->bpf_views++;
		snprintf(nv->tracking, sizeof(nv->tracking), "ebpf");
		return 0;
	}
	snprintf(nv->tracking, sizeof(nv->tracking), "weir-node: eBPF refused the view (%s)",
		 r == -E2BIG ? "it watches as many views as it can: bpf-max-views" : strerror(-r));
	log_warn("eBPF will not see \"%s\": %s; weir-node counts the reads it serves and the "
		 "opens instead (page-cache re-reads within an open go uncounted)",
		 view_mountpoint(nv->view), nv->tracking + strlen("weir-node: "));
	view_count_own_reads(nv->view);
	return r;
}

/* Hands the views eBPF does not watch (taken over before it loaded, or refused for want of a
 * slot) to the tracker, which sees their reads from now on instead of their READs; stops once
 * no slot is left. Under lock. */
static void track_unwatched_locked(struct node *n)
{
	struct node_view *nv;
	LIST_FOREACH(nv, &n->views, link)
	{
		if (nv->ebpf)
			continue;
		int r = node_track_view_locked(n, nv);
		if (r == -E2BIG)
			break;
		if (r < 0)
			continue;
		log_info("eBPF watches \"%s\" now", view_mountpoint(nv->view));
		view_set_read_streams(nv->view, false);
		view_track_passthrough(nv->view, node_passthrough_hold, n);
	}
}

void node_track_adopted(struct node *n)
{
	if (!n->tracker)
		return;
	pthread_mutex_lock(&n->lock);
	track_unwatched_locked(n);
	pthread_mutex_unlock(&n->lock);
}
