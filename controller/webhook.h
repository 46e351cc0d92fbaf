/* SPDX-License-Identifier: Apache-2.0 */
/* The validating admission webhook: Kubernetes asks it before deleting a Dataset or a Runtime,
 * and it refuses, with `weir delete`'s message, what another Dataset still references. Served
 * over HTTPS (libmicrohttpd) from the store's cache, by every replica, leader or not. */
#pragma once

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

/* Creates or replaces ValidatingWebhookConfiguration "weir-controller" sending Dataset and
 * Runtime deletes to url, trusting ca_pem, failurePolicy Ignore (the finalizer still holds a
 * delete while no controller answers). Network I/O: call with no lock held. Returns 0 or
 * -errno with the apiserver's message. */
int webhook_register(const struct kubeconfig *kc, const char *url, const char *ca_pem, char *errbuf,
		     size_t errlen);

/* Stops serving; accepts NULL. */
void webhook_stop(struct webhook *w);

/* Answers one AdmissionReview (request text, len bytes). Returns 0 and an owned *ret_json
 * (the AdmissionReview with its response), or -EINVAL for a body that is not one. Takes the
 * controller's lock to read the store. */
int webhook_review(struct controller *ctl, const char *body, size_t len, char **ret_json);
