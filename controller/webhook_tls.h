/* SPDX-License-Identifier: Apache-2.0 */
/* A certificate for the webhook when nobody gives one (`--webhook-url`): a fresh CA and a
 * serving certificate for the URL's host, both in memory, the CA's PEM for the caBundle. */
#pragma once

#include <stddef.h>

struct webhook_tls {
	char *ca_pem;	/* owned */
	char *cert_pem; /* owned */
	char *key_pem;	/* owned */
};

/* Makes a P-256 CA and a certificate for host (an IP address or a DNS name), valid a year.
 * Returns 0 and fills *ret (webhook_tls_clear), or -ENOMEM / -EINVAL with a message. */
int webhook_tls_new(const char *host, struct webhook_tls *ret, char *errbuf, size_t errlen);

void webhook_tls_clear(struct webhook_tls *t);
