// SPDX-License-Identifier: Apache-2.0
// DataLoad shares: the JSON a node writes into its Lease and the leader's sum over the nodes.
#include "load_share.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_object *load_share_to_json(const struct load_share *s)
{
	json_object *o = json_object_new_object(), *nodes = json_object_new_array();
	if (!o || !nodes) {
		json_object_put(o);
		json_object_put(nodes);
		return NULL;
	}
	for (size_t i = 0; i < s->n_nodes; i++)
		json_object_array_add(nodes, json_object_new_string(s->nodes[i]));
	json_object_object_add(o, "run", json_object_new_string(s->run));
	json_object_object_add(o, "nodes", nodes);
	json_object_object_add(o, "bytesDone", json_object_new_int64((int64_t)s->bytes_done));
	json_object_object_add(o, "bytesTotal", json_object_new_int64((int64_t)s->bytes_total));
	json_object_object_add(o, "filesDone", json_object_new_int64((int64_t)s->files_done));
	json_object_object_add(o, "filesTotal", json_object_new_int64((int64_t)s->files_total));
	json_object_object_add(o, "ufsBytes", json_object_new_int64((int64_t)s->ufs_bytes));
	json_object_object_add(o, "finished", json_object_new_boolean(s->finished));
	json_object_object_add(o, "error", json_object_new_string(s->error));
	json_object_object_add(o, "plan", json_object_new_string(s->plan));
	return o;
}

static json_object *field(json_object *o, const char *k, json_type t)
{
	json_object *v = NULL;
	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, t))
		return NULL;
	return v;
}

int load_share_from_json(json_object *o, const char *node, struct load_share *ret, char *errbuf,
			 size_t errlen)
{
	static const struct {
		const char *name;
		size_t off;
	} counts[] = {
	    {"bytesDone", offsetof(struct load_share, bytes_done)},
	    {"bytesTotal", offsetof(struct load_share, bytes_total)},
	    {"filesDone", offsetof(struct load_share, files_done)},
	    {"filesTotal", offsetof(struct load_share, files_total)},
	    {"ufsBytes", offsetof(struct load_share, ufs_bytes)},
	};
	struct load_share *s = calloc(1, sizeof(*s));
	json_object *v;
	int r = -EINVAL;
	if (!s)
		return -ENOMEM;
	if (!o || !json_object_is_type(o, json_type_object)) {
		snprintf(errbuf, errlen, "node %s: a load report is not an object", node);
		goto out;
	}
	snprintf(s->node, sizeof(s->node), "%s", node);
	if (!(v = field(o, "run", json_type_string))) {
		snprintf(errbuf, errlen, "node %s: load report without \"run\"", node);
		goto out;
	}
	snprintf(s->run, sizeof(s->run), "%s", json_object_get_string(v));
	if (!(v = field(o, "nodes", json_type_array))) {
		snprintf(errbuf, errlen, "node %s: load report without \"nodes\"", node);
		goto out;
	}
	if (json_object_array_length(v) > LOAD_SHARE_MAX_NODES) {
		snprintf(errbuf, errlen, "node %s: load report lists %zu nodes, more than %d", node,
			 json_object_array_length(v), LOAD_SHARE_MAX_NODES);
		r = -E2BIG;
		goto out;
	}
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		json_object *e = json_object_array_get_idx(v, i);
		if (!json_object_is_type(e, json_type_string) ||
		    strlen(json_object_get_string(e)) >= sizeof(s->nodes[0])) {
			snprintf(errbuf, errlen, "node %s: \"nodes\"[%zu] is not a node name", node,
				 i);
			goto out;
		}
		snprintf(s->nodes[s->n_nodes++], sizeof(s->nodes[0]), "%s",
			 json_object_get_string(e));
	}
	s->n_nodes = load_share_sort_nodes(s->nodes, s->n_nodes);
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		if (!(v = field(o, counts[i].name, json_type_int)) ||
		    json_object_get_int64(v) < 0) {
			snprintf(errbuf, errlen,
				 "node %s: load report without a count \"%s\" (a number >= 0)",
				 node, counts[i].name);
			goto out;
		}
		*(uint64_t *)((char *)s + counts[i].off) = (uint64_t)json_object_get_int64(v);
	}
	if (!(v = field(o, "finished", json_type_boolean))) {
		snprintf(errbuf, errlen, "node %s: load report without \"finished\"", node);
		goto out;
	}
	s->finished = json_object_get_boolean(v);
	if ((v = field(o, "error", json_type_string)))
		snprintf(s->error, sizeof(s->error), "%s", json_object_get_string(v));
	/* optional: a node of an older version plans without one (and never agrees) */
	if ((v = field(o, "plan", json_type_string))) {
		const char *p = json_object_get_string(v);
		if (strlen(p) != 0 && strlen(p) != LOAD_SHARE_PLAN_HEX) {
			snprintf(errbuf, errlen,
				 "node %s: load report's \"plan\" is not %d hex digits", node,
				 LOAD_SHARE_PLAN_HEX);
			goto out;
		}
		snprintf(s->plan, sizeof(s->plan), "%s", p);
	}
	*ret = *s;
	r = 0;
