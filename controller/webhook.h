/* SPDX-License-Identifier: Apache-2.0 */
/* The validating admission webhook: Kubernetes asks it before deleting a Dataset or a Runtime,
 * and it refuses, with `weir delete`'s message, what another Dataset still references. Served
 * over HTTPS (libmicrohttpd) from the store's cache, by every replica, leader or not. */
#pragma once

#include <json-c/json.h>
#include <stddef.h>

struct controller;
struct webhook;

/* Serves AdmissionReview v1 POSTs on path at listen ("HOST:PORT", IPv4) with the PEM
 * certificate and key files. Returns 0 and an owned *ret, or -errno with a message. */
int webhook_start(struct controller *ctl, const char *listen, const char *cert_file,
		  const char *key_file, const char *path, struct webhook **ret, char *errbuf,
		  size_t errlen);

/* Same with the certificate and key as PEM text (copied). */
int webhook_start_pem(struct controller *ctl, const char *listen, const char *cert_pem,
		      const char *key_pem, const char *path, struct webhook **ret, char *errbuf,
		      size_t errlen);

#define WEBHOOK_CONFIG_NAME "weir-controller"

struct kubeconfig;

/* Adds (or replaces) this replica's entry, "<identity>.delete.weir.data.fluid.io", in the
 * ValidatingWebhookConfiguration "weir-controller" that all replicas share: Dataset and Runtime
 * deletes go to url, trusting ca_pem (each replica's own CA), failurePolicy Ignore (the
 * finalizer still holds a delete while no controller answers). Other replicas' entries stay, so
 * no registration overwrites another's CA; the apiserver asks every entry and any refusal
 * refuses. Network I/O: call with no lock held. Returns 0 or -errno with the apiserver's
 * message. */
int webhook_register(const struct kubeconfig *kc, const char *identity, const char *url,
		     const char *ca_pem, char *errbuf, size_t errlen);

/* Takes this replica's entry out (a clean stop), leaving the others. Returns 0 or -errno. */
int webhook_unregister(const struct kubeconfig *kc, const char *identity, char *errbuf,
		       size_t errlen);

/* The configuration to write: cur (the one read, NULL when absent) with identity's entry
 * replaced by one for url and ca_b64 (base64 PEM), or removed when url is NULL; cur's metadata
 * (resourceVersion) kept. Returns 0 and an owned *ret, or -ENOMEM. Pure; exposed for tests. */
int webhook_config_merge(json_object *cur, const char *identity, const char *url,
			 const char *ca_b64, json_object **ret);

/* Stops serving; accepts NULL. */
void webhook_stop(struct webhook *w);

/* Answers one AdmissionReview (request text, len bytes). Returns 0 and an owned *ret_json
 * (the AdmissionReview with its response), or -EINVAL for a body that is not one. Takes the
 * controller's lock to read the store. */
int webhook_review(struct controller *ctl, const char *body, size_t len, char **ret_json);
