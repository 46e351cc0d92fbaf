// SPDX-License-Identifier: Apache-2.0
// AWS settings from the environment and the shared files. What must stay true: a value read
// here is never put in a message (err names variables, files and profiles, not values).
#include "aws_config.h"
#include "redact.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

/* Which INI key of a profile fills which field. */
struct ini_key {
	const char *name;
	size_t off, len;
};

#define FIELD(n, f)                                                                                \
	{                                                                                          \
		n, offsetof(struct aws_config, f), sizeof(((struct aws_config *)0)->f)             \
	}
static const struct ini_key cred_keys[] = {
    FIELD("aws_access_key_id", access_key),
    FIELD("aws_secret_access_key", secret_key),
    FIELD("aws_session_token", session_token),
};
static const struct ini_key config_keys[] = {
    FIELD("region", region),
    FIELD("endpoint_url", endpoint),
    FIELD("ca_bundle", ca_bundle),
};

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t l = strlen(s);
	while (l && strchr(" \t\r\n", s[l - 1]))
		s[--l] = '\0';
	return s;
}

/* Reads section of an INI file into the fields keys names, leaving set fields alone (the
 * environment wins). Returns 1 when the section exists, 0 when not (or no file). */
static int ini_read(const char *path, const char *section, const struct ini_key *keys, size_t nkeys,
		    struct aws_config *c)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	char line[4096];
	bool in = false;
	int found = 0;
	while (fgets(line, sizeof(line), f)) {
		char *l = trim(line);
		if (*l == '#' || *l == ';' || !*l)
			continue;
		if (*l == '[') {
			char *end = strchr(l, ']');
			if (end)
				*end = '\0';
			in = strcmp(trim(l + 1), section) == 0;
			found |= in;
			continue;
		}
		char *eq = strchr(l, '=');
		if (!in || !eq)
			continue;
		*eq = '\0';
		char *k = trim(l), *v = trim(eq + 1);
		for (size_t i = 0; i < nkeys; i++) {
			char *dst = (char *)c + keys[i].off;
			if (strcmp(k, keys[i].name) == 0 && !dst[0])
				snprintf(dst, keys[i].len, "%s", v);
		}
	}
	explicit_bzero(line, sizeof(line));
	fclose(f);
	return found;
}

/* Fills dst from the first of names set. *too_long gets that name when its value does not fit
 * (cut short, a token would be refused as another one). */
static void from_env(char *dst, size_t len, const char *const *names, const char **too_long)
{
	for (; *names && !dst[0]; names++) {
		const char *v = getenv(*names);
		if (v && *v) {
			snprintf(dst, len, "%s", v);
			if (strlen(v) >= len && too_long)
				*too_long = *names;
		}
	}
}

