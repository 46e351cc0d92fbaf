// SPDX-License-Identifier: Apache-2.0
// eBPF callbacks: heat and streams the tracker sees, on its own thread, and passthrough opens
// registered with it. None holds the node's lock while calling into a view.
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "node.h"
#include "access_tracker.h"
#include "block_store.h"
#include "log.h"
#include "prefetch.h"
#include "source.h"
#include "view.h"

/* A view is about to pass an open through (hold) or released one: the tracker maps the tier file
 * to the view file, and counts reads of a tmpfs one only while it holds its sys_exit program
 * attached. Refusing the open when it cannot keeps that file's reads counted (through the
 * view). View threads, no lock held. */
bool node_passthrough_hold(void *data, bool hold, dev_t dev, uint64_t ino, uint64_t cgroup_id,
			   int tier_fd)
{
	struct node *n = data;
	int r = access_tracker_passthrough_hold(n->tracker, hold, dev, ino, cgroup_id, tier_fd);
	if (r < 0 && hold) {
		log_warn("cannot count passthrough reads with eBPF (%s): opening without "
			 "passthrough",
			 strerror(-r));
		return false;
	}
	if (r < 0)
		log_debug("forgetting a passthrough open for eBPF: %s", strerror(-r));
	return true;
}

/* The pages read of a file (page-cache hits and passthrough reads included) since its last
 * report add to its object's heat, scaled by the view's namespace weight; the store decays it
 * and bounds it (BLOCK_STORE_HEAT_CAP_READS reads of the object).
 * Adding, not setting: an object read through several views (a source and its dataset://
 * references) sums their reads. Runs on the tracker thread. */
static void on_heat(void *userdata, const struct access_heat_event *ev)
{
	struct node *n = userdata;
	if (!ev->pages_since)
		return;
	pthread_mutex_lock(&n->lock);
	struct node_view *nv = node_view_get_locked(n, ev->view_id);
	pthread_mutex_unlock(&n->lock);
	if (!nv)
		return;
	/* The object the inode's path names now, as the view remembered it: a summary per read
	 * of each small file costs a lookup by id, no path. A version the store replaced since
	 * refuses the heat, and the path is looked up once more. */
	double weight = node_namespace_weight(n, nv->ns);
	uint64_t obj;
	for (int again = 0; again < 2; again++)
		if (view_ino_object(nv->view, ev->ino, again, &obj) < 0 ||
		    block_store_add_heat_current(nv->source->store, obj, (double)ev->pages_since,
						 weight) == 0)
			break;
	node_view_put(n, nv);
}

/* A sequential stream seen by eBPF (page-cache hits included): fetch ahead of it, four seconds
 * of its speed, at least four blocks, at most prefetch-max. Runs on the tracker thread. */
static void on_stream(void *userdata, const struct access_stream_event *ev)
{
	struct node *n = userdata;
	if (ev->kind == ACCESS_STREAM_END)
		return;
	size_t page = access_tracker_page_size(n->tracker);
	pthread_mutex_lock(&n->lock);
	struct node_view *nv = node_view_get_locked(n, ev->view_id);
	pthread_mutex_unlock(&n->lock);
	/* view_stream may revalidate the file over the network: not under the lock. */
	if (nv) {
		struct prefetch_stream in = {.run_pages = ev->run_pages,
					     .run_start_ns = ev->run_start_ns,
					     .ts_ns = ev->ts_ns,
					     .page_size = page,
					     .block_size = nv->source->block_size,
					     .prefetch_max = n->prefetch_max,
					     .cap = node_namespace_prefetch_max(n, nv->ns)};
		uint64_t window = prefetch_stream_window(&in);
		view_stream(nv->view, ev->ino, ev->next_page * page, window,
			    ev->kind == ACCESS_STREAM_START);
		node_view_put(n, nv);
	}
}

static void *tracker_thread(void *arg)
{
	struct node *n = arg;
	struct pollfd pfd = {.fd = access_tracker_fd(n->tracker), .events = POLLIN};
	while (!n->stopping) {
		/* records (streams, heat summaries) do not wake the fd until the ring is a
		 * quarter full: taken here every period, so prefetch hears of a stream within
		 * 10 ms and a reader's CPU takes no wakeup IPI per record */
		poll(&pfd, 1, access_tracker_wait_ms());
		access_tracker_consume(n->tracker);
		/* two seconds with no passthrough open: stop taxing every syscall of the node */
		access_tracker_passthrough_expire(n->tracker, 2000);
	}
	return NULL;
}

void node_start_tracker(struct node *n)
{
	if (!n->cfg.bpf) {
		snprintf(n->bpf_status, sizeof(n->bpf_status),
			 "off (bpf = 0): tracking uses the READs weir sees");
		log_info("eBPF access tracking is off; tracking uses the READs weir sees");
		return;
	}
	struct access_tracker_opts o = {.on_stream = on_stream,
					.on_heat = on_heat,
					.userdata = n,
					.link_holder_exe = "/proc/self/exe"};
	char err[400] = "";
	int r = access_tracker_new(&o, &n->tracker, err, sizeof(err));
	if (r < 0) {
		n->tracker = NULL;
		snprintf(n->bpf_status, sizeof(n->bpf_status),
			 "unavailable: %s; tracking uses the READs weir sees", err);
		log_warn("eBPF access tracking unavailable: %s; falling back to the READs weir "
			 "sees",
			 err);
		return;
	}
	unsigned progs = access_tracker_programs(n->tracker);
	snprintf(n->bpf_status, sizeof(n->bpf_status), "attached (%s%s%s%s%s%s%s, %s)",
		 progs & ACCESS_PROG_READ ? "read" : "", progs & ACCESS_PROG_FAULT ? " fault" : "",
		 progs & ACCESS_PROG_MAP_PAGES ? " map_pages" : "",
		 progs & ACCESS_PROG_PAGE_CACHE_ADD ? " page_cache_add" : "",
		 progs & ACCESS_PROG_PASSTHROUGH ? " passthrough" : "",
		 progs & ACCESS_PROG_URING ? " io_uring" : "",
		 (progs & (ACCESS_PROG_PMD_ENTRY | ACCESS_PROG_PMD)) ==
			 (ACCESS_PROG_PMD_ENTRY | ACCESS_PROG_PMD)
		     ? " pmd"
		     : "",
		 progs & ACCESS_PROG_BTF ? "tp_btf" : "raw_tp");
	if (pthread_create(&n->tracker_thread, NULL, tracker_thread, n) != 0) {
		access_tracker_free(n->tracker);
		n->tracker = NULL;
		snprintf(n->bpf_status, sizeof(n->bpf_status), "unavailable: no thread");
		return;
	}
	log_info("eBPF access tracking %s", n->bpf_status);
}
