// SPDX-License-Identifier: Apache-2.0
// Peer key from a Secret: GET (no list, no watch), decoded by lib/kube_secret, checked as a key
// file is (peer_auth_key_from), and wiped.
#include "peer_secret.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube_client.h"
#include "kube_secret.h"
#include "kubeconfig.h"

int peer_secret_load(const char *kubeconfig, const char *ns, const char *spec, struct peer_key *ret,
		     char *errbuf, size_t errlen)
{
	char name[254], key[254];
	const char *slash = strchr(spec, '/');
	size_t nlen = slash ? (size_t)(slash - spec) : strlen(spec);
	const char *k = slash ? slash + 1 : PEER_SECRET_DEFAULT_KEY;
	if (nlen == 0 || nlen >= sizeof(name) || !*k || strlen(k) >= sizeof(key) ||
	    strchr(k, '/')) {
		snprintf(errbuf, errlen, "peer-key-secret \"%.300s\" is not NAME or NAME/KEY",
			 spec);
		return -EINVAL;
	}
	memcpy(name, spec, nlen);
	name[nlen] = '\0';
	snprintf(key, sizeof(key), "%s", k);
	struct kubeconfig kc = {0};
	int r = kubeconfig && *kubeconfig ? kubeconfig_load(kubeconfig, &kc, errbuf, errlen)
					  : kubeconfig_in_cluster(NULL, &kc, errbuf, errlen);
	if (r < 0)
		return r;
	struct kube_client *client = NULL;
	char secret_ns[64];
	snprintf(secret_ns, sizeof(secret_ns), "%s", ns && *ns ? ns : kc.namespace);
	r = kube_client_new(&kc, &client);
	kubeconfig_clear(&kc);
	if (r < 0) {
		snprintf(errbuf, errlen, "peer key: cannot reach the apiserver: %s", strerror(-r));
		return r;
	}
	char *value = NULL;
	long len = kube_secret_value(client, secret_ns, name, key, &value, errbuf, errlen);
	kube_client_free(client);
	if (len == -ENOENT) {
		/* kube_secret's words are for a Dataset's Secrets: say what this one is for */
		bool no_secret = strstr(errbuf, "not found") != NULL;
		snprintf(errbuf, errlen,
			 "peer-key-secret: Secret \"%s/%s\" %s%s%s: create it, e.g. kubectl create "
			 "secret generic %s -n %s "
			 "--from-literal=%s=$(head -c 32 /dev/urandom | base64)",
			 secret_ns, name, no_secret ? "is not there" : "has no key \"",
			 no_secret ? "" : key, no_secret ? "" : "\"", name, secret_ns, key);
	}
	if (len < 0)
		return (int)len;
	char what[600];
	snprintf(what, sizeof(what), "in Secret %s/%s, key \"%s\",", secret_ns, name, key);
	r = peer_auth_key_from(value, (size_t)len, what, ret, errbuf, errlen);
	explicit_bzero(value, (size_t)len);
	free(value);
	return r;
}
