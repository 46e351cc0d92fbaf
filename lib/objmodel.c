// SPDX-License-Identifier: Apache-2.0
// Decodes yamltree documents into typed objects, validates them, and encodes them back to json-c
// (and through it YAML). One decoder serves YAML manifests and stored JSON, so both stay in step.
#include "objmodel.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aws_config.h"
#include "cron.h"
#include "quantity.h"
#include "secret.h"
#include "yamltree.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

typedef struct yamltree_node ynode;

/* Decoding context: the field path being decoded and where messages go. */
struct dctx {
	char path[1024];
	size_t plen;
	char *errbuf;
	size_t errlen;
	struct objmodel *obj;
};

/* ---- small helpers ---- */

static size_t path_push_key(struct dctx *c, const char *key)
{
	size_t save = c->plen;
	int n =
	    snprintf(c->path + c->plen, sizeof(c->path) - c->plen, "%s%s", c->plen ? "." : "", key);
	if (n > 0)
		c->plen = c->plen + (size_t)n < sizeof(c->path) ? c->plen + n : sizeof(c->path) - 1;
	return save;
}

static size_t path_push_index(struct dctx *c, size_t i)
{
	size_t save = c->plen;
	int n = snprintf(c->path + c->plen, sizeof(c->path) - c->plen, "[%zu]", i);
	if (n > 0)
		c->plen = c->plen + (size_t)n < sizeof(c->path) ? c->plen + n : sizeof(c->path) - 1;
	return save;
}

static void path_pop(struct dctx *c, size_t save)
{
	c->plen = save;
	c->path[save] = '\0';
}

__attribute__((format(printf, 2, 3))) static int fail(struct dctx *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->plen)
		snprintf(c->errbuf, c->errlen, "%s: %s", c->path, msg);
	else
		snprintf(c->errbuf, c->errlen, "%s", msg);
	return -EINVAL;
}

/* A required field is absent: name it in the path. */
static int missing(struct dctx *c, const char *key, const char *hint)
{
	size_t save = path_push_key(c, key);
	int r = fail(c, "missing required field%s", hint);
	path_pop(c, save);
	return r;
}

static int oom(struct dctx *c)
{
	snprintf(c->errbuf, c->errlen, "out of memory");
	return -ENOMEM;
}

/* Quotes a user string for a message, cut to a readable length. */
static const char *q(const char *s, char *buf, size_t len)
{
	if (!s)
		s = "";
	size_t n = strlen(s);
	if (n + 3 > len)
		snprintf(buf, len, "\"%.*s...\"", (int)(len - 6), s);
	else
		snprintf(buf, len, "\"%s\"", s);
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = '?';
	return buf;
}

static const char *type_desc(const ynode *n)
{
	if (n->type == YAMLTREE_MAP)
		return "a map";
	if (n->type == YAMLTREE_SEQ)
		return "a list";
	if (yamltree_is_null(n))
		return "null";
	return "a scalar";
}

static int want(struct dctx *c, const ynode *n, enum yamltree_type type)
{
	if (n->type == type)
		return 0;
	const char *w = type == YAMLTREE_MAP   ? "a map"
			: type == YAMLTREE_SEQ ? "a list"
					       : "a scalar";
	return fail(c, "expected %s, got %s", w, type_desc(n));
}

static bool is_null(const ynode *n)
{
	return !n || yamltree_is_null(n);
}

void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void kvmap_clear(struct kvmap *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->items[i].key);
		free(m->items[i].value);
	}
	free(m->items);
	m->items = NULL;
	m->n = 0;
}

/* ---- scalar decoders: a null value leaves the output untouched ---- */

static int get_str(struct dctx *c, const ynode *n, char **out)
{
	if (is_null(n))
		return 0;
	int r = want(c, n, YAMLTREE_SCALAR);
	if (r < 0)
		return r;
	char *s = strdup(n->scalar);
	if (!s)
		return oom(c);
	free(*out);
	*out = s;
	return 0;
}

static int get_bool(struct dctx *c, const ynode *n, bool *out)
{
	char b[64];
	if (is_null(n))
		return 0;
	int r = want(c, n, YAMLTREE_SCALAR);
	if (r < 0)
		return r;
	const char *s = n->scalar;
	/* YAML 1.1's spellings too: kubectl reads manifests with a YAML 1.1 parser. */
	static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES",
					  "on",	  "On",	  "ON",	  "y",	 "Y"};
	static const char *const no[] = {"false", "False", "FALSE", "no", "No", "NO",
					 "off",	  "Off",   "OFF",   "n",  "N"};
	int val = -1;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcmp(s, yes[i]))
			val = 1;
		if (!strcmp(s, no[i]))
			val = 0;
	}
	if (val >= 0)
		*out = val;
	else
		return fail(c, "expected true or false, got %s", q(s, b, sizeof(b)));
	return 0;
}

static int get_int(struct dctx *c, const ynode *n, int64_t min, int64_t max, int64_t *out)
{
	char b[64];
	if (is_null(n))
		return 0;
	int r = want(c, n, YAMLTREE_SCALAR);
	if (r < 0)
		return r;
	char *end;
	errno = 0;
	long long v = strtoll(n->scalar, &end, 10);
	if (errno || end == n->scalar || *end || isspace((unsigned char)n->scalar[0]))
		return fail(c, "expected an integer, got %s", q(n->scalar, b, sizeof(b)));
	if (v < min || v > max)
		return fail(c, "%lld is outside %" PRId64 "..%" PRId64, v, min, max);
	*out = v;
	return 0;
}

static int get_u64(struct dctx *c, const ynode *n, uint64_t *out)
{
	int64_t v = 0;
	int r = get_int(c, n, 0, INT64_MAX, &v);
	if (r == 0 && !is_null(n))
		*out = (uint64_t)v;
	return r;
}

static int get_quantity(struct dctx *c, const ynode *n, uint64_t *out)
{
	char b[64];
	if (is_null(n))
		return 0;
	int r = want(c, n, YAMLTREE_SCALAR);
	if (r < 0)
		return r;
	r = quantity_parse(n->scalar, out);
	if (r == -ERANGE)
		return fail(c, "quantity %s is too large", q(n->scalar, b, sizeof(b)));
	if (r < 0)
		return fail(c, "bad quantity %s", q(n->scalar, b, sizeof(b)));
	return 0;
}

static int get_fraction(struct dctx *c, const ynode *n, double *out)
{
	char b[64];
	if (is_null(n))
		return 0;
	int r = want(c, n, YAMLTREE_SCALAR);
	if (r < 0)
		return r;
	r = fraction_parse(n->scalar, out);
	if (r == -ERANGE)
		return fail(c, "%s is outside 0..1", q(n->scalar, b, sizeof(b)));
	if (r < 0)
		return fail(c, "bad fraction %s (want a number in 0..1)",
			    q(n->scalar, b, sizeof(b)));
	return 0;
}

static int get_time(struct dctx *c, const ynode *n, int64_t *out)
{
	char b[64];
	if (is_null(n))
		return 0;
	int r = want(c, n, YAMLTREE_SCALAR);
	if (r < 0)
		return r;
	if (objmodel_parse_time(n->scalar, out) < 0)
		return fail(c, "bad time %s (want RFC 3339, e.g. \"2026-11-29T20:13:36Z\")",
			    q(n->scalar, b, sizeof(b)));
	return 0;
}

static int get_kvmap(struct dctx *c, const ynode *n, struct kvmap *out)
{
	if (is_null(n))
		return 0;
	int r = want(c, n, YAMLTREE_MAP);
	if (r < 0)
		return r;
	kvmap_clear(out);
	out->items = calloc(n->n ? n->n : 1, sizeof(*out->items));
	if (!out->items)
		return oom(c);
	for (size_t i = 0; i < n->n; i++) {
		const ynode *v = n->items[2 * i + 1];
		size_t save = path_push_key(c, n->items[2 * i]->scalar);
		if (v->type != YAMLTREE_SCALAR) {
			r = want(c, v, YAMLTREE_SCALAR);
			path_pop(c, save);
			return r;
		}
		path_pop(c, save);
		out->items[i].key = strdup(n->items[2 * i]->scalar);
		out->items[i].value = strdup(yamltree_is_null(v) ? "" : v->scalar);
		out->n = i + 1;
		if (!out->items[i].key || !out->items[i].value)
			return oom(c);
	}
	return 0;
}

static int get_strlist(struct dctx *c, const ynode *n, char ***out, size_t *out_n)
{
	if (is_null(n))
		return 0;
	int r = want(c, n, YAMLTREE_SEQ);
	if (r < 0)
		return r;
	char **v = calloc(n->n ? n->n : 1, sizeof(*v));
	if (!v)
		return oom(c);
	for (size_t i = 0; i < n->n; i++) {
		size_t save = path_push_index(c, i);
		if (n->items[i]->type != YAMLTREE_SCALAR || yamltree_is_null(n->items[i])) {
			r = fail(c, "expected a string, got %s", type_desc(n->items[i]));
			path_pop(c, save);
			strv_free(v, i);
			return r;
		}
		path_pop(c, save);
		v[i] = strdup(n->items[i]->scalar);
		if (!v[i]) {
			strv_free(v, i);
			return oom(c);
		}
	}
	strv_free(*out, *out_n);
	*out = v;
	*out_n = n->n;
	return 0;
}

/* ---- ignored fields ---- */

static json_object *node_to_json(const ynode *n)
{
	json_object *o;
	switch (n->type) {
	case YAMLTREE_MAP:
		o = json_object_new_object();
		for (size_t i = 0; o && i < n->n; i++)
			json_object_object_add(o, n->items[2 * i]->scalar,
					       node_to_json(n->items[2 * i + 1]));
		return o;
	case YAMLTREE_SEQ:
		o = json_object_new_array();
		for (size_t i = 0; o && i < n->n; i++)
			json_object_array_add(o, node_to_json(n->items[i]));
		return o;
	default:
		if (!n->plain)
			return json_object_new_string(n->scalar);
		if (yamltree_is_null(n))
			return NULL;
		if (!strcmp(n->scalar, "true") || !strcmp(n->scalar, "false"))
			return json_object_new_boolean(n->scalar[0] == 't');
		char *end;
		errno = 0;
		long long ll = strtoll(n->scalar, &end, 10);
		if (!errno && end != n->scalar && !*end)
			return json_object_new_int64(ll);
		double d = strtod(n->scalar, &end);
		if (end != n->scalar && !*end && !isspace((unsigned char)n->scalar[0]))
			return json_object_new_double(d);
		return json_object_new_string(n->scalar);
	}
}

/* A Fluid field weir does not use: keep it and warn once per path. */
static int ignore_field(struct dctx *c, const char *key, const ynode *val)
{
	size_t save = path_push_key(c, key);
	struct objmodel *o = c->obj;
	int r = 0;
	/* Kept fields are put back by their path ("a.b[2].c"): a name that is empty or holds '.'
	 * or '[' would be put back somewhere else (the fuzzer's "" under status replaced the whole
	 * status with null). Such a field is ignored and not kept. */
	bool keep = key[0] && !strpbrk(key, ".[");
	if (keep && !o->ignored && !(o->ignored = json_object_new_object()))
		goto nomem;
	if (keep)
		json_object_object_add(o->ignored, c->path, node_to_json(val));
	char **w = realloc(o->warnings, (o->n_warnings + 1) * sizeof(*w));
	if (!w)
		goto nomem;
	o->warnings = w;
	if (asprintf(
		&w[o->n_warnings],
		keep ? "%s: ignored by weir"
		     : "%s: ignored by weir and not kept (its name is empty or holds '.' or '[')",
		c->path) < 0)
		goto nomem;
	o->n_warnings++;
	path_pop(c, save);
	return 0;
nomem:
	path_pop(c, save);
	r = oom(c);
	return r;
}

/* A key no handler took: ignored (with a warning) when Fluid defines it, else an error. A list
 * of exactly "*" ignores every unknown key (status written by other tools). */
static int unknown_field(struct dctx *c, const char *key, const ynode *val,
			 const char *const *fluid_fields)
{
	char b[80];
	for (const char *const *f = fluid_fields; f && *f; f++)
		if (!strcmp(*f, key) || !strcmp(*f, "*"))
			return ignore_field(c, key, val);
	size_t save = path_push_key(c, key);
	int r = fail(c, "unknown field %s", q(key, b, sizeof(b)));
	path_pop(c, save);
	return r;
}

