// SPDX-License-Identifier: Apache-2.0
// The figures of views, sources and memory that stat replies, /metrics and the cluster report
// are built from.
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "access_tracker.h"
#include "block_store.h"
#include "fetcher.h"
#include "memory.h"
#include "meta_cache.h"
#include "node_agent.h"
#include "node_report.h"
#include "redact.h"
#include "source.h"
#include "usage.h"
#include "view.h"
#include "view_open_mode.h"

void node_view_reads_get(struct node *n, const struct node_view *v, const struct view_stats *st,
			 struct view_reads *ret)
{
	struct view_reads r = {.passthrough = st->passthrough_bytes};
	if (n->tracker && access_tracker_view_counters(n->tracker, v->id, &r.ac) == 0) {
		r.have_ac = true;
		uint64_t kernel = r.ac.bytes_read - r.ac.bytes_passthrough;
		/* What readers got through the page cache that weir did not answer came from it.
		 * Read-ahead weir answered but nobody read makes this an underestimate, never an
		 * over-. */
		r.page_cache = kernel > st->read_bytes ? kernel - st->read_bytes : 0;
		/* every passthrough open was registered with the tracker, or refused */
		r.passthrough = r.ac.bytes_passthrough;
		r.measured = true;
	}
	*ret = r;
}

struct cgroup_collect {
	Weir__CgroupStat **items;
	size_t n, cap;
	size_t page;
};

static int collect_cgroup(void *userdata, const struct access_cgroup_counters *c)
{
	struct cgroup_collect *cc = userdata;
	if (cc->n == cc->cap) {
		size_t cap = cc->cap ? cc->cap * 2 : 8;
		Weir__CgroupStat **ni = realloc(cc->items, cap * sizeof(*ni));
		if (!ni)
			return -ENOMEM;
		cc->items = ni;
		cc->cap = cap;
	}
	Weir__CgroupStat *cs = malloc(sizeof(*cs));
	if (!cs)
		return -ENOMEM;
	weir__cgroup_stat__init(cs);
	cs->cgroup_id = c->cgroup_id;
	cs->read_bytes = c->pages_read * cc->page;
	cs->read_calls = c->read_calls;
	cs->mmap_bytes = (c->pages_faulted + c->pages_mapped) * cc->page;
	cc->items[cc->n++] = cs;
	return 0;
}

/* A copy for a reply sent after the lock is released (the view may go meanwhile). */
static char *reply_str(const char *s)
{
	char *d = strdup(s ? s : "");
	return d ? d : (char *)protobuf_c_empty_string;
}

static void reply_str_free(char *s)
{
	if (s != protobuf_c_empty_string)
		free(s);
}

/* Frees what node_fill_view_stat allocated for vs. */
void node_view_stat_release(Weir__ViewStat *vs)
{
	reply_str_free(vs->mountpoint);
	reply_str_free(vs->ufs_url);
	reply_str_free(vs->namespace_);
	reply_str_free(vs->dataset);
	reply_str_free(vs->source_id);
	reply_str_free(vs->open_mode);
	reply_str_free(vs->open_mode_reason);
	reply_str_free(vs->tracking);
	for (size_t i = 0; i < vs->n_tiers; i++) {
		reply_str_free(vs->tiers[i]->medium);
		reply_str_free(vs->tiers[i]->path);
	}
	for (size_t i = 0; i < vs->n_cgroups; i++)
		free(vs->cgroups[i]);
	free(vs->cgroups);
	vs->cgroups = NULL;
	vs->n_cgroups = 0;
	free(vs->ufs_error);
	vs->ufs_error = NULL;
}

