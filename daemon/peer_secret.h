/* SPDX-License-Identifier: Apache-2.0 */
/* The cluster's peer key out of a Kubernetes Secret (the chart makes one, or the user names
 * theirs), read once when weir-node starts its cluster side: every node of the cluster reads
 * the same Secret, so no key file is copied by hand. The key's bytes never reach a log or a
 * message. */
#pragma once

#include <stddef.h>

#include "peer_auth.h"

#define PEER_SECRET_DEFAULT_KEY "peer.key"

/* Reads spec, "NAME" or "NAME/KEY" (KEY default peer.key), from namespace ns (NULL or "": the
 * kubeconfig's) of the apiserver kubeconfig names (NULL or "": the pod's service account), into
 * *ret. A round trip: call with no lock held. Returns 0, or -errno with errbuf naming the Secret,
 * its key and what is wrong (missing, too short, ...). */
int peer_secret_load(const char *kubeconfig, const char *ns, const char *spec, struct peer_key *ret,
		     char *errbuf, size_t errlen);