#define FOREACH_FIELD(map, k, v)                                                                   \
	for (size_t _i_##k = 0; _i_##k < (map)->n; _i_##k++)                                       \
		for (const char *k = (map)->items[2 * _i_##k]->scalar; k; k = NULL)                \
			for (const ynode *v = (map)->items[2 * _i_##k + 1]; v; v = NULL)

/* Runs a field decoder with the key pushed on the path. */
#define FIELD(c, key, expr)                                                                        \
	({                                                                                         \
		size_t _save = path_push_key(c, key);                                              \
		int _r = (expr);                                                                   \
		path_pop(c, _save);                                                                \
		_r;                                                                                \
	})

/* A map's fields as a table: key, decoder, and where in the decoded struct the value goes.
 * dec_fields() walks a map with one, so each kind's shape is data, not a chain of strcmp. */
typedef int (*field_dec_fn)(struct dctx *c, const ynode *v, void *dst);
struct field {
	const char *key;
	field_dec_fn dec;
	size_t off; /* of dst in the struct being decoded */
};
#define FLD(key, fn, type, member)                                                                 \
	{                                                                                          \
		key, fn, offsetof(type, member)                                                    \
	}

static int fd_str(struct dctx *c, const ynode *v, void *dst)
{
	return get_str(c, v, dst);
}
static int fd_bool(struct dctx *c, const ynode *v, void *dst)
{
	return get_bool(c, v, dst);
}
static int fd_kvmap(struct dctx *c, const ynode *v, void *dst)
{
	return get_kvmap(c, v, dst);
}
static int fd_time(struct dctx *c, const ynode *v, void *dst)
{
	return get_time(c, v, dst);
}
static int fd_quantity(struct dctx *c, const ynode *v, void *dst)
{
	return get_quantity(c, v, dst);
}
static int fd_fraction(struct dctx *c, const ynode *v, void *dst)
{
	return get_fraction(c, v, dst);
}
static int fd_u64(struct dctx *c, const ynode *v, void *dst)
{
	return get_u64(c, v, dst);
}
/* Fields weir derives itself and does not keep. */
static int fd_skip(struct dctx *c, const ynode *v, void *dst)
{
	return 0;
}

/* Decodes map m into base with table t (n rows); a key not in t is unknown_field's (with
 * Fluid's fields weir ignores). */
static int dec_fields(struct dctx *c, const ynode *m, void *base, const struct field *t, size_t n,
		      const char *const *ignored)
{
	int r;
	if ((r = want(c, m, YAMLTREE_MAP)) < 0)
		return r;
	FOREACH_FIELD(m, k, v)
	{
		const struct field *f = NULL;
		for (size_t i = 0; i < n && !f; i++)
			if (!strcmp(t[i].key, k))
				f = &t[i];
		r = f ? FIELD(c, k, f->dec(c, v, (char *)base + f->off))
		      : unknown_field(c, k, v, ignored);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- Dataset ---- */

static void encrypt_options_free(struct encrypt_option *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(e[i].name);
		free(e[i].secret_name);
		free(e[i].secret_key);
	}
	free(e);
}

static void conditions_clear(struct conditions *cs)
{
	for (size_t i = 0; i < cs->n; i++) {
		free(cs->items[i].type);
		free(cs->items[i].status);
		free(cs->items[i].reason);
		free(cs->items[i].message);
	}
	free(cs->items);
	cs->items = NULL;
	cs->n = 0;
}

static const struct field secret_key_ref_fields[] = {
    FLD("name", fd_str, struct encrypt_option, secret_name),
    FLD("key", fd_str, struct encrypt_option, secret_key),
};
static int fd_secret_key_ref(struct dctx *c, const ynode *v, void *dst)
{
	return dec_fields(c, v, dst, secret_key_ref_fields, NELEM(secret_key_ref_fields), NULL);
}
static const struct field value_from_fields[] = {{"secretKeyRef", fd_secret_key_ref, 0}};
static int fd_value_from(struct dctx *c, const ynode *v, void *dst)
{
	return dec_fields(c, v, dst, value_from_fields, NELEM(value_from_fields), NULL);
}
static const struct field encrypt_option_fields[] = {
    FLD("name", fd_str, struct encrypt_option, name),
    {"valueFrom", fd_value_from, 0},
};

static int dec_encrypt_options(struct dctx *c, const ynode *n, struct encrypt_option **out,
			       size_t *out_n)
{
	int r;
	if (is_null(n))
		return 0;
	if ((r = want(c, n, YAMLTREE_SEQ)) < 0)
		return r;
	struct encrypt_option *e = calloc(n->n ? n->n : 1, sizeof(*e));
	if (!e)
		return oom(c);
	*out = e;
	*out_n = n->n;
	for (size_t i = 0; i < n->n; i++) {
		size_t save = path_push_index(c, i);
		r = dec_fields(c, n->items[i], &e[i], encrypt_option_fields,
			       NELEM(encrypt_option_fields), NULL);
		if (r < 0)
			goto out;
		if (!e[i].name)
			r = missing(c, "name", "");
		else if (!e[i].secret_name || !e[i].secret_key)
			r = fail(c, "valueFrom.secretKeyRef: name and key are required");
	out:
		path_pop(c, save);
		if (r < 0)
			return r;
	}
	return 0;
}

static const char *const fluid_mount_ignored[] = {NULL};

static int fd_mount_encrypt(struct dctx *c, const ynode *v, void *dst)
{
	struct dataset_mount *mt = dst;
	return dec_encrypt_options(c, v, &mt->encrypt_options, &mt->n_encrypt_options);
}

static const struct field mount_fields[] = {
    FLD("mountPoint", fd_str, struct dataset_mount, mount_point),
    FLD("name", fd_str, struct dataset_mount, name),
    FLD("path", fd_str, struct dataset_mount, path),
    FLD("options", fd_kvmap, struct dataset_mount, options),
    {"encryptOptions", fd_mount_encrypt, 0},
    FLD("readOnly", fd_bool, struct dataset_mount, read_only),
    FLD("shared", fd_bool, struct dataset_mount, shared),
};

static int dec_mount(struct dctx *c, const ynode *m, struct dataset_mount *mt)
{
	int r = dec_fields(c, m, mt, mount_fields, NELEM(mount_fields), fluid_mount_ignored);
	if (r < 0)
		return r;
	if (!mt->mount_point)
		return missing(c, "mountPoint", "");
	return 0;
}

/* uid and gid: 0..2^32-1, and whether they were given (null is "not given"). */
static int owner_id(struct dctx *c, const ynode *v, int64_t *id, bool *set)
{
	*set = !is_null(v);
	return get_int(c, v, 0, UINT32_MAX, id);
}
static int fd_owner_uid(struct dctx *c, const ynode *v, void *dst)
{
	struct dataset_owner *o = dst;
	return owner_id(c, v, &o->uid, &o->uid_set);
}
static int fd_owner_gid(struct dctx *c, const ynode *v, void *dst)
{
	struct dataset_owner *o = dst;
	return owner_id(c, v, &o->gid, &o->gid_set);
}

static const struct field owner_fields[] = {
    {"uid", fd_owner_uid, 0},
    {"gid", fd_owner_gid, 0},
    FLD("user", fd_str, struct dataset_owner, user),
    FLD("group", fd_str, struct dataset_owner, group),
};

static int dec_owner(struct dctx *c, const ynode *m, struct dataset_owner *o)
{
	if (is_null(m))
		return 0;
	o->set = m->type == YAMLTREE_MAP;
	return dec_fields(c, m, o, owner_fields, NELEM(owner_fields), NULL);
}

/* "ro" (also when absent or null) or "rw". */
static int fd_grant_mode(struct dctx *c, const ynode *v, void *dst)
{
	static const struct {
		const char *name;
		enum grant_mode mode;
	} modes[] = {{"ro", GRANT_RO}, {"rw", GRANT_RW}};
	char b[80], *s = NULL;
	int r = get_str(c, v, &s);
	if (r < 0 || !s)
		return r;
	r = fail(c, "bad mode %s (want ro or rw)", q(s, b, sizeof(b)));
	for (size_t i = 0; i < NELEM(modes); i++)
		if (!strcmp(s, modes[i].name)) {
			*(enum grant_mode *)dst = modes[i].mode;
			r = 0;
		}
	free(s);
	return r;
}
static int fd_grant_subpaths(struct dctx *c, const ynode *v, void *dst)
{
	struct sharing_grant *g = dst;
	return get_strlist(c, v, &g->sub_paths, &g->n_sub_paths);
}

static const struct field grant_fields[] = {
    FLD("namespace", fd_str, struct sharing_grant, namespace),
    FLD("mode", fd_grant_mode, struct sharing_grant, mode),
    {"subPaths", fd_grant_subpaths, 0},
};

static int dec_grant(struct dctx *c, const ynode *m, struct sharing_grant *g)
{
	char b[80];
	g->mode = GRANT_RO;
	int r = dec_fields(c, m, g, grant_fields, NELEM(grant_fields), NULL);
	if (r < 0)
		return r;
	if (!g->namespace)
		return missing(c, "namespace", "");
	for (size_t i = 0; i < g->n_sub_paths; i++) {
		char norm[4096];
		size_t save = path_push_key(c, "subPaths");
		path_push_index(c, i);
		if (objmodel_subpath_normalize(g->sub_paths[i], norm, sizeof(norm)) < 0) {
			r = fail(c, "bad subpath %s", q(g->sub_paths[i], b, sizeof(b)));
			path_pop(c, save);
			return r;
		}
		path_pop(c, save);
		char *s = strdup(norm[0] ? norm : "/");
		if (!s)
			return oom(c);
		free(g->sub_paths[i]);
		g->sub_paths[i] = s;
	}
	return 0;
}

static int fd_sharing_allow(struct dctx *c, const ynode *v, void *dst)
{
	struct dataset_spec *sp = dst;
	int r;
	if (is_null(v))
		return 0;
	if ((r = want(c, v, YAMLTREE_SEQ)) < 0)
		return r;
	sp->has_allow_list = true;
	sp->allow = calloc(v->n ? v->n : 1, sizeof(*sp->allow));
	if (!sp->allow)
		return oom(c);
	sp->n_allow = v->n;
	for (size_t i = 0; i < v->n; i++) {
		size_t s2 = path_push_index(c, i);
		r = dec_grant(c, v->items[i], &sp->allow[i]);
		path_pop(c, s2);
		if (r < 0)
			return r;
	}
	return 0;
}
static const struct field sharing_fields[] = {{"allow", fd_sharing_allow, 0}};

static int dec_sharing(struct dctx *c, const ynode *m, struct dataset_spec *sp)
{
	if (is_null(m))
		return 0;
	return dec_fields(c, m, sp, sharing_fields, NELEM(sharing_fields), NULL);
}

static const char *const fluid_dataset_spec_ignored[] = {"nodeAffinity", "tolerations", "runtimes",
							 "dataRestoreLocation", NULL};

static int fd_spec_mounts(struct dctx *c, const ynode *v, void *dst)
{
	struct dataset_spec *sp = dst;
	int r;
	if (is_null(v))
		return 0;
	if ((r = want(c, v, YAMLTREE_SEQ)) < 0)
		return r;
	sp->mounts = calloc(v->n ? v->n : 1, sizeof(*sp->mounts));
	if (!sp->mounts)
		return oom(c);
	sp->n_mounts = v->n;
	for (size_t i = 0; i < v->n && r == 0; i++) {
		size_t s2 = path_push_index(c, i);
		r = dec_mount(c, v->items[i], &sp->mounts[i]);
		path_pop(c, s2);
	}
	return r;
}
static int fd_spec_access_modes(struct dctx *c, const ynode *v, void *dst)
{
	struct dataset_spec *sp = dst;
	return get_strlist(c, v, &sp->access_modes, &sp->n_access_modes);
}
static int fd_spec_owner(struct dctx *c, const ynode *v, void *dst)
{
	return dec_owner(c, v, dst);
}
static int fd_spec_shared_encrypt(struct dctx *c, const ynode *v, void *dst)
{
	struct dataset_spec *sp = dst;
	return dec_encrypt_options(c, v, &sp->shared_encrypt_options,
				   &sp->n_shared_encrypt_options);
}
static int fd_spec_sharing(struct dctx *c, const ynode *v, void *dst)
{
	return dec_sharing(c, v, dst);
}

static const struct field dataset_spec_fields[] = {
    {"mounts", fd_spec_mounts, 0},
    {"accessModes", fd_spec_access_modes, 0},
    FLD("owner", fd_spec_owner, struct dataset_spec, owner),
    FLD("placement", fd_str, struct dataset_spec, placement),
    FLD("sharedOptions", fd_kvmap, struct dataset_spec, shared_options),
    {"sharedEncryptOptions", fd_spec_shared_encrypt, 0},
    {"sharing", fd_spec_sharing, 0},
};

static int dec_dataset_spec(struct dctx *c, const ynode *m, struct dataset_spec *sp)
{
	return dec_fields(c, m, sp, dataset_spec_fields, NELEM(dataset_spec_fields),
			  fluid_dataset_spec_ignored);
}

static const struct field condition_fields[] = {
    FLD("type", fd_str, struct condition, type),
    FLD("status", fd_str, struct condition, status),
    FLD("reason", fd_str, struct condition, reason),
    FLD("message", fd_str, struct condition, message),
    FLD("lastTransitionTime", fd_time, struct condition, last_transition_time),
    /* derived: weir keeps only the transition time */
    {"lastUpdateTime", fd_skip, 0},
    {"lastProbeTime", fd_skip, 0},
};

static int dec_conditions(struct dctx *c, const ynode *n, struct conditions *cs)
{
	int r;
	if (is_null(n))
		return 0;
	if ((r = want(c, n, YAMLTREE_SEQ)) < 0)
		return r;
	conditions_clear(cs);
	cs->items = calloc(n->n ? n->n : 1, sizeof(*cs->items));
	if (!cs->items)
		return oom(c);
	cs->n = n->n;
	for (size_t i = 0; i < n->n; i++) {
		struct condition *cd = &cs->items[i];
		const ynode *m = n->items[i];
		size_t save = path_push_index(c, i);
		if ((r = dec_fields(c, m, cd, condition_fields, NELEM(condition_fields), NULL)) < 0)
			goto out;
		if (!cd->type)
			r = missing(c, "type", "");
	out:
		path_pop(c, save);
		if (r < 0)
			return r;
	}
	return 0;
}

static int fd_conditions(struct dctx *c, const ynode *v, void *dst)
{
	return dec_conditions(c, v, dst);
}

/* "12.5%" → 0.125 */
static int get_percent(struct dctx *c, const ynode *n, double *out, bool *known)
{
	char b[64];
	if (is_null(n))
		return 0;
	int r = want(c, n, YAMLTREE_SCALAR);
	if (r < 0)
		return r;
	char *end;
	double d = strtod(n->scalar, &end);
	if (end == n->scalar || (*end && strcmp(end, "%") != 0) || d < 0 || d > 100)
		return fail(c, "bad percentage %s", q(n->scalar, b, sizeof(b)));
	*out = d / 100.0;
	*known = true;
	return 0;
}

/* A size written for humans ("3.41GiB"); "[Calculating]" or "" means unknown. */
static int get_size(struct dctx *c, const ynode *n, uint64_t *out, bool *known)
{
	if (is_null(n) || (n->type == YAMLTREE_SCALAR && (!n->scalar[0] || n->scalar[0] == '[')))
		return 0;
	int r = get_quantity(c, n, out);
	if (r == 0)
		*known = true;
	return r;
}

static int parse_enum(struct dctx *c, const ynode *n, const char *const *names, size_t count,
		      int *out)
{
	char b[64];
	char *s = NULL;
	int r = get_str(c, n, &s);
	if (r < 0 || !s)
		return r;
	for (size_t i = 0; i < count; i++) {
		if (!strcmp(s, names[i])) {
			*out = (int)i;
			free(s);
			return 0;
		}
	}
	char allowed[256] = "";
	for (size_t i = 0; i < count; i++) {
		if (!*names[i])
			continue;
		size_t l = strlen(allowed);
		snprintf(allowed + l, sizeof(allowed) - l, "%s%s", l ? ", " : "", names[i]);
	}
	r = fail(c, "bad value %s (want one of %s)", q(s, b, sizeof(b)), allowed);
	free(s);
	return r;
}

static const char *const dataset_phases[] = {"", "NotBound", "Bound", "Failed"};
static const char *const runtime_phases[] = {"", "NotReady", "Ready", "Failed"};
static const char *const dataload_phases[] = {"", "Pending", "Executing", "Complete", "Failed"};
static const char *const media[] = {"MEM", "SSD", "HDD"};

static const char *const any_field[] = {"*", NULL};

static int fd_dataset_phase(struct dctx *c, const ynode *v, void *dst)
{
	int phase = 0, r = parse_enum(c, v, dataset_phases, NELEM(dataset_phases), &phase);
	*(enum dataset_phase *)dst = (enum dataset_phase)phase;
	return r;
}
/* Rounded sizes ("3.41GiB") as kubectl shows them; the exact *Bytes fields win (below). */
static int fd_ufs_total(struct dctx *c, const ynode *v, void *dst)
{
	struct dataset_status *st = dst;
	return get_size(c, v, &st->ufs_total, &st->ufs_total_known);
}
static int fd_ufs_total_bytes(struct dctx *c, const ynode *v, void *dst)
{
	struct dataset_status *st = dst;
	st->ufs_total_known = true;
	return get_u64(c, v, &st->ufs_total);
}
static int fd_file_num(struct dctx *c, const ynode *v, void *dst)
{
	struct dataset_status *st = dst;
	st->file_num_known = !is_null(v);
	return get_u64(c, v, &st->file_num);
}
static int fd_dataset_ref(struct dctx *c, const ynode *v, void *dst)
{
	struct dataset_status *st = dst;
	return get_strlist(c, v, &st->dataset_ref, &st->n_dataset_ref);
}
static int fd_view_nodes(struct dctx *c, const ynode *v, void *dst)
{
	struct dataset_status *st = dst;
	return get_strlist(c, v, &st->view_nodes, &st->n_view_nodes);
}
static int fd_cached(struct dctx *c, const ynode *v, void *dst)
{
	struct dataset_status *st = dst;
	bool known = false;
	int r = get_size(c, v, &st->cached, &known);
	st->cache_known |= known;
	return r;
}
static int fd_cached_bytes(struct dctx *c, const ynode *v, void *dst)
{
	struct dataset_status *st = dst;
	st->cache_known = true;
	return get_u64(c, v, &st->cached);
}
static int fd_cache_capacity(struct dctx *c, const ynode *v, void *dst)
{
	struct dataset_status *st = dst;
	bool known = false;
	int r = get_size(c, v, &st->cache_capacity, &known);
	st->cache_known |= known;
	return r;
}
static int fd_cache_capacity_bytes(struct dctx *c, const ynode *v, void *dst)
{
	struct dataset_status *st = dst;
	st->cache_known = true;
	return get_u64(c, v, &st->cache_capacity);
}
static int fd_cache_nodes(struct dctx *c, const ynode *v, void *dst)
{
	struct dataset_status *st = dst;
	int64_t n = 0;
	int r = get_int(c, v, 0, UINT32_MAX, &n);
	if (r < 0 || is_null(v))
		return r;
	st->spread_known = true;
	st->cache_nodes = (uint32_t)n;
	return 0;
}
static int fd_node_cached_min(struct dctx *c, const ynode *v, void *dst)
{
	return get_u64(c, v, &((struct dataset_status *)dst)->node_cached_min);
}
static int fd_node_cached_max(struct dctx *c, const ynode *v, void *dst)
{
	return get_u64(c, v, &((struct dataset_status *)dst)->node_cached_max);
}
static int fd_hit_ratio(struct dctx *c, const ynode *v, void *dst)
{
	struct dataset_status *st = dst;
	return get_percent(c, v, &st->cache_hit_ratio, &st->hit_ratio_known);
}

/* An exact field decoded again after the map, so it wins wherever it appears. */
static int exact_wins(struct dctx *c, const ynode *m, const char *key, field_dec_fn fn, void *dst)
{
	const ynode *v = yamltree_get(m, key);
	return v ? FIELD(c, key, fn(c, v, dst)) : 0;
}

static const struct field cache_state_fields[] = {
    {"cached", fd_cached, 0},
    {"cachedBytes", fd_cached_bytes, 0},
    {"cacheCapacity", fd_cache_capacity, 0},
    {"cacheCapacityBytes", fd_cache_capacity_bytes, 0},
    {"cacheHitRatio", fd_hit_ratio, 0},
    {"cachedPercentage", fd_skip, 0}, /* derived from the byte counts */
    {"cacheNodes", fd_cache_nodes, 0},
    {"nodeCachedMinBytes", fd_node_cached_min, 0},
    {"nodeCachedMaxBytes", fd_node_cached_max, 0},
};
static int fd_cache_states(struct dctx *c, const ynode *v, void *dst)
{
	int r;
	if (is_null(v))
		return 0;
	if ((r = dec_fields(c, v, dst, cache_state_fields, NELEM(cache_state_fields), any_field)) <
		0 ||
	    (r = exact_wins(c, v, "cachedBytes", fd_cached_bytes, dst)) < 0)
		return r;
	return exact_wins(c, v, "cacheCapacityBytes", fd_cache_capacity_bytes, dst);
}

static const struct field dataset_status_fields[] = {
    FLD("phase", fd_dataset_phase, struct dataset_status, phase),
    {"ufsTotal", fd_ufs_total, 0},
    {"ufsTotalBytes", fd_ufs_total_bytes, 0},
    {"fileNum", fd_file_num, 0},
    FLD("conditions", fd_conditions, struct dataset_status, conditions),
    {"datasetRef", fd_dataset_ref, 0},
    {"viewNodes", fd_view_nodes, 0},
    {"cacheStates", fd_cache_states, 0},
};

static int dec_dataset_status(struct dctx *c, const ynode *m, struct dataset_status *st)
{
	int r =
	    dec_fields(c, m, st, dataset_status_fields, NELEM(dataset_status_fields), any_field);
	if (r < 0)
		return r;
	return exact_wins(c, m, "ufsTotalBytes", fd_ufs_total_bytes, st);
}

/* ---- Runtime ---- */

static const char *const fluid_level_ignored[] = {"quotaList", "volumeType", "volumeSource", NULL};

static int fd_level_medium(struct dctx *c, const ynode *v, void *dst)
{
	char b[64], *s = NULL;
	int r = get_str(c, v, &s);
	if (r < 0 || !s)
		return r;
	r = fail(c, "bad mediumtype %s (want MEM, SSD or HDD)", q(s, b, sizeof(b)));
	for (size_t i = 0; i < NELEM(media); i++)
		if (!strcmp(s, media[i])) {
			*(enum medium_type *)dst = (enum medium_type)i;
			r = 0;
		}
	free(s);
	return r;
}

static const struct field level_fields[] = {
    FLD("mediumtype", fd_level_medium, struct tier_level, medium),
    FLD("path", fd_str, struct tier_level, path),
    FLD("quota", fd_quantity, struct tier_level, quota),
    FLD("high", fd_fraction, struct tier_level, high),
    FLD("low", fd_fraction, struct tier_level, low),
};

/* Whether map m gives key a non-null value. */
static bool has_value(const ynode *m, const char *key)
{
	const ynode *v = yamltree_get(m, key);
	return v && !is_null(v);
}

static int dec_level(struct dctx *c, const ynode *m, struct tier_level *l)
{
	int r = dec_fields(c, m, l, level_fields, NELEM(level_fields), fluid_level_ignored);
	if (r < 0)
		return r;
	if (!has_value(m, "mediumtype"))
		return missing(c, "mediumtype", " (MEM, SSD or HDD)");
	if (!l->path)
		return missing(c, "path", "");
	if (!has_value(m, "quota"))
		return missing(c, "quota", "");
	return 0;
}

static const char *const fluid_runtime_spec_ignored[] = {"master",
							 "worker",
							 "fuse",
							 "jobMaster",
							 "jobWorker",
							 "apiGateway",
							 "initUsers",
							 "properties",
							 "jvmOptions",
							 "alluxioVersion",
							 "runAs",
							 "hadoopConfig",
							 "data",
							 "podMetadata",
							 "disablePrometheus",
							 "volumes",
							 "management",
							 "imagePullSecrets",
							 "networkmode",
							 "cleanCachePolicy",
							 "runtimeManagement",
							 "tolerations",
							 "nodeSelector",
							 NULL};

static int fd_runtime_replicas(struct dctx *c, const ynode *v, void *dst)
{
	struct runtime *rt = dst;
	int64_t v64 = rt->replicas;
	int r = get_int(c, v, 0, 10000, &v64);
	rt->replicas = (int32_t)v64;
	return r;
}
static int fd_tier_levels(struct dctx *c, const ynode *v, void *dst)
{
	struct runtime *rt = dst;
	int r;
	if (is_null(v))
		return 0;
	if ((r = want(c, v, YAMLTREE_SEQ)) < 0)
		return r;
	rt->levels = calloc(v->n ? v->n : 1, sizeof(*rt->levels));
	if (!rt->levels)
		return oom(c);
	for (size_t i = 0; r == 0 && i < v->n; i++) {
		rt->levels[i].high = 0.95;
		rt->levels[i].low = 0.7;
		rt->n_levels = i + 1;
		size_t s3 = path_push_index(c, i);
		r = dec_level(c, v->items[i], &rt->levels[i]);
		path_pop(c, s3);
	}
	return r;
}
static const struct field tieredstore_fields[] = {{"levels", fd_tier_levels, 0}};
static int fd_tieredstore(struct dctx *c, const ynode *v, void *dst)
{
	if (is_null(v))
		return 0;
	return dec_fields(c, v, dst, tieredstore_fields, NELEM(tieredstore_fields), NULL);
}
static const struct field runtime_spec_fields[] = {
    {"replicas", fd_runtime_replicas, 0},
    {"tieredstore", fd_tieredstore, 0},
};

static int dec_runtime_spec(struct dctx *c, const ynode *m, struct runtime *rt)
{
	return dec_fields(c, m, rt, runtime_spec_fields, NELEM(runtime_spec_fields),
			  fluid_runtime_spec_ignored);
}

static int fd_runtime_phase(struct dctx *c, const ynode *v, void *dst)
{
	int phase = 0, r = parse_enum(c, v, runtime_phases, NELEM(runtime_phases), &phase);
	*(enum runtime_phase *)dst = (enum runtime_phase)phase;
	return r;
}
static const struct field runtime_status_fields[] = {
    FLD("phase", fd_runtime_phase, struct runtime, status.phase),
    FLD("cacheCapacityBytes", fd_u64, struct runtime, status.cache_capacity),
    FLD("cachedBytes", fd_u64, struct runtime, status.cached),
};

static int dec_runtime_status(struct dctx *c, const ynode *m, struct runtime *rt)
{
	return dec_fields(c, m, rt, runtime_status_fields, NELEM(runtime_status_fields), any_field);
}

/* ---- DataLoad ---- */

/* Go's time.Duration text as Fluid writes it ("2m1s", "1h0m0s", "350ms"). */
static int parse_go_duration(const char *s, int64_t *ret)
{
	double total = 0;
	const char *p = s;
	if (!*p)
		return -EINVAL;
	while (*p) {
		char *end;
		double v = strtod(p, &end);
		if (end == p || v < 0)
			return -EINVAL;
		p = end;
		if (!strncmp(p, "ms", 2)) {
			total += v / 1000;
			p += 2;
		} else if (*p == 'h') {
			total += v * 3600;
			p++;
		} else if (*p == 'm') {
			total += v * 60;
			p++;
		} else if (*p == 's') {
			total += v;
			p++;
		} else {
			return -EINVAL;
		}
	}
	*ret = (int64_t)total;
	return 0;
}

static const char *const fluid_dataload_spec_ignored[] = {"options",
							  "nodeSelector",
							  "affinity",
							  "tolerations",
							  "schedulerName",
							  "podMetadata",
							  "imagePullSecrets",
							  "runAfter",
							  "ttlSecondsAfterFinished",
							  "resources",
							  NULL};

static const struct field dataload_dataset_fields[] = {
    FLD("name", fd_str, struct dataload, spec.dataset_name),
    FLD("namespace", fd_str, struct dataload, spec.dataset_namespace),
};
static int fd_dataload_dataset(struct dctx *c, const ynode *v, void *dst)
{
	if (is_null(v))
		return 0;
	return dec_fields(c, v, dst, dataload_dataset_fields, NELEM(dataload_dataset_fields), NULL);
}
static int fd_target_replicas(struct dctx *c, const ynode *v, void *dst)
{
	int64_t rep = 0;
	int r = get_int(c, v, 1, 10000, &rep);
	*(int32_t *)dst = (int32_t)rep;
	return r;
}
static const struct field dataload_target_fields[] = {
    FLD("path", fd_str, struct dataload_target, path),
    FLD("replicas", fd_target_replicas, struct dataload_target, replicas),
};
static int fd_dataload_targets(struct dctx *c, const ynode *v, void *dst)
{
	struct dataload *dl = dst;
	int r;
	if (is_null(v))
		return 0;
	if ((r = want(c, v, YAMLTREE_SEQ)) < 0)
		return r;
	dl->spec.targets = calloc(v->n ? v->n : 1, sizeof(*dl->spec.targets));
	if (!dl->spec.targets)
		return oom(c);
	for (size_t i = 0; r == 0 && i < v->n; i++) {
		struct dataload_target *t = &dl->spec.targets[i];
		dl->spec.n_targets = i + 1;
		size_t s2 = path_push_index(c, i);
		r = dec_fields(c, v->items[i], t, dataload_target_fields,
			       NELEM(dataload_target_fields), NULL);
		if (r == 0 && !t->path)
			r = missing(c, "path", "");
		path_pop(c, s2);
	}
	return r;
}
static int fd_dataload_policy(struct dctx *c, const ynode *v, void *dst)
{
	static const char *const policies[] = {"Once", "Cron"};
	int p = 0, r = parse_enum(c, v, policies, NELEM(policies), &p);
	*(enum dataload_policy *)dst = (enum dataload_policy)p;
	return r;
}
static const struct field dataload_spec_fields[] = {
    {"dataset", fd_dataload_dataset, 0},
    {"target", fd_dataload_targets, 0},
    FLD("loadMetadata", fd_bool, struct dataload, spec.load_metadata),
    FLD("policy", fd_dataload_policy, struct dataload, spec.policy),
    FLD("schedule", fd_str, struct dataload, spec.schedule),
};

static int dec_dataload_spec(struct dctx *c, const ynode *m, struct objmodel *o)
{
	struct dataload *dl = &o->dataload;
	int r = dec_fields(c, m, dl, dataload_spec_fields, NELEM(dataload_spec_fields),
			   fluid_dataload_spec_ignored);
	if (r < 0)
		return r;
	if (!dl->spec.dataset_name)
		return missing(c, "dataset.name", "");
	dl->spec.dataset_namespace_set = dl->spec.dataset_namespace != NULL;
	if (!dl->spec.dataset_namespace &&
	    !(dl->spec.dataset_namespace = strdup(o->meta.namespace)))
		return oom(c);
	return 0;
}

static int fd_dataload_phase(struct dctx *c, const ynode *v, void *dst)
{
	int phase = 0, r = parse_enum(c, v, dataload_phases, NELEM(dataload_phases), &phase);
	*(enum dataload_phase *)dst = (enum dataload_phase)phase;
	return r;
}
/* "2m1s" as kubectl prints it; "Unfinished" while it runs. */
static int fd_go_duration(struct dctx *c, const ynode *v, void *dst)
{
	char b[64];
	int r;
	if (is_null(v))
		return 0;
	if ((r = want(c, v, YAMLTREE_SCALAR)) < 0)
		return r;
	if (strcmp(v->scalar, "Unfinished") != 0 && parse_go_duration(v->scalar, dst) < 0)
		return fail(c, "bad duration %s", q(v->scalar, b, sizeof(b)));
	return 0;
}
static int fd_seconds(struct dctx *c, const ynode *v, void *dst)
{
	return get_int(c, v, 0, INT64_MAX, dst);
}
static const struct field dataload_progress_fields[] = {
    FLD("bytesDone", fd_u64, struct dataload, status.bytes_done),
    FLD("bytesTotal", fd_u64, struct dataload, status.bytes_total),
    FLD("filesDone", fd_u64, struct dataload, status.files_done),
    FLD("filesTotal", fd_u64, struct dataload, status.files_total),
};
static int fd_dataload_progress(struct dctx *c, const ynode *v, void *dst)
{
	if (is_null(v))
		return 0;
	return dec_fields(c, v, dst, dataload_progress_fields, NELEM(dataload_progress_fields),
			  NULL);
}
static const struct field dataload_status_fields[] = {
    FLD("phase", fd_dataload_phase, struct dataload, status.phase),
    FLD("duration", fd_go_duration, struct dataload, status.duration),
    FLD("durationSeconds", fd_seconds, struct dataload, status.duration),
    FLD("startTime", fd_time, struct dataload, status.start_time),
    FLD("completionTime", fd_time, struct dataload, status.completion_time),
    FLD("conditions", fd_conditions, struct dataload, status.conditions),
    {"progress", fd_dataload_progress, 0},
};

static int dec_dataload_status(struct dctx *c, const ynode *m, struct dataload *dl)
{
	int r =
	    dec_fields(c, m, dl, dataload_status_fields, NELEM(dataload_status_fields), any_field);
	if (r < 0)
		return r;
	/* the exact durationSeconds wins over the rounded duration, wherever each appears */
	const ynode *exact = yamltree_get(m, "durationSeconds");
	return exact ? FIELD(c, "durationSeconds", fd_seconds(c, exact, &dl->status.duration)) : 0;
}

/* ---- the object ---- */

static const char *const fluid_meta_ignored[] = {"generateName",
						 "generation",
						 "finalizers",
						 "ownerReferences",
						 "managedFields",
						 "deletionTimestamp",
						 "selfLink",
						 "deletionGracePeriodSeconds",
						 NULL};

static const struct field meta_fields[] = {
    FLD("name", fd_str, struct objmeta, name),
    FLD("namespace", fd_str, struct objmeta, namespace),
    FLD("labels", fd_kvmap, struct objmeta, labels),
    FLD("annotations", fd_kvmap, struct objmeta, annotations),
    FLD("creationTimestamp", fd_time, struct objmeta, creation_timestamp),
    FLD("uid", fd_str, struct objmeta, uid),
    FLD("resourceVersion", fd_str, struct objmeta, resource_version),
};

static int dec_meta(struct dctx *c, const ynode *m, struct objmeta *meta)
{
	int r = dec_fields(c, m, meta, meta_fields, NELEM(meta_fields), fluid_meta_ignored);
	if (r < 0)
		return r;
	if (!meta->name)
		return missing(c, "name", "");
	meta->namespace_set = meta->namespace != NULL;
	return 0;
}

/* A v1 Secret: type, immutable, data and stringData at the top level; no spec. */
static int dec_secret(struct dctx *c, const ynode *root, struct secret *s)
{
	const ynode *spec = yamltree_get(root, "spec"), *type = yamltree_get(root, "type");
	const ynode *imm = yamltree_get(root, "immutable");
	int r = 0;
	if (spec && !is_null(spec))
		return unknown_field(c, "spec", spec, NULL);
	if (type && !is_null(type))
		r = FIELD(c, "type", get_str(c, type, &s->type));
	if (r == 0 && imm && !is_null(imm))
		r = FIELD(c, "immutable", get_bool(c, imm, &s->immutable));
	if (r == 0 && !s->type && !(s->type = strdup(SECRET_TYPE_OPAQUE)))
		r = oom(c);
	if (r == 0) {
		r = secret_decode(yamltree_get(root, "data"), yamltree_get(root, "stringData"), s,
				  c->errbuf, c->errlen);
		if (r == -ENOMEM)
			oom(c);
	}
	return r;
}

struct kind_desc {
	const char *name;
	const char *api;
	enum objmodel_kind kind;
};

static const struct kind_desc kinds[] = {
    {"Dataset", OBJMODEL_API_FLUID, OBJMODEL_DATASET},
    {"AlluxioRuntime", OBJMODEL_API_FLUID, OBJMODEL_RUNTIME},
    {"Runtime", OBJMODEL_API_FLUID, OBJMODEL_RUNTIME},
    {"DataLoad", OBJMODEL_API_FLUID, OBJMODEL_DATALOAD},
    {"Namespace", OBJMODEL_API_CORE, OBJMODEL_NAMESPACE},
    {"Secret", OBJMODEL_API_CORE, OBJMODEL_SECRET},
};

/* What differs per kind, indexed by enum objmodel_kind; NULL where a kind has nothing
 * (a Namespace's spec and status are kept as they came, not decoded). Defined at the end of
 * the file, after the functions it names. */
struct kind_ops {
	void (*init)(struct objmodel *o);
	int (*dec_spec)(struct dctx *c, const ynode *m, struct objmodel *o);
	int (*dec_status)(struct dctx *c, const ynode *m, struct objmodel *o);
	int (*validate)(const struct objmodel *o, char *errbuf, size_t errlen);
	void (*clear)(struct objmodel *o);
	json_object *(*spec_json)(const struct objmodel *o);
	json_object *(*status_json)(const struct objmodel *o);
	/* Kinds whose content is not under spec (a Secret's data): decoded from the document's
	 * root, the top-level fields they add, and their encoding into the root. */
	int (*dec_root)(struct dctx *c, const ynode *root, struct objmodel *o);
	const char *const *top_fields; /* NULL-terminated */
	int (*root_json)(const struct objmodel *o, json_object *root);
};
#define OBJMODEL_NKINDS (OBJMODEL_SECRET + 1)
static const struct kind_ops kind_ops[OBJMODEL_NKINDS];

static void objmodel_init_defaults(struct objmodel *o)
{
	if (kind_ops[o->kind].init)
		kind_ops[o->kind].init(o);
}

/* Decodes one document. *hdr receives "Kind ns/name" as soon as they are known. */
static int decode(struct dctx *c, const ynode *root, struct objmodel **ret, char *hdr,
		  size_t hdrlen)
{
	char b[80];
	char *api = NULL, *kind = NULL;
	const struct kind_desc *kd = NULL;
	int r;

	hdr[0] = '\0';
	if (root->type != YAMLTREE_MAP)
		return fail(c, "expected a map with apiVersion, kind, metadata, got %s",
			    type_desc(root));
	struct objmodel *o = calloc(1, sizeof(*o));
	if (!o)
		return oom(c);
	c->obj = o;
	if ((r = FIELD(c, "apiVersion", get_str(c, yamltree_get(root, "apiVersion"), &api))) < 0 ||
	    (r = FIELD(c, "kind", get_str(c, yamltree_get(root, "kind"), &kind))) < 0)
		goto fail;
	if (!kind) {
		r = missing(c, "kind", "");
		goto fail;
	}
	for (size_t i = 0; i < NELEM(kinds); i++)
		if (!strcmp(kinds[i].name, kind))
			kd = &kinds[i];
	if (!kd) {
		r = FIELD(c, "kind",
			  fail(c,
			       "unknown kind %s (weir knows Dataset, AlluxioRuntime, Runtime, "
			       "DataLoad, Namespace, Secret)",
			       q(kind, b, sizeof(b))));
		goto fail;
	}
	if (!api) {
		r = missing(c, "apiVersion", "");
		goto fail;
	}
	if (strcmp(api, kd->api) != 0) {
		r = FIELD(c, "apiVersion",
			  fail(c, "unknown apiVersion %s for kind %s (want %s)",
			       q(api, b, sizeof(b)), kd->name, kd->api));
		goto fail;
	}
	o->kind = kd->kind;
	o->kind_name = kind;
	o->api_version = api;
	kind = api = NULL;
	objmodel_init_defaults(o);

	const ynode *meta = yamltree_get(root, "metadata");
	if (!meta || is_null(meta)) {
		r = missing(c, "metadata", "");
		goto fail;
	}
	if ((r = FIELD(c, "metadata", dec_meta(c, meta, &o->meta))) < 0)
		goto fail;
	if (o->kind == OBJMODEL_NAMESPACE) {
		free(o->meta.namespace);
		o->meta.namespace = NULL;
		snprintf(hdr, hdrlen, "%s %s", o->kind_name, o->meta.name);
	} else {
		if (!o->meta.namespace &&
		    !(o->meta.namespace = strdup(OBJMODEL_DEFAULT_NAMESPACE))) {
			r = oom(c);
			goto fail;
		}
		snprintf(hdr, hdrlen, "%s %s/%s", o->kind_name, o->meta.namespace, o->meta.name);
	}

	const ynode *spec = yamltree_get(root, "spec"), *status = yamltree_get(root, "status");
	if (is_null(spec))
		spec = NULL;
	if (is_null(status))
		status = NULL;
	if (!spec && o->kind != OBJMODEL_NAMESPACE && o->kind != OBJMODEL_SECRET) {
		r = missing(c, "spec", "");
		goto fail;
	}
	const struct kind_ops *ops = &kind_ops[o->kind];
	if (spec)
		r = ops->dec_spec ? FIELD(c, "spec", ops->dec_spec(c, spec, o))
				  : ignore_field(c, "spec", spec);
	if (r == 0 && status)
		r = ops->dec_status ? FIELD(c, "status", ops->dec_status(c, status, o))
				    : ignore_field(c, "status", status);
	if (r == 0 && ops->dec_root)
		r = ops->dec_root(c, root, o);
	if (r < 0)
		goto fail;
	static const char *const top[] = {"apiVersion", "kind", "metadata", "spec", "status"};
	for (size_t i = 0; i < root->n; i++) {
		const char *k = root->items[2 * i]->scalar;
		bool known = false;
		for (size_t j = 0; j < NELEM(top) && !known; j++)
			known = !strcmp(k, top[j]);
		for (const char *const *f = ops->top_fields; f && *f && !known; f++)
			known = !strcmp(k, *f);
		if (!known) {
			r = unknown_field(c, k, root->items[2 * i + 1], NULL);
			goto fail;
		}
	}
	*ret = o;
	return 0;
fail:
	free(api);
	free(kind);
	objmodel_free(o);
	c->obj = NULL;
	return r;
}

/* ---- validation ---- */

static bool dns_label(const char *s)
{
	if (!s)
		return false;
	size_t n = strlen(s);
	if (n == 0 || n > 63 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return false;
	for (const char *p = s; *p; p++)
		if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-'))
			return false;
	return true;
}

static bool dns_subdomain(const char *s)
{
	if (!s)
		return false;
	size_t n = strlen(s);
	if (n == 0 || n > 253)
		return false;
	char buf[254];
	memcpy(buf, s, n + 1);
	for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok;
	     tok = strtok_r(NULL, ".", &save))
		if (!dns_label(tok))
			return false;
	return s[0] != '.' && s[n - 1] != '.' && !strstr(s, "..");
}

int objmodel_subpath_normalize(const char *in, char *buf, size_t len)
{
	size_t o = 0;
	const char *p = in;
	if (len == 0)
		return -ENAMETOOLONG;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return -EINVAL;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
				return -EINVAL;
		if (o + 1 + n + 1 > len)
			return -ENAMETOOLONG;
		buf[o++] = '/';
		memcpy(buf + o, p, n);
		o += n;
		p += n;
	}
	buf[o] = '\0';
	return 0;
}

int dataset_ref_parse(const char *mp, struct dataset_ref *ret, char *errbuf, size_t errlen)
{
	char b[300];
	size_t sl = strlen(OBJMODEL_DATASET_SCHEME);
	struct dataset_ref ref = {0};
	if (strncmp(mp, OBJMODEL_DATASET_SCHEME, sl) != 0) {
		snprintf(errbuf, errlen, "%s is not a dataset:// reference", q(mp, b, sizeof(b)));
		return -EINVAL;
	}
	const char *p = mp + sl;
	const char *slash = strchr(p, '/');
	size_t nl = slash ? (size_t)(slash - p) : strlen(p);
	if (nl == 0 || nl >= sizeof(ref.namespace)) {
		snprintf(errbuf, errlen, "%s: want dataset://<namespace>/<name>[/<subpath>]",
			 q(mp, b, sizeof(b)));
		return -EINVAL;
	}
	memcpy(ref.namespace, p, nl);
	if (!dns_label(ref.namespace)) {
		snprintf(errbuf, errlen, "%s: bad namespace %s", q(mp, b, sizeof(b)),
			 q(ref.namespace, b + 150, 150));
		return -EINVAL;
	}
	p = slash ? slash + 1 : p + nl;
	slash = strchr(p, '/');
	nl = slash ? (size_t)(slash - p) : strlen(p);
	if (nl == 0 || nl >= sizeof(ref.name)) {
		snprintf(errbuf, errlen,
			 "%s: missing dataset name (want dataset://<namespace>/<name>)",
			 q(mp, b, sizeof(b)));
		return -EINVAL;
	}
	memcpy(ref.name, p, nl);
	if (!dns_subdomain(ref.name)) {
		snprintf(errbuf, errlen, "%s: bad dataset name", q(mp, b, sizeof(b)));
		return -EINVAL;
	}
	if (slash && objmodel_subpath_normalize(slash, ref.subpath, sizeof(ref.subpath)) < 0) {
		snprintf(errbuf, errlen, "%s: bad subpath (no \".\" or \"..\" components)",
			 q(mp, b, sizeof(b)));
		return -EINVAL;
	}
	*ret = ref;
	return 0;
}

int dataset_mount_s3_options(const struct dataset_spec *sp, size_t i, struct aws_s3_options *ret,
			     char *errbuf, size_t errlen)
{
	const struct kvmap *maps[] = {&sp->shared_options, &sp->mounts[i].options};
	size_t n = maps[0]->n + maps[1]->n, k = 0;
	const char **keys = calloc(n + 1, sizeof(*keys)), **vals = calloc(n + 1, sizeof(*vals));
	int r = -ENOMEM;
	if (keys && vals) {
		for (size_t m = 0; m < 2; m++)
			for (size_t j = 0; j < maps[m]->n; j++, k++) {
				keys[k] = maps[m]->items[j].key;
				vals[k] = maps[m]->items[j].value;
			}
		r = aws_s3_options_from_pairs(keys, vals, n, ret, errbuf, errlen);
	}
	free(keys);
	free(vals);
	return r;
}

char *dataset_mount_path(const struct dataset_spec *sp, size_t i, char *buf, size_t len)
{
	const struct dataset_mount *m = &sp->mounts[i];
	if (m->path && m->path[0])
		snprintf(buf, len, "%s", m->path);
	else if (sp->n_mounts == 1 || !m->name)
		snprintf(buf, len, "/");
	else
		snprintf(buf, len, "/%s", m->name);
	return buf;
}

bool dataset_is_reference(const struct objmodel *obj)
{
	if (!obj || obj->kind != OBJMODEL_DATASET)
		return false;
	for (size_t i = 0; i < obj->dataset.spec.n_mounts; i++)
		if (obj->dataset.spec.mounts[i].mount_point &&
		    !strncmp(obj->dataset.spec.mounts[i].mount_point, OBJMODEL_DATASET_SCHEME,
			     strlen(OBJMODEL_DATASET_SCHEME)))
			return true;
	return false;
}

static const char *const schemes[] = {"https://", "http://", "s3://",
				      "local://", "pvc://",  OBJMODEL_DATASET_SCHEME};

__attribute__((format(printf, 3, 4))) static int vfail(char *errbuf, size_t errlen, const char *fmt,
						       ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int validate_reference(const struct objmodel *o, char *errbuf, size_t errlen)
{
	const struct dataset_spec *sp = &o->dataset.spec;
	size_t sl = strlen(OBJMODEL_DATASET_SCHEME), first = 0;
	char b[200];
	for (size_t i = 0; i < sp->n_mounts; i++)
		if (!strncmp(sp->mounts[i].mount_point, OBJMODEL_DATASET_SCHEME, sl)) {
			first = i;
			break;
		}
	for (size_t i = 0; i < sp->n_mounts; i++)
		if (strncmp(sp->mounts[i].mount_point, OBJMODEL_DATASET_SCHEME, sl) != 0)
			return vfail(
			    errbuf, errlen,
			    "spec.mounts[%zu].mountPoint: %s cannot be combined with the "
			    "dataset:// reference in spec.mounts[%zu]; a reference must be "
			    "the only mount",
			    i, q(sp->mounts[i].mount_point, b, sizeof(b)), first);
	if (sp->n_mounts != 1)
		return vfail(errbuf, errlen,
			     "spec.mounts: a dataset:// reference must have exactly one mount, "
			     "found %zu",
			     sp->n_mounts);
	const struct dataset_mount *m = &sp->mounts[0];
	const char *bad = m->path			 ? "spec.mounts[0].path"
			  : m->options.n		 ? "spec.mounts[0].options"
			  : m->n_encrypt_options	 ? "spec.mounts[0].encryptOptions"
			  : m->shared			 ? "spec.mounts[0].shared"
			  : sp->n_access_modes		 ? "spec.accessModes"
			  : sp->owner.set		 ? "spec.owner"
			  : sp->placement		 ? "spec.placement"
			  : sp->shared_options.n	 ? "spec.sharedOptions"
			  : sp->n_shared_encrypt_options ? "spec.sharedEncryptOptions"
			  : sp->has_allow_list		 ? "spec.sharing"
							 : NULL;
	if (!bad && o->ignored) {
		json_object_object_foreach(o->ignored, key, val)
		{
			(void)val;
			if (!strncmp(key, "spec.", 5)) {
				bad = key;
				break;
			}
		}
	}
	if (bad)
		return vfail(errbuf, errlen,
			     "%s: not allowed on a dataset:// reference (the source dataset's "
			     "settings apply; use dataset://<ns>/<name>/<subpath> for a "
			     "subdirectory)",
			     bad);
	struct dataset_ref ref;
	char msg[512];
	if (dataset_ref_parse(m->mount_point, &ref, msg, sizeof(msg)) < 0)
		return vfail(errbuf, errlen, "spec.mounts[0].mountPoint: %s", msg);
	if (!strcmp(ref.namespace, o->meta.namespace) && !strcmp(ref.name, o->meta.name))
		return vfail(errbuf, errlen,
			     "spec.mounts[0].mountPoint: a dataset cannot "
			     "reference itself");
	return 0;
}

/* A secretKeyRef names a Secret of the Dataset's own namespace: a Secret's name and key, as
 * Kubernetes spells them, so it cannot become another path on the apiserver. */
static int validate_secret_refs(const struct encrypt_option *e, size_t n, const char *what,
				char *errbuf, size_t errlen)
{
	char b[200];
	for (size_t i = 0; i < n; i++) {
		if (!dns_subdomain(e[i].secret_name))
			return vfail(errbuf, errlen,
				     "%s[%zu].valueFrom.secretKeyRef.name: bad Secret name %s "
				     "(lowercase letters, digits, '-' and '.'; a Secret of this "
				     "namespace)",
				     what, i, q(e[i].secret_name, b, sizeof(b)));
		if (!secret_key_ok(e[i].secret_key))
			return vfail(errbuf, errlen,
				     "%s[%zu].valueFrom.secretKeyRef.key: bad key %s (letters, "
				     "digits, '-', '_' and '.')",
				     what, i, q(e[i].secret_key, b, sizeof(b)));
	}
	return 0;
}

static int validate_dataset(const struct objmodel *o, char *errbuf, size_t errlen)
{
	const struct dataset_spec *sp = &o->dataset.spec;
	char b[200];
	static const char *const modes[] = {"ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce",
					    "ReadOnlyOnce", "ReadWriteOncePod"};
	if (sp->n_mounts == 0)
		return vfail(errbuf, errlen, "spec.mounts: at least one mount is required");
	for (size_t i = 0; i < sp->n_mounts; i++)
		if (!sp->mounts[i].mount_point)
			return vfail(errbuf, errlen,
				     "spec.mounts[%zu].mountPoint: missing required field", i);
	if (dataset_is_reference(o))
		return validate_reference(o, errbuf, errlen);
	int sr = validate_secret_refs(sp->shared_encrypt_options, sp->n_shared_encrypt_options,
				      "spec.sharedEncryptOptions", errbuf, errlen);
	if (sr < 0)
		return sr;
	for (size_t i = 0; i < sp->n_mounts; i++) {
		const struct dataset_mount *m = &sp->mounts[i];
		bool ok = false;
		for (size_t s = 0; s < NELEM(schemes); s++)
			ok |= !strncmp(m->mount_point, schemes[s], strlen(schemes[s])) &&
			      m->mount_point[strlen(schemes[s])];
		if (!ok)
			return vfail(errbuf, errlen,
				     "spec.mounts[%zu].mountPoint: unsupported %s (want https://, "
				     "http://, s3://, local://, pvc:// or dataset://)",
				     i, q(m->mount_point, b, sizeof(b)));
		if (m->path && m->path[0] != '/')
			return vfail(errbuf, errlen, "spec.mounts[%zu].path: %s must be absolute",
				     i, q(m->path, b, sizeof(b)));
		char what[64];
		snprintf(what, sizeof(what), "spec.mounts[%zu].encryptOptions", i);
		int r = validate_secret_refs(m->encrypt_options, m->n_encrypt_options, what, errbuf,
					     errlen);
		if (r < 0)
			return r;
		if (!strncmp(m->mount_point, "s3://", 5)) {
			struct aws_s3_options so;
			char msg[300];
			if (dataset_mount_s3_options(sp, i, &so, msg, sizeof(msg)) < 0)
				return vfail(errbuf, errlen, "spec.mounts[%zu].options: %s", i,
					     msg);
		}
		char pi[4096], pj[4096];
		if (sp->n_mounts > 1 && !m->name && !m->path)
			return vfail(errbuf, errlen,
				     "spec.mounts[%zu]: name or path is required when there are "
				     "several mounts",
				     i);
		dataset_mount_path(sp, i, pi, sizeof(pi));
		for (size_t j = 0; j < i; j++)
			if (!strcmp(pi, dataset_mount_path(sp, j, pj, sizeof(pj))))
				return vfail(errbuf, errlen,
					     "spec.mounts[%zu]: path %s is already used by "
					     "spec.mounts[%zu]",
					     i, q(pi, b, sizeof(b)), j);
		for (size_t j = 0; j < i; j++)
			if (m->name && sp->mounts[j].name && !strcmp(m->name, sp->mounts[j].name))
				return vfail(errbuf, errlen,
					     "spec.mounts[%zu].name: %s is already used by "
					     "spec.mounts[%zu]",
					     i, q(m->name, b, sizeof(b)), j);
	}
	for (size_t i = 0; i < sp->n_access_modes; i++) {
		bool ok = false;
		for (size_t j = 0; j < NELEM(modes); j++)
			ok |= !strcmp(sp->access_modes[i], modes[j]);
		if (!ok)
			return vfail(errbuf, errlen,
				     "spec.accessModes[%zu]: unknown access mode %s", i,
				     q(sp->access_modes[i], b, sizeof(b)));
	}
	if (sp->placement && strcmp(sp->placement, "Exclusive") && strcmp(sp->placement, "Shared"))
		return vfail(errbuf, errlen,
			     "spec.placement: bad value %s (want Exclusive or Shared)",
			     q(sp->placement, b, sizeof(b)));
	for (size_t i = 0; i < sp->n_allow; i++) {
		const struct sharing_grant *g = &sp->allow[i];
		if (!g->namespace || (strcmp(g->namespace, "*") != 0 && !dns_label(g->namespace)))
			return vfail(errbuf, errlen,
				     "spec.sharing.allow[%zu].namespace: bad namespace %s (want "
				     "a namespace name or \"*\")",
				     i, q(g->namespace, b, sizeof(b)));
		for (size_t j = 0; j < g->n_sub_paths; j++)
			if (g->sub_paths[j][0] != '/')
				return vfail(errbuf, errlen,
					     "spec.sharing.allow[%zu].subPaths[%zu]: bad subpath",
					     i, j);
	}
	return 0;
}

static int validate_runtime(const struct objmodel *o, char *errbuf, size_t errlen)
{
	const struct runtime *rt = &o->runtime;
	char b[200];
	/* Absent, replicas is 1 (runtime_init); 0 is asked for. In Fluid it scales the Runtime's
	 * cache workers to none, so no node caches the Dataset; weir has no Runtime without a
	 * cache, and its old reading (every node caches) was the opposite: refused. */
	if (rt->replicas == 0)
		return vfail(errbuf, errlen, "%s", OBJMODEL_REPLICAS_ZERO);
	if (rt->n_levels == 0)
		return vfail(errbuf, errlen,
			     "spec.tieredstore.levels: at least one cache tier is required");
	for (size_t i = 0; i < rt->n_levels; i++) {
		const struct tier_level *l = &rt->levels[i];
		if (!l->path || l->path[0] != '/')
			return vfail(errbuf, errlen,
				     "spec.tieredstore.levels[%zu].path: %s must be absolute", i,
				     q(l->path, b, sizeof(b)));
		if (l->quota == 0)
			return vfail(errbuf, errlen,
				     "spec.tieredstore.levels[%zu].quota: must be more than 0", i);
		if (!(l->high >= 0 && l->high <= 1) || !(l->low >= 0 && l->low <= 1))
			return vfail(errbuf, errlen,
				     "spec.tieredstore.levels[%zu]: watermarks must be in 0..1", i);
		if (l->low > l->high)
			return vfail(errbuf, errlen,
				     "spec.tieredstore.levels[%zu].low: %.2f is above high %.2f", i,
				     l->low, l->high);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(rt->levels[j].path, l->path))
				return vfail(errbuf, errlen,
					     "spec.tieredstore.levels[%zu].path: %s is already "
					     "used by levels[%zu]",
					     i, q(l->path, b, sizeof(b)), j);
	}
	return 0;
}

static int validate_dataload(const struct objmodel *o, char *errbuf, size_t errlen)
{
	const struct dataload *dl = &o->dataload;
	char b[200];
	if (!dns_subdomain(dl->spec.dataset_name))
		return vfail(errbuf, errlen, "spec.dataset.name: bad name %s",
			     q(dl->spec.dataset_name, b, sizeof(b)));
	if (!dns_label(dl->spec.dataset_namespace))
		return vfail(errbuf, errlen, "spec.dataset.namespace: bad namespace %s",
			     q(dl->spec.dataset_namespace, b, sizeof(b)));
	/* A DataLoad fills a cache on its namespace's behalf: naming another namespace's Dataset
	 * would load (and evict for) a cache that namespace never granted. The way to preheat a
	 * shared cache is a reference Dataset here, whose grant is checked. A manifest without
	 * metadata.namespace is checked once `-n` has given it one (on the controller's side). */
	if (o->meta.namespace_set && strcmp(dl->spec.dataset_namespace, o->meta.namespace) != 0) {
		char b2[200];
		return vfail(errbuf, errlen,
			     "spec.dataset.namespace: %s is not the DataLoad's namespace %s: a "
			     "DataLoad loads a Dataset of its own namespace; to preheat another "
			     "namespace's cache, load a Dataset here with mountPoint "
			     "dataset://%s/%s (if %s grants it)",
			     q(dl->spec.dataset_namespace, b, sizeof(b)),
			     q(o->meta.namespace, b2, sizeof(b2)), dl->spec.dataset_namespace,
			     dl->spec.dataset_name, dl->spec.dataset_namespace);
	}
	for (size_t i = 0; i < dl->spec.n_targets; i++) {
		char norm[4096];
		if (!dl->spec.targets[i].path ||
		    objmodel_subpath_normalize(dl->spec.targets[i].path, norm, sizeof(norm)) < 0)
			return vfail(errbuf, errlen,
				     "spec.target[%zu].path: bad path %s (no \".\" or \"..\")", i,
				     q(dl->spec.targets[i].path, b, sizeof(b)));
	}
	if (dl->spec.policy == DATALOAD_CRON && !dl->spec.schedule)
		return vfail(errbuf, errlen, "spec.schedule: required with policy Cron");
	/* the controller's own parser decides, so what applies is what runs */
	struct cron cr;
	char why[300];
	if (dl->spec.policy == DATALOAD_CRON &&
	    cron_parse(dl->spec.schedule, &cr, why, sizeof(why)) < 0)
		return vfail(errbuf, errlen, "spec.schedule: %s", why);
	if (dl->spec.policy == DATALOAD_ONCE && dl->spec.schedule)
		return vfail(errbuf, errlen, "spec.schedule: only allowed with policy Cron");
	return 0;
}

int objmodel_validate(const struct objmodel *o, char *errbuf, size_t errlen)
{
	char b[300];
	if (!o->meta.name || !dns_subdomain(o->meta.name) ||
	    (o->kind == OBJMODEL_NAMESPACE && !dns_label(o->meta.name)))
		return vfail(errbuf, errlen,
			     "metadata.name: bad name %s (lowercase letters, digits, '-' and '.', "
			     "starting and ending with a letter or digit)",
			     q(o->meta.name ? o->meta.name : "", b, sizeof(b)));
	if (o->kind != OBJMODEL_NAMESPACE && (!o->meta.namespace || !dns_label(o->meta.namespace)))
		return vfail(errbuf, errlen,
			     "metadata.namespace: bad namespace %s (lowercase letters, digits and "
			     "'-', at most 63)",
			     q(o->meta.namespace ? o->meta.namespace : "", b, sizeof(b)));
	/* A Dataset's (and its Runtime's) namespace and name make its cache's directory names,
	 * "<ns>_<name>", also set aside as ".weir-taken-<ns>_<name>-<16 hex>" (NAME_MAX 255), and
	 * in a cluster its PersistentVolume's, "weir-<ns, each '-' doubled>-<name>" (at most 253:
	 * controller/kube_sync.c): refused here rather than failing once the node opens it. */
	if (o->kind == OBJMODEL_DATASET || o->kind == OBJMODEL_RUNTIME) {
		size_t nl = strlen(o->meta.namespace), dashes = 0;
		for (const char *c = o->meta.namespace; *c; c++)
			dashes += *c == '-';
		size_t len = strlen(o->meta.name), id = nl + 1 + len,
		       pv = 5 + nl + dashes + 1 + len;
		size_t over = id > 226 ? id - 226 : 0;
		if (pv > 253 && pv - 253 > over)
			over = pv - 253;
		if (over)
			return vfail(
			    errbuf, errlen,
			    "metadata.name: %s is too long in namespace %s: weir names the "
			    "cache and the PersistentVolume after both, so the name may have "
			    "at most %zu characters there",
			    q(o->meta.name, b, sizeof(b)), o->meta.namespace, len - over);
	}
	return kind_ops[o->kind].validate ? kind_ops[o->kind].validate(o, errbuf, errlen) : 0;
}

/* ---- freeing and construction ---- */

static void meta_clear(struct objmeta *m)
{
	free(m->name);
	free(m->namespace);
	kvmap_clear(&m->labels);
	kvmap_clear(&m->annotations);
	free(m->uid);
	free(m->resource_version);
}

static void dataset_clear(struct objmodel *o)
{
	struct dataset_spec *sp = &o->dataset.spec;
	for (size_t i = 0; i < sp->n_mounts; i++) {
		struct dataset_mount *m = &sp->mounts[i];
		free(m->mount_point);
		free(m->name);
		free(m->path);
		kvmap_clear(&m->options);
		encrypt_options_free(m->encrypt_options, m->n_encrypt_options);
	}
	free(sp->mounts);
	strv_free(sp->access_modes, sp->n_access_modes);
	free(sp->owner.user);
	free(sp->owner.group);
	free(sp->placement);
	kvmap_clear(&sp->shared_options);
	encrypt_options_free(sp->shared_encrypt_options, sp->n_shared_encrypt_options);
	for (size_t i = 0; i < sp->n_allow; i++) {
		free(sp->allow[i].namespace);
		strv_free(sp->allow[i].sub_paths, sp->allow[i].n_sub_paths);
	}
	free(sp->allow);
	conditions_clear(&o->dataset.status.conditions);
	strv_free(o->dataset.status.dataset_ref, o->dataset.status.n_dataset_ref);
	strv_free(o->dataset.status.view_nodes, o->dataset.status.n_view_nodes);
}

static void runtime_clear(struct objmodel *o)
{
	for (size_t i = 0; i < o->runtime.n_levels; i++)
		free(o->runtime.levels[i].path);
	free(o->runtime.levels);
}

static void dataload_clear(struct objmodel *o)
{
	free(o->dataload.spec.dataset_name);
	free(o->dataload.spec.dataset_namespace);
	for (size_t i = 0; i < o->dataload.spec.n_targets; i++)
		free(o->dataload.spec.targets[i].path);
	free(o->dataload.spec.targets);
	free(o->dataload.spec.schedule);
	conditions_clear(&o->dataload.status.conditions);
}

void objmodel_free(struct objmodel *o)
{
	if (!o)
		return;
	free(o->kind_name);
	free(o->api_version);
	meta_clear(&o->meta);
	strv_free(o->warnings, o->n_warnings);
	if (o->ignored)
		json_object_put(o->ignored);
	if (kind_ops[o->kind].clear)
		kind_ops[o->kind].clear(o);
	free(o);
}

void objmodel_list_free(struct objmodel_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		objmodel_free(l->items[i]);
	free(l->items);
	free(l);
}

struct objmodel *objmodel_new(enum objmodel_kind kind, const char *ns, const char *name)
{
	struct objmodel *o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->kind = kind;
	o->kind_name = strdup(objmodel_kind_name(kind));
	o->api_version =
	    strdup(kind == OBJMODEL_NAMESPACE || kind == OBJMODEL_SECRET ? OBJMODEL_API_CORE
									 : OBJMODEL_API_FLUID);
	o->meta.name = strdup(name ? name : "");
	if (kind != OBJMODEL_NAMESPACE)
		o->meta.namespace = strdup(ns ? ns : OBJMODEL_DEFAULT_NAMESPACE);
	if (!o->kind_name || !o->api_version || !o->meta.name ||
	    (kind != OBJMODEL_NAMESPACE && !o->meta.namespace)) {
		objmodel_free(o);
		return NULL;
	}
	objmodel_init_defaults(o);
	return o;
}

/* ---- parsing entry points ---- */

int objmodel_parse_buffer(const char *name, const char *buf, size_t len,
			  struct objmodel_list **ret_list, char *errbuf, size_t errlen)
{
	struct yamltree_docs *docs = NULL;
	struct objmodel_list *list = NULL;
	char msg[1024], hdr[600];
	int r;

	r = yamltree_parse(buf, len, &docs, msg, sizeof(msg));
	if (r < 0) {
		snprintf(errbuf, errlen, "%s: %s", name, msg);
		return r;
	}
	list = calloc(1, sizeof(*list));
	if (!list || !(list->items = calloc(docs->n ? docs->n : 1, sizeof(*list->items)))) {
		r = -ENOMEM;
		snprintf(errbuf, errlen, "%s: out of memory", name);
		goto fail;
	}
	for (size_t i = 0; i < docs->n; i++) {
		struct dctx c = {.errbuf = msg, .errlen = sizeof(msg)};
		struct objmodel *o = NULL;
		unsigned idx = docs->docs[i].index;
		r = decode(&c, docs->docs[i].root, &o, hdr, sizeof(hdr));
		if (r == 0) {
			list->items[list->n++] = o;
			r = objmodel_validate(o, msg, sizeof(msg));
		}
		for (size_t j = 0; r == 0 && j + 1 < list->n; j++) {
			const struct objmodel *p = list->items[j];
			if (p->kind == o->kind && !strcmp(p->meta.name, o->meta.name) &&
			    (o->kind == OBJMODEL_NAMESPACE ||
			     !strcmp(p->meta.namespace, o->meta.namespace))) {
				snprintf(msg, sizeof(msg), "the same object as document %u",
					 docs->docs[j].index);
				r = -EINVAL;
			}
		}
		if (r < 0) {
			if (hdr[0])
				snprintf(errbuf, errlen, "%s: document %u (%s): %s", name, idx, hdr,
					 msg);
			else
				snprintf(errbuf, errlen, "%s: document %u: %s", name, idx, msg);
			goto fail;
		}
	}
	yamltree_docs_free(docs);
	*ret_list = list;
	return (int)list->n;
fail:
	objmodel_list_free(list);
	yamltree_docs_free(docs);
	return r;
}

int objmodel_parse_file(const char *path, struct objmodel_list **ret_list, char *errbuf,
			size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(errbuf, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(errbuf, errlen, "%s: %s", path, strerror(-r));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		r = -EISDIR;
		snprintf(errbuf, errlen, "%s: is a directory", path);
		goto out;
	}
	/* Read at most one byte past the limit, so pipes and growing files are capped too. */
	buf = malloc(YAMLTREE_MAX_BYTES + 1);
	if (!buf) {
		r = -ENOMEM;
		snprintf(errbuf, errlen, "%s: out of memory", path);
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, YAMLTREE_MAX_BYTES + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			snprintf(errbuf, errlen, "%s: %s", path, strerror(-r));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > YAMLTREE_MAX_BYTES) {
			r = -E2BIG;
			snprintf(errbuf, errlen, "%s: larger than the limit of %u bytes", path,
				 YAMLTREE_MAX_BYTES);
			goto out;
		}
	}
	r = objmodel_parse_buffer(path, buf, len, ret_list, errbuf, errlen);
out:
	free(buf);
	close(fd);
	return r;
}

int objmodel_from_json_object(json_object *obj, struct objmodel **ret, char *errbuf, size_t errlen)
{
	struct yamltree_node *root = NULL;
	char msg[1024], hdr[600];
	int r = yamltree_from_json(obj, &root);
	if (r < 0) {
		snprintf(errbuf, errlen, "json: %s",
			 r == -E2BIG ? "nested too deeply" : "out of memory");
		return r;
	}
	struct dctx c = {.errbuf = msg, .errlen = sizeof(msg)};
	struct objmodel *o = NULL;
	r = decode(&c, root, &o, hdr, sizeof(hdr));
	yamltree_node_free(root);
	if (r == 0) {
		r = objmodel_validate(o, msg, sizeof(msg));
		if (r < 0) {
			objmodel_free(o);
			o = NULL;
		}
	}
	if (r < 0) {
		if (hdr[0])
			snprintf(errbuf, errlen, "json (%s): %s", hdr, msg);
		else
			snprintf(errbuf, errlen, "json: %s", msg);
		return r;
	}
	*ret = o;
	return 0;
}

int objmodel_from_json(const char *text, struct objmodel **ret, char *errbuf, size_t errlen)
{
	size_t len = strlen(text);
	if (len > YAMLTREE_MAX_BYTES) {
		snprintf(errbuf, errlen, "json: larger than the limit of %u bytes",
			 YAMLTREE_MAX_BYTES);
		return -E2BIG;
	}
	struct json_tokener *tok = json_tokener_new_ex(YAMLTREE_MAX_DEPTH);
	if (!tok)
		return -ENOMEM;
	json_object *obj = json_tokener_parse_ex(tok, text, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t off = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!obj || jerr != json_tokener_success) {
		snprintf(errbuf, errlen, "json: %s at offset %zu",
			 json_tokener_error_desc(
			     jerr == json_tokener_continue ? json_tokener_error_parse_eof : jerr),
			 off);
		if (obj)
			json_object_put(obj);
		return -EINVAL;
	}
	for (const char *p = text + off; *p; p++) {
		if (!isspace((unsigned char)*p)) {
			snprintf(errbuf, errlen, "json: trailing data at offset %zu",
				 (size_t)(p - text));
			json_object_put(obj);
			return -EINVAL;
		}
	}
	int r = objmodel_from_json_object(obj, ret, errbuf, errlen);
	json_object_put(obj);
	return r;
}

/* ---- encoding ---- */

char *objmodel_format_time(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (!gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "1970-01-01T00:00:00Z");
	return buf;
}

int objmodel_parse_time(const char *s, int64_t *ret)
{
	struct tm tm = {0};
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -EINVAL;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		while (isdigit((unsigned char)*p))
			p++;
	}
	long off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) &&
		   isdigit((unsigned char)p[2]) && p[3] == ':' && isdigit((unsigned char)p[4]) &&
		   isdigit((unsigned char)p[5])) {
		off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 +
		      ((p[4] - '0') * 10 + (p[5] - '0')) * 60;
		if (*p == '-')
			off = -off;
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	*ret = (int64_t)timegm(&tm) - off;
	return 0;
}

static void jstr(json_object *o, const char *k, const char *v)
{
	if (v)
		json_object_object_add(o, k, json_object_new_string(v));
}

static void jmap(json_object *o, const char *k, const struct kvmap *m)
{
	if (!m->n)
		return;
	json_object *j = json_object_new_object();
	for (size_t i = 0; i < m->n; i++)
		json_object_object_add(j, m->items[i].key,
				       json_object_new_string(m->items[i].value));
	json_object_object_add(o, k, j);
}

static void jstrv(json_object *o, const char *k, char *const *v, size_t n)
{
	if (!n)
		return;
	json_object *a = json_object_new_array();
	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	json_object_object_add(o, k, a);
}

static void jtime(json_object *o, const char *k, int64_t t)
{
	char b[64];
	if (t)
		jstr(o, k, objmodel_format_time(t, b, sizeof(b)));
}

static void jsize(json_object *o, const char *k, const char *kbytes, uint64_t v)
{
	char b[32];
	jstr(o, k, quantity_format(v, b, sizeof(b)));
	json_object_object_add(o, kbytes, json_object_new_int64((int64_t)v));
}

static void jconditions(json_object *o, const struct conditions *cs)
{
	if (!cs->n)
		return;
	json_object *a = json_object_new_array();
	for (size_t i = 0; i < cs->n; i++) {
		const struct condition *cd = &cs->items[i];
		json_object *j = json_object_new_object();
		jstr(j, "type", cd->type);
		jstr(j, "status", cd->status);
		jstr(j, "reason", cd->reason);
		jstr(j, "message", cd->message);
		jtime(j, "lastTransitionTime", cd->last_transition_time);
		json_object_array_add(a, j);
	}
	json_object_object_add(o, "conditions", a);
}

static json_object *jencrypt(const struct encrypt_option *e, size_t n)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		json_object *j = json_object_new_object(), *vf = json_object_new_object(),
			    *ref = json_object_new_object();
		jstr(j, "name", e[i].name);
		jstr(ref, "name", e[i].secret_name);
		jstr(ref, "key", e[i].secret_key);
		json_object_object_add(vf, "secretKeyRef", ref);
		json_object_object_add(j, "valueFrom", vf);
		json_object_array_add(a, j);
	}
	return a;
}

