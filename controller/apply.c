// SPDX-License-Identifier: Apache-2.0
// create/apply/delete against the store. One transaction per request: a batch where any object
// fails leaves the store as it was.
#include "apply.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objmodel.h"
#include "reconcile.h"
#include "secrets.h"

void apply_result_free(struct apply_result *res)
{
	for (size_t i = 0; i < res->n; i++)
		free(res->lines[i]);
	free(res->lines);
	res->lines = NULL;
	res->n = 0;
}

char *apply_resource_name(const char *kind_name, bool plural, char *buf, size_t len)
{
	char lower[64];
	size_t i = 0;
	for (; kind_name[i] && i < sizeof(lower) - 1; i++)
		lower[i] = (char)tolower((unsigned char)kind_name[i]);
	lower[i] = '\0';
	if (!strcmp(lower, "namespace") || !strcmp(lower, "secret"))
		snprintf(buf, len, "%s%s", lower, plural ? "s" : "");
	else
		snprintf(buf, len, "%s%s.data.fluid.io", lower, plural ? "s" : "");
	return buf;
}

static int result_add(struct apply_result *res, const char *line)
{
	char **l = realloc(res->lines, (res->n + 1) * sizeof(*l));
	if (!l)
		return -ENOMEM;
	res->lines = l;
	if (!(l[res->n] = strdup(line)))
		return -ENOMEM;
	res->n++;
	return 0;
}

static bool namespace_exists(struct store *st, const char *ns)
{
	if (!strcmp(ns, OBJMODEL_DEFAULT_NAMESPACE))
		return true;
	char *j;
	if (store_get(st, "Namespace", "", ns, &j) < 0)
		return false;
	free(j);
	return true;
}

/* A new object's status: the first phase, so tables never show a blank one (a manifest's own
 * status is not taken). NULL for kinds without one. */
static json_object *initial_status(const struct objmodel *obj)
{
	if (obj->kind == OBJMODEL_NAMESPACE)
		return NULL;
	struct objmodel *fresh = objmodel_new(obj->kind, obj->meta.namespace, obj->meta.name);
	json_object *tree = NULL, *st = NULL;
	if (!fresh)
		return NULL;
	if (obj->kind == OBJMODEL_DATASET)
		fresh->dataset.status.phase = DATASET_PHASE_NOT_BOUND;
	else if (obj->kind == OBJMODEL_DATALOAD)
		fresh->dataload.status.phase = DATALOAD_PHASE_PENDING;
	else if (obj->kind == OBJMODEL_RUNTIME)
		fresh->runtime.status.phase = RUNTIME_PHASE_NOT_READY;
	if (objmodel_to_json(fresh, &tree) == 0 && json_object_object_get_ex(tree, "status", &st))
		json_object_get(st);
	json_object_put(tree);
	objmodel_free(fresh);
	return st;
}

/* The JSON to store for obj: its spec, the existing object's status and creation time. */
static int merge(struct objmodel *obj, const char *existing, int64_t now, char **ret_text,
		 bool *ret_unchanged)
{
	json_object *old = NULL, *tree = NULL;
	int r;
	obj->meta.creation_timestamp = now;
	if (existing) {
		old = json_tokener_parse(existing);
		if (!old)
			return -EIO;
		json_object *meta, *ct;
		if (json_object_object_get_ex(old, "metadata", &meta) &&
		    json_object_object_get_ex(meta, "creationTimestamp", &ct))
			objmodel_parse_time(json_object_get_string(ct),
					    &obj->meta.creation_timestamp);
	}
	r = objmodel_to_json(obj, &tree);
	if (r < 0)
		goto out;
	json_object_object_del(tree, "status");
	json_object *st, *meta;
	/* a manifest exported from a cluster (kubectl get -o yaml) for an object not stored here:
	 * created anew, its old uid and version left behind (the kube store refuses a put that
	 * names an object it no longer holds) */
	if (!old && json_object_object_get_ex(tree, "metadata", &meta)) {
		json_object_object_del(meta, "uid");
		json_object_object_del(meta, "resourceVersion");
	}
	if (old && json_object_object_get_ex(old, "status", &st))
		json_object_object_add(tree, "status", json_object_get(st));
	else if (!old && (st = initial_status(obj)))
		json_object_object_add(tree, "status", st);
	*ret_unchanged = old && json_object_equal(old, tree);
	const char *text = json_object_to_json_string_ext(tree, JSON_C_TO_STRING_PLAIN);
	if (!(*ret_text = strdup(text)))
		r = -ENOMEM;
out:
	json_object_put(tree);
	json_object_put(old);
	return r;
}

