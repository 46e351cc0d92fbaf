/* SPDX-License-Identifier: Apache-2.0 */
/* weir's object model: Fluid's data.fluid.io/v1alpha1 Dataset, AlluxioRuntime (and weir's own
 * Runtime), DataLoad, and v1 Namespace. Parsed from YAML, validated, serialized to JSON/YAML.
 * Pure logic: no I/O except reading the manifest file; no global state; every call reentrant
 * (numbers are read and written with the C library, so keep LC_NUMERIC at "C").
 *
 * Beyond Fluid, a source Dataset may carry an allow-list for cross-namespace references:
 *
 *   spec:
 *     sharing:
 *       allow:
 *       - namespace: production     # a namespace, or "*" for every namespace
 *         mode: ro                  # ro (default) or rw
 *         subPaths: ["/spark-3.3.1"] # optional; absent = the whole dataset
 *
 * No `sharing.allow` at all: any namespace may reference the dataset, read-only (as in Fluid),
 * unless the controller denies by default. An empty list (`allow: []`) grants nobody.
 * See grant.h for the rules.
 *
 * Fields of Fluid's kinds that weir does not use are accepted, kept (they round-trip through
 * JSON and YAML) and reported as warnings ("spec.fuse: ignored by weir"); fields unknown to
 * Fluid are rejected (`unknown field "quoat"`). A manifest's status is parsed too (stored objects
 * carry one); on apply the controller keeps its own. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "secret.h"

#define OBJMODEL_API_FLUID "data.fluid.io/v1alpha1"
#define OBJMODEL_API_CORE "v1"
#define OBJMODEL_DEFAULT_NAMESPACE "default"
#define OBJMODEL_DATASET_SCHEME "dataset://"
/* Why a Runtime's replicas: 0 is refused (validation and mount plans say it alike). */
#define OBJMODEL_REPLICAS_ZERO                                                                   \
	"spec.replicas: 0 is refused: in Fluid it scales the Runtime's cache workers to none, "    \
	"so no node caches the Dataset, and weir has no Runtime without a cache; give how many "  \
	"nodes cache it, 1 or more (the node count or more: every node)"

enum objmodel_kind {
	OBJMODEL_NAMESPACE,
	OBJMODEL_DATASET,
	OBJMODEL_RUNTIME, /* kind "Runtime" or "AlluxioRuntime"; see objmodel.kind_name */
	OBJMODEL_DATALOAD,
	OBJMODEL_SECRET, /* v1 Secret: its data (lib/secret.h), redacted when read back */
};

/* A string map in insertion order (labels, annotations, mount options). */
struct kvmap_entry {
	char *key;
	char *value;
};

struct kvmap {
	size_t n;
	struct kvmap_entry *items;
};

struct objmeta {
	char *name;
	char *namespace;    /* "default" when the manifest omits it; NULL for a Namespace */
	bool namespace_set; /* the manifest named it (see objmodel_set_default_namespace) */
	struct kvmap labels;
	struct kvmap annotations;
	int64_t creation_timestamp; /* seconds since the epoch; 0 = not set */
	char *uid;		    /* NULL when not set */
	char *resource_version;	    /* NULL when not set */
};

/* status.conditions[] of a Dataset or DataLoad. */
struct condition {
	char *type;
	char *status; /* "True", "False" or "Unknown" */
	char *reason;
	char *message;
	int64_t last_transition_time; /* seconds since the epoch; 0 = not set */
};

struct conditions {
	size_t n;
	struct condition *items;
};

/* ---- Dataset ---- */

struct encrypt_option {
	char *name;
	char *secret_name; /* valueFrom.secretKeyRef.name */
	char *secret_key;  /* valueFrom.secretKeyRef.key */
};

struct dataset_mount {
	char *mount_point; /* required: https://..., s3://..., local:///..., dataset://ns/name[/sub]
			    */
	char *name;	   /* NULL when absent */
	char *path;	   /* NULL when absent */
	struct kvmap options;
	size_t n_encrypt_options;
	struct encrypt_option *encrypt_options;
	bool read_only;
	bool shared;
};

enum grant_mode {
	GRANT_RO,
	GRANT_RW,
};

/* spec.sharing.allow[] */
struct sharing_grant {
	char *namespace; /* or "*" */
	enum grant_mode mode;
	size_t n_sub_paths; /* 0 = the whole dataset */
	char **sub_paths;   /* normalized: leading "/", no trailing "/", no "." or ".." */
};

struct dataset_owner {
	bool set;
	bool uid_set, gid_set;
	int64_t uid, gid;
	char *user;
	char *group;
};

