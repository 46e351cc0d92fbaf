/* SPDX-License-Identifier: Apache-2.0 */
/* A small kube-apiserver REST client over libcurl + json-c: JSON requests with a bearer token or
 * a client certificate, HTTP statuses mapped to -errno in one place (kube_status_errno), and the
 * watch stream (newline-delimited JSON events, bookmarks, 410 Gone). One client per thread: a
 * client is not thread-safe, and a watch occupies it. */
#pragma once

#include <json-c/json.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kubeconfig.h"

/* What 410 Gone maps to: the resourceVersion asked for is too old; list again. */
#define KUBE_EGONE ESTALE

struct kube_client;

/* A client for kc's server and credentials (copied). Returns 0 and an owned *ret, or -ENOMEM. */
int kube_client_new(const struct kubeconfig *kc, struct kube_client **ret);

/* Frees a client; accepts NULL. */
void kube_client_free(struct kube_client *c);

/* Maps an HTTP status and the apiserver's Status reason to -errno: 2xx 0, 400/422 -EINVAL,
 * 401 -EACCES, 403 -EPERM, 404 -ENOENT, 409 -EEXIST (AlreadyExists) or -EAGAIN (Conflict),
 * 410 -KUBE_EGONE, 429 -EBUSY, 5xx -EIO (503 -EAGAIN), anything else -EPROTO. */
int kube_status_errno(long http, const char *reason);

/* One request: method "GET", "POST", "PUT", "PATCH" (a JSON merge patch), "DELETE"; path
 * "/apis/..." with its query; body borrowed (NULL = none). Returns 0 and an owned *ret (NULL
 * when the reply had no JSON body; ret may be NULL to discard it), or -errno
 * (kube_status_errno, or -ECONNREFUSED/-ETIMEDOUT/-EPROTO for transport failures) with the
 * apiserver's message, or curl's, in errbuf. Timeout 30 s. */
int kube_request(struct kube_client *c, const char *method, const char *path, json_object *body,
		 json_object **ret, char *errbuf, size_t errlen);

/* Formats epoch seconds as a MicroTime ("2026-12-02T18:24:43.000000Z"), as Lease fields want.
 * Writes buf. */
void kube_micro_time(int64_t t, char *buf, size_t len);

/* Called for each ADDED, MODIFIED or DELETED event; obj borrowed. A negative return stops
 * the watch with that value. */
typedef int (*kube_event_fn)(void *arg, const char *type, json_object *obj);

/* The incremental parser of a watch stream, fed whatever a read returned: events may be split
 * anywhere, several may arrive in one read. BOOKMARK events only move resource_version. */
struct kube_watch_parser {
	kube_event_fn fn;
	void *arg;
	char resource_version[64]; /* of the last event or bookmark seen */
	struct json_tokener *tok;
	size_t pending;	   /* bytes of the event being parsed so far */
	char message[512]; /* an ERROR event's message */
};

/* Prepares p to start from resource_version rv (may be ""). Returns 0 or -ENOMEM. */
int kube_watch_parser_init(struct kube_watch_parser *p, const char *rv, kube_event_fn fn,
			   void *arg);

/* Parses len bytes. Returns 0; -KUBE_EGONE for an ERROR event with code 410 (list again);
 * -EIO for another ERROR event (message in p->message); -EPROTO for malformed JSON or an event
 * without type/object; -E2BIG for an event over 16 MiB; or the callback's negative value. */
int kube_watch_parser_feed(struct kube_watch_parser *p, const char *data, size_t len);

void kube_watch_parser_clear(struct kube_watch_parser *p);

/* Watches path (a collection, maybe with a labelSelector query) from resource version rv with
 * bookmarks, for at most timeout_s seconds (the server ends the stream then). *stop is polled about
 * once a second. Returns 0 when the stream ended (watch again from p->resource_version), -ECANCELED
 * when *stop was set, or one of kube_watch_parser_feed's / kube_request's errors. */
int kube_watch(struct kube_client *c, const char *path, struct kube_watch_parser *p, int timeout_s,
	       atomic_bool *stop, char *errbuf, size_t errlen);
