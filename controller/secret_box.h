/* SPDX-License-Identifier: Apache-2.0 */
/* Secrets at rest in the embedded store: their data sealed with AES-256-GCM (OpenSSL EVP) under a
 * 32-byte key kept in a file of mode 0600 beside the store (<state-dir>/secret.key). Each sealed
 * blob is bound to its object ("Secret/<ns>/<name>" as associated data), so a blob copied to
 * another row does not open. What must stay true: the key and clear values never reach a log, a
 * message or the store file. Thread-safe (no shared mutable state after open). */
#pragma once

#include <stddef.h>

struct secret_box;

/* Opens the key at path, creating it (0600, from getrandom) when missing. A key file that is a
 * symlink, not 32 bytes, or readable by others is refused. Returns 0 and an owned *ret, or -errno
 * with errbuf naming the file and the reason. */
int secret_box_open(const char *path, struct secret_box **ret, char *errbuf, size_t errlen);

/* Wipes the key and frees; accepts NULL. */
void secret_box_free(struct secret_box *b);

/* Seals len bytes of plain for the object named aad. Returns 0 and an owned NUL-terminated
 * *ret ("v1:<base64 of nonce|ciphertext|tag>", free()), or -ENOMEM / -EIO. */
int secret_box_seal(const struct secret_box *b, const char *aad, const void *plain, size_t len,
		    char **ret);

/* Opens a sealed text for aad. Returns the clear length and an owned NUL-terminated *ret (wipe
 * with explicit_bzero before free()), or -EBADMSG (not a sealed text, another object's, or
 * tampered with; also when the key changed) / -ENOMEM. */
long secret_box_unseal(const struct secret_box *b, const char *aad, const char *sealed,
		       unsigned char **ret);
