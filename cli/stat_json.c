// SPDX-License-Identifier: Apache-2.0
// Tables of ViewStat and PeerStat fields: JSON name, offset, type, and the outputs that show it.
#include "stat_json.h"

#include <stddef.h>
#include <stdint.h>

enum kind {
	K_STR, /* char *, NULL shown as "" */
	K_U32,
	K_U64,
};

struct field {
	const char *name;
	size_t off;
	uint8_t kind;
	uint8_t outputs; /* enum stat_json_output */
};

#define BOTH (STAT_JSON_STAT | STAT_JSON_TOP)
#define V(name, member, kind, outputs)                                                             \
	{                                                                                          \
		name, offsetof(Weir__ViewStat, member), kind, outputs                              \
	}

static const struct field view_fields[] = {
    V("mountpoint", mountpoint, K_STR, BOTH),
    V("ufs_url", ufs_url, K_STR, STAT_JSON_STAT),
    V("namespace", namespace_, K_STR, BOTH),
    V("dataset", dataset, K_STR, BOTH),
    V("source_id", source_id, K_STR, STAT_JSON_STAT),
    /* the source's UFS bytes: "ufs_bytes" in stat, "source_ufs_bytes" in top */
    V("ufs_bytes", ufs_bytes, K_U64, STAT_JSON_STAT),
    V("source_ufs_bytes", ufs_bytes, K_U64, STAT_JSON_TOP),
    V("ufs_requests", ufs_requests, K_U64, STAT_JSON_STAT),
    V("hits", hits, K_U64, STAT_JSON_STAT),
    V("misses", misses, K_U64, STAT_JSON_STAT),
    V("read_bytes", read_bytes, K_U64, BOTH),
    V("kernel_read_bytes", kernel_read_bytes, K_U64, STAT_JSON_TOP),
    V("cached_bytes", cached_bytes, K_U64, STAT_JSON_STAT),
    V("evictions", evictions, K_U64, STAT_JSON_STAT),
    V("passthrough_opens", passthrough_opens, K_U64, BOTH),
    V("tier_bytes", tier_bytes, K_U64, BOTH),
    /* READs of this view that waited for the UFS: "view_ufs_bytes" in stat, "ufs_bytes" in top */
    V("view_ufs_bytes", view_ufs_bytes, K_U64, STAT_JSON_STAT),
    V("ufs_bytes", view_ufs_bytes, K_U64, STAT_JSON_TOP),
    V("page_cache_bytes", page_cache_bytes, K_U64, BOTH),
    V("passthrough_bytes", passthrough_read_bytes, K_U64, BOTH),
    V("mmap_bytes", mmap_bytes, K_U64, STAT_JSON_TOP),
    V("prefetch_bytes", prefetch_bytes, K_U64, BOTH),
    V("prefetch_in_flight", inflight, K_U64, STAT_JSON_TOP),
    V("streams", streams, K_U64, BOTH),
    V("state_warning", state_warning, K_STR, STAT_JSON_STAT),
    V("memory_bytes", memory_bytes, K_U64, STAT_JSON_STAT),
    V("inodes", inodes, K_U64, STAT_JSON_STAT),
    V("open_files", open_files, K_U64, STAT_JSON_STAT),
    V("open_mode", open_mode, K_STR, STAT_JSON_STAT),
    V("open_mode_reason", open_mode_reason, K_STR, STAT_JSON_STAT),
    V("tracking", tracking, K_STR, BOTH),
    V("counted_read_bytes", counted_read_bytes, K_U64, BOTH),
};

#define P(name, member, kind)                                                                      \
	{                                                                                          \
		name, offsetof(Weir__PeerStat, member), kind, STAT_JSON_TOP                        \
	}

static const struct field peer_fields[] = {
    P("node", node, K_STR),
    P("members", members, K_U32),
    P("ufs_bytes", ufs_bytes, K_U64),
    P("peer_in_bytes", in_bytes, K_U64),
    P("peer_out_bytes", out_bytes, K_U64),
    P("peer_failed", failed, K_U64),
    P("refused", refused, K_U64),
    P("refused_by_peers", refused_by_peers, K_U64),
};

/* The whole cluster's figures (from the nodes' Leases): "total" in "cluster", when known. */
static const struct field peer_total_fields[] = {
    P("nodes", cluster_nodes, K_U32),
    P("ufs_bytes", cluster_ufs_bytes, K_U64),
    P("peer_in_bytes", cluster_in_bytes, K_U64),
    P("peer_out_bytes", cluster_out_bytes, K_U64),
    P("hit_bytes", cluster_hit_bytes, K_U64),
    P("miss_bytes", cluster_miss_bytes, K_U64),
};

static json_object *field_json(const void *msg, const struct field *f)
{
	const char *p = (const char *)msg + f->off;

	switch (f->kind) {
	case K_STR: {
		const char *s = *(const char *const *)p;
		return json_object_new_string(s ? s : "");
	}
	case K_U32:
		return json_object_new_int64(*(const uint32_t *)p);
	default:
		return json_object_new_uint64(*(const uint64_t *)p);
	}
}

static void add_fields(json_object *o, const void *msg, const struct field *fields, size_t n,
		       unsigned output)
{
	for (size_t i = 0; i < n; i++)
		if (fields[i].outputs & output)
			json_object_object_add(o, fields[i].name, field_json(msg, &fields[i]));
}

void stat_json_view(json_object *o, const Weir__ViewStat *v, enum stat_json_output output)
{
	add_fields(o, v, view_fields, sizeof(view_fields) / sizeof(view_fields[0]), output);
}

json_object *stat_json_peers(const Weir__PeerStat *ps)
{
	json_object *o = json_object_new_object();

	add_fields(o, ps, peer_fields, sizeof(peer_fields) / sizeof(peer_fields[0]), STAT_JSON_TOP);
	if (ps->cluster_nodes) {
		json_object *t = json_object_new_object();

		add_fields(t, ps, peer_total_fields,
			   sizeof(peer_total_fields) / sizeof(peer_total_fields[0]), STAT_JSON_TOP);
		json_object_object_add(o, "total", t);
	}
	return o;
}
