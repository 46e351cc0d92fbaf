// SPDX-License-Identifier: Apache-2.0
// weir create / apply / delete: manifests are parsed and validated here, then sent to
// weir-controller in one request, which stores them all or none.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "controller_client.h"
#include "objmodel.h"

struct write_opts {
	const char *file;
	const char *ns; /* NULL = as the manifest says */
	int nargs;
	char *args[8];
};

/* Parses -f FILE, -n NS and positional arguments. Returns 0 or -EINVAL with a message. */
static int parse_write_opts(const char *cmd, int argc, char **argv, struct write_opts *o)
{
	memset(o, 0, sizeof(*o));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		bool is_f = !strcmp(a, "-f") || !strcmp(a, "--filename");
		bool is_n = !strcmp(a, "-n") || !strcmp(a, "--namespace");
		if (is_f || is_n) {
			if (i + 1 >= argc) {
				fprintf(stderr, "weir %s: %s needs a value\n", cmd, a);
				return -EINVAL;
			}
			v = argv[++i];
		} else if (!strncmp(a, "--filename=", 11)) {
			is_f = true;
			v = a + 11;
		} else if (!strncmp(a, "--namespace=", 12)) {
			is_n = true;
			v = a + 12;
		} else if (!strncmp(a, "-f", 2) && a[2]) {
			is_f = true;
			v = a + 2;
		} else if (!strncmp(a, "-n", 2) && a[2]) {
			is_n = true;
			v = a + 2;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "weir %s: unknown option \"%s\"\n", cmd, a);
			return -EINVAL;
		} else if (o->nargs < 8) {
			o->args[o->nargs++] = argv[i];
			continue;
		} else {
			fprintf(stderr, "weir %s: too many arguments\n", cmd);
			return -EINVAL;
		}
		if (is_f)
			o->file = v;
		else
			o->ns = v;
	}
	return 0;
}

/* Parses file and applies -n. Returns 0 and an owned *ret, or prints the error and -errno. */
static int load_manifest(const char *cmd, const struct write_opts *o, struct objmodel_list **ret)
{
	char err[2048];
	struct objmodel_list *l = NULL;
	int r = objmodel_parse_file(o->file, &l, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "weir %s: %s\n", cmd, err);
		return r;
	}
	if (l->n == 0) {
		fprintf(stderr, "weir %s: \"%s\" holds no objects\n", cmd, o->file);
		objmodel_list_free(l);
		return -ENODATA;
	}
	for (size_t i = 0; o->ns && i < l->n; i++) {
		r = objmodel_set_default_namespace(l->items[i], o->ns, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "weir %s: %s: document %zu: %s\n", cmd, o->file, i + 1,
				err);
			objmodel_list_free(l);
			return r;
		}
	}
	*ret = l;
	return 0;
}

static int send_objects(const char *cmd, const struct global_opts *g, struct objmodel *const *objs,
			size_t n, bool create, const char *source)
{
	char **texts = calloc(n, sizeof(char *));
	int rc = 1;
	if (!texts)
		return 1;
	for (size_t i = 0; i < n; i++) {
		if (objmodel_to_json_string(objs[i], false, &texts[i]) < 0) {
			fprintf(stderr, "weir %s: out of memory\n", cmd);
			goto out;
		}
		for (size_t w = 0; w < objs[i]->n_warnings; w++)
			fprintf(stderr, "Warning: %s: document %zu (%s %s): %s\n", source, i + 1,
				objs[i]->kind_name, objs[i]->meta.name, objs[i]->warnings[w]);
	}
	Weir__ApplyRequest a = WEIR__APPLY_REQUEST__INIT;
	a.objects = texts;
	a.n_objects = n;
	a.create = create;
	a.source = (char *)source;
	Weir__Request req = WEIR__REQUEST__INIT;
	req.body_case = WEIR__REQUEST__BODY_APPLY;
	req.apply = &a;
	struct controller_client cc;
	controller_client_init(&cc, g->state_dir);
	Weir__Response *resp;
	if (controller_client_request(&cc, cmd, &req, &resp) < 0)
		goto out;
	for (size_t i = 0; i < resp->n_results; i++)
		printf("%s\n", resp->results[i]);
	weir__response__free_unpacked(resp, NULL);
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(texts[i]);
	free(texts);
	return rc;
}

/* Reads a --from-file value: a regular file of at most SECRET_MAX_BYTES. Returns its length and
 * an owned *ret (wipe it), or -errno with a message printed. */
