// SPDX-License-Identifier: Apache-2.0
// Sealing Secrets for the embedded store, showing them without values, and reading one value for
// a source being opened. What must stay true: clear values live only in memory that is wiped.
#include "secrets.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube_client.h"
#include "kube_secret.h"
#include "secret.h"
#include "yamltree.h"

static void aad_of(const char *ns, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "Secret/%s/%s", ns, name);
}

static json_object *annotations_of(json_object *root, bool create)
{
	json_object *meta, *ann;
	if (!json_object_object_get_ex(root, "metadata", &meta))
		return NULL;
	if (json_object_object_get_ex(meta, "annotations", &ann))
		return ann;
	if (!create)
		return NULL;
	ann = json_object_new_object();
	json_object_object_add(meta, "annotations", ann);
	return ann;
}

/* The sealed text of a stored Secret's tree, borrowed, or NULL. */
static const char *sealed_of(json_object *root)
{
	json_object *ann = annotations_of(root, false), *v;
	if (!ann || !json_object_object_get_ex(ann, SECRETS_SEALED_ANNOTATION, &v))
		return NULL;
	return json_object_get_string(v);
}

static void drop_sealed(json_object *root)
{
	json_object *ann = annotations_of(root, false), *meta;
	if (!ann)
		return;
	json_object_object_del(ann, SECRETS_SEALED_ANNOTATION);
	if (json_object_object_length(ann) == 0 &&
	    json_object_object_get_ex(root, "metadata", &meta))
		json_object_object_del(meta, "annotations");
}

/* The clear data JSON sealed in a stored Secret tree; owned, wipe it. */
static long unseal_tree(const struct secret_box *box, json_object *root, const char *ns,
			const char *name, unsigned char **ret)
{
	char aad[600];
	const char *sealed = sealed_of(root);
	if (!sealed)
		return -EBADMSG;
	aad_of(ns, name, aad, sizeof(aad));
	return secret_box_unseal(box, aad, sealed, ret);
}

int secrets_stored_json(const struct secret_box *box, const struct objmodel *obj,
			const char *existing, int64_t now, char **ret_text, bool *ret_unchanged,
			char *errbuf, size_t errlen)
{
	const struct secret *s = &obj->secret;
	if (secret_is_redacted(s)) {
		for (size_t i = 0; i < s->n_items; i++)
			if (!s->items[i].value) {
				snprintf(errbuf, errlen,
					 "data.%s: no value (weir shows Secrets without their "
					 "values; apply the original manifest)",
					 s->items[i].key);
				break;
			}
		return -EINVAL;
	}
	json_object *tree = NULL, *old = NULL, *clear = NULL, *data = NULL;
	char *sealed = NULL, aad[600];
	unsigned char *old_clear = NULL;
	long old_len = -1;
	int r = -ENOMEM;
	if (objmodel_to_json(obj, &tree) < 0 || !(clear = secret_data_json(s)))
		goto out;
	const char *ctext = json_object_to_json_string_ext(clear, JSON_C_TO_STRING_PLAIN);
	aad_of(obj->meta.namespace, obj->meta.name, aad, sizeof(aad));
	int64_t created = now;
	if (existing && (old = json_tokener_parse(existing))) {
		json_object *meta, *ct;
		if (json_object_object_get_ex(old, "metadata", &meta) &&
		    json_object_object_get_ex(meta, "creationTimestamp", &ct))
			objmodel_parse_time(json_object_get_string(ct), &created);
		old_len = unseal_tree(box, old, obj->meta.namespace, obj->meta.name, &old_clear);
	}
	/* the stored tree: values nulled, a user's own sealed annotation replaced by ours */
	drop_sealed(tree);
	json_object *meta;
	if (json_object_object_get_ex(tree, "metadata", &meta)) {
		char ts[64];
		json_object_object_add(
		    meta, "creationTimestamp",
		    json_object_new_string(objmodel_format_time(created, ts, sizeof(ts))));
	}
	if (json_object_object_get_ex(tree, "data", &data)) {
		json_object_object_foreach(data, k, v)
		{
			(void)v;
			json_object_object_add(data, k, NULL);
		}
	}
	bool same_data = old_len >= 0 && (size_t)old_len == strlen(ctext) &&
			 memcmp(old_clear, ctext, (size_t)old_len) == 0;
	if (same_data) { /* keep the old nonce: an unchanged Secret stays byte for byte */
		drop_sealed(old);
		*ret_unchanged = json_object_equal(old, tree);
		if (*ret_unchanged) {
			const char *s_old = existing;
			*ret_text = strdup(s_old);
			r = *ret_text ? 0 : -ENOMEM;
			goto out;
		}
	} else {
		*ret_unchanged = false;
	}
	r = secret_box_seal(box, aad, ctext, strlen(ctext), &sealed);
	if (r < 0) {
		snprintf(errbuf, errlen, "cannot seal the data: %s", strerror(-r));
		goto out;
	}
	json_object_object_add(annotations_of(tree, true), SECRETS_SEALED_ANNOTATION,
			       json_object_new_string(sealed));
	const char *text = json_object_to_json_string_ext(tree, JSON_C_TO_STRING_PLAIN |
								    JSON_C_TO_STRING_NOSLASHESCAPE);
	r = (*ret_text = strdup(text)) ? 0 : -ENOMEM;
out:
	if (clear) {
		/* json-c's copy of the clear text is wiped with the string it rendered */
		const char *ct = json_object_to_json_string_ext(clear, JSON_C_TO_STRING_PLAIN);
		explicit_bzero((char *)ct, strlen(ct));
	}
	json_object_put(clear);
	json_object_put(tree);
	json_object_put(old);
	if (old_clear) {
		explicit_bzero(old_clear, (size_t)old_len);
		free(old_clear);
	}
	free(sealed);
	if (r == -ENOMEM && !errbuf[0])
		snprintf(errbuf, errlen, "out of memory");
	return r;
}

