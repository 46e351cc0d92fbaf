// SPDX-License-Identifier: Apache-2.0
// A Secret's data: strict base64 through OpenSSL's EVP_DecodeBlock, limits, redaction. What must
// stay true: values are wiped before their memory is freed and never copied into a message.
#include "secret.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool secret_key_ok(const char *key)
{
	size_t n = strlen(key);
	if (n == 0 || n > SECRET_MAX_KEY || !strcmp(key, ".") || !strcmp(key, ".."))
		return false;
	return strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") ==
	       n;
}

/* A key for a message: cut, control bytes replaced. */
static const char *shown_key(const char *k, char *buf, size_t len)
{
	snprintf(buf, len, "%s", k);
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	return buf;
}

static size_t total_bytes(const struct secret *s)
{
	size_t t = 0;
	for (size_t i = 0; i < s->n_items; i++)
		t += s->items[i].len;
	return t;
}

static void item_wipe(struct secret_item *it)
{
	if (it->value) {
		explicit_bzero(it->value, it->len);
		free(it->value);
	}
	it->value = NULL;
	it->len = 0;
}

/* Adds or replaces key, taking ownership of value (NULL: redacted). */
static int put_owned(struct secret *s, const char *key, unsigned char *value, size_t len)
{
	for (size_t i = 0; i < s->n_items; i++) {
		if (strcmp(s->items[i].key, key) == 0) {
			item_wipe(&s->items[i]);
			s->items[i].value = value;
			s->items[i].len = len;
			return 0;
		}
	}
	struct secret_item *it = realloc(s->items, (s->n_items + 1) * sizeof(*it));
	if (!it)
		return -ENOMEM;
	s->items = it;
	it = &s->items[s->n_items];
	*it = (struct secret_item){.key = strdup(key), .value = value, .len = len};
	if (!it->key)
		return -ENOMEM;
	s->n_items++;
	return 0;
}

int secret_set(struct secret *s, const char *key, const void *value, size_t len, char *errbuf,
	       size_t errlen)
{
	char kb[80];
	if (!secret_key_ok(key)) {
		snprintf(errbuf, errlen,
			 "bad key \"%s\": letters, digits, '-', '_' and '.', at most %d",
			 shown_key(key, kb, sizeof(kb)), SECRET_MAX_KEY);
		return -EINVAL;
	}
	const struct secret_item *old = secret_find(s, key);
	size_t total = total_bytes(s) - (old ? old->len : 0);
	if (len > SECRET_MAX_BYTES || total + len > SECRET_MAX_BYTES) {
		snprintf(errbuf, errlen, "key \"%s\": the Secret's data would pass %u bytes",
			 shown_key(key, kb, sizeof(kb)), SECRET_MAX_BYTES);
		return -E2BIG;
	}
	unsigned char *v = malloc(len + 1);
	if (!v)
		return -ENOMEM;
	memcpy(v, value, len);
	v[len] = '\0';
	int r = put_owned(s, key, v, len);
	if (r < 0) {
		explicit_bzero(v, len);
		free(v);
	}
	return r;
}

/* Strict RFC 4648 base64 (no whitespace, padded to a multiple of 4). Returns the decoded length
 * and an owned *ret, or -EINVAL / -ENOMEM. */
