// SPDX-License-Identifier: Apache-2.0
// weir top (per view: where reads were served from, streams, prefetch) and weir doctor (what
// this machine can and cannot do for weir, and what to do about it).
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "commands.h"
#include "control_hint.h"
#include "node_client.h"
#include "spawn.h"
#include "stat_json.h"
#include "quantity.h"
#include "ufs_health.h"

static int stat_all(const struct node_client *nc, Weir__Response **ret)
{
	Weir__StatRequest s = WEIR__STAT_REQUEST__INIT;
	s.mountpoint = "";
	Weir__Request req = WEIR__REQUEST__INIT;
	req.body_case = WEIR__REQUEST__BODY_STAT;
	req.stat = &s;
	return node_client_call(nc, &req, ret);
}

/* Bytes readers got, wherever from: the page cache and passthrough opens (eBPF) plus what weir
 * answered. */
static uint64_t served(const Weir__ViewStat *v)
{
	return v->page_cache_bytes + v->passthrough_read_bytes + v->tier_bytes + v->view_ufs_bytes;
}

static double hit_ratio(const Weir__ViewStat *v)
{
	uint64_t all = served(v);
	return all ? (double)(v->page_cache_bytes + v->passthrough_read_bytes + v->tier_bytes) / all
		   : 0;
}

static json_object *top_json(const Weir__Response *r)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "bpf",
			       json_object_new_string(r->bpf_status ? r->bpf_status : ""));
	if (r->peers)
		json_object_object_add(o, "cluster", stat_json_peers(r->peers));
	json_object *views = json_object_new_array();
	for (size_t i = 0; i < r->n_views; i++) {
		const Weir__ViewStat *v = r->views[i];
		json_object *j = json_object_new_object();
		stat_json_view(j, v, STAT_JSON_TOP);
		json_object_object_add(j, "hit_ratio", json_object_new_double(hit_ratio(v)));
		json_object_object_add(j, "open_mode", json_object_new_string(v->open_mode));
		json_object_object_add(j, "open_requests",
				       json_object_new_uint64(v->open_requests));
		json_object_object_add(j, "release_requests",
				       json_object_new_uint64(v->release_requests));
		json_object_object_add(j, "lookup_requests",
				       json_object_new_uint64(v->lookup_requests));
		json_object_object_add(j, "ufs_health", ufs_health_json(v));
		json_object *cgs = json_object_new_array();
		for (size_t k = 0; k < v->n_cgroups; k++) {
			json_object *cg = json_object_new_object();
			json_object_object_add(cg, "cgroup_id",
					       json_object_new_uint64(v->cgroups[k]->cgroup_id));
			json_object_object_add(cg, "read_bytes",
					       json_object_new_uint64(v->cgroups[k]->read_bytes));
			json_object_object_add(cg, "read_calls",
					       json_object_new_uint64(v->cgroups[k]->read_calls));
			json_object_object_add(cg, "mmap_bytes",
					       json_object_new_uint64(v->cgroups[k]->mmap_bytes));
			json_object_array_add(cgs, cg);
		}
		json_object_object_add(j, "cgroups", cgs);
		json_object_array_add(views, j);
	}
	json_object_object_add(o, "views", views);
	return o;
}

static const Weir__ViewStat *find_prev(const Weir__Response *prev, const char *mp)
{
	for (size_t i = 0; prev && i < prev->n_views; i++)
		if (strcmp(prev->views[i]->mountpoint, mp) == 0)
			return prev->views[i];
	return NULL;
}