void node_fill_view_stat(struct node *n, struct node_view *nv, Weir__ViewStat *vs,
			 Weir__TierStat *ts, Weir__TierStat **tsp)
{
	struct view_stats st;
	struct block_store_stats bs;
	struct source *src = nv->source;
	view_get_stats(nv->view, &st);
	block_store_get_stats(src->store, &bs);
	vs->mountpoint = reply_str(view_mountpoint(nv->view));
	vs->ufs_url = reply_str(nv->url);
	vs->namespace_ = reply_str(nv->ns);
	vs->dataset = reply_str(nv->dataset);
	vs->source_id = reply_str(src->id);
	vs->ufs_bytes = atomic_load(&src->ufs->stats.bytes);
	vs->ufs_requests = atomic_load(&src->ufs->stats.requests);
	vs->hits = st.hits;
	vs->misses = st.misses;
	vs->read_bytes = st.read_bytes;
	vs->evictions = bs.evictions;
	vs->tier_bytes = st.tier_bytes;
	vs->view_ufs_bytes = st.ufs_bytes;
	vs->prefetch_bytes = st.prefetch_bytes;
	vs->streams = st.streams;
	vs->passthrough_opens = st.passthrough_opens;
	struct view_memory vm;
	view_get_memory(nv->view, &vm);
	vs->memory_bytes = vm.bytes;
	vs->inodes = vm.inodes;
	vs->open_files = vm.open_files;
	vs->open_mode = reply_str(view_open_mode_name(view_no_open(nv->view)));
	vs->open_mode_reason = reply_str(nv->open_reason);
	vs->open_requests = st.open_requests;
	vs->release_requests = st.release_requests;
	vs->lookup_requests = st.lookup_requests;
	vs->getattr_requests = st.getattr_requests;
	vs->new_versions = st.new_versions;
	vs->tracking = reply_str(nv->tracking);
	vs->counted_read_bytes = st.counted_bytes;
	vs->inflight = fetcher_inflight(src->fetcher);
	struct meta_cache_health h;
	meta_cache_get_health(src->meta, &h);
	vs->ufs_down_since_ms = (uint64_t)h.down_since_ms;
	vs->stale_served = h.stale_served;
	vs->stale_refused = h.stale_refused;
	vs->stale_age_ms = (uint64_t)h.stale_age_ms;
	vs->max_stale_ms = h.max_stale_ms;
	/* the cause comes without the URL; a redirect's target could still name one */
	redact_text(h.cause, sizeof(h.cause));
	vs->ufs_error = strdup(h.down_since_ms ? h.cause : "");
	struct view_reads vr;
	node_view_reads_get(n, nv, &st, &vr);
	vs->passthrough_read_bytes = vr.measured ? vr.passthrough : 0;
	if (vr.have_ac) {
		vs->page_cache_bytes = vr.page_cache;
		vs->kernel_read_bytes = vr.ac.bytes_read;
		vs->mmap_bytes = (vr.ac.pages_faulted + vr.ac.pages_mapped) *
				 access_tracker_page_size(n->tracker);
		struct cgroup_collect cc = {.page = access_tracker_page_size(n->tracker)};
		access_tracker_foreach_cgroup(n->tracker, nv->id, collect_cgroup, &cc);
		vs->cgroups = cc.items;
		vs->n_cgroups = cc.n;
	}
	uint64_t cached = 0;
	for (unsigned i = 0; i < bs.ntiers; i++) {
		weir__tier_stat__init(&ts[i]);
		ts[i].medium = reply_str(i < src->ntiers ? src->tiers[i].medium : "");
		ts[i].path = reply_str(i < src->ntiers ? src->tiers[i].path : "");
		ts[i].quota = bs.tiers[i].quota;
		ts[i].used = bs.tiers[i].used;
		ts[i].blocks = bs.tiers[i].blocks;
		tsp[i] = &ts[i];
		cached += bs.tiers[i].used;
	}
	vs->cached_bytes = cached;
	vs->state_warning = bs.index_full ? "the state directory is full: files are served "
					    "uncached until space is freed"
					  : "";
	vs->n_tiers = bs.ntiers;
	vs->tiers = tsp;
}

/* weir-node's memory: the process's counts and every source's and view's tables (all of them,
 * whatever view the stat asked about). Under the node's lock. */
