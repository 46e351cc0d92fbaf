// SPDX-License-Identifier: Apache-2.0
// The /metrics page: the exposition-format text of every view's figures, one render per scrape.
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "cluster.h"
#include "view.h"

struct textbuf {
	char *p;
	size_t len, cap;
};

static void tb_printf(struct textbuf *tb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void tb_printf(struct textbuf *tb, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int k = tb->p ? vsnprintf(tb->p + tb->len, tb->cap - tb->len, fmt, ap) : -1;
		va_end(ap);
		if (k >= 0 && tb->len + (size_t)k < tb->cap) {
			tb->len += k;
			return;
		}
		size_t cap = tb->cap ? tb->cap * 2 : 4096;
		while (k >= 0 && cap < tb->len + (size_t)k + 1)
			cap *= 2;
		char *np = realloc(tb->p, cap);
		if (!np)
			return;
		tb->p = np;
		tb->cap = cap;
	}
}

/* Label values escaped as the exposition format wants. */
static const char *esc(const char *s, char *buf, size_t len)
{
	size_t j = 0;
	for (; *s && j + 2 < len; s++) {
		if (*s == '"' || *s == '\\' || *s == '\n')
			buf[j++] = '\\';
		buf[j++] = *s == '\n' ? 'n' : *s;
	}
	buf[j] = '\0';
	return buf;
}