static json_object *dataset_spec_json(const struct dataset_spec *sp)
{
	json_object *spec = json_object_new_object(), *mounts = json_object_new_array();
	for (size_t i = 0; i < sp->n_mounts; i++) {
		const struct dataset_mount *m = &sp->mounts[i];
		json_object *j = json_object_new_object();
		jstr(j, "mountPoint", m->mount_point);
		jstr(j, "name", m->name);
		jstr(j, "path", m->path);
		jmap(j, "options", &m->options);
		if (m->n_encrypt_options)
			json_object_object_add(j, "encryptOptions",
					       jencrypt(m->encrypt_options, m->n_encrypt_options));
		if (m->read_only)
			json_object_object_add(j, "readOnly", json_object_new_boolean(1));
		if (m->shared)
			json_object_object_add(j, "shared", json_object_new_boolean(1));
		json_object_array_add(mounts, j);
	}
	json_object_object_add(spec, "mounts", mounts);
	jstrv(spec, "accessModes", sp->access_modes, sp->n_access_modes);
	if (sp->owner.set) {
		json_object *j = json_object_new_object();
		if (sp->owner.uid_set)
			json_object_object_add(j, "uid", json_object_new_int64(sp->owner.uid));
		if (sp->owner.gid_set)
			json_object_object_add(j, "gid", json_object_new_int64(sp->owner.gid));
		jstr(j, "user", sp->owner.user);
		jstr(j, "group", sp->owner.group);
		json_object_object_add(spec, "owner", j);
	}
	jstr(spec, "placement", sp->placement);
	jmap(spec, "sharedOptions", &sp->shared_options);
	if (sp->n_shared_encrypt_options)
		json_object_object_add(
		    spec, "sharedEncryptOptions",
		    jencrypt(sp->shared_encrypt_options, sp->n_shared_encrypt_options));
	if (sp->has_allow_list) {
		json_object *sh = json_object_new_object(), *a = json_object_new_array();
		for (size_t i = 0; i < sp->n_allow; i++) {
			json_object *j = json_object_new_object();
			jstr(j, "namespace", sp->allow[i].namespace);
			jstr(j, "mode", sp->allow[i].mode == GRANT_RW ? "rw" : "ro");
			jstrv(j, "subPaths", sp->allow[i].sub_paths, sp->allow[i].n_sub_paths);
			json_object_array_add(a, j);
		}
		json_object_object_add(sh, "allow", a);
		json_object_object_add(spec, "sharing", sh);
	}
	return spec;
}

