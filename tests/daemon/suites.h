/* SPDX-License-Identifier: Apache-2.0 */
/* The Check suites of daemon/, one per module. */
#pragma once
#include <check.h>

Suite *listing_suite(void);
Suite *block_store_suite(void);
Suite *ranges_suite(void);
Suite *cache_path_suite(void);
Suite *fetcher_suite(void);
Suite *http_version_suite(void);
Suite *s3_suite(void);
Suite *uring_io_suite(void);
Suite *peer_suite(void);
Suite *meta_listing_suite(void);
Suite *block_sum_suite(void);
Suite *http_url_suite(void);
Suite *prefetch_suite(void);
Suite *view_grants_suite(void);
