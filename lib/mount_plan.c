// SPDX-License-Identifier: Apache-2.0
// How a (namespace, dataset) is served: the grant check for a reference and the source, UFS URL,
// subpath and tiers of its view. Pure functions over a list the caller owns, so weir-controller
// and weir-node (answering weir-csi in a cluster) decide the same way.
#include "mount_plan.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws_config.h"

static const struct objmodel *lookup_dataset(void *userdata, const char *ns, const char *name)
{
	return objmodel_list_find(userdata, OBJMODEL_DATASET, ns, name);
}

char *mount_plan_source_id(const char *ns, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s_%s", ns, name);
	return buf;
}

const char *mount_plan_source_ns(const char *id, char *buf, size_t len)
{
	/* a namespace is a DNS label, which has no '_': the first one ends it. A plain mount's
	 * id (hex of its URL's hash) has none. */
	const char *us = strchr(id, '_');
	if (!us || us == id || (size_t)(us - id) >= len)
		return NULL;
	snprintf(buf, len, "%.*s", (int)(us - id), id);
	return buf;
}

int mount_plan_join_path(const char *prefix, const char *path, char *buf, size_t len)
{
	char joined[8192];
	int n = snprintf(joined, sizeof(joined), "%s/%s", prefix ? prefix : "", path ? path : "");
	if (n < 0 || (size_t)n >= sizeof(joined))
		return -ENAMETOOLONG;
	/* collapse "//" runs before normalizing */
	char clean[8192];
	size_t k = 0;
	for (size_t i = 0; joined[i]; i++)
		if (!(joined[i] == '/' && k > 0 && clean[k - 1] == '/'))
			clean[k++] = joined[i];
	clean[k] = '\0';
	char norm[4096];
	int r = objmodel_subpath_normalize(clean, norm, sizeof(norm));
	if (r < 0)
		return r;
	n = snprintf(buf, len, "%s", norm[0] ? norm : "/");
	return (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static const char *medium_lower(enum medium_type m)
{
	switch (m) {
	case MEDIUM_MEM:
		return "mem";
	case MEDIUM_SSD:
		return "ssd";
	case MEDIUM_HDD:
		return "hdd";
	}
	return "mem";
}

static const char *failed_message(const struct objmodel *ds)
{
	const struct conditions *c = &ds->dataset.status.conditions;
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->items[i].type, "Ready") && c->items[i].message)
			return c->items[i].message;
	return "no reason recorded";
}

/* The uid and gid spec.owner gives (numbers first, else names known here); false when it
 * names no owner. */
static bool plan_owner(const struct dataset_owner *o, uint32_t *ret_uid, uint32_t *ret_gid)
{
	if (!o->set)
		return false;
	uint32_t uid = 0, gid = 0;
	const struct passwd *pw = !o->uid_set && o->user ? getpwnam(o->user) : NULL;
	const struct group *gr = !o->gid_set && o->group ? getgrnam(o->group) : NULL;
	if (o->uid_set && o->uid >= 0 && o->uid < UINT32_MAX)
		uid = (uint32_t)o->uid;
	else if (pw)
		uid = pw->pw_uid;
	if (o->gid_set && o->gid >= 0 && o->gid < UINT32_MAX)
		gid = (uint32_t)o->gid;
	else if (gr)
		gid = gr->gr_gid;
	else if (pw)
		gid = pw->pw_gid;
	*ret_uid = uid;
	*ret_gid = gid;
	return true;
}

/* Fluid's encryptOptions names for S3 keys, and where each goes in a plan. */
static const struct {
	const char *name;
	size_t off;
} s3_key_names[] = {
    {"aws.accessKeyId", offsetof(struct mount_plan, access_key)},
    {"aws.secretKey", offsetof(struct mount_plan, secret_key)},
    {"aws.sessionToken", offsetof(struct mount_plan, session_token)},
};

/* Fills p's key references from the Dataset's sharedEncryptOptions, then its mount's (which
 * win). Returns 0 or -EINVAL with msg naming the option. */