static void top_draw(const Weir__Response *r, const Weir__Response *prev, double secs, bool clear)
{
	char a[32], b[32], c[32], d[32], e[32], f[32];
	printf("%sweir top — eBPF: %s\n", clear ? "\033[H\033[2J" : "",
	       r->bpf_status ? r->bpf_status : "?");
	if (r->peers) {
		const Weir__PeerStat *ps = r->peers;
		printf("cluster: node %s of %u — UFS %s, from peers %s, to peers %s, failed %llu, "
		       "refused %llu, refused by peers %llu\n",
		       ps->node ? ps->node : "?", ps->members,
		       quantity_format(ps->ufs_bytes, a, sizeof(a)),
		       quantity_format(ps->in_bytes, b, sizeof(b)),
		       quantity_format(ps->out_bytes, c, sizeof(c)), (unsigned long long)ps->failed,
		       (unsigned long long)ps->refused, (unsigned long long)ps->refused_by_peers);
		if (ps->cluster_nodes) {
			uint64_t all = ps->cluster_hit_bytes + ps->cluster_miss_bytes;
			printf(
			    "cluster: %u nodes — UFS %s, between peers %s in / %s out, hit ratio "
			    "%.1f%%\n",
			    ps->cluster_nodes, quantity_format(ps->cluster_ufs_bytes, d, sizeof(d)),
			    quantity_format(ps->cluster_in_bytes, e, sizeof(e)),
			    quantity_format(ps->cluster_out_bytes, f, sizeof(f)),
			    all ? 100.0 * (double)ps->cluster_hit_bytes / (double)all : 0.0);
		}
	}
	printf("\n");
	printf("%-12s %-12s %10s %6s %10s %10s %10s %10s %7s %9s %-7s  %s\n", "NAMESPACE",
	       "DATASET", "READ/s", "HIT%", "PAGECACHE", "PASSTHRU", "TIER", "UFS", "STREAMS",
	       "PREFETCH", "OPEN", "MOUNTPOINT");
	for (size_t i = 0; i < r->n_views; i++) {
		const Weir__ViewStat *v = r->views[i];
		const Weir__ViewStat *p = find_prev(prev, v->mountpoint);
		uint64_t now = served(v), before = p ? served(p) : now;
		double rate = secs > 0 && now >= before ? (now - before) / secs : 0;
		snprintf(e, sizeof(e), "%s", quantity_format((uint64_t)rate, a, sizeof(a)));
		printf("%-12s %-12s %10s %5.1f%% %10s %10s %10s %10s %7llu %6llu/%-2llu %-7s  %s\n",
		       v->namespace_[0] ? v->namespace_ : "-", v->dataset[0] ? v->dataset : "-", e,
		       100 * hit_ratio(v), quantity_format(v->page_cache_bytes, b, sizeof(b)),
		       quantity_format(v->passthrough_read_bytes, f, sizeof(f)),
		       quantity_format(v->tier_bytes, c, sizeof(c)),
		       quantity_format(v->view_ufs_bytes, d, sizeof(d)),
		       (unsigned long long)v->streams,
		       (unsigned long long)(v->prefetch_bytes >> 20),
		       (unsigned long long)v->inflight, v->open_mode, v->mountpoint);
	}
	if (r->n_views == 0)
		printf("(no views: weir mount one)\n");
	for (size_t i = 0; i < r->n_views; i++)
		if (strcmp(r->views[i]->tracking, "ebpf") != 0)
			printf(
			    "\n%s: reads counted by %s; PAGECACHE and PASSTHRU stay 0, %s counted "
			    "for heat",
			    r->views[i]->mountpoint, r->views[i]->tracking,
			    quantity_format(r->views[i]->counted_read_bytes, a, sizeof(a)));
	for (size_t i = 0; i < r->n_views; i++) {
		char health[768];
		if (!r->views[i]->ufs_down_since_ms)
			continue;
		ufs_health_line(r->views[i], health, sizeof(health));
		printf("\n%s: ufs %s", r->views[i]->mountpoint, health);
	}
	printf("\nPREFETCH: MiB fetched ahead / blocks in flight.%s\n",
	       clear ? " Ctrl-C quits." : "");
	fflush(stdout);
}