bool aws_config_value_ok(const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

int aws_config_load(struct aws_config *ret, char *err, size_t errlen)
{
	struct aws_config c = {0};
	static const char *const key_env[] = {"AWS_ACCESS_KEY_ID", NULL};
	static const char *const secret_env[] = {"AWS_SECRET_ACCESS_KEY", NULL};
	static const char *const token_env[] = {"AWS_SESSION_TOKEN", NULL};
	static const char *const region_env[] = {"AWS_REGION", "AWS_DEFAULT_REGION", NULL};
	static const char *const endpoint_env[] = {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", NULL};
	const char *too_long = NULL;
	from_env(c.access_key, sizeof(c.access_key), key_env, &too_long);
	from_env(c.secret_key, sizeof(c.secret_key), secret_env, &too_long);
	if (c.access_key[0])
		from_env(c.session_token, sizeof(c.session_token), token_env, &too_long);
	from_env(c.region, sizeof(c.region), region_env, NULL);
	from_env(c.endpoint, sizeof(c.endpoint), endpoint_env, NULL);
	static const char *const ca_env[] = {"AWS_CA_BUNDLE", NULL};
	from_env(c.ca_bundle, sizeof(c.ca_bundle), ca_env, NULL);
	if (too_long) {
		snprintf(err, errlen, "%s is longer than weir takes (%zu bytes for a key, %zu for a "
			 "session token)", too_long, sizeof(c.access_key) - 1,
			 sizeof(c.session_token) - 1);
		aws_config_wipe(&c);
		return -EINVAL;
	}

	const char *profile = getenv("AWS_PROFILE");
	bool named = profile && *profile;
	if (!named)
		profile = "default";
	const char *home = getenv("HOME");
	char cred_path[4096], conf_path[4096], section[300];
	const char *cf = getenv("AWS_SHARED_CREDENTIALS_FILE");
	const char *gf = getenv("AWS_CONFIG_FILE");
	snprintf(cred_path, sizeof(cred_path), "%s", cf && *cf ? cf : "");
	snprintf(conf_path, sizeof(conf_path), "%s", gf && *gf ? gf : "");
	if (!cred_path[0] && home)
		snprintf(cred_path, sizeof(cred_path), "%s/.aws/credentials", home);
	if (!conf_path[0] && home)
		snprintf(conf_path, sizeof(conf_path), "%s/.aws/config", home);

	int found = 0;
	/* keys come from one place: the environment's pair, or the profile's */
	bool env_keys = c.access_key[0] != '\0';
	struct aws_config p = {0};
	found |= ini_read(cred_path, profile, cred_keys, 3, &p);
	/* ~/.aws/config names profiles "[profile NAME]", except the default */
	snprintf(section, sizeof(section), strcmp(profile, "default") ? "profile %s" : "%s",
		 profile);
	found |= ini_read(conf_path, section, cred_keys, 3, &p);
	found |= ini_read(conf_path, section, config_keys, 3, &c);
	if (!env_keys) {
		memcpy(c.access_key, p.access_key, sizeof(c.access_key));
		memcpy(c.secret_key, p.secret_key, sizeof(c.secret_key));
		memcpy(c.session_token, p.session_token, sizeof(c.session_token));
	}
	aws_config_wipe(&p);
	if (named && !found && !env_keys) {
		snprintf(err, errlen, "AWS_PROFILE \"%s\" is in neither \"%s\" nor \"%s\"", profile,
			 cred_path, conf_path);
		aws_config_wipe(&c);
		return -EINVAL;
	}
	/* used as given: a control byte (most often the newline of the file a value came from)
	 * fails the signature, or breaks the header it goes in */
	const char *bad = !aws_config_value_ok(c.access_key)
			      ? (env_keys ? "AWS_ACCESS_KEY_ID" : "the profile's aws_access_key_id")
			  : !aws_config_value_ok(c.secret_key)
			      ? (env_keys ? "AWS_SECRET_ACCESS_KEY"
					  : "the profile's aws_secret_access_key")
			  : !aws_config_value_ok(c.session_token)
			      ? (env_keys ? "AWS_SESSION_TOKEN" : "the profile's aws_session_token")
			      : NULL;
	if (bad) {
		snprintf(err, errlen,
			 "%s holds a control byte (a newline at its end?); keys are used as given",
			 bad);
		aws_config_wipe(&c);
		return -EINVAL;
	}
	if (!!c.access_key[0] != !!c.secret_key[0]) {
		snprintf(err, errlen,
			 "%s gives an access key without its secret key or the reverse",
			 env_keys ? "the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
				  : "the AWS profile");
		aws_config_wipe(&c);
		return -EINVAL;
	}
	*ret = c;
	explicit_bzero(&c, sizeof(c));
	return 0;
}

void aws_config_wipe(struct aws_config *c)
{
	explicit_bzero(c, sizeof(*c));
}

static int append_query(CURLU *h, const char *name, const char *value)
{
	char *q;
	if (asprintf(&q, "%s=%s", name, value) < 0)
		return -ENOMEM;
	CURLUcode rc = curl_url_set(h, CURLUPART_QUERY, q, CURLU_APPENDQUERY | CURLU_URLENCODE);
	explicit_bzero(q, strlen(q));
	free(q);
	return rc == CURLUE_OK ? 0 : rc == CURLUE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
}

int aws_config_s3_url(const char *url, const struct aws_s3_options *o, const struct aws_config *c,
		      char **ret, char *err, size_t errlen)
{
	if (strncasecmp(url, "s3://", 5) != 0) {
		snprintf(err, errlen, "\"%s\" is not an s3:// URL", url);
		return -EINVAL;
	}
	CURLU *h = curl_url();
	char *out = NULL;
	int r = -ENOMEM;
	if (!h)
		return r;
	if (curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
		char shown[512]; /* a Dataset's KEY:SECRET@ would be in its condition */
		snprintf(err, errlen, "\"%s\" is not s3://bucket[/prefix] (encode spaces as %%20)",
			 redact_url(url, shown, sizeof(shown)));
		r = -EINVAL;
		goto out;
	}
	if (o->endpoint && *o->endpoint && (r = append_query(h, "endpoint", o->endpoint)) < 0)
		goto out;
	if (o->region && *o->region && (r = append_query(h, "region", o->region)) < 0)
		goto out;
	if (o->path_style >= 0 &&
	    (r = append_query(h, "path-style", o->path_style ? "true" : "false")) < 0)
		goto out;
	if (o->anonymous && (r = append_query(h, "anonymous", "true")) < 0)
		goto out;
	if (o->ca_bundle && *o->ca_bundle && (r = append_query(h, "ca-bundle", o->ca_bundle)) < 0)
		goto out;
	if (!o->anonymous && c && c->access_key[0]) {
		r = -EINVAL;
		if (curl_url_set(h, CURLUPART_USER, c->access_key, CURLU_URLENCODE) != CURLUE_OK ||
		    curl_url_set(h, CURLUPART_PASSWORD, c->secret_key, CURLU_URLENCODE) !=
			CURLUE_OK)
			goto out;
		/* X-Amz-Security-Token: a name redact_url masks */
		if (c->session_token[0] &&
		    (r = append_query(h, "X-Amz-Security-Token", c->session_token)) < 0)
			goto out;
	}
	r = curl_url_get(h, CURLUPART_URL, &out, 0) == CURLUE_OK ? 0 : -ENOMEM;
	if (r == 0) {
		*ret = strdup(out);
		if (!*ret)
			r = -ENOMEM;
		explicit_bzero(out, strlen(out));
	}
out:
	curl_free(out);
	curl_url_cleanup(h);
	return r;
}

void aws_config_free_url(char *url)
{
	if (url)
		explicit_bzero(url, strlen(url));
	free(url);
}

enum s3_opt { S3_ENDPOINT, S3_REGION, S3_PATH_STYLE };
static const struct {
	const char *key;
	enum s3_opt opt;
} s3_option_names[] = {
    {"alluxio.underfs.s3.endpoint", S3_ENDPOINT},
    {"endpoint", S3_ENDPOINT},
    {"alluxio.underfs.s3.endpoint.region", S3_REGION},
    {"region", S3_REGION},
    {"alluxio.underfs.s3.disable.dns.buckets", S3_PATH_STYLE},
    {"path-style", S3_PATH_STYLE},
};

int aws_s3_options_from_pairs(const char *const *keys, const char *const *vals, size_t n,
			      struct aws_s3_options *ret, char *err, size_t errlen)
{
	struct aws_s3_options o = {.path_style = -1};
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < sizeof(s3_option_names) / sizeof(s3_option_names[0]); k++) {
			if (strcmp(keys[i], s3_option_names[k].key) != 0)
				continue;
			const char *v = vals[i] ? vals[i] : "";
			switch (s3_option_names[k].opt) {
			case S3_ENDPOINT:
				if (strncmp(v, "http://", 7) && strncmp(v, "https://", 8)) {
					snprintf(err, errlen,
						 "option %s: \"%.200s\" is not an http(s):// URL",
						 keys[i], v);
					return -EINVAL;
				}
				o.endpoint = v;
				break;
			case S3_REGION:
				o.region = v;
				break;
			case S3_PATH_STYLE:
				if (!strcasecmp(v, "true"))
					o.path_style = 1;
				else if (!strcasecmp(v, "false"))
					o.path_style = 0;
				else {
					snprintf(
					    err, errlen,
					    "option %s: \"%.40s\" is not \"true\" or \"false\"",
					    keys[i], v);
					return -EINVAL;
				}
				break;
			}
		}
	}
	*ret = o;
	return 0;
}