struct dataset_spec {
	size_t n_mounts;
	struct dataset_mount *mounts;
	size_t n_access_modes;
	char **access_modes; /* ReadOnlyMany, ReadWriteMany, ReadWriteOnce, ReadOnlyOnce... */
	struct dataset_owner owner;
	char *placement; /* "Exclusive" or "Shared"; NULL when absent */
	struct kvmap shared_options;
	size_t n_shared_encrypt_options;
	struct encrypt_option *shared_encrypt_options;
	bool has_allow_list; /* spec.sharing.allow present (even empty) */
	size_t n_allow;
	struct sharing_grant *allow;
};

enum dataset_phase {
	DATASET_PHASE_NONE, /* not reconciled yet: printed as "" */
	DATASET_PHASE_NOT_BOUND,
	DATASET_PHASE_BOUND,
	DATASET_PHASE_FAILED,
};

struct dataset_status {
	enum dataset_phase phase;
	bool ufs_total_known;
	uint64_t ufs_total; /* bytes */
	bool cache_known;   /* cached/cache_capacity meaningful (a runtime is bound) */
	uint64_t cached;    /* bytes */
	uint64_t cache_capacity;
	bool hit_ratio_known;
	double cache_hit_ratio; /* 0..1 */
	bool file_num_known;
	uint64_t file_num;
	/* How the cache is spread over the nodes (Kubernetes: the nodes' Leases): how many nodes
	 * hold some of it, and the least and most one of them holds. */
	bool spread_known;
	uint32_t cache_nodes;
	uint64_t node_cached_min, node_cached_max; /* bytes */
	struct conditions conditions;
	size_t n_dataset_ref;
	char **dataset_ref; /* "namespace/name" of each Dataset referencing this one */
	/* weir's, on Kubernetes, of a source: the nodes that hold a view of it (a pod scheduled
	 * there mounts this Dataset or a reference to it) or run a share of a DataLoad of it,
	 * sorted; written by weir-controller only. A node serves this source's blocks only to
	 * these (daemon/view_grants.h). */
	size_t n_view_nodes;
	char **view_nodes;
};

struct dataset {
	struct dataset_spec spec;
	struct dataset_status status;
};

/* ---- Runtime ---- */

enum medium_type {
	MEDIUM_MEM,
	MEDIUM_SSD,
	MEDIUM_HDD,
};

struct tier_level {
	enum medium_type medium;
	char *path;
	uint64_t quota; /* bytes */
	double high;	/* watermarks in [0, 1], low <= high; default 0.95 / 0.7 */
	double low;
};

enum runtime_phase {
	RUNTIME_PHASE_NONE,
	RUNTIME_PHASE_NOT_READY,
	RUNTIME_PHASE_READY,
	RUNTIME_PHASE_FAILED,
};

struct runtime {
	int32_t replicas; /* default 1 */
	size_t n_levels;
	struct tier_level *levels;
	struct {
		enum runtime_phase phase;
		uint64_t cache_capacity;
		uint64_t cached;
	} status;
};

/* ---- DataLoad ---- */

struct dataload_target {
	char *path;
	int32_t replicas; /* 0 = not set */
};

enum dataload_policy {
	DATALOAD_ONCE,
	DATALOAD_CRON,
};

enum dataload_phase {
	DATALOAD_PHASE_NONE,
	DATALOAD_PHASE_PENDING,
	DATALOAD_PHASE_EXECUTING,
	DATALOAD_PHASE_COMPLETE,
	DATALOAD_PHASE_FAILED,
};

struct dataload {
	struct {
		char *dataset_name;
		char *dataset_namespace;    /* defaults to the DataLoad's namespace */
		bool dataset_namespace_set; /* the manifest named it */
		size_t n_targets;
		struct dataload_target *targets; /* empty = the whole dataset */
		bool load_metadata;
		enum dataload_policy policy;
		char *schedule; /* required for Cron, rejected for Once */
	} spec;
	struct {
		enum dataload_phase phase;
		int64_t duration; /* seconds; meaningful once Complete or Failed */
		int64_t start_time, completion_time; /* epoch seconds; 0 = not set */
		uint64_t bytes_done, bytes_total;
		uint64_t files_done, files_total;
		struct conditions conditions;
	} status;
};

/* ---- the object ---- */

struct objmodel {
	enum objmodel_kind kind;
	char *kind_name;   /* as written: "Dataset", "AlluxioRuntime", "Runtime", ... */
	char *api_version; /* as written */
	struct objmeta meta;
	size_t n_warnings;
	char **warnings;      /* "spec.fuse: ignored by weir" */
	json_object *ignored; /* private: ignored fields by path, put back on serialization */
	union {
		struct dataset dataset;
		struct runtime runtime;
		struct dataload dataload;
		struct secret secret;
	};
};

struct objmodel_list {
	size_t n;
	struct objmodel **items;
};

