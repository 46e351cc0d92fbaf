/* SPDX-License-Identifier: Apache-2.0 */
/* Where the kube-apiserver is and how to prove who we are: a kubeconfig file's current context,
 * or a pod's service account. Certificates and keys end up in memory as PEM (libcurl takes them
 * as blobs), so a file named by a kubeconfig is read once, at load. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct kubeconfig {
	char server[1024];  /* "https://127.0.0.1:6443", no trailing "/" */
	char namespace[64]; /* the context's namespace, the pod's, else "default" */
	char *ca_pem;	    /* owned; NULL = the system's CAs */
	size_t ca_len;
	char *token;	/* owned bearer token; NULL when none */
	char *cert_pem; /* owned client certificate; NULL when none */
	size_t cert_len;
	char *key_pem; /* owned client key; NULL when none */
	size_t key_len;
	bool insecure; /* insecure-skip-tls-verify */
};

/* Parses kubeconfig text (name for messages; base_dir resolves relative file paths). Follows
 * current-context to its cluster and user; reads certificate-authority, client-certificate,
 * client-key and tokenFile files, decodes their -data forms. Returns 0 and fills *ret (clear with
 * kubeconfig_clear), or -EINVAL (malformed, missing entry, bad base64, unsupported auth such as
 * exec), -ENOENT/-EACCES (a named file), -E2BIG, -ENOMEM, with a message in errbuf. */
int kubeconfig_parse(const char *name, const char *buf, size_t len, const char *base_dir,
		     struct kubeconfig *ret, char *errbuf, size_t errlen);

/* Reads and parses the kubeconfig file at path. Same returns as kubeconfig_parse. */
int kubeconfig_load(const char *path, struct kubeconfig *ret, char *errbuf, size_t errlen);

/* In a pod: KUBERNETES_SERVICE_HOST/PORT and the service account's token, ca.crt and namespace
 * under sa_dir (NULL = /var/run/secrets/kubernetes.io/serviceaccount). Returns 0 and fills *ret;
 * -ENOENT when not in a pod (no KUBERNETES_SERVICE_HOST or no token), other -errno with a
 * message. */
int kubeconfig_in_cluster(const char *sa_dir, struct kubeconfig *ret, char *errbuf, size_t errlen);

/* Frees what *kc owns and zeroes it; accepts a zeroed struct. */
void kubeconfig_clear(struct kubeconfig *kc);

/* Decodes standard base64 (whitespace ignored). Returns 0 and an owned NUL-terminated *ret
 * (length in *ret_len), -EINVAL for bad input, -ENOMEM. */
int kubeconfig_base64_decode(const char *in, char **ret, size_t *ret_len);
