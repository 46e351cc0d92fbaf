// SPDX-License-Identifier: Apache-2.0
// Loader: a planning pass lists the files (so totals are known), then worker threads take files
// in turn; each keeps a window of prefetches ahead of the block it waits for.
#include "loader.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "meta_cache.h"
#include "rendezvous.h"
#include "tree_walk.h"

#define LOAD_WORKERS 4

struct load_file {
	char *path;
	uint64_t size;
};

struct load {
	struct source *src;
	char **paths;
	size_t npaths;
	unsigned ttl_ms;
	char **share; /* the nodes a DataLoad is spread over (NULL: not shared) */
	size_t nshare;
	char *share_self; /* this node's name among them */
	pthread_t thread;
	atomic_int stop; /* set by the owner to end the walk early; read by the worker */
	/* Guards the plan and the progress below; held for memory updates only, never across a
	 * fetch, a walk of the UFS or a join. */
	pthread_mutex_t lock;
	struct load_file *files; /* under lock while planning, then read-only */
	size_t nfiles, cap;
	size_t next; /* under lock: next file to take */
	uint64_t ufs_bytes_at_start;
	atomic_uint_fast64_t bytes_done, files_done;
	struct load_progress prog; /* under lock: totals, times, error */
};

static int64_t now_ms(void)
{
	return meta_cache_now_ms();
}

static void fail(struct load *l, int err, const char *path)
{
	pthread_mutex_lock(&l->lock);
	if (l->prog.error == 0) {
		l->prog.error = err;
		snprintf(l->prog.message, sizeof(l->prog.message), "\"%s\": %s", path,
			 strerror(-err));
	}
	pthread_mutex_unlock(&l->lock);
	l->stop = 1;
}

static int plan_file(const char *path, const struct ufs_attr *attr, void *userdata)
{
	struct load *l = userdata;
	if (l->nshare) {
		int owner = rendezvous_owner(path, (const char *const *)l->share, l->nshare);
		if (owner < 0 || strcmp(l->share[owner], l->share_self))
			return 0; /* another node's share */
	}
	char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	pthread_mutex_lock(&l->lock);
	if (l->nfiles == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct load_file *nf = realloc(l->files, cap * sizeof(*nf));
		if (!nf) {
			pthread_mutex_unlock(&l->lock);
			free(p);
			return -ENOMEM;
		}
		l->files = nf;
		l->cap = cap;
	}
	l->files[l->nfiles++] = (struct load_file){.path = p, .size = attr->size};
	l->prog.files_total++;
	l->prog.bytes_total += attr->size;
	pthread_mutex_unlock(&l->lock);
	return 0;
}

static int load_one(struct load *l, const struct load_file *lf)
{
	struct source *src = l->src;
	struct ufs_attr a;
	bool changed;
	int r = meta_cache_validate(src->meta, lf->path, l->ttl_ms, false, &a, &changed);
	uint64_t obj;
	if (r == 0)
		r = block_store_object_sync(src->store, lf->path, &a, &obj);
	if (r < 0)
		return r;
	uint64_t bs = src->block_size;
	uint64_t nblocks = (a.size + bs - 1) / bs;
	unsigned window = src->fetch_concurrency / 2 ? src->fetch_concurrency / 2 : 1;
	for (uint64_t b = 0; b < nblocks && !l->stop; b++) {
		if (b % window == 0)
			fetcher_prefetch(src->fetcher, obj, lf->path, &a, b + 1, window);
		struct fetch_result fr;
		r = fetcher_get(src->fetcher, obj, lf->path, &a, b, &fr);
		if (r < 0)
			return r;
		if (fr.mem && !fr.peer_only) {
			/* The tier had no room: the load cannot keep it. */
			free(fr.mem);
			return -ENOSPC;
		}
		if (fr.mem) /* its owner keeps it: loaded for the cluster */
			free(fr.mem);
		else
			block_store_release(src->store, obj, b);
		atomic_fetch_add(&l->bytes_done, fr.len);
	}
	return l->stop ? -ECANCELED : 0;
}

static void *worker(void *arg)
{
	struct load *l = arg;
	for (;;) {
		pthread_mutex_lock(&l->lock);
		size_t i = l->next < l->nfiles && !l->stop ? l->next++ : (size_t)-1;
		pthread_mutex_unlock(&l->lock);
		if (i == (size_t)-1)
			break;
		int r = load_one(l, &l->files[i]);
		if (r < 0 && r != -ECANCELED) {
			fail(l, r, l->files[i].path);
			break;
		}
		if (r == 0)
			atomic_fetch_add(&l->files_done, 1);
	}
	return NULL;
}