int apply_objects(struct store *st, const char *const *jsons, size_t n, bool create,
		  const char *source, int64_t now, struct apply_result *ret, char *errbuf,
		  size_t errlen)
{
	struct apply_result res = {0};
	struct objmodel **objs = calloc(n ? n : 1, sizeof(*objs));
	char err[1024];
	int r = 0;
	bool txn = false;
	if (!objs)
		return -ENOMEM;
	if (!source || !*source)
		source = "request";
	for (size_t i = 0; i < n; i++) {
		r = objmodel_from_json(jsons[i], &objs[i], err, sizeof(err));
		if (r >= 0)
			r = objmodel_validate(objs[i], err, sizeof(err));
		if (r < 0) {
			snprintf(errbuf, errlen, "%s: document %zu: %s", source, i + 1, err);
			goto out;
		}
	}
	r = store_begin(st);
	if (r < 0) {
		snprintf(errbuf, errlen, "cannot start a store transaction: %s", strerror(-r));
		goto out;
	}
	txn = true;
	for (size_t i = 0; i < n; i++) {
		struct objmodel *o = objs[i];
		const char *kind = objmodel_kind_name(o->kind);
		const char *ns = o->kind == OBJMODEL_NAMESPACE ? "" : o->meta.namespace;
		char what[400], rn[128];
		snprintf(what, sizeof(what), "%s: document %zu (%s %s%s%s)", source, i + 1,
			 o->kind_name, ns, *ns ? "/" : "", o->meta.name);
		if (*ns && !namespace_exists(st, ns)) {
			snprintf(
			    errbuf, errlen,
			    "%s: namespace \"%s\" not found; create it first with `weir create "
			    "namespace %s`",
			    what, ns, ns);
			r = -ENOENT;
			goto out;
		}
		char *existing = NULL;
		r = store_get(st, kind, ns, o->meta.name, &existing);
		if (r < 0 && r != -ENOENT) {
			snprintf(errbuf, errlen, "%s: store: %s", what, strerror(-r));
			goto out;
		}
		if (existing && create && o->kind == OBJMODEL_NAMESPACE) {
			free(existing);
			snprintf(errbuf, errlen, "namespaces \"%s\" already exists", o->meta.name);
			r = -EEXIST;
			goto out;
		}
		if (existing && create) {
			free(existing);
			snprintf(
			    errbuf, errlen,
			    "%s: %s \"%s\" already exists%s%s%s; use `weir apply -f` to update "
			    "it",
			    what, apply_resource_name(o->kind_name, true, rn, sizeof(rn)),
			    o->meta.name, *ns ? " in namespace \"" : "", ns, *ns ? "\"" : "");
			r = -EEXIST;
			goto out;
		}
		if (!existing && o->kind == OBJMODEL_NAMESPACE &&
		    !strcmp(o->meta.name, OBJMODEL_DEFAULT_NAMESPACE) && create) {
			snprintf(errbuf, errlen, "%s: namespaces \"default\" already exists", what);
			r = -EEXIST;
			goto out;
		}
		char *text = NULL;
		bool unchanged = false, existed = existing != NULL;
		if (o->kind == OBJMODEL_SECRET && !st->secret_box) {
			snprintf(errbuf, errlen,
				 "%s: this weir-controller keeps no Secrets (its store is "
				 "kube-apiserver's: create the Secret with kubectl)",
				 what);
			free(existing);
			r = -EINVAL;
			goto out;
		}
		if (o->kind == OBJMODEL_SECRET) {
			err[0] = '\0';
			r = secrets_stored_json(st->secret_box, o, existing, now, &text, &unchanged,
						err, sizeof(err));
			if (r == -EINVAL) {
				snprintf(errbuf, errlen, "%s: %s", what, err);
				free(existing);
				goto out;
			}
		} else {
			r = merge(o, existing, now, &text, &unchanged);
		}
		free(existing);
		if (r >= 0 && !unchanged)
			r = store_put(st, kind, ns, o->meta.name, text, now);
		free(text);
		if (r == -ENOENT) {
			snprintf(errbuf, errlen,
				 "%s: deleted while it was being applied: apply again", what);
			goto out;
		}
		if (r < 0) {
			snprintf(errbuf, errlen, "%s: cannot store it: %s", what, strerror(-r));
			goto out;
		}
		char line[512];
		snprintf(line, sizeof(line), "%s/%s %s",
			 apply_resource_name(o->kind_name, false, rn, sizeof(rn)), o->meta.name,
			 unchanged ? "unchanged" : (existed ? "configured" : "created"));
		r = result_add(&res, line);
		if (r < 0)
			goto out;
	}
	r = store_commit(st);
	txn = false;
	if (r < 0) {
		snprintf(errbuf, errlen, "cannot commit to the store: %s", strerror(-r));
		goto out;
	}
	*ret = res;
	res = (struct apply_result){0};
out:
	if (txn)
		store_rollback(st);
	apply_result_free(&res);
	for (size_t i = 0; i < n; i++)
		objmodel_free(objs[i]);
	free(objs);
	return r;
}

static int count_namespace_objects(struct store *st, const char *ns, size_t *ret)
{
	struct store_list l = {0};
	int r = store_list(st, NULL, ns, &l);
	if (r < 0)
		return r;
	*ret = l.n;
	store_list_free(&l);
	return 0;
}