static json_object *dataset_status_json(const struct dataset_status *st)
{
	char b[32];
	if (st->phase == DATASET_PHASE_NONE && !st->ufs_total_known && !st->cache_known &&
	    !st->conditions.n && !st->n_dataset_ref && !st->file_num_known && !st->n_view_nodes)
		return NULL;
	json_object *s = json_object_new_object();
	if (st->phase != DATASET_PHASE_NONE)
		jstr(s, "phase", dataset_phase_name(st->phase));
	if (st->ufs_total_known)
		jsize(s, "ufsTotal", "ufsTotalBytes", st->ufs_total);
	if (st->cache_known || st->hit_ratio_known) {
		json_object *cs = json_object_new_object();
		if (st->cache_known) {
			jsize(cs, "cached", "cachedBytes", st->cached);
			jsize(cs, "cacheCapacity", "cacheCapacityBytes", st->cache_capacity);
			if (st->ufs_total_known) {
				dataset_cached_percentage(st, b, sizeof(b));
				jstr(cs, "cachedPercentage", b);
			}
		}
		if (st->hit_ratio_known) {
			snprintf(b, sizeof(b), "%.1f%%", st->cache_hit_ratio * 100.0);
			jstr(cs, "cacheHitRatio", b);
		}
		if (st->spread_known) {
			json_object_object_add(cs, "cacheNodes",
					       json_object_new_int64((int64_t)st->cache_nodes));
			json_object_object_add(cs, "nodeCachedMinBytes",
					       json_object_new_int64((int64_t)st->node_cached_min));
			json_object_object_add(cs, "nodeCachedMaxBytes",
					       json_object_new_int64((int64_t)st->node_cached_max));
		}
		json_object_object_add(s, "cacheStates", cs);
	}
	if (st->file_num_known) {
		snprintf(b, sizeof(b), "%" PRIu64, st->file_num);
		jstr(s, "fileNum", b);
	}
	jconditions(s, &st->conditions);
	jstrv(s, "datasetRef", st->dataset_ref, st->n_dataset_ref);
	jstrv(s, "viewNodes", st->view_nodes, st->n_view_nodes);
	return s;
}

