/* SPDX-License-Identifier: Apache-2.0 */
/* A DataLoad spread over the nodes that cache its Dataset: each node loads the blocks whose
 * rendezvous owner (rendezvous.h) among those nodes is itself, and reports its share in its Lease
 * (annotation weir.io/loads, keyed by the DataLoad's uid). The leader controller adds the shares
 * up. Pure functions; see docs/kubernetes.md. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOAD_SHARE_ANNOTATION "weir.io/loads"
/* A DataLoad is spread over at most this many nodes: of more, the ones with the smallest names
 * (store_kube_source_nodes); the others hold no share. */
#define LOAD_SHARE_MAX_NODES 32

/* One node's report of its share of one run of a DataLoad. */
struct load_share {
	char node[254];
	char run[48]; /* the run: the DataLoad's status.startTime as the controller wrote it */
	size_t n_nodes;
	char nodes[LOAD_SHARE_MAX_NODES]
		  [254]; /* the node set the share was computed over, sorted */
	uint64_t bytes_done, bytes_total, files_done, files_total;
	uint64_t
	    ufs_bytes; /* fetched from the UFS by this share: a file loaded twice counts twice */
	bool finished;
	char error[512]; /* "" or why the share failed */
	/* The plan's fingerprint (LOAD_SHARE_PLAN_HEX hex digits of the SHA-256 over the node set
	 * and the sorted files' paths and sizes: daemon/loader.c), "" until the node planned.
	 * Shares with the same fingerprint computed the same plan, so every block has a fetcher;
	 * shares with different ones listed different trees and may leave blocks to nobody. */
	char plan[65];
};
#define LOAD_SHARE_PLAN_HEX 64

/* The JSON of a report (without the node, which the Lease names): {"run":..,"nodes":[..],
 * "bytesDone":n,"bytesTotal":n,"filesDone":n,"filesTotal":n,"ufsBytes":n,"finished":b,
 * "error":".."}. Returns an owned object or NULL (out of memory). */
json_object *load_share_to_json(const struct load_share *s);

/* Parses one report of node; -EINVAL when a field is missing or of the wrong type (with the
 * field named in errbuf), -E2BIG when it lists more than LOAD_SHARE_MAX_NODES nodes. */
int load_share_from_json(json_object *o, const char *node, struct load_share *ret, char *errbuf,
			 size_t errlen);

/* Sorts names[0..n) and drops duplicates in place; returns the new count. */
size_t load_share_sort_nodes(char (*names)[254], size_t n);

enum load_share_state {
	LOAD_SHARE_WAITING,  /* no node runs a current share yet */
	LOAD_SHARE_RUNNING,  /* some shares run or are missing */
	LOAD_SHARE_COMPLETE, /* every node of the set finished its share of this set */
	LOAD_SHARE_FAILED,   /* a share failed */
};

struct load_share_total {
	enum load_share_state state;
	unsigned shares, finished; /* current shares reported, and finished among them */
	uint64_t bytes_done, bytes_total, files_done, files_total, ufs_bytes;
	char error[800]; /* "node-2: \"/a/b\": Connection refused" for FAILED */
};

/* Adds up the reports r[0..n) of run over the node set nodes[0..n_nodes) (the nodes whose Lease
 * is fresh and which cache the source). A report counts when it is of this run and its node is in
 * the set; its figures count when it was computed over this very set (a share of an older set
 * is being redone). COMPLETE needs a finished, error-free report of this set from every node in
 * it, all with one plan fingerprint; FAILED takes the first error in node order, or, when two
 * finished shares of this set carry different plans (they listed different trees: a file
 * changed or a listing was stale, so some blocks may have had no fetcher), names both nodes. An
 * empty set is WAITING. */
void load_share_total(const char *run, const char (*nodes)[254], size_t n_nodes,
		      const struct load_share *r, size_t n, struct load_share_total *ret);
