// SPDX-License-Identifier: Apache-2.0
// What the CLI tells a user whose call to a daemon's control socket failed: a socket (or state
// directory) it may not open is root's, and no `weir up` helps with that.
#pragma once

/* The advice that ends a message about a failed control call: err is the call's -errno;
 * otherwise is the advice for every other error (a daemon that is not running). Returns a
 * static string, or otherwise. Any thread. */
const char *control_hint(int err, const char *otherwise);
