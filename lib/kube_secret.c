// SPDX-License-Identifier: Apache-2.0
#include "kube_secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube_client.h"
#include "secret.h"
#include "yamltree.h"

/* Finds key in a clear `data` tree (base64 values) and copies its value out. */
long secret_data_value(json_object *data, const char *ns, const char *name, const char *key,
		       char **ret, char *errbuf, size_t errlen)
{
	struct yamltree_node *node = NULL;
	struct secret s = {0};
	char msg[300];
	long r = yamltree_from_json(data, &node);
	if (r < 0)
		return r;
	r = secret_decode(node, NULL, &s, msg, sizeof(msg));
	yamltree_node_free(node);
	if (r < 0) {
		snprintf(errbuf, errlen, "secret \"%s\" in namespace \"%s\": %s", name, ns, msg);
		secret_clear(&s);
		return r;
	}
	const struct secret_item *it = secret_find(&s, key);
	if (!it || !it->value) {
		char keys[400] = "";
		for (size_t i = 0; i < s.n_items; i++) {
			size_t u = strlen(keys);
			snprintf(keys + u, sizeof(keys) - u, "%s%s", i ? ", " : "", s.items[i].key);
		}
		snprintf(errbuf, errlen,
			 "secret \"%s\" in namespace \"%s\" has no key \"%s\" (it has: %s)", name,
			 ns, key, keys);
		r = -ENOENT;
	} else if (memchr(it->value, '\0', it->len)) {
		snprintf(errbuf, errlen,
			 "secret \"%s\" in namespace \"%s\": key \"%s\" holds a NUL byte, not a "
			 "credential",
			 name, ns, key);
		r = -EINVAL;
	} else {
		*ret = strndup((const char *)it->value, it->len);
		r = *ret ? (long)it->len : -ENOMEM;
	}
	secret_clear(&s);
	return r;
}

long kube_secret_value(struct kube_client *kc, const char *ns, const char *name, const char *key,
		       char **ret, char *errbuf, size_t errlen)
{
	char path[600], err[512];
	json_object *obj = NULL, *data;
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/secrets/%s", ns, name);
	int r = kube_request(kc, "GET", path, NULL, &obj, err, sizeof(err));
	if (r == -ENOENT) {
		snprintf(errbuf, errlen,
			 "secret \"%s\" not found in namespace \"%s\" (a Dataset reads the Secrets "
			 "of its own namespace)",
			 name, ns);
		return r;
	}
	if (r < 0) {
		snprintf(errbuf, errlen, "secret \"%s\" in namespace \"%s\": %s", name, ns, err);
		return r;
	}
	long v;
	if (!obj || !json_object_object_get_ex(obj, "data", &data)) {
		snprintf(errbuf, errlen, "secret \"%s\" in namespace \"%s\" has no data", name, ns);
		v = -ENOENT;
	} else {
		v = secret_data_value(data, ns, name, key, ret, errbuf, errlen);
	}
	if (obj) {
		const char *t = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN);
		explicit_bzero((char *)t, strlen(t));
	}
	json_object_put(obj);
	return v;
}

int kube_secret_version(struct kube_client *kc, const char *ns, const char *name, char *ret,
			size_t retlen, char *errbuf, size_t errlen)
{
	char path[600], err[512];
	json_object *obj = NULL, *meta, *rv;
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/secrets/%s", ns, name);
	int r = kube_request(kc, "GET", path, NULL, &obj, err, sizeof(err));
	if (r < 0) {
		snprintf(errbuf, errlen, "secret \"%s\" in namespace \"%s\": %s", name, ns,
			 r == -ENOENT ? "not found" : err);
		return r;
	}
	if (!obj || !json_object_object_get_ex(obj, "metadata", &meta) ||
	    !json_object_object_get_ex(meta, "resourceVersion", &rv) ||
	    !json_object_is_type(rv, json_type_string) ||
	    (size_t)json_object_get_string_len(rv) >= retlen) {
		snprintf(errbuf, errlen,
			 "secret \"%s\" in namespace \"%s\": the apiserver's answer has no "
			 "metadata.resourceVersion",
			 name, ns);
		r = -EPROTO;
	} else {
		snprintf(ret, retlen, "%s", json_object_get_string(rv));
	}
	if (obj) { /* the answer held the Secret's data: not left in freed memory */
		const char *t = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN);
		explicit_bzero((char *)t, strlen(t));
	}
	json_object_put(obj);
	return r;
}