char *secrets_shown_json(const char *stored)
{
	json_object *root = json_tokener_parse(stored);
	if (!root)
		return NULL;
	drop_sealed(root);
	char *out = strdup(json_object_to_json_string_ext(
	    root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	return out;
}

static long from_store(const struct secrets_source *src, const char *ns, const char *name,
		       const char *key, char **ret, char *errbuf, size_t errlen)
{
	char *json = NULL;
	if (src->lock)
		pthread_mutex_lock(src->lock);
	int r = store_get(src->store, "Secret", ns, name, &json);
	if (src->lock)
		pthread_mutex_unlock(src->lock);
	if (r == -ENOENT) {
		snprintf(errbuf, errlen,
			 "secret \"%s\" not found in namespace \"%s\" (a Dataset reads the Secrets "
			 "of its own namespace: `weir create secret generic %s -n %s ...`)",
			 name, ns, name, ns);
		return r;
	}
	if (r < 0) {
		snprintf(errbuf, errlen, "secret \"%s\" in namespace \"%s\": store: %s", name, ns,
			 strerror(-r));
		return r;
	}
	json_object *root = json_tokener_parse(json);
	free(json);
	unsigned char *clear = NULL;
	long n = root ? unseal_tree(src->box, root, ns, name, &clear) : -EBADMSG;
	json_object_put(root);
	if (n < 0) {
		snprintf(errbuf, errlen,
			 "secret \"%s\" in namespace \"%s\" cannot be unsealed (was the state "
			 "directory's secret.key replaced?): apply it again",
			 name, ns);
		return n;
	}
	json_object *data = json_tokener_parse((const char *)clear);
	explicit_bzero(clear, (size_t)n);
	free(clear);
	if (!data) {
		snprintf(errbuf, errlen,
			 "secret \"%s\" in namespace \"%s\": sealed data is not JSON", name, ns);
		return -EBADMSG;
	}
	long v = secret_data_value(data, ns, name, key, ret, errbuf, errlen);
	const char *dt = json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN);
	explicit_bzero((char *)dt, strlen(dt));
	json_object_put(data);
	return v;
}

long secrets_value(const struct secrets_source *src, const char *ns, const char *name,
		   const char *key, char **ret, char *errbuf, size_t errlen)
{
	if (src->kc)
		return kube_secret_value(src->kc, ns, name, key, ret, errbuf, errlen);
	if (!src->store || !src->box) {
		snprintf(errbuf, errlen,
			 "secret \"%s\" in namespace \"%s\": this controller keeps "
			 "no Secrets",
			 name, ns);
		return -ENOENT;
	}
	return from_store(src, ns, name, key, ret, errbuf, errlen);
}
