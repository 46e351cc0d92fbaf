// SPDX-License-Identifier: Apache-2.0
// Who may reference a Dataset, and with which rights. Denials always come with a reason that
// names the namespace, the dataset and what the allow-list grants, so the user knows whom to ask.
#include "grant.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bool grant_subpath_within(const char *subpath, const char *prefix)
{
	if (!prefix[0] || !strcmp(prefix, "/"))
		return true;
	size_t n = strlen(prefix);
	return !strncmp(subpath, prefix, n) && (subpath[n] == '\0' || subpath[n] == '/');
}

static int deny(char *reason, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int deny(char *reason, size_t len, const char *fmt, ...)
{
	if (reason && len) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(reason, len, fmt, ap);
		va_end(ap);
	}
	return -EACCES;
}

static void describe_grants(const struct dataset_spec *sp, const char *ns, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < sp->n_allow; i++) {
		const struct sharing_grant *g = &sp->allow[i];
		if (strcmp(g->namespace, ns) != 0 && strcmp(g->namespace, "*") != 0)
			continue;
		for (size_t j = 0; j < g->n_sub_paths && o < len; j++)
			o += snprintf(buf + o, len - o, "%s%s", o ? ", " : "", g->sub_paths[j]);
	}
}

int grant_check(const struct objmodel *source, const char *ref_ns, const char *subpath,
		bool deny_by_default, bool *ret_rw, char *reason, size_t len)
{
	char sub[4096], granted[1024];
	if (!source || source->kind != OBJMODEL_DATASET || dataset_is_reference(source)) {
		if (reason && len)
			snprintf(reason, len, "the source is not a dataset that can be referenced");
		return -EINVAL;
	}
	if (objmodel_subpath_normalize(subpath ? subpath : "", sub, sizeof(sub)) < 0) {
		if (reason && len)
			snprintf(reason, len, "bad subpath \"%s\"", subpath);
		return -EINVAL;
	}
	const struct dataset_spec *sp = &source->dataset.spec;
	const char *sns = source->meta.namespace, *sname = source->meta.name;
	bool own = !strcmp(ref_ns, sns);
	if (!sp->has_allow_list) {
		if (deny_by_default && !own)
			return deny(reason, len,
				    "dataset %s/%s has no sharing.allow list and references from "
				    "other namespaces are denied by default; its owner can add "
				    "namespace \"%s\" to spec.sharing.allow",
				    sns, sname, ref_ns);
		*ret_rw = false;
		return 0;
	}
	bool listed = false, covered = false, rw = false;
	for (size_t i = 0; i < sp->n_allow; i++) {
		const struct sharing_grant *g = &sp->allow[i];
		if (strcmp(g->namespace, ref_ns) != 0 && strcmp(g->namespace, "*") != 0)
			continue;
		listed = true;
		bool c = g->n_sub_paths == 0;
		for (size_t j = 0; !c && j < g->n_sub_paths; j++)
			c = grant_subpath_within(sub, g->sub_paths[j]);
		if (c) {
			covered = true;
			rw |= g->mode == GRANT_RW;
		}
	}
	if (own && !covered) {
		*ret_rw = false;
		return 0;
	}
	if (!listed)
		return deny(reason, len,
			    "namespace \"%s\" is not in the sharing.allow list of dataset %s/%s",
			    ref_ns, sns, sname);
	if (!covered) {
		describe_grants(sp, ref_ns, granted, sizeof(granted));
		if (!sub[0])
			return deny(reason, len,
				    "dataset %s/%s grants namespace \"%s\" only the subpaths %s, "
				    "not the whole dataset; reference one of them with "
				    "dataset://%s/%s/<subpath>",
				    sns, sname, ref_ns, granted, sns, sname);
		return deny(reason, len,
			    "subpath \"%s\" is outside what dataset %s/%s grants namespace \"%s\" "
			    "(%s)",
			    sub, sns, sname, ref_ns, granted);
	}
	*ret_rw = rw;
	return 0;
}

int grant_resolve(const struct objmodel *ref, grant_lookup_fn lookup, void *userdata,
		  bool deny_by_default, struct grant_result *ret, char *reason, size_t len)
{
	struct grant_result res = {0};
	char msg[512];
	if (!dataset_is_reference(ref)) {
		if (reason && len)
			snprintf(reason, len, "dataset %s/%s is not a dataset:// reference",
				 ref ? ref->meta.namespace : "?", ref ? ref->meta.name : "?");
		return -EINVAL;
	}
	const struct dataset_mount *m = &ref->dataset.spec.mounts[0];
	if (ref->dataset.spec.n_mounts != 1 ||
	    dataset_ref_parse(m->mount_point, &res.ref, msg, sizeof(msg)) < 0) {
		if (reason && len)
			snprintf(reason, len, "%s",
				 ref->dataset.spec.n_mounts != 1
				     ? "a dataset:// reference must be the only mount"
				     : msg);
		return -EINVAL;
	}
	res.source = lookup(userdata, res.ref.namespace, res.ref.name);
	if (!res.source || res.source->kind != OBJMODEL_DATASET) {
		if (reason && len)
			snprintf(reason, len,
				 "the referenced dataset %s/%s does not exist; create it first or "
				 "fix spec.mounts[0].mountPoint",
				 res.ref.namespace, res.ref.name);
		return -ENOENT;
	}
	if (dataset_is_reference(res.source)) {
		if (reason && len)
			snprintf(reason, len,
				 "the referenced dataset %s/%s is itself a reference (%s); "
				 "reference its source instead",
				 res.ref.namespace, res.ref.name,
				 res.source->dataset.spec.mounts[0].mount_point);
		return -ELOOP;
	}
	bool rw = false;
	int r = grant_check(res.source, ref->meta.namespace, res.ref.subpath, deny_by_default, &rw,
			    reason, len);
	if (r < 0)
		return r;
	res.rw = rw && !m->read_only;
	*ret = res;
	return 0;
}

int grant_delete_check(const struct objmodel *source, char *errbuf, size_t errlen)
{
	if (source->kind != OBJMODEL_DATASET || source->dataset.status.n_dataset_ref == 0)
		return 0;
	/* The refusal goes to whoever asks to delete (a webhook review, an Event in the source's
	 * namespace): it names only references of the source's own namespace and counts the
	 * others, so no other tenant's Dataset name leaves through it. */
	const struct dataset_status *st = &source->dataset.status;
	const char *ns = source->meta.namespace;
	size_t nslen = strlen(ns), n_local = 0, n_other = 0, o = 0;
	char list[1024];
	list[0] = '\0';
	for (size_t i = 0; i < st->n_dataset_ref; i++) {
		const char *ref = st->dataset_ref[i];
		if (strncmp(ref, ns, nslen) || ref[nslen] != '/') {
			n_other++;
			continue;
		}
		n_local++;
		if (o < sizeof(list))
			o += snprintf(list + o, sizeof(list) - o, "%s%s", o ? ", " : "", ref);
	}
	char other[160] = "";
	if (n_other)
		snprintf(other, sizeof(other), "%s%zu dataset%s of %s", n_local ? " and " : "",
			 n_other, n_other == 1 ? "" : "s",
			 n_other == 1 ? "another namespace" : "other namespaces");
	snprintf(errbuf, errlen, "dataset %s/%s is referenced by %s%s; delete %s first%s", ns,
		 source->meta.name, list, other,
		 st->n_dataset_ref == 1 ? "that dataset" : "those datasets",
		 n_other
		     ? " (names of other namespaces are not shown: a cluster admin sees them with "
		       "`weir describe dataset`)"
		     : "");
	return -EBUSY;
}
