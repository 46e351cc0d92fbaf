/* SPDX-License-Identifier: Apache-2.0 */
/* The controller's decisions that need no node: loading the stored objects, resolving
 * references and grants, datasetRef bookkeeping, delete refusal, and how a Dataset is served
 * (its source id, UFS URL, subpath, tiers). Pure functions over a list the caller owns. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "grant.h"
#include "objmodel.h"
#include "store.h"

#define RECONCILE_MAX_TIERS 4

/* Loads every stored object of kind (NULL = all kinds). Returns 0 and an owned *ret
 * (objmodel_list_free), or -errno with errbuf naming the object that does not parse. */
int reconcile_load(struct store *st, const char *kind, struct objmodel_list **ret, char *errbuf,
		   size_t errlen);

/* The object of kind ns/name in l (borrowed), or NULL. */
struct objmodel *reconcile_find(const struct objmodel_list *l, enum objmodel_kind kind,
				const char *ns, const char *name);

/* The stable id of a source Dataset's cache on the node: "<ns>_<name>". Writes buf. */
char *reconcile_source_id(const char *ns, const char *name, char *buf, size_t len);

/* Resolves the reference Dataset ds against l (grant_resolve with deny_by_default). On failure
 * puts ds in phase Failed with a condition giving the reason (changing it only when the reason
 * changed) and returns grant_resolve's -errno; 0 and *ret on success. */
int reconcile_reference(struct objmodel *ds, const struct objmodel_list *l, bool deny_by_default,
			struct grant_result *ret, int64_t now);

/* Rebuilds status.datasetRef of every source Dataset in l from the references in l that resolve
 * to it. Returns 0 or -ENOMEM. */
int reconcile_dataset_refs(struct objmodel_list *l, bool deny_by_default);

/* May Dataset target be deleted? Computes its references from l (not from its possibly stale
 * status). Returns 0, or -EBUSY with a message naming them, or -ENOMEM. */
int reconcile_delete_check(const struct objmodel_list *l, const struct objmodel *target,
			   bool deny_by_default, char *errbuf, size_t errlen);

/* One credential of an S3 source: key of Secret secret in the source's namespace ("" = none). */
struct plan_key_ref {
	char secret[254];
	char key[254];
};

/* How a Dataset is served: the source's cache and the view's root inside it. */
struct mount_plan {
	char source_ns[64];
	char source_name[254];
	char source_id[320];
	char ufs_url[4096];
	char subpath[4096]; /* "" = the whole source */
	bool read_write;
	/* Owner of the view's files where the UFS has none (HTTP): the Dataset's spec.owner (a
	 * reference's own, else its source's); user/group names resolved on this machine. */
	uint32_t uid, gid;
	bool credentials; /* the source needs credentials (encryptOptions) */
	/* An s3:// source's keys from its Dataset's encryptOptions (aws.accessKeyId, aws.secretKey,
	 * aws.sessionToken): references only, resolved when the source is opened (secrets.h). */
	struct plan_key_ref access_key, secret_key, session_token;
	size_t n_tiers;
	struct {
		char medium[8]; /* "mem", "ssd", "hdd" */
		char path[4096];
		uint64_t quota;
	} tiers[RECONCILE_MAX_TIERS];
	double high, low;
};

/* Plans the Dataset ns/name: a source with its Runtime, or a reference through its source.
 * Returns 0 and fills *ret; -ENOENT (no such Dataset, or no Runtime yet), -EACCES/-ELOOP/-EINVAL
 * (the reference fails), -EIO (the Dataset is Failed), each with a message for the user. */
int reconcile_mount_plan(const struct objmodel_list *l, const char *ns, const char *name,
			 bool deny_by_default, struct mount_plan *ret, char *errbuf, size_t errlen);

/* Joins a subpath prefix ("" or "/a") and a path ("/b", "b", "/") into a normalized path
 * ("/a/b"; "/" for the root). Returns 0 or -EINVAL / -ENAMETOOLONG. */
int reconcile_join_path(const char *prefix, const char *path, char *buf, size_t len);
