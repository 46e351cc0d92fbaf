/* SPDX-License-Identifier: Apache-2.0 */
/* AWS credentials and settings the way the AWS CLI finds them: AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN; else the profile (AWS_PROFILE, else "default") in
 * ~/.aws/credentials (AWS_SHARED_CREDENTIALS_FILE) and ~/.aws/config (AWS_CONFIG_FILE), which
 * also give region and endpoint_url. The values are secrets: never log or print them. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct aws_config {
	char access_key[128]; /* "" when none was found: anonymous */
	char secret_key[128];
	char session_token[2048];
	char region[64];     /* AWS_REGION, AWS_DEFAULT_REGION, then the profile's; "" if none */
	char endpoint[512];  /* AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, then endpoint_url; "" */
	char ca_bundle[512]; /* AWS_CA_BUNDLE, then ca_bundle: the CAs for https; "" system's */
};

/* Fills *ret from the environment and the profile files. Returns 0 (possibly with no keys), or
 * -EINVAL when AWS_PROFILE names a profile that neither file has, a key is given without its
 * secret, a key, secret or token holds a control byte or (from the environment) does not fit
 * (err then says which, without values). */
int aws_config_load(struct aws_config *ret, char *err, size_t errlen);
/* Is v (a key, secret or session token) free of control bytes? One with a newline is refused
 * rather than signed with: say so to the user. */
bool aws_config_value_ok(const char *v);
/* Zeroes the secrets in *c before its memory is reused. */
void aws_config_wipe(struct aws_config *c);

/* What an s3:// UFS URL carries besides bucket and prefix (see daemon/ufs_s3.c). */
struct aws_s3_options {
	const char *endpoint;  /* NULL or "": the config's, else AWS's for the region */
	const char *region;    /* NULL or "": the config's, else us-east-1 */
	int path_style;	       /* -1: decided by the endpoint; 0, 1 */
	bool anonymous;	       /* sign nothing, even with keys at hand */
	const char *ca_bundle; /* NULL or "": the system's CAs */
};

/* url ("s3://bucket[/prefix]") with o's settings and c's keys added as its query and userinfo:
 * the one URL a weir-node needs to read the bucket. Contains secrets: send it over the control
 * socket only, and show it through redact_url(). Returns 0 and an owned *ret (free with
 * aws_config_free_url), -EINVAL (not an s3:// URL; err says why) or -ENOMEM. */
int aws_config_s3_url(const char *url, const struct aws_s3_options *o, const struct aws_config *c,
		      char **ret, char *err, size_t errlen);
/* Wipes and frees a URL from aws_config_s3_url. */
void aws_config_free_url(char *url);

/* Fills *ret from a Dataset mount's options: Fluid's alluxio.underfs.s3.endpoint,
 * alluxio.underfs.s3.endpoint.region and alluxio.underfs.s3.disable.dns.buckets, or weir's
 * endpoint, region and path-style; later pairs override earlier ones (pass sharedOptions
 * first). Other keys are left alone. Returns 0, or -EINVAL with err naming the key and its bad
 * value. The strings in *ret borrow from vals. */
int aws_s3_options_from_pairs(const char *const *keys, const char *const *vals, size_t n,
			      struct aws_s3_options *ret, char *err, size_t errlen);
