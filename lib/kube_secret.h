/* SPDX-License-Identifier: Apache-2.0 */
/* A key's value out of a v1 Secret: from its clear `data` tree (base64 values), or fetched from
 * the apiserver by name (GET, no list or watch). weir-controller uses both; weir-node, in a
 * cluster, reads the keys an s3:// source's encryptOptions name when it opens the source. What
 * must stay true: no value is logged or put in a message; callers explicit_bzero what they get. */
#pragma once

#include <json-c/json.h>
#include <stddef.h>

struct kube_client;

/* The value of key in data (a Secret's `data`, base64 values). Returns its length and an owned
 * NUL-terminated *ret, or -ENOENT (no such key), -EINVAL (not text), ... with errbuf naming the
 * Secret (ns/name) and key, never a value. */
long secret_data_value(json_object *data, const char *ns, const char *name, const char *key,
		       char **ret, char *errbuf, size_t errlen);

/* GETs Secret ns/name from the apiserver and returns key's value as secret_data_value does;
 * -ENOENT with a message when the Secret is not there. A round trip: hold no lock. */
long kube_secret_value(struct kube_client *kc, const char *ns, const char *name, const char *key,
		       char **ret, char *errbuf, size_t errlen);

/* GETs Secret ns/name and copies its metadata.resourceVersion (which changes whenever its data
 * does: a rotation) into ret. Returns 0, or -ENOENT / -errno with errbuf naming the Secret. A
 * round trip: hold no lock. */
int kube_secret_version(struct kube_client *kc, const char *ns, const char *name, char *ret,
			size_t retlen, char *errbuf, size_t errlen);