static long read_secret_file(const char *path, unsigned char **ret)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;
		fprintf(stderr, "weir create secret: --from-file \"%s\": %s\n", path, strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > SECRET_MAX_BYTES) {
		fprintf(stderr, "weir create secret: --from-file \"%s\": %s\n", path,
			!S_ISREG(st.st_mode) ? "not a regular file"
					     : "larger than a Secret may be (1 MiB)");
		close(fd);
		return -EINVAL;
	}
	unsigned char *buf = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (buf && got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (!buf || got != (size_t)st.st_size) {
		fprintf(stderr, "weir create secret: --from-file \"%s\": short read\n", path);
		free(buf);
		return -EIO;
	}
	*ret = buf;
	return (long)got;
}

/* weir create secret generic NAME [--from-literal=KEY=VALUE]... [--from-file=[KEY=]PATH]...
 * [-n NS]: kubectl's form. The values go to weir-controller over its socket, which seals them. */
static int create_secret(int argc, char **argv, const struct global_opts *g)
{
	const char *name = NULL, *ns = OBJMODEL_DEFAULT_NAMESPACE;
	char err[512];
	int rc = 2;
	if (argc < 3 || strcmp(argv[2], "generic") != 0) {
		fprintf(stderr,
			"usage: weir create secret generic NAME [--from-literal=KEY=VALUE]... "
			"[--from-file=[KEY=]PATH]... [-n NAMESPACE]\n");
		return 2;
	}
	struct objmodel *o = objmodel_new(OBJMODEL_SECRET, NULL, "");
	if (!o || !(o->secret.type = strdup(SECRET_TYPE_OPAQUE))) {
		objmodel_free(o);
		return 1;
	}
	for (int i = 3; i < argc; i++) {
		const char *a = argv[i];
		if ((!strcmp(a, "-n") || !strcmp(a, "--namespace")) && i + 1 < argc) {
			ns = argv[++i];
		} else if (!strncmp(a, "--namespace=", 12)) {
			ns = a + 12;
		} else if (!strncmp(a, "--from-literal=", 15)) {
			const char *kv = a + 15, *eq = strchr(kv, '=');
			if (!eq || eq == kv) {
				fprintf(stderr,
					"weir create secret: --from-literal wants KEY=VALUE\n");
				goto out;
			}
			char key[SECRET_MAX_KEY + 2];
			snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
			int r =
			    secret_set(&o->secret, key, eq + 1, strlen(eq + 1), err, sizeof(err));
			if (r < 0) {
				fprintf(stderr, "weir create secret: --from-literal: %s\n", err);
				goto out;
			}
		} else if (!strncmp(a, "--from-file=", 12)) {
			const char *v = a + 12, *eq = strchr(v, '=');
			const char *path = eq ? eq + 1 : v;
			const char *base = strrchr(path, '/');
			char key[SECRET_MAX_KEY + 2];
			snprintf(key, sizeof(key), "%.*s",
				 eq ? (int)(eq - v) : (int)strlen(base ? base + 1 : path),
				 eq ? v : (base ? base + 1 : path));
			unsigned char *buf = NULL;
			long n = read_secret_file(path, &buf);
			if (n < 0) {
				rc = 1;
				goto out;
			}
			int r = secret_set(&o->secret, key, buf, (size_t)n, err, sizeof(err));
			explicit_bzero(buf, (size_t)n);
			free(buf);
			if (r < 0) {
				fprintf(stderr, "weir create secret: --from-file \"%s\": %s\n",
					path, err);
				goto out;
			}
		} else if (a[0] == '-') {
			fprintf(stderr, "weir create secret: unknown option \"%s\"\n", a);
			goto out;
		} else if (!name) {
			name = a;
		} else {
			fprintf(stderr, "weir create secret: one NAME only (\"%s\" too)\n", a);
			goto out;
		}
	}
	if (!name) {
		fprintf(stderr, "weir create secret: which NAME?\n");
		goto out;
	}
	if (o->secret.n_items == 0) {
		fprintf(stderr, "weir create secret: give --from-literal=KEY=VALUE or "
				"--from-file=[KEY=]PATH\n");
		goto out;
	}
	free(o->meta.name);
	free(o->meta.namespace);
	o->meta.name = strdup(name);
	o->meta.namespace = strdup(ns);
	o->meta.namespace_set = true;
	rc = 1;
	if (!o->meta.name || !o->meta.namespace)
		goto out;
	if (objmodel_validate(o, err, sizeof(err)) < 0) {
		fprintf(stderr, "weir create secret: %s\n", err);
		goto out;
	}
	rc = send_objects("create", g, &o, 1, true, "secret");
out:
	objmodel_free(o);
	return rc;
}

static int create_usage(FILE *out, int rc)
{
	fprintf(out, "usage: weir create namespace NAME\n"
		     "       weir create secret generic NAME [--from-literal=KEY=VALUE]... "
		     "[--from-file=[KEY=]PATH]... [-n NAMESPACE]\n"
		     "       weir create -f FILE [-n NAMESPACE]\n"
		     "  creates the objects of FILE (all or none); fails if one exists already.\n");
	return rc;
}