/* Reads a manifest file (at most YAMLTREE_MAX_BYTES) and parses every document in it, all or
 * nothing. Returns the number of objects (>= 0) and an owned *ret_list (free with
 * objmodel_list_free), or -errno with errbuf naming the file, document and field:
 * `dataset.yaml: document 2 (AlluxioRuntime development/spark): spec.tieredstore.levels[0].quota:
 * bad quantity "4Gx"`. -ENOENT/-EACCES for the file, -E2BIG for limits, -EINVAL otherwise. */
int objmodel_parse_file(const char *path, struct objmodel_list **ret_list, char *errbuf,
			size_t errlen);

/* Same as objmodel_parse_file on a buffer; name is used in messages (e.g. "-" or a path). */
int objmodel_parse_buffer(const char *name, const char *buf, size_t len,
			  struct objmodel_list **ret_list, char *errbuf, size_t errlen);

/* Frees a list and its objects; accepts NULL. */
void objmodel_list_free(struct objmodel_list *list);

/* Returns a new empty object of kind (kind_name "Runtime" for OBJMODEL_RUNTIME) with defaults
 * set and name/namespace duplicated (namespace ignored for a Namespace), or NULL on ENOMEM. */
struct objmodel *objmodel_new(enum objmodel_kind kind, const char *ns, const char *name);

/* Frees an object; accepts NULL. */
void objmodel_free(struct objmodel *obj);

/* kubectl's `-n NS` for a parsed manifest: an object whose manifest named no namespace moves to
 * ns (and so does a DataLoad's defaulted spec.dataset.namespace). Returns 0 (also for a
 * Namespace, or when the manifest named ns itself); -EINVAL when the manifest named another
 * namespace or ns is not a valid name, with a message like kubectl's; -ENOMEM. */
int objmodel_set_default_namespace(struct objmodel *obj, const char *ns, char *errbuf,
				   size_t errlen);

/* Deep copy (through JSON). Returns 0 and an owned *ret, or -ENOMEM. */
int objmodel_dup(const struct objmodel *obj, struct objmodel **ret);

/* Checks every rule that needs no other object: names, required fields, watermarks, mount
 * schemes, the reference rules (one dataset:// mount, no other spec fields). Parsing already
 * calls it; call it again after changing an object. Returns 0 or -EINVAL with errbuf naming the
 * field ("spec.mounts[1].mountPoint: ..."). */
int objmodel_validate(const struct objmodel *obj, char *errbuf, size_t errlen);

/* Serializes the whole object, status included, as a json-c tree. Returns 0 and an owned
 * *ret (json_object_put), or -ENOMEM. */
int objmodel_to_json(const struct objmodel *obj, json_object **ret);

/* Serializes to a JSON string (pretty when pretty). Returns 0 and an owned *ret_text (free()),
 * or -ENOMEM. */
int objmodel_to_json_string(const struct objmodel *obj, bool pretty, char **ret_text);

/* Parses one object from JSON text as written by objmodel_to_json_string. Returns 0 and an
 * owned *ret, or -EINVAL/-E2BIG/-ENOMEM with a message. */
int objmodel_from_json(const char *text, struct objmodel **ret, char *errbuf, size_t errlen);

/* Same from a json-c tree (borrowed). */
int objmodel_from_json_object(json_object *obj, struct objmodel **ret, char *errbuf, size_t errlen);

/* Renders the object as YAML (for `-o yaml`). Returns 0 and an owned *ret_text (free()). */
int objmodel_to_yaml(const struct objmodel *obj, char **ret_text);

/* Wraps objects as kubectl's `get -o json|yaml` does for a listing: {"apiVersion": "v1",
 * "items": [...], "kind": "List", "metadata": {"resourceVersion": ""}}. Returns 0 and an owned
 * *ret (json_object_put), or -ENOMEM. Render it with json-c or yamltree_emit_json. */
int objmodel_list_to_json(struct objmodel *const *objs, size_t n, json_object **ret);

/* Display names: "Dataset", "NotBound"/"Bound"/"Failed"/"" , "MEM", "Pending"/..., "Once". */
const char *objmodel_kind_name(enum objmodel_kind kind);
const char *dataset_phase_name(enum dataset_phase phase);
const char *runtime_phase_name(enum runtime_phase phase);
const char *dataload_phase_name(enum dataload_phase phase);
const char *medium_type_name(enum medium_type m);

/* Where mount i appears in the Dataset's view, as Fluid places it: its path when set, "/" for
 * the only mount, else "/<name>". Writes buf and returns it. */
char *dataset_mount_path(const struct dataset_spec *spec, size_t i, char *buf, size_t len);

/* True when the Dataset's (first) mount is a dataset:// reference. */
bool dataset_is_reference(const struct objmodel *obj);