static int plan_s3_keys(const struct dataset_spec *sp, const struct dataset_mount *m,
			struct mount_plan *p, char *msg, size_t len)
{
	const struct encrypt_option *lists[] = {sp->shared_encrypt_options, m->encrypt_options};
	const size_t counts[] = {sp->n_shared_encrypt_options, m->n_encrypt_options};
	for (size_t l = 0; l < 2; l++) {
		for (size_t i = 0; i < counts[l]; i++) {
			const struct encrypt_option *e = &lists[l][i];
			struct plan_key_ref *ref = NULL;
			for (size_t k = 0; k < sizeof(s3_key_names) / sizeof(s3_key_names[0]); k++)
				if (!strcmp(e->name, s3_key_names[k].name))
					ref = (struct plan_key_ref *)((char *)p +
								      s3_key_names[k].off);
			if (!ref) {
				snprintf(msg, len,
					 "encryptOptions: unknown name \"%.100s\" for an s3 source "
					 "(aws.accessKeyId, aws.secretKey, aws.sessionToken)",
					 e->name);
				return -EINVAL;
			}
			if (strlen(e->secret_name) >= sizeof(ref->secret) ||
			    strlen(e->secret_key) >= sizeof(ref->key) ||
			    strchr(e->secret_name, '/')) {
				snprintf(msg, len,
					 "encryptOptions %s: secretKeyRef names no Secret of this "
					 "namespace",
					 e->name);
				return -EINVAL;
			}
			snprintf(ref->secret, sizeof(ref->secret), "%s", e->secret_name);
			snprintf(ref->key, sizeof(ref->key), "%s", e->secret_key);
		}
	}
	if (!p->access_key.secret[0] != !p->secret_key.secret[0]) {
		snprintf(msg, len,
			 "encryptOptions: aws.accessKeyId and aws.secretKey go together; "
			 "give both");
		return -EINVAL;
	}
	if (p->session_token.secret[0] && !p->access_key.secret[0]) {
		snprintf(msg, len,
			 "encryptOptions: aws.sessionToken needs aws.accessKeyId and "
			 "aws.secretKey");
		return -EINVAL;
	}
	return 0;
}

/* The source side of a plan: UFS URL and tiers of a source Dataset and its Runtime. */
static int plan_source(const struct objmodel_list *l, const struct objmodel *ds,
		       struct mount_plan *p, char *errbuf, size_t errlen)
{
	const char *ns = ds->meta.namespace, *name = ds->meta.name;
	const struct objmodel *rt = objmodel_list_find(l, OBJMODEL_RUNTIME, ns, name);
	if (!rt) {
		snprintf(errbuf, errlen,
			 "dataset %s/%s has no Runtime yet: apply a Runtime (or AlluxioRuntime) "
			 "named \"%s\" in namespace \"%s\"",
			 ns, name, name, ns);
		return -ENOENT;
	}
	if (ds->dataset.spec.n_mounts != 1) {
		snprintf(errbuf, errlen,
			 "dataset %s/%s has %zu mounts; weir serves datasets of exactly one mount "
			 "for now",
			 ns, name, ds->dataset.spec.n_mounts);
		return -EINVAL;
	}
	const struct dataset_mount *m = &ds->dataset.spec.mounts[0];
	snprintf(p->source_ns, sizeof(p->source_ns), "%s", ns);
	snprintf(p->source_name, sizeof(p->source_name), "%s", name);
	mount_plan_source_id(ns, name, p->source_id, sizeof(p->source_id));
	char sub[4096] = "";
	if (m->path && objmodel_subpath_normalize(m->path, sub, sizeof(sub)) < 0)
		sub[0] = '\0';
	size_t ml = strlen(m->mount_point);
	bool slash = ml && m->mount_point[ml - 1] == '/';
	if (sub[0])
		snprintf(p->ufs_url, sizeof(p->ufs_url), "%s%s/", m->mount_point,
			 slash ? sub + 1 : sub);
	else
		snprintf(p->ufs_url, sizeof(p->ufs_url), "%s", m->mount_point);
	plan_owner(&ds->dataset.spec.owner, &p->uid, &p->gid);
	/* A URL's own user@ the node sees for itself. */
	p->credentials = m->n_encrypt_options > 0 || ds->dataset.spec.n_shared_encrypt_options > 0;
	if (!strncmp(m->mount_point, "s3://", 5)) {
		/* endpoint, region and path-style ride in the URL's query; the keys are named here
		 * (Secrets of the source's namespace) and read when the source is opened, else
		 * weir-node's own (its environment or AWS profile) are used */
		struct aws_s3_options so;
		char *url = NULL, msg[400];
		int r = plan_s3_keys(&ds->dataset.spec, m, p, msg, sizeof(msg));
		if (r == 0)
			r = dataset_mount_s3_options(&ds->dataset.spec, 0, &so, msg, sizeof(msg));
		if (r == 0)
			r = aws_config_s3_url(p->ufs_url, &so, NULL, &url, msg, sizeof(msg));
		if (r < 0) {
			snprintf(errbuf, errlen, "dataset %s/%s: %s", ns, name, msg);
			return r == -ENOMEM ? r : -EINVAL;
		}
		if (strlen(url) >= sizeof(p->ufs_url)) {
			aws_config_free_url(url);
			snprintf(errbuf, errlen, "dataset %s/%s: its s3 URL is too long", ns, name);
			return -ENAMETOOLONG;
		}
		snprintf(p->ufs_url, sizeof(p->ufs_url), "%s", url);
		aws_config_free_url(url);
	}
	p->n_tiers = 0;
	if (rt->runtime.replicas <= 0) {
		/* stored before validation refused it: never read as "every node" */
		snprintf(errbuf, errlen, "runtime %s/%s: %s", ns, name, OBJMODEL_REPLICAS_ZERO);
		return -EINVAL;
	}
	p->cache_replicas = (uint32_t)rt->runtime.replicas;
	p->high = 0.95;
	p->low = 0.7;
	for (size_t i = 0; i < rt->runtime.n_levels && i < MOUNT_PLAN_MAX_TIERS; i++) {
		const struct tier_level *lv = &rt->runtime.levels[i];
		snprintf(p->tiers[i].medium, sizeof(p->tiers[i].medium), "%s",
			 medium_lower(lv->medium));
		size_t pl = strlen(lv->path);
		snprintf(p->tiers[i].path, sizeof(p->tiers[i].path), "%.*s/weir/%s_%s",
			 (int)(pl > 1 && lv->path[pl - 1] == '/' ? pl - 1 : pl), lv->path, ns,
			 name);
		p->tiers[i].quota = lv->quota;
		if (i == 0) {
			p->high = lv->high;
			p->low = lv->low;
		}
		p->n_tiers++;
	}
	if (p->n_tiers == 0) {
		snprintf(errbuf, errlen, "runtime %s/%s has no tieredstore levels", ns, name);
		return -EINVAL;
	}
	return 0;
}