static void *load_thread(void *arg)
{
	struct load *l = arg;
	int r = 0;
	for (size_t i = 0; i < l->npaths && r == 0; i++) {
		r = tree_walk(l->src->meta, l->paths[i], l->ttl_ms, plan_file, l, &l->stop);
		if (r < 0)
			fail(l, r, l->paths[i]);
	}
	if (r == 0) {
		pthread_t t[LOAD_WORKERS];
		int started = 0;
		for (int i = 0; i < LOAD_WORKERS; i++)
			if (pthread_create(&t[i], NULL, worker, l) == 0)
				started++;
			else
				break;
		if (started == 0)
			worker(l);
		for (int i = 0; i < started; i++)
			pthread_join(t[i], NULL);
	}
	pthread_mutex_lock(&l->lock);
	l->prog.finished = true;
	l->prog.finished_ms = now_ms();
	pthread_mutex_unlock(&l->lock);
	if (l->prog.error)
		log_warn("load of %s failed: %s", l->src->url, l->prog.message);
	else
		log_info("load of %zu path(s) of %s done: %llu files, %llu bytes in %lld ms",
			 l->npaths, l->src->url, (unsigned long long)l->prog.files_total,
			 (unsigned long long)l->prog.bytes_total,
			 (long long)(l->prog.finished_ms - l->prog.started_ms));
	return NULL;
}

static void share_free(struct load *l)
{
	for (size_t i = 0; i < l->nshare; i++)
		free(l->share[i]);
	free(l->share);
	free(l->share_self);
}

int load_start(struct source *src, const char *const *paths, size_t npaths, unsigned ttl_ms,
	       struct load **ret)
{
	return load_start_share(src, paths, npaths, ttl_ms, NULL, 0, NULL, ret);
}

int load_start_share(struct source *src, const char *const *paths, size_t npaths, unsigned ttl_ms,
		     const char *const *nodes, size_t nnodes, const char *self, struct load **ret)
{
	struct load *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	pthread_mutex_init(&l->lock, NULL);
	if (nnodes) {
		if (!self || !(l->share = calloc(nnodes, sizeof(char *))) ||
		    !(l->share_self = strdup(self)))
			goto nomem;
		for (; l->nshare < nnodes; l->nshare++)
			if (!(l->share[l->nshare] = strdup(nodes[l->nshare])))
				goto nomem;
	}
	l->src = src;
	l->ttl_ms = ttl_ms;
	l->paths = calloc(npaths ? npaths : 1, sizeof(char *));
	if (!l->paths)
		goto nomem;
	for (size_t i = 0; i < npaths; i++) {
		/* "/spark-3.3.1/" and "spark-3.3.1" both mean "/spark-3.3.1". */
		const char *p = paths[i];
		while (*p == '/')
			p++;
		size_t len = strlen(p);
		while (len > 0 && p[len - 1] == '/')
			len--;
		if (asprintf(&l->paths[i], "/%.*s", (int)len, p) < 0)
			goto nomem;
		l->npaths++;
	}
	l->prog.started_ms = now_ms();
	l->ufs_bytes_at_start = atomic_load(&src->ufs->stats.bytes);
	if (pthread_create(&l->thread, NULL, load_thread, l) != 0)
		goto nomem;
	*ret = l;
	return 0;
nomem:
	for (size_t i = 0; i < l->npaths; i++)
		free(l->paths[i]);
	free(l->paths);
	share_free(l);
	pthread_mutex_destroy(&l->lock);
	free(l);
	return -ENOMEM;
}

void load_get_progress(struct load *l, struct load_progress *ret)
{
	pthread_mutex_lock(&l->lock);
	*ret = l->prog;
	pthread_mutex_unlock(&l->lock);
	ret->bytes_done = atomic_load(&l->bytes_done);
	ret->files_done = atomic_load(&l->files_done);
	ret->ufs_bytes = atomic_load(&l->src->ufs->stats.bytes) - l->ufs_bytes_at_start;
}

void load_free(struct load *l)
{
	if (!l)
		return;
	l->stop = 1;
	pthread_join(l->thread, NULL);
	for (size_t i = 0; i < l->nfiles; i++)
		free(l->files[i].path);
	free(l->files);
	for (size_t i = 0; i < l->npaths; i++)
		free(l->paths[i]);
	free(l->paths);
	share_free(l);
	pthread_mutex_destroy(&l->lock);
	free(l);
}
