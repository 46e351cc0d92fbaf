/* SPDX-License-Identifier: Apache-2.0 */
/* `weir describe`: an object rendered as `kubectl describe` renders a custom resource (labels
 * split from camelCase, fields sorted, values aligned per block). Reentrant. */
#pragma once

#include "objmodel.h"

/* Renders obj. Returns 0 and an owned NUL-terminated *ret_text (free()), or -ENOMEM. The text
 * ends with "Events:  <none>" as kubectl's does; weir keeps no events. */
int describe_object(const struct objmodel *obj, char **ret_text);

/* kubectl's label for a field name: "mountPoint" → "Mount Point", "apiVersion" → "API
 * Version", "uid" → "UID"; names with characters other than letters and '-' stay as they are.
 * Writes buf and returns it. */
char *describe_label(const char *field, char *buf, size_t len);
