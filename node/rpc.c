// SPDX-License-Identifier: Apache-2.0
// The control socket: one thread per connection, one handler per request; replies are sent
// with the node's lock released.
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node.h"
#include "controller_members.h"
#include "cluster.h"
#include "control.h"
#include "fuse_mounts.h"
#include "loader.h"
#include "log.h"
#include "mount_plan.h"
#include "node_agent.h"
#include "redact.h"
#include "safe_dir.h"
#include "quantity.h"
#include "source.h"
#include "strmap.h"
#include "view.h"
#include "view_open_mode.h"

static void set_error(Weir__Response *resp, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(Weir__Response *resp, int err, const char *fmt, ...)
{
	static __thread char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	redact_text(buf, sizeof(buf)); /* replies reach users and logs: no credentials */
	resp->error = err;
	resp->message = buf;
}

/* True when url carries credentials: user[:password]@ in its authority. */
static bool url_has_credentials(const char *url)
{
	const char *a = strstr(url, "://");
	if (!a)
		return false;
	a += 3;
	return memchr(a, '@', strcspn(a, "/")) != NULL;
}

/* Where the view of Dataset ns/name that pods bind-mount lives: <state>/views/<ns>_<name>.
 * views/ is root's, mode 0700, so the view is reachable only through the pods' bind mounts
 * (and by root). Creates what is missing. Returns 0 or -errno with a message in errbuf. */
static int dataset_view_path(const struct node *n, const char *ns, const char *name, char *buf,
			     size_t len, char *errbuf, size_t errlen)
{
	if (!*ns || !*name || strchr(ns, '/') || strchr(name, '/') || ns[0] == '.' ||
	    name[0] == '.') {
		snprintf(errbuf, errlen, "dataset \"%s/%s\" is not a namespace and a name", ns,
			 name);
		return -EINVAL;
	}
	char dir[PATH_MAX];
	if (snprintf(dir, sizeof(dir), "%.4000s/views", n->cfg.state_dir) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	int r = safe_dir_ensure(dir, errbuf, errlen);
	if (r < 0)
		return r;
	if (snprintf(buf, len, "%s/%s_%s", dir, ns, name) >= (int)len)
		return -ENAMETOOLONG;
	if (mkdir(buf, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		snprintf(errbuf, errlen, "cannot create \"%.900s\": %s", buf, strerror(-r));
		return r;
	}
	return 0;
}

void node_handle_mount(struct node *n, const Weir__MountRequest *m, Weir__Response *resp,
		       const struct node_adopt *ad)
{
	char err[1024] = "";
	static __thread char mp[PATH_MAX];
	bool pod_view = (!m->mountpoint || !*m->mountpoint) && m->dataset && *m->dataset;
	if (ad) {
		/* Resolving the path would stat the mount, which waits for us. */
		snprintf(mp, sizeof(mp), "%s", ad->mountpoint);
	} else if (pod_view) {
		int r = dataset_view_path(n, m->namespace_ ? m->namespace_ : "", m->dataset, mp,
					  sizeof(mp), err, sizeof(err));
		if (r < 0) {
			set_error(resp, r, "%s", err);
			return;
		}
	} else if (!m->mountpoint || m->mountpoint[0] != '/' || !m->ufs_url || !*m->ufs_url) {
		set_error(resp, -EINVAL, "mount needs a UFS URL and an absolute mountpoint");
		return;
	} else if (!realpath(m->mountpoint, mp)) {
		snprintf(mp, sizeof(mp), "%s", m->mountpoint);
	}
	if (!m->ufs_url || !*m->ufs_url) {
		set_error(resp, -EINVAL, "mount needs a UFS URL");
		return;
	}
	/* One request per mountpoint at a time; other mountpoints go on meanwhile. A mount of a
	 * mountpoint being unmounted waits for that, and the other way round. */
	pthread_mutex_lock(&n->lock);
	int r = node_mp_claim_locked(n, mp);
	if (r < 0) {
		pthread_mutex_unlock(&n->lock);
		set_error(resp, r, "cannot mount \"%s\": %s", mp,
			  r == -ESHUTDOWN ? "weir-node is stopping" : strerror(-r));
		return;
	}
	struct node_view *v = node_find_view_locked(n, mp);
	if (v) {
		/* Every pod of a Dataset bind-mounts its one view. */
		if (pod_view && strcmp(v->url, m->ufs_url) == 0)
			resp->mountpoint = mp;
		else
			set_error(resp, -EBUSY, "\"%s\" is already a weir view (of %s)", mp,
				  v->url);
		goto out;
	}
	/* A weir-node killed with its views up leaves dead mounts; a new one stacked on them
	 * would hide them, not replace them. Without the lock: it waits for a dying daemon. */
	pthread_mutex_unlock(&n->lock);
	int cleared = ad ? 0 : fuse_mounts_clear_dead(mp);
	pthread_mutex_lock(&n->lock);
	if (cleared < 0) {
		if (cleared == -EBUSY)
			set_error(resp, cleared,
				  "\"%s\" is already a live weir mount of another weir-node "
				  "(another --state-dir); weir umount it there first",
				  mp);
		else
			set_error(resp, cleared, "cannot clear the dead mount at \"%s\": %s", mp,
				  strerror(-cleared));
		goto out;
	}
	/* The URL as users may see it: mount source (mountinfo is world-readable), stat. */
	char shown_url[4096];
	redact_url(m->ufs_url, shown_url, sizeof(shown_url));
	char idbuf[17];
	const char *id = m->source_id && *m->source_id ? m->source_id : NULL;
	if (!id) {
		source_id_for_url(m->ufs_url, idbuf);
		id = idbuf;
	}
	struct source_params sp = SOURCE_PARAMS(m, id);
	/* an open of it under way (weir-controller's, say) decides whether it is open */
	while (m->credentials && strmap_get(n->opening, id))
		node_wait_opening_locked(n, id, err, sizeof(err));
	err[0] = '\0';
	if (m->credentials && !strncmp(m->ufs_url, "s3://", 5) && !node_find_source_locked(n, id)) {
		/* its keys come from its Dataset's Secret, which only weir-controller reads: a
		 * view opening it here would read with this node's own keys instead */
		set_error(resp, -EAGAIN,
			  "source \"%s\" reads with its Dataset's Secret and is not open on this "
			  "node yet: weir-controller opens it when the Dataset is Bound; try again "
			  "in a moment",
			  id);
		goto out;
	}
	struct source *src;
	bool created;
	r = node_get_source_locked(n, &sp, &src, &created, err, sizeof(err));
	if (r < 0) {
		set_error(resp, r, "%s", err);
		goto out;
	}
	if (created && err[0])
		set_error(resp, 0, "%s",
			  err); /* the store's notes: a shared quota, a healed index */
	if (!created && m->block_size && m->block_size != src->block_size) {
		char want[32], have[32];
		quantity_format(m->block_size, want, sizeof(want));
		quantity_format(src->block_size, have, sizeof(have));
		set_error(resp, 0,
			  "source \"%s\" is in use with a block size of %s: this view shares it, "
			  "not the %s asked; a mount sets it when no view or load has the source "
			  "open",
			  id, have, want);
	} else if (!created && m->fetch_concurrency &&
		   m->fetch_concurrency != src->fetch_concurrency) {
		set_error(resp, 0,
			  "source \"%s\" is in use with a fetch concurrency of %u: this view "
			  "shares it, not the %u asked; a mount sets it when no view or load has "
			  "the source open",
			  id, src->fetch_concurrency, m->fetch_concurrency);
	} else if (!created && m->n_tiers && !node_source_same_tiers(src, &sp)) {
		/* kept, a view asking other tiers (or quotas) got the source's without a word */
		char have[400] = "", want[400] = "", q[32];
		for (size_t i = 0, o = 0; i < src->ntiers && o < sizeof(have); i++)
			o +=
			    (size_t)snprintf(have + o, sizeof(have) - o, "%s%s:%s:%s", i ? "," : "",
					     src->tiers[i].medium, src->tiers[i].path,
					     quantity_format(src->tiers[i].quota, q, sizeof(q)));
		for (size_t i = 0, o = 0; i < m->n_tiers && o < sizeof(want); i++)
			o += (size_t)snprintf(want + o, sizeof(want) - o, "%s%s:%s:%s",
					      i ? "," : "", m->tiers[i]->medium, m->tiers[i]->path,
					      quantity_format(m->tiers[i]->quota, q, sizeof(q)));
		set_error(
		    resp, 0,
		    "source \"%s\" is in use with the tiers %s: this view shares them, not "
		    "the %s asked; a mount sets them when no view or load has the source open",
		    id, have, want);
	}
	if (m->max_stale_set)
		meta_cache_set_max_stale(src->meta, m->max_stale_s * 1000ull);
	struct view_source vs = {
	    .ufs = src->ufs, .store = src->store, .fetcher = src->fetcher, .meta = src->meta};
	struct view_config vc = {
	    .mountpoint = mp,
	    .subpath = m->subpath,
	    .fsname = shown_url,
	    .metadata_ttl_ms = m->metadata_ttl_ms ? m->metadata_ttl_ms : 300000,
	    .readahead_blocks = src->fetch_concurrency,
	    .read_ahead_kb = 16384,
	    .no_prefetch = m->no_prefetch,
	    .no_passthrough = m->no_passthrough,
	    .read_streams = n->tracker == NULL,
	    .passthrough_unseen = !n->tracker,
	    .passthrough_hold = n->tracker ? node_passthrough_hold : NULL,
	    .passthrough_hold_data = n,
	    .read_write = m->read_write && ufs_writable(src->ufs),
	    .heat_weight = node_namespace_weight(n, m->namespace_ ? m->namespace_ : ""),
	    .owner = {.uid = m->uid, .gid = m->gid, .mode = m->mode & 07777},
	    .private_source = m->credentials || url_has_credentials(m->ufs_url),
	};
	struct node_keep keep = {.node = n, .mountpoint = mp, .req = m};
	if (ad) {
		vc.adopt = true;
		vc.adopt_fuse_fd = ad->fuse_fd;
		vc.adopt_journal_fd = ad->journal_fd;
	} else if (n->keeper_fd >= 0) {
		vc.keep = node_keep_view;
		vc.keep_arg = &keep;
	}
	if (m->read_write && !vc.read_write) {
		/* A grant can say rw; an HTTP tree still cannot be written. Serve it read-only and
		 * say so, rather than refuse the reader. */
		set_error(resp, 0,
			  "%s cannot be written (only local:// sources can): \"%s\" is "
			  "read-only",
			  m->ufs_url, mp);
		log_notice("%s", resp->message);
	} else if ((m->uid || m->gid || m->mode) && ufs_has_owners(src->ufs)) {
		/* The source's own owners win: an owner given for a view of them would hand its
		 * files to someone the source does not. */
		set_error(resp, 0,
			  "%s has owners of its own: \"%s\" shows them, not the owner and mode "
			  "given (those apply to HTTP sources)",
			  m->ufs_url, mp);
		log_notice("%s", resp->message);
	}
	struct node_view *nv = calloc(1, sizeof(*nv));
	r = nv ? 0 : -ENOMEM;
	if (nv) {
		nv->url = strdup(shown_url);
		nv->ns = strdup(m->namespace_ ? m->namespace_ : "");
		nv->dataset = strdup(m->dataset ? m->dataset : "");
		if (!nv->url || !nv->ns || !nv->dataset)
			r = -ENOMEM;
	}
	if (r == 0) {
		/* The FUSE mount, without the lock: readers of the node go on meanwhile. */
		pthread_mutex_unlock(&n->lock);
		r = node_open_mode(n, m, &vc, &vs, nv->open_reason, sizeof(nv->open_reason), err,
				   sizeof(err));
		if (r == 0)
			r = view_start(&vc, &vs, &nv->view, err, sizeof(err));
		pthread_mutex_lock(&n->lock);
	}
	if (r < 0) {
		set_error(resp, r, "%s", err[0] ? err : strerror(-r));
		if (nv)
			node_view_free(nv);
		node_drop_source_locked(n, src);
		goto out;
	}
	nv->source = src;
	resp->mountpoint = mp;
	nv->id = ++n->next_view_id;
	LIST_INSERT_HEAD(&n->views, nv, link);
	node_track_view_locked(n, nv);
	log_info("%s %s%s at \"%s\" %s (metadata TTL %u ms, open mode %s: %s)%s",
		 ad ? "took over" : "mounted", m->ufs_url, m->subpath && *m->subpath ? m->subpath : "",
		 mp, vc.read_write ? "read-write" : "read-only", vc.metadata_ttl_ms,
		 view_open_mode_name(view_no_open(nv->view)), nv->open_reason,
		 created ? "" : ", sharing the source's cache");
out:
	node_mp_release_locked(n, mp);
	pthread_mutex_unlock(&n->lock);
	node_reap(n);
}

static void handle_source(struct node *n, const Weir__SourceRequest *m, Weir__Response *resp)
{
	char err[1024] = "";
	if (!m->source_id || !*m->source_id) {
		set_error(resp, -EINVAL, "a source request needs a source id");
		return;
	}
	const char *id = m->source_id;
	struct node_purge *purge = NULL;
	pthread_mutex_lock(&n->lock);
	if (n->draining) {
		set_error(resp, -ESHUTDOWN, "source \"%s\": weir-node is stopping", id);
		goto out;
	}
	/* An open of the id under way finishes first: a close or a new URL applies to it. */
	while (strmap_get(n->opening, id))
		node_wait_opening_locked(n, id, err, sizeof(err));
	err[0] = '\0';
	if (m->close) {
		/* and a purge of its cache under way, so that two purges do not race */
		node_wait_id_settled_locked(n, id);
		struct node_source *ns = node_find_source_locked(n, m->source_id);
		if (ns && ns->source->held) {
			ns->source->held = false;
			node_drop_source_locked(n, ns->source);
		}
		if (ns && m->purge)
			/* a purged cache is not worth filling */
			node_stop_loads_locked(n, ns->source);
		if (ns && ns->source->refs > 0) {
			/* Mounted: the views keep reading; the cache goes with the last of them
			 * (node_drop_source_locked). */
			if (m->purge) {
				ns->source->purge_pending = true;
				log_info(
				    "source %s is still mounted: its cache will be purged when "
				    "its last view is unmounted",
				    m->source_id);
			}
			goto out;
		}
		struct tier_config tiers[BLOCK_STORE_MAX_TIERS];
		unsigned ntiers = 0;
		if (ns) {
			ntiers = ns->source->ntiers;
			memcpy(tiers, ns->source->tiers, sizeof(tiers));
			node_close_source_locked(n, ns->source);
		} else {
			/* Not open (e.g. after a restart): the request names the tiers. */
			for (size_t i = 0; i < m->n_tiers && i < BLOCK_STORE_MAX_TIERS; i++) {
				snprintf(tiers[i].path, sizeof(tiers[i].path), "%s",
					 m->tiers[i]->path);
				ntiers++;
			}
		}
		/* Listed at once, so that an open of the id waits for it; run below once the
		 * source is freed, without the lock. */
		if (m->purge && !(purge = node_purge_add_locked(n, id, tiers, ntiers, true)))
			set_error(resp, -ENOMEM, "purging the cache of \"%s\": out of memory", id);
		goto out;
	}
	if (!m->ufs_url || !*m->ufs_url) {
		set_error(resp, -EINVAL, "source \"%s\" needs a UFS URL", m->source_id);
		goto out;
	}
	/* The controller names a source by its Dataset: a new URL under the same id is a
	 * changed mountPoint. The old source goes (and source_open drops its cache) unless views
	 * still read it. */
	struct node_source *old = node_find_source_locked(n, m->source_id);
	if (old && strcmp(old->source->url, m->ufs_url) != 0) {
		struct source *os = old->source;
		/* source_open purges the old cache; dropping the last reference here must not
		 * close it under us */
		os->purge_pending = false;
		node_stop_loads_locked(n, os);
		if (os->held) {
			os->held = false;
			node_drop_source_locked(n, os);
		}
		if (os->refs > 0) {
			set_error(resp, -EBUSY,
				  "source \"%s\" changed its URL from %s to %s, but views of the "
				  "old one are mounted; unmount them and it switches",
				  m->source_id, os->url, m->ufs_url);
			goto out;
		}
		node_close_source_locked(n, os);
	}
	struct source_params sp = SOURCE_PARAMS(m, m->source_id);
	sp.keys = m->s3_keys;
	struct source *src;
	bool created;
	int r = node_get_source_locked(n, &sp, &src, &created, err, sizeof(err));
	if (r < 0) {
		set_error(resp, r, "%s", err);
		goto out;
	}
	src->purge_pending = false; /* its Dataset is back before its views went */
	if (src->held)
		node_drop_source_locked(n, src); /* already held: one hold per source */
	else
		src->held = true;
	usage_start(src->usage, false);
out:
	pthread_mutex_unlock(&n->lock);
	node_reap(n);
	if (!purge)
		return;
	pthread_mutex_lock(&n->lock);
	while (node_source_closing_locked(n, id)) {
		/* another request's node_reap() frees it: wait for that */
		pthread_mutex_unlock(&n->lock);
		node_reap(n);
		pthread_mutex_lock(&n->lock);
		if (node_source_closing_locked(n, id))
			pthread_cond_wait(&n->changed, &n->lock);
	}
	purge->running = true;
	int pr = node_purge_locked(n, purge);
	pthread_mutex_unlock(&n->lock);
	if (pr < 0)
		set_error(resp, pr, "purging the cache of \"%s\": %s", id, strerror(-pr));
	else
		log_info("purged the cache of source %s", id);
}

static void handle_usage(struct node *n, const Weir__UsageRequest *m, Weir__Response *resp,
			 Weir__Usage *u)
{
	pthread_mutex_lock(&n->lock);
	struct node_source *ns = m->source_id ? node_find_source_locked(n, m->source_id) : NULL;
	if (!ns) {
		set_error(resp, -ENOENT, "no source \"%s\" is open on this node",
			  m->source_id ? m->source_id : "");
		goto out;
	}
	struct source *src = ns->source;
	usage_start(src->usage, m->refresh);
	struct usage_totals t;
	usage_get(src->usage, m->subpath, &t);
	struct block_store_stats bs;
	block_store_get_stats(src->store, &bs);
	u->ufs_total = t.ufs_total;
	u->file_num = t.file_num;
	u->cached = t.cached;
	u->complete = t.complete;
	for (unsigned i = 0; i < bs.ntiers; i++)
		u->capacity += bs.tiers[i].quota;
	/* Bytes readers got from the cache (page cache, as eBPF sees it, and tiers) and bytes
	 * they waited on the UFS for, over every view of the source. */
	node_source_reads_locked(n, src, &u->hits, &u->misses);
	resp->usage = u;
	if (t.error && !t.complete)
		set_error(resp, t.error, "walking %s failed: %s", src->url, strerror(-t.error));
out:
	pthread_mutex_unlock(&n->lock);
}

static void handle_load(struct node *n, const Weir__LoadRequest *m, Weir__Response *resp)
{
	pthread_mutex_lock(&n->lock);
	struct node_source *ns = m->source_id ? node_find_source_locked(n, m->source_id) : NULL;
	struct node_load *nl = NULL;
	if (!ns) {
		set_error(resp, -ENOENT, "no source \"%s\" is open on this node",
			  m->source_id ? m->source_id : "");
		goto out;
	}
	if (m->n_paths == 0) {
		set_error(resp, -EINVAL, "a load needs at least one path");
		goto out;
	}
	if (m->n_share_nodes && (!m->share_self || !*m->share_self)) {
		set_error(resp, -EINVAL, "a shared load needs share_self, this node's name");
		goto out;
	}
	nl = calloc(1, sizeof(*nl));
	int r = nl ? load_start_share(ns->source, (const char *const *)m->paths, m->n_paths, 300000,
				      (const char *const *)m->share_nodes, m->n_share_nodes,
				      m->share_self, false, &nl->load)
		   : -ENOMEM;
	if (r < 0) {
		free(nl);
		set_error(resp, r, "cannot start the load: %s", strerror(-r));
		goto out;
	}
	nl->id = ++n->next_load_id;
	nl->source = ns->source;
	ns->source->refs++;
	LIST_INSERT_HEAD(&n->loads, nl, link);
	resp->load_id = nl->id;
	if (m->n_share_nodes)
		log_info(
		    "load %llu of %zu path(s) of %s started: the share of %s among %zu node(s)",
		    (unsigned long long)nl->id, m->n_paths, ns->source->url, m->share_self,
		    m->n_share_nodes);
	else
		log_info("load %llu of %zu path(s) of %s started", (unsigned long long)nl->id,
			 m->n_paths, ns->source->url);
out:
	pthread_mutex_unlock(&n->lock);
}

static void handle_load_status(struct node *n, const Weir__LoadStatusRequest *m,
			       Weir__Response *resp, Weir__LoadProgress *lp)
{
	static __thread char msg[512], plan[65];
	pthread_mutex_lock(&n->lock);
	struct node_load *nl;
	LIST_FOREACH(nl, &n->loads, link)
	if (nl->id == m->load_id)
		break;
	if (!nl) {
		set_error(resp, -ENOENT, "no load %llu on this node (did weir-node restart?)",
			  (unsigned long long)m->load_id);
		goto out;
	}
	if (m->cancel) {
		LIST_REMOVE(nl, link);
		log_info("load %llu cancelled", (unsigned long long)nl->id);
		pthread_mutex_unlock(&n->lock);
		node_retire_load(n, nl);
		return;
	}
	struct load_progress p;
	load_get_progress(nl->load, &p);
	lp->bytes_done = p.bytes_done;
	lp->bytes_total = p.bytes_total;
	lp->files_done = p.files_done;
	lp->files_total = p.files_total;
	lp->finished = p.finished;
	lp->error = p.error;
	snprintf(msg, sizeof(msg), "%s", p.message);
	lp->message = msg;
	lp->started_ms = (uint64_t)p.started_ms;
	lp->finished_ms = (uint64_t)p.finished_ms;
	lp->ufs_bytes = p.ufs_bytes;
	snprintf(plan, sizeof(plan), "%s", p.plan);
	lp->plan = plan;
	resp->load = lp;
out:
	pthread_mutex_unlock(&n->lock);
}

/* An unmount of a mountpoint being mounted waits for that mount, then unmounts what it made (or
 * answers ENOENT when it failed); a mount of a mountpoint being unmounted waits likewise. */
static void handle_umount(struct node *n, const Weir__UmountRequest *u, Weir__Response *resp)
{
	char mp[PATH_MAX];
	const char *want = u->mountpoint ? u->mountpoint : "";
	/* realpath of a dead mount fails; compare the path as given then. */
	if (!realpath(want, mp))
		snprintf(mp, sizeof(mp), "%s", want);
	pthread_mutex_lock(&n->lock);
	int r = node_mp_claim_locked(n, mp);
	if (r < 0) {
		pthread_mutex_unlock(&n->lock);
		set_error(resp, r, "cannot unmount \"%s\": %s", want,
			  r == -ESHUTDOWN ? "weir-node is stopping" : strerror(-r));
		return;
	}
	struct node_view *nv = node_find_view_locked(n, mp);
	if (!nv) {
		node_mp_release_locked(n, mp);
		pthread_mutex_unlock(&n->lock);
		set_error(resp, -ENOENT, "\"%s\" is not a view of this weir-node", want);
		return;
	}
	pthread_mutex_unlock(&n->lock);
	/* A plain unmount first: it fails while files are open, which the user should hear
	 * about rather than have their readers cut off. nv stays listed meanwhile (the claim: no
	 * other change removes it). */
	if (!u->force && view_umount(nv->view, 0) == -EBUSY) {
		set_error(resp, -EBUSY,
			  "\"%s\" is busy: processes have files open or their working "
			  "directory in it; close or leave them, or weir umount --force "
			  "(their readers get errors)",
			  mp);
		pthread_mutex_lock(&n->lock);
		node_mp_release_locked(n, mp);
		pthread_mutex_unlock(&n->lock);
		return;
	}
	pthread_mutex_lock(&n->lock);
	LIST_REMOVE(nv, link);
	pthread_mutex_unlock(&n->lock);
	node_stop_view(n, nv);
	node_reap(n);
}

static void handle_stat(struct node *n, int fd, const Weir__StatRequest *s)
{
	Weir__Response resp = WEIR__RESPONSE__INIT;
	Weir__MemoryStat mem = WEIR__MEMORY_STAT__INIT;
	resp.pid = getpid();
	resp.bpf_status = n->bpf_status;
	Weir__PeerStat ps = WEIR__PEER_STAT__INIT;
	if (n->cluster) {
		struct cluster_stats *cs = cluster_get_stats(n->cluster);
		ps.node = n->cfg.node_name;
		ps.members = (uint32_t)cluster_count(n->cluster);
		ps.in_bytes = atomic_load(&cs->bytes_in);
		ps.out_bytes = atomic_load(&cs->bytes_out);
		ps.failed = atomic_load(&cs->failed);
		ps.refused = atomic_load(&cs->refused);
		ps.refused_by_peers = atomic_load(&cs->refused_by_peer);
		struct store_kube_traffic tr;
		Weir__NodeTraffic ct;
		if (n->agent && node_agent_traffic(n->agent, &tr) > 0) {
			ps.cluster_nodes = tr.nodes;
			ps.cluster_ufs_bytes = tr.ufs_bytes;
			ps.cluster_in_bytes = tr.peer_in_bytes;
			ps.cluster_out_bytes = tr.peer_out_bytes;
			ps.cluster_hit_bytes = tr.hit_bytes;
			ps.cluster_miss_bytes = tr.miss_bytes;
		} else if (n->cmembers &&
			   (ps.cluster_nodes = controller_members_traffic(n->cmembers, &ct)) > 0) {
			/* the embedded default: weir-controller's sum of the heartbeats */
			ps.cluster_ufs_bytes = ct.ufs_bytes;
			ps.cluster_in_bytes = ct.peer_in_bytes;
			ps.cluster_out_bytes = ct.peer_out_bytes;
			ps.cluster_hit_bytes = ct.hit_bytes;
			ps.cluster_miss_bytes = ct.miss_bytes;
		}
		pthread_mutex_lock(&n->lock);
		struct node_source *ns;
		LIST_FOREACH(ns, &n->sources, link)
		ps.ufs_bytes += atomic_load(&ns->source->ufs->stats.bytes);
		pthread_mutex_unlock(&n->lock);
		resp.peers = &ps;
	}
	char mp[PATH_MAX] = "";
	if (s->mountpoint && *s->mountpoint && !realpath(s->mountpoint, mp))
		snprintf(mp, sizeof(mp), "%s", s->mountpoint);
	node_reap_exited(n);
	pthread_mutex_lock(&n->lock);
	size_t cnt = 0;
	struct node_view *v;
	LIST_FOREACH(v, &n->views, link)
	cnt++;
	Weir__ViewStat *vs = calloc(cnt + 1, sizeof(*vs));
	Weir__ViewStat **vsp = calloc(cnt + 1, sizeof(*vsp));
	Weir__TierStat *ts = calloc((cnt + 1) * BLOCK_STORE_MAX_TIERS, sizeof(*ts));
	Weir__TierStat **tsp = calloc((cnt + 1) * BLOCK_STORE_MAX_TIERS, sizeof(*tsp));
	size_t k = 0;
	if (vs && vsp && ts && tsp) {
		LIST_FOREACH(v, &n->views, link)
		{
			if (mp[0] && strcmp(view_mountpoint(v->view), mp) != 0)
				continue;
			weir__view_stat__init(&vs[k]);
			node_fill_view_stat(n, v, &vs[k], &ts[k * BLOCK_STORE_MAX_TIERS],
					    &tsp[k * BLOCK_STORE_MAX_TIERS]);
			vsp[k] = &vs[k];
			k++;
		}
		resp.views = vsp;
		resp.n_views = k;
		node_fill_memory(n, &mem);
		resp.memory = &mem;
		if (mp[0] && k == 0)
			set_error(&resp, -ENOENT, "\"%s\" is not a view of this weir-node", mp);
	} else {
		set_error(&resp, -ENOMEM, "out of memory");
	}
	pthread_mutex_unlock(&n->lock);
	/* Every string in resp is a copy: the reply goes without the lock. */
	int r = control_send(fd, &resp.base);
	if (r < 0)
		log_debug("stat reply: %s", strerror(-r));
	for (size_t i = 0; i < k; i++)
		node_view_stat_release(&vs[i]);
	free(vs);
	free(vsp);
	free(ts);
	free(tsp);
}

/* How to mount a Dataset (weir-csi's question): in a cluster answered from what the node agent
 * sees, with the same grant check as the controller; otherwise relayed to weir-controller, which
 * keeps the objects. Sends the reply itself. */
static void handle_dataset_mount(struct node *n, int fd, const Weir__Request *req)
{
	const Weir__DatasetMountRequest *m = req->dataset_mount;
	Weir__Response resp = WEIR__RESPONSE__INIT;
	resp.pid = getpid();
	if (!n->agent) {
		char sock[PATH_MAX + 32];
		if (n->cfg.controller_socket[0])
			snprintf(sock, sizeof(sock), "%s", n->cfg.controller_socket);
		else
			snprintf(sock, sizeof(sock), "%.4000s/controller.sock", n->cfg.state_dir);
		Weir__Response *cresp = NULL;
		int r = control_call_timeout(sock, req, 10000, &cresp);
		if (r < 0) {
			set_error(&resp, -EHOSTDOWN,
				  "weir-controller does not answer on \"%s\": %s", sock,
				  strerror(-r));
			control_send(fd, &resp.base);
			return;
		}
		control_send(fd, &cresp->base);
		weir__response__free_unpacked(cresp, NULL);
		return;
	}
	struct mount_plan *p = calloc(1, sizeof(*p));
	char *err = malloc(2048);
	Weir__MountRequest mr = WEIR__MOUNT_REQUEST__INIT;
	Weir__TierSpec tiers[MOUNT_PLAN_MAX_TIERS], *tierp[MOUNT_PLAN_MAX_TIERS];
	int r = p && err ? 0 : -ENOMEM;
	if (r == 0 && (!m->namespace_ || !*m->namespace_ || !m->dataset || !*m->dataset)) {
		snprintf(err, 2048, "a mount plan request needs a namespace and a dataset");
		r = -EINVAL;
	}
	if (r == 0)
		r = node_agent_plan(n->agent, m->namespace_, m->dataset, p, err, 2048);
	if (r < 0) {
		if (err)
			redact_text(err, 2048);
		set_error(&resp, r, "%s", err ? err : "out of memory");
		log_info("mount plan for %s/%s refused: %s", m->namespace_ ? m->namespace_ : "",
			 m->dataset ? m->dataset : "", resp.message);
	} else {
		for (size_t i = 0; i < p->n_tiers; i++) {
			weir__tier_spec__init(&tiers[i]);
			tiers[i].medium = p->tiers[i].medium;
			tiers[i].path = p->tiers[i].path;
			tiers[i].quota = p->tiers[i].quota;
			tierp[i] = &tiers[i];
		}
		mr.tiers = tierp;
		mr.n_tiers = p->n_tiers;
		mr.ufs_url = p->ufs_url;
		mr.source_id = p->source_id;
		mr.subpath = p->subpath;
		mr.read_write = p->read_write;
		mr.uid = p->uid;
		mr.gid = p->gid;
		mr.credentials = p->credentials;
		mr.high = p->high;
		mr.cache_replicas = p->cache_replicas;
		mr.low = p->low;
		mr.namespace_ = m->namespace_;
		mr.dataset = m->dataset;
		resp.mount = &mr;
	}
	control_send(fd, &resp.base);
	free(p);
	free(err);
}

void *node_conn_thread(void *arg)
{
	struct conn *c = arg;
	struct node *n = c->node;
	ProtobufCMessage *m = NULL;
	int r = control_recv(c->fd, &weir__request__descriptor, &m);
	if (r < 0) {
		log_debug("control: bad request: %s", strerror(-r));
		goto out;
	}
	Weir__Request *req = (Weir__Request *)m;
	Weir__Response resp = WEIR__RESPONSE__INIT;
	Weir__Usage usage = WEIR__USAGE__INIT;
	Weir__LoadProgress progress = WEIR__LOAD_PROGRESS__INIT;
	resp.pid = getpid();
	switch (req->body_case) {
	case WEIR__REQUEST__BODY_MOUNT:
		node_handle_mount(n, req->mount, &resp, NULL);
		break;
	case WEIR__REQUEST__BODY_UMOUNT:
		handle_umount(n, req->umount, &resp);
		break;
	case WEIR__REQUEST__BODY_STAT:
		handle_stat(n, c->fd, req->stat);
		goto out;
	case WEIR__REQUEST__BODY_PING:
		break;
	case WEIR__REQUEST__BODY_DATASET_MOUNT:
		handle_dataset_mount(n, c->fd, req);
		goto out;
	case WEIR__REQUEST__BODY_SOURCE:
		handle_source(n, req->source, &resp);
		break;
	case WEIR__REQUEST__BODY_USAGE:
		handle_usage(n, req->usage, &resp, &usage);
		break;
	case WEIR__REQUEST__BODY_LOAD:
		handle_load(n, req->load, &resp);
		break;
	case WEIR__REQUEST__BODY_LOAD_STATUS:
		handle_load_status(n, req->load_status, &resp, &progress);
		break;
	case WEIR__REQUEST__BODY_SHUTDOWN:
		n->stopping = 1;
		kill(getpid(), SIGTERM);
		break;
	default:
		set_error(&resp, -EOPNOTSUPP, "this weir-node does not know that request");
		break;
	}
	/* a source over its tier-roots budget: the node agent retries it and logs it once */
	if (resp.error && !(req->body_case == WEIR__REQUEST__BODY_SOURCE && resp.error == -EDQUOT))
		log_notice("request failed: %s", resp.message);
	control_send(c->fd, &resp.base);
out:
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
	close(c->fd);
	free(c);
	return NULL;
}
