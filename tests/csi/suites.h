/* SPDX-License-Identifier: Apache-2.0 */
/* The Check suites of csi/, one per module. */
#pragma once
#include <check.h>

Suite *grpc_frame_suite(void);
Suite *grpc_server_suite(void);
Suite *csi_node_suite(void);