static long b64_decode(const char *in, unsigned char **ret)
{
	size_t n = strlen(in);
	if (n % 4)
		return -EINVAL;
	size_t body =
	    strspn(in, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
	size_t pad = n - body;
	if (pad > 2 || (pad && strspn(in + body, "=") != pad))
		return -EINVAL;
	unsigned char *out = malloc(n / 4 * 3 + 1);
	if (!out)
		return -ENOMEM;
	int got = n ? EVP_DecodeBlock(out, (const unsigned char *)in, (int)n) : 0;
	if (got < 0 || (size_t)got < pad) {
		free(out);
		return -EINVAL;
	}
	got -= (int)pad; /* EVP_DecodeBlock counts the padding as zero bytes */
	out[got] = '\0';
	*ret = out;
	return got;
}

static int fail(char *errbuf, size_t errlen, const char *field, const char *key, const char *why,
		int r)
{
	char kb[80];
	snprintf(errbuf, errlen, "%s.%s: %s", field, shown_key(key, kb, sizeof(kb)), why);
	return r;
}

static int decode_map(const struct yamltree_node *m, bool base64, struct secret *s, char *errbuf,
		      size_t errlen)
{
	const char *field = base64 ? "data" : "stringData";
	if (m->type != YAMLTREE_MAP) {
		snprintf(errbuf, errlen, "%s: expected a map of keys to %s", field,
			 base64 ? "base64 values" : "strings");
		return -EINVAL;
	}
	for (size_t i = 0; i < m->n; i++) {
		const char *k = m->items[2 * i]->scalar;
		const struct yamltree_node *v = m->items[2 * i + 1];
		char msg[200];
		if (!secret_key_ok(k))
			return fail(errbuf, errlen, field, k,
				    "bad key (letters, digits, '-', '_' and '.', at most 253)",
				    -EINVAL);
		if (v->type != YAMLTREE_SCALAR)
			return fail(errbuf, errlen, field, k, "expected a string value", -EINVAL);
		int r;
		if (base64 && yamltree_is_null(v) && v->plain) {
			r = put_owned(s, k, NULL, 0); /* redacted */
		} else if (base64) {
			size_t vl = strlen(v->scalar);
			if (vl / 4 * 3 > SECRET_MAX_BYTES) {
				snprintf(msg, sizeof(msg), "value larger than %u bytes",
					 SECRET_MAX_BYTES);
				return fail(errbuf, errlen, field, k, msg, -E2BIG);
			}
			unsigned char *val = NULL;
			long got = b64_decode(v->scalar, &val);
			if (got == -ENOMEM)
				return -ENOMEM;
			if (got < 0)
				return fail(errbuf, errlen, field, k,
					    "not base64 (A-Z a-z 0-9 + /, padded with '='; use "
					    "stringData for plain text)",
					    -EINVAL);
			r = put_owned(s, k, val, (size_t)got);
			if (r < 0) {
				explicit_bzero(val, (size_t)got);
				free(val);
			}
		} else {
			r = secret_set(s, k, v->scalar, strlen(v->scalar), msg, sizeof(msg));
			if (r == -EINVAL || r == -E2BIG)
				return fail(errbuf, errlen, field, k, msg, r);
		}
		if (r < 0)
			return r;
		if (total_bytes(s) > SECRET_MAX_BYTES) {
			snprintf(msg, sizeof(msg), "the Secret's data pass %u bytes",
				 SECRET_MAX_BYTES);
			return fail(errbuf, errlen, field, k, msg, -E2BIG);
		}
	}
	return 0;
}

int secret_decode(const struct yamltree_node *data, const struct yamltree_node *string_data,
		  struct secret *s, char *errbuf, size_t errlen)
{
	int r = 0;
	if (data && !(yamltree_is_null(data) && data->plain))
		r = decode_map(data, true, s, errbuf, errlen);
	if (r == 0 && string_data && !(yamltree_is_null(string_data) && string_data->plain))
		r = decode_map(string_data, false, s, errbuf, errlen);
	if (r == 0 && s->n_items == 0) {
		snprintf(errbuf, errlen,
			 "data: missing: a Secret needs data (base64) or stringData with at least "
			 "one key");
		r = -EINVAL;
	}
	if (r == -ENOMEM)
		snprintf(errbuf, errlen, "out of memory");
	return r;
}

json_object *secret_data_json(const struct secret *s)
{
	json_object *d = json_object_new_object();
	if (!d)
		return NULL;
	for (size_t i = 0; i < s->n_items; i++) {
		const struct secret_item *it = &s->items[i];
		json_object *v = NULL;
		if (it->value) {
			char *b = malloc(4 * ((it->len + 2) / 3) + 1);
			if (!b) {
				json_object_put(d);
				return NULL;
			}
			int n = EVP_EncodeBlock((unsigned char *)b, it->value, (int)it->len);
			v = json_object_new_string_len(b, n);
			explicit_bzero(b, (size_t)n);
			free(b);
			if (!v) {
				json_object_put(d);
				return NULL;
			}
		}
		json_object_object_add(d, it->key, v);
	}
	return d;
}

const struct secret_item *secret_find(const struct secret *s, const char *key)
{
	for (size_t i = 0; i < s->n_items; i++)
		if (strcmp(s->items[i].key, key) == 0)
			return &s->items[i];
	return NULL;
}

bool secret_is_redacted(const struct secret *s)
{
	for (size_t i = 0; i < s->n_items; i++)
		if (!s->items[i].value)
			return true;
	return false;
}

void secret_clear(struct secret *s)
{
	for (size_t i = 0; i < s->n_items; i++) {
		item_wipe(&s->items[i]);
		free(s->items[i].key);
	}
	free(s->items);
	free(s->type);
	*s = (struct secret){0};
}