char *node_render_metrics(void *userdata)
{
	struct node *n = userdata;
	struct textbuf tb = {0};
	static const struct {
		const char *name, *help;
		size_t off;
	} fields[] = {
	    {"weir_view_page_cache_bytes_total", "bytes read from the page cache (eBPF)",
	     offsetof(Weir__ViewStat, page_cache_bytes)},
	    {"weir_view_passthrough_bytes_total",
	     "bytes read from files open in passthrough, straight from a tier (eBPF)",
	     offsetof(Weir__ViewStat, passthrough_read_bytes)},
	    {"weir_view_mmap_bytes_total",
	     "bytes mapped by mmap faults, fault-around windows included (eBPF)",
	     offsetof(Weir__ViewStat, mmap_bytes)},
	    {"weir_view_tier_bytes_total", "bytes of READs answered from a tier",
	     offsetof(Weir__ViewStat, tier_bytes)},
	    {"weir_view_ufs_bytes_total", "bytes of READs that waited for the UFS",
	     offsetof(Weir__ViewStat, view_ufs_bytes)},
	    {"weir_view_prefetch_bytes_total", "bytes fetched ahead of sequential readers",
	     offsetof(Weir__ViewStat, prefetch_bytes)},
	    {"weir_view_streams_total", "sequential streams seen",
	     offsetof(Weir__ViewStat, streams)},
	    {"weir_view_read_bytes_total", "bytes returned to READs",
	     offsetof(Weir__ViewStat, read_bytes)},
	    {"weir_view_counted_read_bytes_total",
	     "bytes weir-node counted toward heat itself, for a view eBPF does not watch (READs, "
	     "whole files at opens whose reads it does not see)",
	     offsetof(Weir__ViewStat, counted_read_bytes)},
	    {"weir_view_open_requests_total", "OPEN requests (no-open views: one, answered ENOSYS)",
	     offsetof(Weir__ViewStat, open_requests)},
	    {"weir_view_release_requests_total", "RELEASE requests",
	     offsetof(Weir__ViewStat, release_requests)},
	    {"weir_view_lookup_requests_total", "LOOKUP requests, revalidations included",
	     offsetof(Weir__ViewStat, lookup_requests)},
	    {"weir_view_getattr_requests_total", "GETATTR requests",
	     offsetof(Weir__ViewStat, getattr_requests)},
	    {"weir_view_block_hits_total", "block reads served from a tier",
	     offsetof(Weir__ViewStat, hits)},
	    {"weir_view_block_misses_total", "block reads that waited for the UFS",
	     offsetof(Weir__ViewStat, misses)},
	    {"weir_source_ufs_fetched_bytes_total", "bytes fetched from the UFS by the source",
	     offsetof(Weir__ViewStat, ufs_bytes)},
	    {"weir_source_cached_bytes", "bytes held in the source's tiers",
	     offsetof(Weir__ViewStat, cached_bytes)},
	};
	pthread_mutex_lock(&n->lock);
	size_t cnt = 0;
	struct node_view *v;
	LIST_FOREACH(v, &n->views, link)
	cnt++;
	Weir__ViewStat *vs = calloc(cnt + 1, sizeof(*vs));
	Weir__TierStat *ts = calloc((cnt + 1) * BLOCK_STORE_MAX_TIERS, sizeof(*ts));
	Weir__TierStat **tsp = calloc((cnt + 1) * BLOCK_STORE_MAX_TIERS, sizeof(*tsp));
	size_t k = 0;
	if (vs && ts && tsp)
		LIST_FOREACH(v, &n->views, link)
		{
			weir__view_stat__init(&vs[k]);
			node_fill_view_stat(n, v, &vs[k], &ts[k * BLOCK_STORE_MAX_TIERS],
					    &tsp[k * BLOCK_STORE_MAX_TIERS]);
			k++;
		}
	for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
		bool gauge = strstr(fields[f].name, "_total") == NULL;
		tb_printf(&tb, "# HELP %s %s\n# TYPE %s %s\n", fields[f].name, fields[f].help,
			  fields[f].name, gauge ? "gauge" : "counter");
		for (size_t i = 0; i < k; i++) {
			char a[256], b[256], c[1024];
			uint64_t val = *(const uint64_t *)((const char *)&vs[i] + fields[f].off);
			tb_printf(&tb,
				  "%s{namespace=\"%s\",dataset=\"%s\",mountpoint=\"%s\"} %llu\n",
				  fields[f].name, esc(vs[i].namespace_, a, sizeof(a)),
				  esc(vs[i].dataset, b, sizeof(b)),
				  esc(vs[i].mountpoint, c, sizeof(c)), (unsigned long long)val);
		}
	}
	tb_printf(&tb, "# HELP weir_view_ebpf_tracked 1: eBPF counts every read of the view; 0: "
		       "weir-node counts the READs it serves and the opens (eBPF off or refused "
		       "the view)\n# TYPE weir_view_ebpf_tracked gauge\n");
	for (size_t i = 0; i < k; i++) {
		char a[256], b[256], c[1024];
		tb_printf(&tb,
			  "weir_view_ebpf_tracked{namespace=\"%s\",dataset=\"%s\","
			  "mountpoint=\"%s\"} %d\n",
			  esc(vs[i].namespace_, a, sizeof(a)), esc(vs[i].dataset, b, sizeof(b)),
			  esc(vs[i].mountpoint, c, sizeof(c)), strcmp(vs[i].tracking, "ebpf") == 0);
	}
	if (n->cluster) {
		struct cluster_stats *cs = cluster_get_stats(n->cluster);
		static const struct {
			const char *name, *help;
			size_t off;
		} peer_fields[] = {
		    {"weir_peer_in_bytes_total", "block bytes received from peers, checked",
		     offsetof(struct cluster_stats, bytes_in)},
		    {"weir_peer_out_bytes_total", "block bytes served to peers",
		     offsetof(struct cluster_stats, bytes_out)},
		    {"weir_peer_in_blocks_total", "blocks received from peers",
		     offsetof(struct cluster_stats, blocks_in)},
		    {"weir_peer_out_blocks_total", "blocks served to peers",
		     offsetof(struct cluster_stats, blocks_out)},
		    {"weir_peer_failed_total",
		     "requests to peers that failed (the block was read from the UFS)",
		     offsetof(struct cluster_stats, failed)},
		    {"weir_peer_bad_replies_total",
		     "peer replies whose bytes failed their checksum or MAC",
		     offsetof(struct cluster_stats, bad_bytes)},
		    {"weir_peer_refused_total",
		     "peer requests this node refused (MAC, time, identity, no view of the source)",
		     offsetof(struct cluster_stats, refused)},
		    {"weir_peer_refused_by_peers_total", "requests of this node that peers refused",
		     offsetof(struct cluster_stats, refused_by_peer)},
		    {"weir_peer_no_view_total",
		     "block requests of this node that peers refused for want of a view of the "
		     "source (HTTP 451: no pod on this node mounts it)",
		     offsetof(struct cluster_stats, no_view_by_peer)},
		};
		char nn[256];
		esc(n->cfg.node_name, nn, sizeof(nn));
		for (size_t f = 0; f < sizeof(peer_fields) / sizeof(peer_fields[0]); f++)
			tb_printf(&tb, "# HELP %s %s\n# TYPE %s counter\n%s{node=\"%s\"} %llu\n",
				  peer_fields[f].name, peer_fields[f].help, peer_fields[f].name,
				  peer_fields[f].name, nn,
				  (unsigned long long)atomic_load(
				      (const atomic_uint_fast64_t *)((const char *)cs +
								     peer_fields[f].off)));
	}
	tb_printf(&tb,
		  "# HELP weir_bpf_attached 1 when eBPF access tracking runs\n"
		  "# TYPE weir_bpf_attached gauge\nweir_bpf_attached %d\n",
		  n->tracker ? 1 : 0);
	pthread_mutex_unlock(&n->lock);
	for (size_t i = 0; i < k; i++)
		node_view_stat_release(&vs[i]);
	free(vs);
	free(ts);
	free(tsp);
	return tb.p;
}
