/* SPDX-License-Identifier: Apache-2.0 */
/* Parsers for HTTP directory listings as real mirrors serve them: nginx autoindex (HTML and
 * autoindex_format json) and Apache mod_autoindex HTML. Pure functions, no I/O. */
#pragma once

#include <stddef.h>

#include "ufs.h"

enum listing_format {
	LISTING_AUTO = 0, /* sniff from content type and body */
	LISTING_NGINX_HTML,
	LISTING_NGINX_JSON,
	LISTING_APACHE_HTML,
};

/* Parses body (len bytes, not necessarily NUL-terminated) listing the directory at dir_url
 * (absolute URL ending in "/"). Entries whose href would leave dir_url (other hosts, absolute
 * paths elsewhere, "..", query strings, parent links) are skipped with a warning. Names are
 * percent-decoded. Sizes in the listing are used when exact (JSON, or byte counts); HTML sizes
 * rounded to K/M/G leave size_known false. Returns 0 and owned *ret_ents, or -EBADMSG. */
int listing_parse(const char *body, size_t len, const char *content_type, const char *dir_url,
		  enum listing_format fmt, struct ufs_dirent **ret_ents, size_t *ret_n);