int cmd_top(int argc, char **argv, const struct global_opts *g)
{
	static const struct option opts[] = {
	    {"once", no_argument, NULL, '1'},
	    {"output", required_argument, NULL, 'o'},
	    {"interval", required_argument, NULL, 'i'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	bool once = false, json = false;
	double interval = 1;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		char *end = NULL;
		if (c == '1')
			once = true;
		else if (c == 'o' && strcmp(optarg, "json") == 0)
			json = true;
		else if (c == 'i' && (interval = strtod(optarg, &end)) > 0 && interval <= 3600 &&
			 end != optarg && !*end)
			;
		else {
			/* say what is wrong with a value, not only how the command goes */
			if (c == 'o')
				fprintf(stderr, "weir top: -o \"%s\": the one output format is json\n",
					optarg);
			else if (c == 'i')
				fprintf(stderr,
					"weir top: --interval \"%s\" is not a number of seconds in "
					"(0, 3600]\n",
					optarg);
			fprintf(c == 'h' ? stdout : stderr,
				"usage: weir top [--once] [-o json] [--interval SECONDS]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr,
			"weir top: unexpected \"%s\" (weir top shows every view)\n"
			"usage: weir top [--once] [-o json] [--interval SECONDS]\n",
			argv[optind]);
		return 2;
	}
	if (json && !once) {
		fprintf(stderr, "weir top: -o json needs --once\n");
		return 2;
	}
	struct node_client nc;
	node_client_init(&nc, g->state_dir);
	Weir__Response *prev = NULL;
	for (;;) {
		Weir__Response *r;
		int e = stat_all(&nc, &r);
		if (e < 0) {
			fprintf(stderr, "weir top: no weir-node answers on \"%s\" (%s); %s\n",
				nc.socket_path, strerror(-e),
				control_hint(e, "weir mount or weir up starts it"));
			if (prev)
				weir__response__free_unpacked(prev, NULL);
			return 1;
		}
		if (once) {
			if (json) {
				json_object *o = top_json(r);
				printf("%s\n",
				       json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
				json_object_put(o);
			} else {
				top_draw(r, NULL, 0, false);
			}
			weir__response__free_unpacked(r, NULL);
			return 0;
		}
		top_draw(r, prev, interval, isatty(STDOUT_FILENO));
		if (prev)
			weir__response__free_unpacked(prev, NULL);
		prev = r;
		struct timespec ts = {(time_t)interval,
				      (long)((interval - (time_t)interval) * 1e9)};
		nanosleep(&ts, NULL);
	}
}

static int doctor_line(bool ok, const char *what, const char *detail)
{
	printf("%-6s %-28s %s\n", ok ? "ok" : "FAIL", what, detail);
	return ok ? 0 : 1;
}

int cmd_doctor(int argc, char **argv, const struct global_opts *g)
{
	if (argc > 1) {
		bool help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;
		fprintf(help ? stdout : stderr, "usage: weir doctor\n");
		return help ? 0 : 2;
	}
	int bad = 0;
	char buf[512];
	bad += doctor_line(geteuid() == 0, "root",
			   geteuid() == 0 ? "running as root"
					  : "weir-node mounts FUSE and loads eBPF: run as root");
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	snprintf(buf, sizeof(buf), "%s", fd >= 0 ? "/dev/fuse opens" : strerror(errno));
	if (fd < 0)
		strncat(buf, ": load the fuse module (modprobe fuse) or pass /dev/fuse in",
			sizeof(buf) - strlen(buf) - 1);
	else
		close(fd);
	bad += doctor_line(fd >= 0, "FUSE", buf);
	bool btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
	bad += doctor_line(btf, "kernel BTF",
			   btf ? "/sys/kernel/btf/vmlinux"
			       : "missing: eBPF tracking cannot load "
				 "(a kernel with CONFIG_DEBUG_INFO_BTF)");
	struct node_client nc;
	node_client_init(&nc, g->state_dir);
	/* Live recovery: FUSE_NOTIFY_RESEND came with Linux 6.9. */
	struct utsname un;
	unsigned maj = 0, min = 0;
	bool resend = uname(&un) == 0 && sscanf(un.release, "%u.%u", &maj, &min) == 2 &&
		      (maj > 6 || (maj == 6 && min >= 9));
	snprintf(buf, sizeof(buf), "Linux %.64s: %s", un.release,
		 resend
		     ? "FUSE_NOTIFY_RESEND: requests in flight when weir-node dies are answered "
		       "by the next one"
		     : "no FUSE_NOTIFY_RESEND (6.9+): a request in flight when weir-node dies is "
		       "never answered (its reader waits until weir umount --force); reads "
		       "after the restart work");
	printf("%-6s %-28s %s\n", resend ? "ok" : "warn", "crash recovery (kernel)", buf);
	pid_t keeper = spawn_keeper_pid(nc.state_dir, "node");
	if (keeper > 0)
		snprintf(buf, sizeof(buf),
			 "weir-keeper pid %d restarts weir-node and keeps its views live",
			 (int)keeper);
	else
		snprintf(buf, sizeof(buf),
			 "no weir-keeper for \"%.400s\": a crash of weir-node ends its views "
			 "(weir mount and weir up start one)",
			 nc.state_dir);
	bad += doctor_line(keeper > 0, "crash recovery (keeper)", buf);
	Weir__Response *r;
	int sr = stat_all(&nc, &r);
	if (sr < 0) {
		snprintf(buf, sizeof(buf), "%s \"%.400s\": %s",
			 sr == -EACCES || sr == -EPERM ? "cannot reach" : "not running on",
			 nc.socket_path, control_hint(sr, "weir up or weir mount starts it"));
		bad += doctor_line(false, "weir-node", buf);
		return bad ? 1 : 0;
	}
	snprintf(buf, sizeof(buf), "pid %u, %zu view(s)", r->pid, r->n_views);
	doctor_line(true, "weir-node", buf);
	const char *bpf = r->bpf_status ? r->bpf_status : "";
	bool attached = strncmp(bpf, "attached", 8) == 0;
	bad += doctor_line(attached, "eBPF access tracking", bpf);
	weir__response__free_unpacked(r, NULL);
	return bad ? 1 : 0;
}
