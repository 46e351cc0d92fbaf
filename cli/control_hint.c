// SPDX-License-Identifier: Apache-2.0
// What the CLI tells a user whose call to a daemon's control socket failed (control_hint.h).
#include "control_hint.h"

#include <errno.h>

const char *control_hint(int err, const char *otherwise)
{
	if (err == -EACCES || err == -EPERM)
		return "the state directory and its control sockets are root's: run it as root "
		       "(sudo weir ...)";
	return otherwise;
}
