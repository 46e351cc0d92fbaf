// SPDX-License-Identifier: Apache-2.0
// kubeconfig files (YAML: clusters, users, contexts, base64 -data fields). Relative file names
// resolve under a directory that does not exist, so the harness reads no file of the machine
// unless an input names one absolutely (it may: the parser must survive whatever it reads).
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "kubeconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	struct kubeconfig kc = {0};
	char err[512];
	if (kubeconfig_parse("fuzz", s, size, "/nonexistent/weir-fuzz", &kc, err, sizeof(err)) ==
	    0) {
		if (strnlen(kc.server, sizeof(kc.server)) == sizeof(kc.server))
			abort();
		kubeconfig_clear(&kc);
	}
	char *dec = NULL;
	size_t dl;
	if (kubeconfig_base64_decode(s, &dec, &dl) == 0) {
		if (dl > size || dec[dl] != '\0')
			abort();
		free(dec);
	}
	free(s);
	return 0;
}
