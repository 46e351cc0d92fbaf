// SPDX-License-Identifier: Apache-2.0
// weir-node's memory from its own accounting (memory.h). The curl counter must match every
// allocation curl frees: curl gets these allocators before its first allocation or not at all.
#include "memory.h"

#include <errno.h>
#include <malloc.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
/* The sanitizer runtime's allocator interface (<sanitizer/allocator_interface.h>, which GCC
 * does not install; libasan exports these). */
size_t __sanitizer_get_current_allocated_bytes(void);
size_t __sanitizer_get_free_bytes(void);
#define MEMORY_ALLOCATOR "asan"
#else
#define MEMORY_ALLOCATOR "glibc"
#endif

static atomic_uint_fast64_t curl_bytes;

static void *curl_count_malloc(size_t size)
{
	void *p = malloc(size);
	if (p)
		atomic_fetch_add(&curl_bytes, malloc_usable_size(p));
	return p;
}

static void curl_count_free(void *p)
{
	if (p)
		atomic_fetch_sub(&curl_bytes, malloc_usable_size(p));
	free(p);
}

static void *curl_count_realloc(void *p, size_t size)
{
	size_t old = p ? malloc_usable_size(p) : 0;
	void *n = realloc(p, size);
	if (n || size == 0) {
		atomic_fetch_sub(&curl_bytes, old);
		if (n)
			atomic_fetch_add(&curl_bytes, malloc_usable_size(n));
	}
	return n;
}

static char *curl_count_strdup(const char *s)
{
	size_t len = strlen(s) + 1;
	char *p = curl_count_malloc(len);
	if (p)
		memcpy(p, s, len);
	return p;
}

static void *curl_count_calloc(size_t n, size_t size)
{
	void *p = calloc(n, size);
	if (p)
		atomic_fetch_add(&curl_bytes, malloc_usable_size(p));
	return p;
}

CURLcode memory_curl_global_init(long flags)
{
	return curl_global_init_mem(flags, curl_count_malloc, curl_count_free, curl_count_realloc,
				    curl_count_strdup, curl_count_calloc);
}

/* The fields of /proc/self/status we read, in kB there. */
static const struct {
	const char *name;
	size_t off;
	uint64_t scale;
} status_fields[] = {
    {"VmRSS:", offsetof(struct memory_stats, rss), 1024},
    {"RssAnon:", offsetof(struct memory_stats, rss_anon), 1024},
    {"RssFile:", offsetof(struct memory_stats, rss_file), 1024},
    {"RssShmem:", offsetof(struct memory_stats, rss_shmem), 1024},
    {"Threads:", offsetof(struct memory_stats, threads), 1},
};

int memory_get(struct memory_stats *ret)
{
	struct memory_stats m = {0};
	FILE *f = fopen("/proc/self/status", "re");
	if (!f)
		return -errno;
	char line[256];
	unsigned found = 0;
	while (fgets(line, sizeof(line), f)) {
		for (size_t i = 0; i < sizeof(status_fields) / sizeof(status_fields[0]); i++) {
			size_t len = strlen(status_fields[i].name);
			if (strncmp(line, status_fields[i].name, len) != 0)
				continue;
			*(uint64_t *)((char *)&m + status_fields[i].off) =
			    strtoull(line + len, NULL, 10) * status_fields[i].scale;
			found++;
		}
	}
	fclose(f);
	if (found != sizeof(status_fields) / sizeof(status_fields[0]))
		return -ENODATA; /* a kernel without these fields: say so, never guess */
	/* The allocator that serves malloc: glibc's, or ASan's in a sanitizer build, which
	 * glibc's mallinfo2 knows nothing of. */
	m.allocator = MEMORY_ALLOCATOR;
#if defined(__SANITIZE_ADDRESS__)
	m.malloc_in_use = __sanitizer_get_current_allocated_bytes();
	m.malloc_free = __sanitizer_get_free_bytes();
#else
	struct mallinfo2 mi = mallinfo2();
	m.malloc_in_use = mi.uordblks + mi.hblkhd;
	m.malloc_free = mi.fordblks;
#endif
	sqlite3_int64 cur = 0, hi = 0;
	if (sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &cur, &hi, 0) == SQLITE_OK && cur > 0)
		m.sqlite = (uint64_t)cur;
	m.curl = atomic_load(&curl_bytes);
	*ret = m;
	return 0;
}
