// SPDX-License-Identifier: Apache-2.0
// Tier roots (see tier_roots.h): paths compared in one normal form (absolute, no empty, "." or
// ".." segment, no trailing '/').
#include "tier_roots.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "quantity.h"

struct tier_root {
	char path[PATH_MAX]; /* normal form; "" = "/" */
	uint64_t max;	     /* bytes one tier under it may ask */
	uint64_t ns_max;     /* bytes one namespace's tiers under it may ask together; 0: max */
};

struct tier_roots {
	size_t n;
	struct tier_root *roots;
};

/* Writes path's normal form to out: "" for "/". Returns 0, or -EINVAL (relative, a "." or ".."
 * segment) / -ENAMETOOLONG. */
static int path_norm(const char *path, char *out, size_t outlen)
{
	if (path[0] != '/')
		return -EINVAL;
	size_t o = 0;
	for (const char *seg = path; *seg;) {
		seg += strspn(seg, "/");
		size_t len = strcspn(seg, "/");
		if (len == 0)
			break;
		if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
			return -EINVAL;
		if (o + 1 + len >= outlen)
			return -ENAMETOOLONG;
		out[o++] = '/';
		memcpy(out + o, seg, len);
		o += len;
		seg += len;
	}
	out[o] = '\0';
	return 0;
}

void tier_roots_free(struct tier_roots *t)
{
	if (!t)
		return;
	free(t->roots);
	free(t);
}

int tier_roots_parse(const char *spec, struct tier_roots **ret, char *err, size_t errlen)
{
	char *copy = strdup(spec ? spec : "");
	struct tier_roots *t = calloc(1, sizeof(*t));
	char *save = NULL;
	int r = 0;
	if (!copy || !t) {
		r = -ENOMEM;
		goto fail;
	}
	for (char *ent = strtok_r(copy, ",", &save); ent; ent = strtok_r(NULL, ",", &save)) {
		ent += strspn(ent, " \t");
		size_t n = strlen(ent);
		while (n && (ent[n - 1] == ' ' || ent[n - 1] == '\t'))
			ent[--n] = '\0';
		if (!*ent)
			continue;
		char *colon = strrchr(ent, ':');
		if (!colon) {
			snprintf(err, errlen,
				 "tier-roots: \"%s\" is not PATH:SIZE (e.g. /dev/shm/weir:8GiB)",
				 ent);
			r = -EINVAL;
			goto fail;
		}
		*colon = '\0';
		/* PATH:SIZE:PER-NAMESPACE when what precedes the last field ends in a size */
		char *size_s = colon + 1, *ns_s = NULL, *mid = strrchr(ent, ':');
		uint64_t probe;
		if (mid && quantity_parse(mid + 1, &probe) == 0) {
			*mid = '\0';
			ns_s = size_s;
			size_s = mid + 1;
		}
		struct tier_root *nr = realloc(t->roots, (t->n + 1) * sizeof(*nr));
		if (!nr) {
			r = -ENOMEM;
			goto fail;
		}
		t->roots = nr;
		struct tier_root *root = &t->roots[t->n];
		if (path_norm(ent, root->path, sizeof(root->path)) < 0) {
			snprintf(
			    err, errlen,
			    "tier-roots: \"%s\" is not an absolute path without \".\" or \"..\"",
			    ent);
			r = -EINVAL;
			goto fail;
		}
		if (quantity_parse(size_s, &root->max) < 0 || root->max == 0) {
			snprintf(err, errlen,
				 "tier-roots: %s: \"%s\" is not a size above 0 (e.g. 8GiB, 200Gi)",
				 ent, size_s);
			r = -EINVAL;
			goto fail;
		}
		root->ns_max = 0;
		if (ns_s && (quantity_parse(ns_s, &root->ns_max) < 0 || root->ns_max == 0 ||
			     root->ns_max > root->max)) {
			snprintf(
			    err, errlen,
			    "tier-roots: %s: the per-namespace size \"%s\" is not a size above 0 "
			    "and at most the root's %s",
			    ent, ns_s, size_s);
			r = -EINVAL;
			goto fail;
		}
		t->n++;
	}
	free(copy);
	if (t->n == 0) {
		tier_roots_free(t);
		t = NULL;
	}
	*ret = t;
	return 0;
fail:
	free(copy);
	tier_roots_free(t);
	return r;
}

