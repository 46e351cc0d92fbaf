/* SPDX-License-Identifier: Apache-2.0 */
/* The controller's Secrets: how the embedded store keeps them (data sealed by secret_box in the
 * annotation SECRETS_SEALED_ANNOTATION, every value in `data` null), how they are shown (the
 * sealed annotation dropped: keys only), and how a Dataset's encryptOptions find their values
 * at source-open time, from the Dataset's own namespace only. What must stay true: no clear
 * value is stored, logged, or put in a message; callers wipe what secrets_value returns. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "objmodel.h"
#include "secret_box.h"
#include "store.h"

#define SECRETS_SEALED_ANNOTATION "weir.io/sealed-data"

struct kube_client;

/* The JSON to store for Secret obj (clear data inside): its data sealed for "Secret/ns/name",
 * the values nulled, creation time kept from existing (the stored JSON, or NULL). Sets
 * *ret_unchanged when existing holds the same object and data. Returns 0 and an owned *ret_text,
 * or -EINVAL (obj is redacted: errbuf says so) / -EIO / -ENOMEM. */
int secrets_stored_json(const struct secret_box *box, const struct objmodel *obj,
			const char *existing, int64_t now, char **ret_text, bool *ret_unchanged,
			char *errbuf, size_t errlen);

/* Rewrites a stored Secret's JSON for showing: the sealed annotation removed. Returns an owned
 * string or NULL (ENOMEM, or not JSON). */
char *secrets_shown_json(const char *stored);

/* Where secrets_value looks: the embedded store (with its box; take lock around store calls),
 * or the apiserver through kc (GET, no lock held: a round trip). */
struct secrets_source {
	struct store *store;
	const struct secret_box *box;
	pthread_mutex_t *lock; /* the controller's, held around store calls only */
	struct kube_client *kc;
};

/* The value of key in Secret ns/name. Returns its length and an owned NUL-terminated *ret
 * (explicit_bzero it before free()), or -ENOENT (no such Secret or key), -EBADMSG (cannot be
 * unsealed), -EACCES (the apiserver refused), -EINVAL (a value is not text), ... with errbuf
 * naming the Secret, key and namespace, never a value. */
long secrets_value(const struct secrets_source *src, const char *ns, const char *name,
		   const char *key, char **ret, char *errbuf, size_t errlen);