/* A parsed dataset://<namespace>/<name>[/<subpath>] mount point. */
struct dataset_ref {
	char namespace[64];
	char name[254];
	char subpath[4096]; /* "" for the whole dataset, else normalized "/a/b" */
};

struct aws_s3_options;
/* The S3 settings of spec.mounts[i] (an s3:// mountPoint): its options over sharedOptions, in
 * Fluid's names or weir's (see aws_s3_options_from_pairs). Strings in *ret borrow from spec.
 * Returns 0, or -EINVAL with a message naming the option, -ENOMEM. */
int dataset_mount_s3_options(const struct dataset_spec *spec, size_t i, struct aws_s3_options *ret,
			     char *errbuf, size_t errlen);

/* Parses a dataset:// mount point. Returns 0 and fills *ret, or -EINVAL with errbuf saying what
 * is wrong (bad scheme, missing name, "..", bad characters). */
int dataset_ref_parse(const char *mount_point, struct dataset_ref *ret, char *errbuf,
		      size_t errlen);

/* Normalizes a subpath: "" or "/" → "", "spark-3.3.1/" → "/spark-3.3.1". Rejects "." and ".."
 * components and control characters. Returns 0 and writes buf, or -EINVAL / -ENAMETOOLONG. */
int objmodel_subpath_normalize(const char *in, char *buf, size_t len);

/* Puts a Dataset's status in phase Failed with condition Ready=False, reason (a CamelCase
 * word, e.g. "ReferenceDenied") and message (e.g. grant_check's reason). Returns 0 or
 * -ENOMEM. */
int dataset_status_fail(struct dataset_status *st, const char *reason, const char *message,
			int64_t now);

/* Sets (replacing one of the same type) a condition; strings are duplicated. Returns 0 or
 * -ENOMEM. */
int conditions_set(struct conditions *c, const char *type, const char *status, const char *reason,
		   const char *message, int64_t now);

/* Formats epoch seconds as RFC 3339 UTC ("2026-11-29T20:13:36Z") into buf; returns buf. */
char *objmodel_format_time(int64_t t, char *buf, size_t len);

/* Parses RFC 3339 ("2026-11-29T20:13:36Z", offsets and fractions accepted). Returns 0 or
 * -EINVAL. */
int objmodel_parse_time(const char *s, int64_t *ret);

/* ---- status arithmetic ---- */

/* Formats cachedPercentage: cached / ufsTotal with one decimal ("38.4%"), "0.0%" when the total
 * is 0, capped at "100.0%". Returns buf. */
char *dataset_cached_percentage(const struct dataset_status *st, char *buf, size_t len);

/* What a SubDataset sees of its source: the totals of its subtree. */
struct subtree_totals {
	bool ufs_total_known;
	uint64_t ufs_total;
	uint64_t cached;
	bool file_num_known;
	uint64_t file_num;
};

/* Makes a referencing Dataset's status mirror its source's (phase, cache capacity, hit ratio,
 * and UFS total, cached bytes and file count, taken from sub instead when it is a SubDataset).
 * Leaves dst's conditions and datasetRef alone; the caller sets Failed with a reason when a
 * grant is denied. */
void dataset_status_mirror(struct dataset_status *dst, const struct dataset_status *src,
			   const struct subtree_totals *sub);

/* A list of strings kept sorted (status.datasetRef, status.viewNodes): adds a copy of s unless it
 * is there already. Returns 0 or -ENOMEM (the list unchanged). */
int strv_add_sorted(char ***v, size_t *n, const char *s);
/* Frees the strings v[0..n) and v. */
void strv_free(char **v, size_t n);

/* Adds "ns/name" to a source's status.datasetRef, once (kept sorted). Returns 0 or -ENOMEM. */
int dataset_status_add_ref(struct dataset_status *st, const char *ns, const char *name);

/* Removes "ns/name" from status.datasetRef; returns 1 if it was there, 0 if not. */
int dataset_status_remove_ref(struct dataset_status *st, const char *ns, const char *name);

/* ---- runtimes ---- */

/* Total cache capacity of a runtime: the sum of its tiers' quotas. */
uint64_t runtime_capacity(const struct runtime *rt);

/* May runtime rt bind to Dataset ds? A Runtime binds to the Dataset of the same namespace and
 * name, which must not be a dataset:// reference (a reference uses its source's cache). Returns
 * 0, -ENOENT (ds is NULL or another object: the runtime waits for its Dataset) or -EINVAL (ds
 * is a reference), with the reason in errbuf. */
int runtime_bind_check(const struct objmodel *rt, const struct objmodel *ds, char *errbuf,
		       size_t errlen);

/* The object of kind ns/name in l (borrowed), or NULL. */
struct objmodel *objmodel_list_find(const struct objmodel_list *l, enum objmodel_kind kind,
				    const char *ns, const char *name);