/* Is any component of path below root (both normal) a symbolic link? A missing one ends the
 * walk: what does not exist yet is made by weir-node itself, as directories. */
static bool link_below(const char *root, const char *path)
{
	char buf[PATH_MAX];
	size_t rl = strlen(root);
	snprintf(buf, sizeof(buf), "%s", path);
	for (size_t i = rl + 1; i <= strlen(path); i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		buf[i] = '\0';
		struct stat st;
		if (lstat(buf, &st) < 0)
			return false;
		if (S_ISLNK(st.st_mode))
			return true;
		buf[i] = path[i];
	}
	return false;
}

int tier_roots_check(const struct tier_roots *t, const char *path, uint64_t quota, char *err,
		     size_t errlen)
{
	if (!t)
		return 0;
	char norm[PATH_MAX];
	if (path_norm(path, norm, sizeof(norm)) < 0) {
		snprintf(
		    err, errlen,
		    "tier path \"%s\" is not an absolute path without \".\" or \"..\" segments",
		    path);
		return -EACCES;
	}
	const struct tier_root *inside = NULL;
	for (size_t i = 0; i < t->n; i++) {
		const struct tier_root *root = &t->roots[i];
		size_t rl = strlen(root->path);
		if (strncmp(root->path, norm, rl) || (norm[rl] != '\0' && norm[rl] != '/'))
			continue;
		if (link_below(root->path, norm)) {
			snprintf(
			    err, errlen,
			    "tier path \"%s\" goes through a symbolic link below the tier root "
			    "\"%s\"",
			    path, root->path[0] ? root->path : "/");
			return -EACCES;
		}
		if (quota <= root->max)
			return 0;
		if (!inside || root->max > inside->max)
			inside = root;
	}
	char list[2048] = "";
	size_t o = 0;
	for (size_t i = 0; i < t->n && o < sizeof(list); i++) {
		char b[32];
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s (%s)", i ? ", " : "",
				      t->roots[i].path[0] ? t->roots[i].path : "/",
				      quantity_format(t->roots[i].max, b, sizeof(b)));
	}
	char q[32], m[32];
	if (inside)
		snprintf(err, errlen,
			 "tier quota %s at \"%s\" is more than weir-node's tier-roots allow there "
			 "(at most %s under %s)",
			 quantity_format(quota, q, sizeof(q)), path,
			 quantity_format(inside->max, m, sizeof(m)),
			 inside->path[0] ? inside->path : "/");
	else
		snprintf(
		    err, errlen,
		    "tier path \"%s\" is not under weir-node's tier-roots: tiers may live only "
		    "under %s",
		    path, list);
	return -EACCES;
}

size_t tier_roots_n(const struct tier_roots *t)
{
	return t ? t->n : 0;
}

const char *tier_roots_path(const struct tier_roots *t, size_t i)
{
	return t->roots[i].path[0] ? t->roots[i].path : "/";
}

uint64_t tier_roots_size(const struct tier_roots *t, size_t i)
{
	return t->roots[i].max;
}

uint64_t tier_roots_ns_size(const struct tier_roots *t, size_t i)
{
	return t->roots[i].ns_max;
}

bool tier_roots_holds(const struct tier_roots *t, size_t i, const char *path)
{
	char norm[PATH_MAX];
	if (path_norm(path, norm, sizeof(norm)) < 0)
		return false;
	const char *root = t->roots[i].path;
	size_t rl = strlen(root);
	return !strncmp(root, norm, rl) && (norm[rl] == '\0' || norm[rl] == '/');
}
