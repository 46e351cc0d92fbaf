/* SPDX-License-Identifier: Apache-2.0 */
/* weir-node's memory from its own accounting, for weir stat: the kernel's resident counts,
 * malloc's, SQLite's and libcurl's. The subsystems' tables are counted by their owners
 * (block_store_memory, meta_cache_memory, view_get_memory). */
#pragma once
#include <curl/curl.h>
#include <stdint.h>

struct memory_stats {
	/* /proc/self/status, read once: rss = rss_anon + rss_file + rss_shmem */
	uint64_t rss, rss_anon, rss_file, rss_shmem;
	uint64_t threads;
	/* malloc's (mallinfo2, every arena): bytes handed out (mmapped chunks included, resident or
	 * not), and bytes malloc holds free */
	uint64_t malloc_in_use, malloc_free;
	/* "glibc" (mallinfo2), or "asan" in a sanitizer build (its allocator's own counts; its
	 * shadow memory and quarantine then sit in rss_anon too) */
	const char *allocator;
	uint64_t sqlite; /* sqlite3_status64(SQLITE_STATUS_MEMORY_USED): every connection's */
	/* libcurl's own allocations (its TLS and HTTP/2 libraries allocate elsewhere); 0 when
	 * something initialised curl before memory_curl_global_init */
	uint64_t curl;
};

/* Fills ret. Returns 0, or -errno when /proc/self/status cannot be read. Any thread. */
int memory_get(struct memory_stats *ret);
/* curl_global_init with allocators that count what libcurl holds. Call it where
 * curl_global_init would be called; the same rules apply (once, before other threads use
 * curl). */
CURLcode memory_curl_global_init(long flags);