int mount_plan_make(const struct objmodel_list *l, const char *ns, const char *name,
		    bool deny_by_default, struct mount_plan *ret, char *errbuf, size_t errlen)
{
	const struct objmodel *ds = objmodel_list_find(l, OBJMODEL_DATASET, ns, name);
	if (!ds) {
		snprintf(errbuf, errlen,
			 "dataset \"%s\" not found in namespace \"%s\"; see `weir get dataset -A`",
			 name, ns);
		return -ENOENT;
	}
	struct mount_plan *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	int r;
	if (dataset_is_reference(ds)) {
		char reason[1024];
		struct grant_result gr;
		r = grant_resolve(ds, lookup_dataset, (void *)l, deny_by_default, &gr, reason,
				  sizeof(reason));
		if (r < 0) {
			snprintf(errbuf, errlen, "dataset %s/%s is Failed: %s", ns, name, reason);
			goto out;
		}
		r = plan_source(l, gr.source, p, errbuf, errlen);
		if (r < 0)
			goto out;
		snprintf(p->subpath, sizeof(p->subpath), "%s", gr.ref.subpath);
		p->read_write = gr.rw;
		plan_owner(&ds->dataset.spec.owner, &p->uid, &p->gid);
	} else {
		if (ds->dataset.status.phase == DATASET_PHASE_FAILED) {
			snprintf(errbuf, errlen, "dataset %s/%s is Failed: %s", ns, name,
				 failed_message(ds));
			r = -EIO;
			goto out;
		}
		r = plan_source(l, ds, p, errbuf, errlen);
		if (r < 0)
			goto out;
		p->read_write = false;
	}
	*ret = *p;
out:
	free(p);
	return r;
}

uint64_t mount_plan_sig_add(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

uint64_t mount_plan_sig(const struct mount_plan *p)
{
	uint64_t h = mount_plan_sig_add(MOUNT_PLAN_SIG_SEED, p->ufs_url, strlen(p->ufs_url) + 1);

	for (size_t i = 0; i < p->n_tiers; i++) {
		h = mount_plan_sig_add(h, p->tiers[i].medium, strlen(p->tiers[i].medium) + 1);
		h = mount_plan_sig_add(h, p->tiers[i].path, strlen(p->tiers[i].path) + 1);
		h = mount_plan_sig_add(h, &p->tiers[i].quota, sizeof(p->tiers[i].quota));
	}
	h = mount_plan_sig_add(h, &p->high, sizeof(p->high));
	h = mount_plan_sig_add(h, &p->cache_replicas, sizeof(p->cache_replicas));
	return mount_plan_sig_add(h, &p->low, sizeof(p->low));
}
