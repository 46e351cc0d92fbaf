// SPDX-License-Identifier: Apache-2.0
// The JSON of weir stat and weir top: every counter under the name scripts and benchmarks read
// (the names both commands had before they shared a table), with its own value, and nothing else.
#include <stdio.h>
#include <string.h>

#include "stat_json.h"
#include "suites.h"

struct want {
	const char *name;
	uint64_t value; /* 0: a string field, compared with str */
	const char *str;
};

static void fill(Weir__ViewStat *v)
{
	weir__view_stat__init(v);
	v->mountpoint = "/mnt/v";
	v->ufs_url = "https://example.org/";
	v->namespace_ = "ns";
	v->dataset = "ds";
	v->source_id = "ns_ds";
	v->state_warning = "warned";
	v->open_mode = "no-open";
	v->open_mode_reason = "why";
	v->tracking = "weir-node: refused";
	/* each counter its own value: a field read at the wrong offset shows */
	v->ufs_bytes = 6;
	v->ufs_requests = 7;
	v->hits = 8;
	v->misses = 9;
	v->evictions = 10;
	v->read_bytes = 11;
	v->cached_bytes = 13;
	v->page_cache_bytes = 14;
	v->tier_bytes = 15;
	v->view_ufs_bytes = 16;
	v->prefetch_bytes = 17;
	v->streams = 18;
	v->kernel_read_bytes = 19;
	v->passthrough_opens = 20;
	v->inflight = 21;
	v->passthrough_read_bytes = 23;
	v->mmap_bytes = 24;
	v->memory_bytes = 25;
	v->inodes = 26;
	v->open_files = 27;
	v->counted_read_bytes = 28;
}

static void check(json_object *o, const struct want *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		json_object *f = NULL;

		ck_assert_msg(json_object_object_get_ex(o, w[i].name, &f), "no field \"%s\"",
			      w[i].name);
		if (w[i].str)
			ck_assert_str_eq(json_object_get_string(f), w[i].str);
		else
			ck_assert_msg(json_object_get_uint64(f) == w[i].value,
				      "\"%s\" is %s, not %llu", w[i].name,
				      json_object_to_json_string(f),
				      (unsigned long long)w[i].value);
	}
	ck_assert_int_eq(json_object_object_length(o), (int)n);
}

START_TEST(stat_names)
{
	static const struct want w[] = {
	    {"mountpoint", 0, "/mnt/v"},
	    {"ufs_url", 0, "https://example.org/"},
	    {"namespace", 0, "ns"},
	    {"dataset", 0, "ds"},
	    {"source_id", 0, "ns_ds"},
	    {"ufs_bytes", 6, NULL},
	    {"ufs_requests", 7, NULL},
	    {"hits", 8, NULL},
	    {"misses", 9, NULL},
	    {"read_bytes", 11, NULL},
	    {"cached_bytes", 13, NULL},
	    {"evictions", 10, NULL},
	    {"passthrough_opens", 20, NULL},
	    {"tier_bytes", 15, NULL},
	    {"view_ufs_bytes", 16, NULL},
	    {"page_cache_bytes", 14, NULL},
	    {"passthrough_bytes", 23, NULL},
	    {"prefetch_bytes", 17, NULL},
	    {"streams", 18, NULL},
	    {"state_warning", 0, "warned"},
	    {"memory_bytes", 25, NULL},
	    {"inodes", 26, NULL},
	    {"open_files", 27, NULL},
	    {"open_mode", 0, "no-open"},
	    {"open_mode_reason", 0, "why"},
	    {"tracking", 0, "weir-node: refused"},
	    {"counted_read_bytes", 28, NULL},
	};
	Weir__ViewStat v;
	fill(&v);
	json_object *o = json_object_new_object();
	stat_json_view(o, &v, STAT_JSON_STAT);
	check(o, w, sizeof(w) / sizeof(w[0]));
	json_object_put(o);
}
END_TEST

START_TEST(top_names)
{
	static const struct want w[] = {
	    {"namespace", 0, "ns"},	      {"dataset", 0, "ds"},
	    {"mountpoint", 0, "/mnt/v"},      {"page_cache_bytes", 14, NULL},
	    {"passthrough_bytes", 23, NULL},  {"mmap_bytes", 24, NULL},
	    {"tier_bytes", 15, NULL},	      {"ufs_bytes", 16, NULL},
	    {"prefetch_bytes", 17, NULL},     {"streams", 18, NULL},
	    {"prefetch_in_flight", 21, NULL}, {"kernel_read_bytes", 19, NULL},
	    {"read_bytes", 11, NULL},	      {"source_ufs_bytes", 6, NULL},
	    {"passthrough_opens", 20, NULL},  {"tracking", 0, "weir-node: refused"},
	    {"counted_read_bytes", 28, NULL},
	};
	Weir__ViewStat v;
	fill(&v);
	json_object *o = json_object_new_object();
	stat_json_view(o, &v, STAT_JSON_TOP);
	check(o, w, sizeof(w) / sizeof(w[0]));
	json_object_put(o);
}
END_TEST

START_TEST(peer_names)
{
	static const struct want w[] = {
	    {"node", 0, "n1"},		{"members", 3, NULL},	       {"ufs_bytes", 4, NULL},
	    {"peer_in_bytes", 5, NULL}, {"peer_out_bytes", 6, NULL},   {"peer_failed", 7, NULL},
	    {"refused", 8, NULL},	{"refused_by_peers", 9, NULL},
	};
	Weir__PeerStat ps;
	weir__peer_stat__init(&ps);
	ps.node = "n1";
	ps.members = 3;
	ps.ufs_bytes = 4;
	ps.in_bytes = 5;
	ps.out_bytes = 6;
	ps.failed = 7;
	ps.refused = 8;
	ps.refused_by_peers = 9;
	json_object *o = stat_json_peers(&ps);
	check(o, w, sizeof(w) / sizeof(w[0]));
	json_object_put(o);
	/* the whole cluster's figures, once the node knows them, as "total" */
	static const struct want total[] = {
	    {"nodes", 3, NULL},		  {"ufs_bytes", 40, NULL}, {"peer_in_bytes", 50, NULL},
	    {"peer_out_bytes", 60, NULL}, {"hit_bytes", 70, NULL}, {"miss_bytes", 80, NULL},
	};
	ps.cluster_nodes = 3;
	ps.cluster_ufs_bytes = 40;
	ps.cluster_in_bytes = 50;
	ps.cluster_out_bytes = 60;
	ps.cluster_hit_bytes = 70;
	ps.cluster_miss_bytes = 80;
	o = stat_json_peers(&ps);
	json_object *t = NULL;
	ck_assert(json_object_object_get_ex(o, "total", &t));
	check(t, total, sizeof(total) / sizeof(total[0]));
	ck_assert_int_eq(json_object_object_length(o), (int)(sizeof(w) / sizeof(w[0])) + 1);
	json_object_put(o);
	ps.cluster_nodes = 0;
	/* a node with no name yet (NULL, not "") is "" in the JSON, not a crash */
	ps.node = NULL;
	o = stat_json_peers(&ps);
	json_object *f = NULL;
	ck_assert(json_object_object_get_ex(o, "node", &f));
	ck_assert_str_eq(json_object_get_string(f), "");
	json_object_put(o);
}
END_TEST

Suite *stat_json_suite(void)
{
	Suite *s = suite_create("stat_json");
	TCase *tc = tcase_create("stat_json");
	tcase_add_test(tc, stat_names);
	tcase_add_test(tc, top_names);
	tcase_add_test(tc, peer_names);
	suite_add_tcase(s, tc);
	return s;
}