static json_object *runtime_spec_json(const struct runtime *rt)
{
	char b[32];
	json_object *spec = json_object_new_object(), *ts = json_object_new_object(),
		    *levels = json_object_new_array();
	json_object_object_add(spec, "replicas", json_object_new_int(rt->replicas));
	for (size_t i = 0; i < rt->n_levels; i++) {
		const struct tier_level *l = &rt->levels[i];
		json_object *j = json_object_new_object();
		jstr(j, "mediumtype", medium_type_name(l->medium));
		jstr(j, "path", l->path);
		/* Exact bytes: a human form like "3.41GiB" would not read back the same. */
		snprintf(b, sizeof(b), "%" PRIu64, l->quota);
		if (l->quota % (1ULL << 30) == 0)
			snprintf(b, sizeof(b), "%" PRIu64 "Gi", l->quota >> 30);
		else if (l->quota % (1ULL << 20) == 0)
			snprintf(b, sizeof(b), "%" PRIu64 "Mi", l->quota >> 20);
		jstr(j, "quota", b);
		snprintf(b, sizeof(b), "%g", l->high);
		jstr(j, "high", b);
		snprintf(b, sizeof(b), "%g", l->low);
		jstr(j, "low", b);
		json_object_array_add(levels, j);
	}
	json_object_object_add(ts, "levels", levels);
	json_object_object_add(spec, "tieredstore", ts);
	return spec;
}

