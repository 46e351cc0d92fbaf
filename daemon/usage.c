// SPDX-License-Identifier: Apache-2.0
// Usage walks: one walk thread at a time per source; the file list is swapped in whole when
// a walk ends, and grown in place during the first one so totals show progress.
#include "usage.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tree_walk.h"
#include "thread_class.h"

struct usage_file {
	char *path;
	char *home; /* NULL, or a link's (tree_walk_fn): no subpath below it counts the file */
	uint64_t size;
};

struct file_list {
	struct usage_file *files;
	size_t n, cap;
};

struct usage {
	struct meta_cache *meta;
	struct block_store *store;
	unsigned ttl_ms;
	/* Guards the lists and flags below; held for memory updates only, never across the walk
	 * (UFS listings) or the join of the walker. usage_get looks each listed file up in the
	 * block store under it (block_store_object_find: the store's lock, memory only; the store
	 * never calls back here, so the order is always this lock, then the store's). */
	pthread_mutex_t lock;
	struct file_list done;	  /* under lock: the latest complete walk */
	struct file_list partial; /* under lock: the walk in progress */
	bool have_done;		  /* under lock */
	bool running;		  /* under lock */
	int error;		  /* under lock */
	atomic_int stop;	  /* set by the owner to end the walk early; read by the worker */
	pthread_t thread;
	bool joinable; /* under lock */
};

static void list_clear(struct file_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->files[i].path);
		free(l->files[i].home);
	}
	free(l->files);
	memset(l, 0, sizeof(*l));
}

static int on_file(const char *path, const char *home, const struct ufs_attr *attr,
		   void *userdata)
{
	struct usage *u = userdata;
	char *p = strdup(path);
	char *h = home ? strdup(home) : NULL;
	if (!p || (home && !h)) {
		free(p);
		free(h);
		return -ENOMEM;
	}
	pthread_mutex_lock(&u->lock);
	struct file_list *l = &u->partial;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		struct usage_file *nf = realloc(l->files, cap * sizeof(*nf));
		if (!nf) {
			pthread_mutex_unlock(&u->lock);
			free(p);
			free(h);
			return -ENOMEM;
		}
		l->files = nf;
		l->cap = cap;
	}
	l->files[l->n++] = (struct usage_file){.path = p, .home = h, .size = attr->size};
	pthread_mutex_unlock(&u->lock);
	return 0;
}

static void *walk_thread(void *arg)
{
	struct usage *u = arg;
	pthread_setname_np(pthread_self(), "weir-usage"); /* top -H, perf */
	thread_class_set(THREAD_CLASS_BULK); /* never ahead of a hit (thread_class.h) */
	int r = tree_walk(u->meta, "/", u->ttl_ms, on_file, u, &u->stop);
	pthread_mutex_lock(&u->lock);
	if (r == 0) {
		list_clear(&u->done);
		u->done = u->partial;
		memset(&u->partial, 0, sizeof(u->partial));
		u->have_done = true;
	} else {
		log_warn("walking the source's tree failed: %s", strerror(-r));
		list_clear(&u->partial);
	}
	u->error = r;
	u->running = false;
	pthread_mutex_unlock(&u->lock);
	return NULL;
}

int usage_new(struct meta_cache *mc, struct block_store *bs, unsigned ttl_ms, struct usage **ret)
{
	struct usage *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->meta = mc;
	u->store = bs;
	u->ttl_ms = ttl_ms;
	pthread_mutex_init(&u->lock, NULL);
	*ret = u;
	return 0;
}

void usage_free(struct usage *u)
{
	if (!u)
		return;
	u->stop = 1;
	if (u->joinable)
		pthread_join(u->thread, NULL);
	list_clear(&u->done);
	list_clear(&u->partial);
	pthread_mutex_destroy(&u->lock);
	free(u);
}

void usage_start(struct usage *u, bool refresh)
{
	pthread_mutex_lock(&u->lock);
	if (u->running || (u->have_done && !refresh)) {
		pthread_mutex_unlock(&u->lock);
		return;
	}
	if (u->joinable) {
		pthread_join(u->thread, NULL); /* finished: running is false */
		u->joinable = false;
	}
	u->running = true;
	if (pthread_create(&u->thread, NULL, walk_thread, u) != 0) {
		u->running = false;
		u->error = -EAGAIN;
	} else {
		u->joinable = true;
	}
	pthread_mutex_unlock(&u->lock);
}

static bool under(const char *path, const char *sub, size_t sublen)
{
	if (sublen == 0)
		return true;
	return strncmp(path, sub, sublen) == 0 && (path[sublen] == '/' || path[sublen] == '\0');
}

void usage_get(struct usage *u, const char *subpath, struct usage_totals *ret)
{
	memset(ret, 0, sizeof(*ret));
	size_t sublen = subpath ? strlen(subpath) : 0;
	while (sublen > 0 && subpath[sublen - 1] == '/')
		sublen--; /* "/" and "/a/" mean the whole tree and "/a" */
	pthread_mutex_lock(&u->lock);
	const struct file_list *l = u->have_done ? &u->done : &u->partial;
	ret->complete = u->have_done;
	ret->error = u->error;
	for (size_t i = 0; i < l->n; i++) {
		/* a link out of the subpath: the subpath's view does not show it */
		if (!under(l->files[i].path, subpath, sublen) ||
		    (l->files[i].home && !under(l->files[i].home, subpath, sublen)))
			continue;
		ret->ufs_total += l->files[i].size;
		ret->file_num++;
		uint64_t obj;
		if (block_store_object_find(u->store, l->files[i].path, &obj) == 0)
			ret->cached += block_store_object_cached(u->store, obj);
	}
	pthread_mutex_unlock(&u->lock);
}