int cmd_create(int argc, char **argv, const struct global_opts *g)
{
	struct write_opts o;
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
		return create_usage(stdout, 0);
	if (argc >= 2 && !strcmp(argv[1], "secret"))
		return create_secret(argc, argv, g);
	if (parse_write_opts("create", argc, argv, &o) < 0)
		return create_usage(stderr, 2);
	if (!o.file) {
		bool dummy;
		const char *kind = o.nargs ? controller_client_kind(o.args[0], &dummy) : NULL;
		if (!kind || strcmp(kind, "Namespace") || o.nargs != 2)
			return create_usage(stderr, 2);
		struct objmodel *ns = objmodel_new(OBJMODEL_NAMESPACE, NULL, o.args[1]);
		char err[512];
		if (!ns)
			return 1;
		if (objmodel_validate(ns, err, sizeof(err)) < 0) {
			fprintf(stderr, "weir create: namespace \"%s\": %s\n", o.args[1], err);
			objmodel_free(ns);
			return 1;
		}
		int rc = send_objects("create", g, &ns, 1, true, "namespace");
		objmodel_free(ns);
		return rc;
	}
	if (o.nargs)
		return create_usage(stderr, 2);
	struct objmodel_list *l;
	if (load_manifest("create", &o, &l) < 0)
		return 1;
	int rc = send_objects("create", g, l->items, l->n, true, o.file);
	objmodel_list_free(l);
	return rc;
}

int cmd_apply(int argc, char **argv, const struct global_opts *g)
{
	struct write_opts o;
	static const char usage[] =
	    "usage: weir apply -f FILE [-n NAMESPACE]\n"
	    "  creates or updates the objects of FILE (all or none); status is kept.\n";
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(usage, stdout);
		return 0;
	}
	if (parse_write_opts("apply", argc, argv, &o) < 0 || !o.file || o.nargs) {
		fputs(usage, stderr);
		return 2;
	}
	struct objmodel_list *l;
	if (load_manifest("apply", &o, &l) < 0)
		return 1;
	int rc = send_objects("apply", g, l->items, l->n, false, o.file);
	objmodel_list_free(l);
	return rc;
}

static int delete_one(const struct controller_client *cc, const char *kind, const char *ns,
		      const char *name)
{
	Weir__DeleteRequest d = WEIR__DELETE_REQUEST__INIT;
	d.kind = (char *)kind;
	d.namespace_ = (char *)(strcmp(kind, "Namespace") ? ns : "");
	d.name = (char *)name;
	Weir__Request req = WEIR__REQUEST__INIT;
	req.body_case = WEIR__REQUEST__BODY_DELETE;
	req.delete_ = &d;
	Weir__Response *resp;
	if (controller_client_request(cc, "delete", &req, &resp) < 0)
		return 1;
	for (size_t i = 0; i < resp->n_results; i++)
		printf("%s\n", resp->results[i]);
	weir__response__free_unpacked(resp, NULL);
	return 0;
}

int cmd_delete(int argc, char **argv, const struct global_opts *g)
{
	struct write_opts o;
	static const char usage[] =
	    "usage: weir delete KIND NAME... [-n NAMESPACE]\n"
	    "       weir delete -f FILE [-n NAMESPACE]\n"
	    "  KIND: dataset, runtime, alluxioruntime, dataload, namespace\n";
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(usage, stdout);
		return 0;
	}
	if (parse_write_opts("delete", argc, argv, &o) < 0) {
		fputs(usage, stderr);
		return 2;
	}
	struct controller_client cc;
	controller_client_init(&cc, g->state_dir);
	int rc = 0;
	if (o.file) {
		if (o.nargs) {
			fputs(usage, stderr);
			return 2;
		}
		struct objmodel_list *l;
		if (load_manifest("delete", &o, &l) < 0)
			return 1;
		for (size_t i = 0; i < l->n; i++) {
			struct objmodel *obj = l->items[i];
			if (delete_one(&cc, objmodel_kind_name(obj->kind),
				       obj->meta.namespace ? obj->meta.namespace : "",
				       obj->meta.name))
				rc = 1;
		}
		objmodel_list_free(l);
		return rc;
	}
	if (o.nargs < 2) {
		fputs(usage, stderr);
		return 2;
	}
	const char *kind = controller_client_kind(o.args[0], NULL);
	if (!kind) {
		fprintf(stderr, "weir delete: unknown kind \"%s\"\n", o.args[0]);
		fputs(usage, stderr);
		return 2;
	}
	for (int i = 1; i < o.nargs; i++)
		if (delete_one(&cc, kind, o.ns ? o.ns : OBJMODEL_DEFAULT_NAMESPACE, o.args[i]))
			rc = 1;
	return rc;
}
