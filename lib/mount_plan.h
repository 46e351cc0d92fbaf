/* SPDX-License-Identifier: Apache-2.0 */
/* How a (namespace, dataset) is served: a reference's grant checked against its source, then the
 * source's cache id, UFS URL, the view's root and the Runtime's tiers. Pure functions over a list
 * the caller owns; weir-controller plans with it and so does weir-node, which answers weir-csi's
 * plan requests itself in a cluster. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "grant.h"
#include "objmodel.h"

#define MOUNT_PLAN_MAX_TIERS 4

/* The stable id of a source Dataset's cache on the node: "<ns>_<name>". Writes buf. */
char *mount_plan_source_id(const char *ns, const char *name, char *buf, size_t len);
/* The namespace of the Dataset whose source id is id, written to buf; NULL (buf unspecified)
 * for an id that is no Dataset's (a plain mount's: its URL's hash). */
const char *mount_plan_source_ns(const char *id, char *buf, size_t len);

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
	} tiers[MOUNT_PLAN_MAX_TIERS];
	double high, low;
	uint32_t cache_replicas; /* the Runtime's replicas: its cache nodes in a cluster */
};

/* Plans the Dataset ns/name: a source with its Runtime, or a reference through its source.
 * Returns 0 and fills *ret; -ENOENT (no such Dataset, or no Runtime yet), -EACCES/-ELOOP/-EINVAL
 * (the reference fails), -EIO (the Dataset is Failed), each with a message for the user. */
int mount_plan_make(const struct objmodel_list *l, const char *ns, const char *name,
		    bool deny_by_default, struct mount_plan *ret, char *errbuf, size_t errlen);

/* A plan's signature: FNV-1a over what a SourceRequest for it asks (UFS URL, tiers, watermarks,
 * replicas), so weir-controller and weir-node agree on when a source must be opened again.
 * mount_plan_sig_add() folds n more bytes at p into h (start from MOUNT_PLAN_SIG_SEED), e.g.
 * the keys or a Secret's version, which the plan itself only names. */
#define MOUNT_PLAN_SIG_SEED 14695981039346656037ull
uint64_t mount_plan_sig_add(uint64_t h, const void *p, size_t n);
uint64_t mount_plan_sig(const struct mount_plan *p);

/* Joins a subpath prefix ("" or "/a") and a path ("/b", "b", "/") into a normalized path
 * ("/a/b"; "/" for the root). Returns 0 or -EINVAL / -ENAMETOOLONG. */
int mount_plan_join_path(const char *prefix, const char *path, char *buf, size_t len);