/* apply_delete and apply_delete_check: every refusal in one place; dry_run stops before the
 * store changes. */
static int delete_or_check(struct store *st, const char *kind, const char *ns, const char *name,
			   bool deny_by_default, bool dry_run, char *result, size_t rlen,
			   char *errbuf, size_t errlen)
{
	char *json = NULL, rn[128], err[1024];
	struct objmodel *obj = NULL;
	struct objmodel_list *all = NULL;
	bool is_ns = !strcmp(kind, "Namespace");
	if (is_ns)
		ns = "";
	if (is_ns && !strcmp(name, OBJMODEL_DEFAULT_NAMESPACE)) {
		snprintf(errbuf, errlen, "namespace \"default\" cannot be deleted");
		return -EPERM;
	}
	int r = store_get(st, kind, ns, name, &json);
	if (r == -ENOENT) {
		snprintf(errbuf, errlen, "%s \"%s\" not found%s%s%s",
			 apply_resource_name(kind, true, rn, sizeof(rn)), name,
			 *ns ? " in namespace \"" : "", ns, *ns ? "\"" : "");
		return r;
	}
	if (r < 0) {
		snprintf(errbuf, errlen, "store: %s", strerror(-r));
		return r;
	}
	r = objmodel_from_json(json, &obj, err, sizeof(err));
	if (r < 0) {
		snprintf(errbuf, errlen, "stored %s %s/%s does not parse: %s", kind, ns, name, err);
		goto out;
	}
	if (is_ns) {
		size_t count = 0;
		r = count_namespace_objects(st, name, &count);
		if (r >= 0 && count > 0) {
			snprintf(
			    errbuf, errlen,
			    "namespace \"%s\" still holds %zu objects; delete them first (`weir "
			    "get dataset -n %s`, `weir get dataload -n %s`, `weir get runtime -n "
			    "%s`, `weir get secret -n %s`)",
			    name, count, name, name, name, name);
			r = -EBUSY;
		}
		if (r < 0)
			goto out;
	} else if (obj->kind == OBJMODEL_DATASET) {
		r = store_load_models(st, "Dataset", &all, errbuf, errlen);
		if (r < 0)
			goto out;
		r = reconcile_delete_check(all, obj, deny_by_default, errbuf, errlen);
		if (r < 0)
			goto out;
	} else if (obj->kind == OBJMODEL_RUNTIME) {
		/* the cache of a referenced Dataset stays until its references go */
		r = store_load_models(st, "Dataset", &all, errbuf, errlen);
		if (r < 0)
			goto out;
		const struct objmodel *ds = objmodel_list_find(all, OBJMODEL_DATASET, ns, name);
		if (ds && reconcile_delete_check(all, ds, deny_by_default, err, sizeof(err)) < 0) {
			snprintf(errbuf, errlen, "%s %s/%s holds the cache of %s", obj->kind_name,
				 ns, name, err);
			r = -EBUSY;
			goto out;
		}
	}
	if (dry_run)
		goto out;
	r = store_del(st, kind, ns, name);
	if (r < 0) {
		snprintf(errbuf, errlen, "cannot delete %s %s/%s: %s", kind, ns, name,
			 strerror(-r));
		goto out;
	}
	snprintf(result, rlen, "%s \"%s\" deleted",
		 apply_resource_name(obj->kind_name, false, rn, sizeof(rn)), name);
out:
	objmodel_list_free(all);
	objmodel_free(obj);
	free(json);
	return r;
}

int apply_delete(struct store *st, const char *kind, const char *ns, const char *name,
		 bool deny_by_default, char *result, size_t rlen, char *errbuf, size_t errlen)
{
	return delete_or_check(st, kind, ns, name, deny_by_default, false, result, rlen, errbuf,
			       errlen);
}

int apply_delete_check(struct store *st, const char *kind, const char *ns, const char *name,
		       bool deny_by_default, char *errbuf, size_t errlen)
{
	char unused[8];
	return delete_or_check(st, kind, ns, name, deny_by_default, true, unused, sizeof(unused),
			       errbuf, errlen);
}

int apply_default_namespace(struct store *st, int64_t now)
{
	char *j = NULL;
	int r = store_get(st, "Namespace", "", OBJMODEL_DEFAULT_NAMESPACE, &j);
	free(j);
	if (r != -ENOENT)
		return r;
	struct objmodel *ns = objmodel_new(OBJMODEL_NAMESPACE, NULL, OBJMODEL_DEFAULT_NAMESPACE);
	if (!ns)
		return -ENOMEM;
	ns->meta.creation_timestamp = now;
	char *text = NULL;
	r = objmodel_to_json_string(ns, false, &text);
	if (r >= 0)
		r = store_put(st, "Namespace", "", OBJMODEL_DEFAULT_NAMESPACE, text, now);
	free(text);
	objmodel_free(ns);
	return r;
}