void node_fill_memory(struct node *n, Weir__MemoryStat *m)
{
	struct memory_stats ms;
	if (memory_get(&ms) < 0)
		return; /* the fields stay 0: no breakdown rather than a made-up one */
	m->rss = ms.rss;
	m->rss_anon = ms.rss_anon;
	m->rss_file = ms.rss_file;
	m->rss_shmem = ms.rss_shmem;
	m->threads = ms.threads;
	m->malloc_in_use = ms.malloc_in_use;
	m->malloc_free = ms.malloc_free;
	m->sqlite = ms.sqlite;
	m->curl = ms.curl;
	m->allocator = (char *)ms.allocator; /* a literal, never freed */
	struct node_source *s;
	LIST_FOREACH(s, &n->sources, link)
	{
		m->block_index += block_store_memory(s->source->store);
		m->metadata += meta_cache_memory(s->source->meta);
		if (s->source->fetcher)
			m->fetch_buffers += fetcher_buffer_memory(s->source->fetcher);
	}
	struct node_view *v;
	LIST_FOREACH(v, &n->views, link)
	{
		struct view_memory vm;
		view_get_memory(v->view, &vm);
		m->views += vm.bytes;
	}
	uint64_t known = m->block_index + m->metadata + m->views + m->sqlite + m->curl;
	m->malloc_other = m->malloc_in_use > known ? m->malloc_in_use - known : 0;
}

void node_source_reads_locked(struct node *n, const struct source *src, uint64_t *hits,
			      uint64_t *misses)
{
	struct node_view *v;
	LIST_FOREACH(v, &n->views, link)
	{
		if (v->source != src)
			continue;
		struct view_stats st;
		struct view_reads vr;
		view_get_stats(v->view, &st);
		node_view_reads_get(n, v, &st, &vr);
		*hits += st.tier_bytes + vr.page_cache + vr.passthrough;
		*misses += st.ufs_bytes;
	}
}

void node_traffic_get(struct node *n, Weir__NodeTraffic *ret)
{
	uint64_t ufs = 0, hits = 0, misses = 0;
	pthread_mutex_lock(&n->lock);
	struct node_source *ns;
	LIST_FOREACH(ns, &n->sources, link)
	{
		ufs += atomic_load(&ns->source->ufs->stats.bytes);
		node_source_reads_locked(n, ns->source, &hits, &misses);
	}
	pthread_mutex_unlock(&n->lock);
	struct cluster_stats *cs = n->cluster ? cluster_get_stats(n->cluster) : NULL;
	ret->ufs_bytes = ufs;
	ret->peer_in_bytes = cs ? atomic_load(&cs->bytes_in) : 0;
	ret->peer_out_bytes = cs ? atomic_load(&cs->bytes_out) : 0;
	ret->hit_bytes = hits;
	ret->miss_bytes = misses;
}

/* The figures of every open source, for the cluster (node_report.h). */
int node_collect_figures(void *arg, json_object **ret, json_object **ret_traffic,
			 json_object **ret_loads)
{
	struct node *n = arg;
	json_object *all = json_object_new_object();
	if (!all)
		return -ENOMEM;
	uint64_t ufs = 0, hit_all = 0, miss_all = 0;
	pthread_mutex_lock(&n->lock);
	struct node_source *ns;
	LIST_FOREACH(ns, &n->sources, link)
	{
		struct source *src = ns->source;
		struct usage_totals t;
		struct block_store_stats bs;
		uint64_t cap = 0, hits = 0, misses = 0;
		usage_start(src->usage, false);
		usage_get(src->usage, "", &t);
		block_store_get_stats(src->store, &bs);
		for (unsigned i = 0; i < bs.ntiers; i++)
			cap += bs.tiers[i].quota;
		node_source_reads_locked(n, src, &hits, &misses);
		json_object *o = json_object_new_object();
		json_object_object_add(o, "ufsTotalBytes",
				       json_object_new_int64((int64_t)t.ufs_total));
		json_object_object_add(o, "fileNum", json_object_new_int64((int64_t)t.file_num));
		json_object_object_add(o, "complete", json_object_new_boolean(t.complete));
		json_object_object_add(o, "cachedBytes", json_object_new_int64((int64_t)t.cached));
		json_object_object_add(o, "capacityBytes", json_object_new_int64((int64_t)cap));
		json_object_object_add(o, "hitBytes", json_object_new_int64((int64_t)hits));
		json_object_object_add(o, "missBytes", json_object_new_int64((int64_t)misses));
		json_object_object_add(all, src->id, o);
		ufs += atomic_load(&src->ufs->stats.bytes);
		hit_all += hits;
		miss_all += misses;
	}
	pthread_mutex_unlock(&n->lock);
	*ret_traffic = node_report_traffic(n->cluster, ufs, hit_all, miss_all);
	if (n->agent && node_agent_report(n->agent, all, ret_loads) < 0) {
		json_object_put(all);
		return -ENOMEM;
	}
	*ret = all;
	return 0;
}