static json_object *dataload_spec_json(const struct dataload *dl)
{
	json_object *spec = json_object_new_object(), *ds = json_object_new_object();
	jstr(ds, "name", dl->spec.dataset_name);
	jstr(ds, "namespace", dl->spec.dataset_namespace);
	json_object_object_add(spec, "dataset", ds);
	if (dl->spec.n_targets) {
		json_object *a = json_object_new_array();
		for (size_t i = 0; i < dl->spec.n_targets; i++) {
			json_object *j = json_object_new_object();
			jstr(j, "path", dl->spec.targets[i].path);
			if (dl->spec.targets[i].replicas)
				json_object_object_add(
				    j, "replicas",
				    json_object_new_int(dl->spec.targets[i].replicas));
			json_object_array_add(a, j);
		}
		json_object_object_add(spec, "target", a);
	}
	if (dl->spec.load_metadata)
		json_object_object_add(spec, "loadMetadata", json_object_new_boolean(1));
	jstr(spec, "policy", dl->spec.policy == DATALOAD_CRON ? "Cron" : "Once");
	jstr(spec, "schedule", dl->spec.schedule);
	return spec;
}

static json_object *dataload_status_json(const struct dataload *dl)
{
	if (dl->status.phase == DATALOAD_PHASE_NONE && !dl->status.conditions.n &&
	    !dl->status.start_time)
		return NULL;
	json_object *s = json_object_new_object();
	if (dl->status.phase != DATALOAD_PHASE_NONE)
		jstr(s, "phase", dataload_phase_name(dl->status.phase));
	if (dl->status.phase == DATALOAD_PHASE_COMPLETE ||
	    dl->status.phase == DATALOAD_PHASE_FAILED) {
		char b[64];
		int64_t d = dl->status.duration;
		if (d >= 3600)
			snprintf(b, sizeof(b), "%" PRId64 "h%" PRId64 "m%" PRId64 "s", d / 3600,
				 d / 60 % 60, d % 60);
		else if (d >= 60)
			snprintf(b, sizeof(b), "%" PRId64 "m%" PRId64 "s", d / 60, d % 60);
		else
			snprintf(b, sizeof(b), "%" PRId64 "s", d);
		jstr(s, "duration", b);
	} else {
		jstr(s, "duration", "Unfinished");
	}
	json_object_object_add(s, "durationSeconds", json_object_new_int64(dl->status.duration));
	jtime(s, "startTime", dl->status.start_time);
	jtime(s, "completionTime", dl->status.completion_time);
	json_object *p = json_object_new_object();
	json_object_object_add(p, "bytesDone",
			       json_object_new_int64((int64_t)dl->status.bytes_done));
	json_object_object_add(p, "bytesTotal",
			       json_object_new_int64((int64_t)dl->status.bytes_total));
	json_object_object_add(p, "filesDone",
			       json_object_new_int64((int64_t)dl->status.files_done));
	json_object_object_add(p, "filesTotal",
			       json_object_new_int64((int64_t)dl->status.files_total));
	json_object_object_add(s, "progress", p);
	jconditions(s, &dl->status.conditions);
	return s;
}

