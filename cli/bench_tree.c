// SPDX-License-Identifier: Apache-2.0
// Recursive listing of a tree's regular files for weir bench. Directories are opened beneath
// their parent's descriptor, so a rename during the listing cannot send it elsewhere.
#include "bench_tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct lister {
	struct bench_tree *t;
	size_t cap;
	char *err;
	size_t errlen;
};

static int add_file(struct lister *l, const char *path, uint64_t size)
{
	struct bench_tree *t = l->t;
	if (t->n == UINT32_MAX)
		return -EFBIG;
	if (t->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		struct bench_file *f = realloc(t->files, cap * sizeof(*f));
		if (!f)
			return -ENOMEM;
		t->files = f;
		l->cap = cap;
	}
	char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	t->files[t->n].path = p;
	t->files[t->n].size = size;
	t->n++;
	t->bytes += size;
	return 0;
}

/* Lists dirfd (which it closes) whose path is path. */
static int walk(struct lister *l, int dirfd, const char *path)
{
	int r = 0;
	DIR *d = fdopendir(dirfd);
	if (!d) {
		r = -errno;
		close(dirfd);
		snprintf(l->err, l->errlen, "cannot list \"%s\": %s", path, strerror(-r));
		return r;
	}
	size_t plen = strlen(path);
	char *child = malloc(plen + 258);
	if (!child) {
		r = -ENOMEM;
		goto close_dir;
	}
	struct dirent *e;
	errno = 0;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(child, plen + 258, "%s/%s", path, e->d_name);
		struct stat st;
		if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = -errno;
			snprintf(l->err, l->errlen, "cannot stat \"%s\": %s", child, strerror(-r));
			goto free_child;
		}
		if (S_ISREG(st.st_mode)) {
			r = add_file(l, child, (uint64_t)st.st_size);
		} else if (S_ISDIR(st.st_mode)) {
			int fd = openat(dirfd, e->d_name,
					O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0) {
				r = -errno;
				snprintf(l->err, l->errlen, "cannot open \"%s\": %s", child,
					 strerror(-r));
				goto free_child;
			}
			r = walk(l, fd, child);
		}
		if (r < 0)
			goto free_child;
		errno = 0;
	}
	if (errno) {
		r = -errno;
		snprintf(l->err, l->errlen, "cannot list \"%s\": %s", path, strerror(-r));
	}
free_child:
	free(child);
close_dir:
	closedir(d);
	if (r == -ENOMEM || r == -EFBIG)
		snprintf(l->err, l->errlen, "cannot list \"%s\": %s", path, strerror(-r));
	return r;
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct bench_file *)a)->path, ((const struct bench_file *)b)->path);
}

int bench_tree_list(const char *root, struct bench_tree **ret, char *err, size_t errlen)
{
	int r;
	struct bench_tree *t = calloc(1, sizeof(*t));
	if (!t || !(t->root = strdup(root))) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto free_tree;
	}
	size_t rl = strlen(t->root);
	while (rl > 1 && t->root[rl - 1] == '/')
		t->root[--rl] = '\0';
	int fd = open(t->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot open \"%s\": %s", root, strerror(-r));
		goto free_tree;
	}
	struct lister l = {.t = t, .err = err, .errlen = errlen};
	r = walk(&l, fd, strcmp(t->root, "/") ? t->root : "");
	if (r < 0)
		goto free_tree;
	if (t->n > 1)
		qsort(t->files, t->n, sizeof(*t->files), cmp_file);
	*ret = t;
	return 0;
free_tree:
	bench_tree_free(t);
	return r;
}

size_t bench_tree_largest(const struct bench_tree *t)
{
	size_t best = 0;
	for (size_t i = 1; i < t->n; i++)
		if (t->files[i].size > t->files[best].size)
			best = i;
	return best;
}

void bench_tree_free(struct bench_tree *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		free(t->files[i].path);
	free(t->files);
	free(t->root);
	free(t);
}