out:
	free(s);
	return r;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

size_t load_share_sort_nodes(char (*names)[254], size_t n)
{
	if (n < 2)
		return n;
	qsort(names, n, sizeof(names[0]), name_cmp);
	size_t k = 1;
	for (size_t i = 1; i < n; i++)
		if (strcmp(names[i], names[k - 1]))
			memmove(names[k++], names[i], sizeof(names[0]));
	return k;
}

static bool in_set(const char (*nodes)[254], size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(nodes[i], name))
			return true;
	return false;
}

static bool same_set(const char (*a)[254], size_t na, const char (*b)[254], size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]))
			return false;
	return true;
}

void load_share_total(const char *run, const char (*nodes)[254], size_t n_nodes,
		      const struct load_share *r, size_t n, struct load_share_total *ret)
{
	struct load_share_total t = {.state = LOAD_SHARE_WAITING};
	const char *first_err_node = NULL;
	const struct load_share *planned = NULL; /* the first finished share of this set */
	bool disagree = false;
	unsigned complete = 0;
	for (size_t i = 0; i < n; i++) {
		const struct load_share *s = &r[i];
		if (strcmp(s->run, run) || !in_set(nodes, n_nodes, s->node))
			continue;
		if (s->error[0] && (!first_err_node || strcmp(s->node, first_err_node) < 0)) {
			first_err_node = s->node;
			snprintf(t.error, sizeof(t.error), "node %s: %s", s->node, s->error);
		}
		if (!same_set(s->nodes, s->n_nodes, nodes, n_nodes))
			continue; /* a share of an older set: its node redoes it */
		t.shares++;
		t.bytes_done += s->bytes_done;
		t.bytes_total += s->bytes_total;
		t.files_done += s->files_done;
		t.files_total += s->files_total;
		t.ufs_bytes += s->ufs_bytes;
		if (s->finished) {
			t.finished++;
			if (!s->error[0])
				complete++;
			/* plan agreement: every finished share planned the same tree */
			if (!s->error[0] && !planned)
				planned = s;
			else if (!s->error[0] && !disagree && strcmp(s->plan, planned->plan)) {
				disagree = true;
				if (!first_err_node)
					snprintf(t.error, sizeof(t.error),
						 "nodes %s and %s planned the load over different "
						 "trees (plan %.12s vs %.12s): a file changed or a "
						 "listing was stale during the load; run it again",
						 planned->node, s->node,
						 planned->plan[0] ? planned->plan : "(none)",
						 s->plan[0] ? s->plan : "(none)");
			}
		}
	}
	if (first_err_node || disagree)
		t.state = LOAD_SHARE_FAILED;
	else if (n_nodes && complete == n_nodes)
		t.state = LOAD_SHARE_COMPLETE;
	else if (t.shares)
		t.state = LOAD_SHARE_RUNNING;
	*ret = t;
}