/* Puts an ignored field back at its path ("spec.tieredstore.levels[0].volumeType"). */
static void put_back(json_object *root, const char *path, json_object *val)
{
	char buf[1024];
	json_object *cur = root;
	snprintf(buf, sizeof(buf), "%s", path);
	char *save = NULL;
	char *seg = strtok_r(buf, ".", &save);
	while (seg) {
		char *next = strtok_r(NULL, ".", &save);
		char *br = strchr(seg, '[');
		if (br)
			*br = '\0';
		if (!next && !br) {
			json_object_object_add(cur, seg, json_object_get(val));
			return;
		}
		json_object *child = NULL;
		if (!json_object_object_get_ex(cur, seg, &child)) {
			if (br)
				return;
			child = json_object_new_object();
			json_object_object_add(cur, seg, child);
		}
		cur = child;
		while (br) {
			size_t idx = strtoul(br + 1, &br, 10);
			if (!json_object_is_type(cur, json_type_array) ||
			    idx >= json_object_array_length(cur))
				return;
			cur = json_object_array_get_idx(cur, idx);
			br = strchr(br, '[');
		}
		if (!json_object_is_type(cur, json_type_object))
			return;
		seg = next;
	}
}

static json_object *runtime_status_json(const struct runtime *rt)
{
	if (rt->status.phase == RUNTIME_PHASE_NONE)
		return NULL;
	json_object *status = json_object_new_object();
	jstr(status, "phase", runtime_phase_name(rt->status.phase));
	json_object_object_add(status, "cacheCapacityBytes",
			       json_object_new_int64((int64_t)rt->status.cache_capacity));
	json_object_object_add(status, "cachedBytes",
			       json_object_new_int64((int64_t)rt->status.cached));
	return status;
}

int objmodel_to_json(const struct objmodel *o, json_object **ret)
{
	json_object *root = json_object_new_object(), *meta = json_object_new_object();
	json_object *spec = NULL, *status = NULL;
	if (!root || !meta) {
		json_object_put(root);
		json_object_put(meta);
		return -ENOMEM;
	}
	jstr(root, "apiVersion", o->api_version);
	jstr(root, "kind", o->kind_name);
	jstr(meta, "name", o->meta.name);
	if (o->kind != OBJMODEL_NAMESPACE)
		jstr(meta, "namespace", o->meta.namespace);
	jmap(meta, "labels", &o->meta.labels);
	jmap(meta, "annotations", &o->meta.annotations);
	jtime(meta, "creationTimestamp", o->meta.creation_timestamp);
	jstr(meta, "uid", o->meta.uid);
	jstr(meta, "resourceVersion", o->meta.resource_version);
	json_object_object_add(root, "metadata", meta);
	const struct kind_ops *ops = &kind_ops[o->kind];
	if (ops->spec_json)
		spec = ops->spec_json(o);
	if (ops->status_json)
		status = ops->status_json(o);
	if (ops->root_json && ops->root_json(o, root) < 0) {
		if (spec)
			json_object_put(spec);
		if (status)
			json_object_put(status);
		json_object_put(root);
		return -ENOMEM;
	}
	if (spec)
		json_object_object_add(root, "spec", spec);
	if (status)
		json_object_object_add(root, "status", status);
	if (o->ignored) {
		json_object_object_foreach(o->ignored, path, val)
		{
			put_back(root, path, val);
		}
	}
	*ret = root;
	return 0;
}

int objmodel_to_json_string(const struct objmodel *o, bool pretty, char **ret_text)
{
	json_object *j;
	int r = objmodel_to_json(o, &j);
	if (r < 0)
		return r;
	const char *s = json_object_to_json_string_ext(
	    j,
	    (pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED : JSON_C_TO_STRING_PLAIN) |
		JSON_C_TO_STRING_NOSLASHESCAPE);
	char *d = s ? strdup(s) : NULL;
	json_object_put(j);
	if (!d)
		return -ENOMEM;
	*ret_text = d;
	return 0;
}

int objmodel_to_yaml(const struct objmodel *o, char **ret_text)
{
	json_object *j;
	int r = objmodel_to_json(o, &j);
	if (r < 0)
		return r;
	r = yamltree_emit_json(j, ret_text);
	json_object_put(j);
	return r;
}

int objmodel_dup(const struct objmodel *o, struct objmodel **ret)
{
	char err[256];
	json_object *j;
	int r = objmodel_to_json(o, &j);
	if (r < 0)
		return r;
	struct yamltree_node *root = NULL;
	r = yamltree_from_json(j, &root);
	json_object_put(j);
	if (r < 0)
		return r;
	/* No validation: a copy of an object being edited may be invalid for a moment. */
	struct dctx c = {.errbuf = err, .errlen = sizeof(err)};
	char hdr[600];
	r = decode(&c, root, ret, hdr, sizeof(hdr));
	yamltree_node_free(root);
	return r < 0 ? r : 0;
}

/* ---- names and status helpers ---- */

const char *objmodel_kind_name(enum objmodel_kind kind)
{
	switch (kind) {
	case OBJMODEL_NAMESPACE:
		return "Namespace";
	case OBJMODEL_DATASET:
		return "Dataset";
	case OBJMODEL_RUNTIME:
		return "Runtime";
	case OBJMODEL_DATALOAD:
		return "DataLoad";
	case OBJMODEL_SECRET:
		return "Secret";
	}
	return "";
}

const char *dataset_phase_name(enum dataset_phase p)
{
	return (size_t)p < NELEM(dataset_phases) ? dataset_phases[p] : "";
}

const char *runtime_phase_name(enum runtime_phase p)
{
	return (size_t)p < NELEM(runtime_phases) ? runtime_phases[p] : "";
}

const char *dataload_phase_name(enum dataload_phase p)
{
	return (size_t)p < NELEM(dataload_phases) ? dataload_phases[p] : "";
}

const char *medium_type_name(enum medium_type m)
{
	return (size_t)m < NELEM(media) ? media[m] : "";
}

int conditions_set(struct conditions *cs, const char *type, const char *status, const char *reason,
		   const char *message, int64_t now)
{
	struct condition nc = {
	    .type = strdup(type),
	    .status = strdup(status ? status : "Unknown"),
	    .reason = reason ? strdup(reason) : NULL,
	    .message = message ? strdup(message) : NULL,
	    .last_transition_time = now,
	};
	if (!nc.type || !nc.status || (reason && !nc.reason) || (message && !nc.message))
		goto nomem;
	for (size_t i = 0; i < cs->n; i++) {
		struct condition *cd = &cs->items[i];
		if (strcmp(cd->type, type) != 0)
			continue;
		/* The transition time moves only when the status does, as in Kubernetes. */
		if (cd->status && !strcmp(cd->status, nc.status) && cd->last_transition_time)
			nc.last_transition_time = cd->last_transition_time;
		free(cd->type);
		free(cd->status);
		free(cd->reason);
		free(cd->message);
		*cd = nc;
		return 0;
	}
	struct condition *items = realloc(cs->items, (cs->n + 1) * sizeof(*items));
	if (!items)
		goto nomem;
	cs->items = items;
	cs->items[cs->n++] = nc;
	return 0;
nomem:
	free(nc.type);
	free(nc.status);
	free(nc.reason);
	free(nc.message);
	return -ENOMEM;
}

char *dataset_cached_percentage(const struct dataset_status *st, char *buf, size_t len)
{
	double pct = 0;
	if (st->ufs_total)
		pct = (double)st->cached * 100.0 / (double)st->ufs_total;
	if (pct > 100)
		pct = 100; /* the UFS shrank under the cache: never print more than all of it */
	snprintf(buf, len, "%.1f%%", pct);
	return buf;
}

void dataset_status_mirror(struct dataset_status *dst, const struct dataset_status *src,
			   const struct subtree_totals *sub)
{
	dst->phase = src->phase;
	dst->cache_known = src->cache_known;
	dst->cache_capacity = src->cache_capacity;
	dst->hit_ratio_known = src->hit_ratio_known;
	dst->cache_hit_ratio = src->cache_hit_ratio;
	if (sub) {
		dst->ufs_total_known = sub->ufs_total_known;
		dst->ufs_total = sub->ufs_total;
		dst->cached = sub->cached;
		dst->file_num_known = sub->file_num_known;
		dst->file_num = sub->file_num;
	} else {
		dst->ufs_total_known = src->ufs_total_known;
		dst->ufs_total = src->ufs_total;
		dst->cached = src->cached;
		dst->file_num_known = src->file_num_known;
		dst->file_num = src->file_num;
	}
}

int dataset_status_fail(struct dataset_status *st, const char *reason, const char *message,
			int64_t now)
{
	int r = conditions_set(&st->conditions, "Ready", "False", reason, message, now);
	if (r < 0)
		return r;
	st->phase = DATASET_PHASE_FAILED;
	return 0;
}

int objmodel_set_default_namespace(struct objmodel *o, const char *ns, char *errbuf, size_t errlen)
{
	char b[80];
	if (o->kind == OBJMODEL_NAMESPACE)
		return 0;
	if (!dns_label(ns))
		return vfail(errbuf, errlen, "bad namespace %s", q(ns, b, sizeof(b)));
	if (o->meta.namespace_set) {
		if (!strcmp(o->meta.namespace, ns))
			return 0;
		return vfail(errbuf, errlen,
			     "the namespace from the provided object \"%s\" does not match the "
			     "namespace \"%s\"; pass -n %s or remove metadata.namespace",
			     o->meta.namespace, ns, o->meta.namespace);
	}
	char *n1 = strdup(ns);
	char *n2 = o->kind == OBJMODEL_DATALOAD && !o->dataload.spec.dataset_namespace_set
		       ? strdup(ns)
		       : NULL;
	if (!n1 ||
	    (o->kind == OBJMODEL_DATALOAD && !o->dataload.spec.dataset_namespace_set && !n2)) {
		free(n1);
		free(n2);
		return -ENOMEM;
	}
	free(o->meta.namespace);
	o->meta.namespace = n1;
	if (n2) {
		free(o->dataload.spec.dataset_namespace);
		o->dataload.spec.dataset_namespace = n2;
	}
	return 0;
}

int objmodel_list_to_json(struct objmodel *const *objs, size_t n, json_object **ret)
{
	json_object *root = json_object_new_object(), *items = json_object_new_array(),
		    *meta = json_object_new_object();
	if (!root || !items || !meta)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		json_object *j;
		if (objmodel_to_json(objs[i], &j) < 0)
			goto nomem;
		json_object_array_add(items, j);
	}
	jstr(root, "apiVersion", "v1");
	json_object_object_add(root, "items", items);
	jstr(root, "kind", "List");
	jstr(meta, "resourceVersion", "");
	json_object_object_add(root, "metadata", meta);
	*ret = root;
	return 0;
nomem:
	json_object_put(root);
	json_object_put(items);
	json_object_put(meta);
	return -ENOMEM;
}

static char *ref_name(const char *ns, const char *name)
{
	char *s = NULL;
	return asprintf(&s, "%s/%s", ns, name) < 0 ? NULL : s;
}

int strv_add_sorted(char ***v, size_t *n, const char *s)
{
	size_t at = 0;
	while (at < *n && strcmp((*v)[at], s) < 0)
		at++;
	if (at < *n && !strcmp((*v)[at], s))
		return 0;
	char *d = strdup(s);
	char **nv = d ? realloc(*v, (*n + 1) * sizeof(*nv)) : NULL;
	if (!nv) {
		free(d);
		return -ENOMEM;
	}
	memmove(nv + at + 1, nv + at, (*n - at) * sizeof(*nv));
	nv[at] = d;
	*v = nv;
	(*n)++;
	return 0;
}

int dataset_status_add_ref(struct dataset_status *st, const char *ns, const char *name)
{
	char *s = ref_name(ns, name);
	if (!s)
		return -ENOMEM;
	int r = strv_add_sorted(&st->dataset_ref, &st->n_dataset_ref, s);
	free(s);
	return r;
}

int dataset_status_remove_ref(struct dataset_status *st, const char *ns, const char *name)
{
	size_t nl = strlen(ns);
	for (size_t i = 0; i < st->n_dataset_ref; i++) {
		const char *r = st->dataset_ref[i];
		if (strncmp(r, ns, nl) != 0 || r[nl] != '/' || strcmp(r + nl + 1, name) != 0)
			continue;
		free(st->dataset_ref[i]);
		memmove(st->dataset_ref + i, st->dataset_ref + i + 1,
			(st->n_dataset_ref - i - 1) * sizeof(*st->dataset_ref));
		st->n_dataset_ref--;
		return 1;
	}
	return 0;
}

uint64_t runtime_capacity(const struct runtime *rt)
{
	uint64_t cap = 0;
	for (size_t i = 0; i < rt->n_levels; i++)
		cap += rt->levels[i].quota;
	return cap;
}

int runtime_bind_check(const struct objmodel *rt, const struct objmodel *ds, char *errbuf,
		       size_t errlen)
{
	if (!ds || ds->kind != OBJMODEL_DATASET || strcmp(ds->meta.namespace, rt->meta.namespace) ||
	    strcmp(ds->meta.name, rt->meta.name)) {
		snprintf(errbuf, errlen,
			 "%s %s/%s waits for Dataset %s/%s (a runtime binds to the dataset of the "
			 "same namespace and name)",
			 rt->kind_name, rt->meta.namespace, rt->meta.name, rt->meta.namespace,
			 rt->meta.name);
		return -ENOENT;
	}
	if (dataset_is_reference(ds))
		return vfail(errbuf, errlen,
			     "Dataset %s/%s is a reference to %s and uses that dataset's cache; "
			     "delete %s %s/%s",
			     ds->meta.namespace, ds->meta.name,
			     ds->dataset.spec.mounts[0].mount_point, rt->kind_name,
			     rt->meta.namespace, rt->meta.name);
	return 0;
}

static bool list_same_ns(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

struct objmodel *objmodel_list_find(const struct objmodel_list *l, enum objmodel_kind kind,
				    const char *ns, const char *name)
{
	for (size_t i = 0; i < l->n; i++) {
		struct objmodel *o = l->items[i];
		if (o->kind == kind && !strcmp(o->meta.name, name) &&
		    (kind == OBJMODEL_NAMESPACE || list_same_ns(o->meta.namespace, ns)))
			return o;
	}
	return NULL;
}

static int secret_dec_root(struct dctx *c, const ynode *root, struct objmodel *o)
{
	return dec_secret(c, root, &o->secret);
}
static int validate_secret(const struct objmodel *o, char *errbuf, size_t errlen)
{
	if (strlen(o->secret.type) > 253)
		return vfail(errbuf, errlen, "type: longer than 253 characters");
	return 0;
}
static void secret_clear_of(struct objmodel *o)
{
	secret_clear(&o->secret);
}
static const char *const secret_top_fields[] = {"data", "stringData", "type", "immutable", NULL};
static int secret_root_json(const struct objmodel *o, json_object *root)
{
	json_object *data = secret_data_json(&o->secret);
	if (!data)
		return -ENOMEM;
	jstr(root, "type", o->secret.type);
	if (o->secret.immutable)
		json_object_object_add(root, "immutable", json_object_new_boolean(1));
	json_object_object_add(root, "data", data);
	return 0;
}

/* ---- the kinds ---- */

static void runtime_init(struct objmodel *o)
{
	o->runtime.replicas = 1;
}
static int dataset_dec_spec(struct dctx *c, const ynode *m, struct objmodel *o)
{
	return dec_dataset_spec(c, m, &o->dataset.spec);
}
static int dataset_dec_status(struct dctx *c, const ynode *m, struct objmodel *o)
{
	return dec_dataset_status(c, m, &o->dataset.status);
}
static int runtime_dec_spec(struct dctx *c, const ynode *m, struct objmodel *o)
{
	return dec_runtime_spec(c, m, &o->runtime);
}
static int runtime_dec_status(struct dctx *c, const ynode *m, struct objmodel *o)
{
	return dec_runtime_status(c, m, &o->runtime);
}
static int dataload_dec_status(struct dctx *c, const ynode *m, struct objmodel *o)
{
	return dec_dataload_status(c, m, &o->dataload);
}
static json_object *dataset_spec_json_of(const struct objmodel *o)
{
	return dataset_spec_json(&o->dataset.spec);
}
static json_object *dataset_status_json_of(const struct objmodel *o)
{
	return dataset_status_json(&o->dataset.status);
}
static json_object *runtime_spec_json_of(const struct objmodel *o)
{
	return runtime_spec_json(&o->runtime);
}
static json_object *runtime_status_json_of(const struct objmodel *o)
{
	return runtime_status_json(&o->runtime);
}
static json_object *dataload_spec_json_of(const struct objmodel *o)
{
	return dataload_spec_json(&o->dataload);
}
static json_object *dataload_status_json_of(const struct objmodel *o)
{
	return dataload_status_json(&o->dataload);
}

static const struct kind_ops kind_ops[OBJMODEL_NKINDS] = {
    [OBJMODEL_NAMESPACE] = {0},
    [OBJMODEL_DATASET] = {NULL, dataset_dec_spec, dataset_dec_status, validate_dataset,
			  dataset_clear, dataset_spec_json_of, dataset_status_json_of},
    [OBJMODEL_RUNTIME] = {runtime_init, runtime_dec_spec, runtime_dec_status, validate_runtime,
			  runtime_clear, runtime_spec_json_of, runtime_status_json_of},
    [OBJMODEL_DATALOAD] = {NULL, dec_dataload_spec, dataload_dec_status, validate_dataload,
			   dataload_clear, dataload_spec_json_of, dataload_status_json_of},
    [OBJMODEL_SECRET] = {.dec_root = secret_dec_root,
			 .validate = validate_secret,
			 .clear = secret_clear_of,
			 .top_fields = secret_top_fields,
			 .root_json = secret_root_json},
};
