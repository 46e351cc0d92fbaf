/* SPDX-License-Identifier: Apache-2.0 */
/* Manifests the reconcile tests share: source Dataset development/spark, its sharing with
 * production, its Runtime, and a reference to it from another namespace. */
#pragma once

#define SOURCE                                                                                     \
	"apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {name: spark, namespace: "   \
	"development}\nspec:\n  mounts:\n  - mountPoint: http://127.0.0.1:1/mirror/\n"             \
	"    name: spark\n    path: /\n"
#define ALLOW_PROD "  sharing:\n    allow:\n    - namespace: production\n"
#define RUNTIME                                                                                    \
	"apiVersion: data.fluid.io/v1alpha1\nkind: AlluxioRuntime\nmetadata: {name: spark, "       \
	"namespace: development}\nspec:\n  tieredstore:\n    levels:\n    - mediumtype: MEM\n"     \
	"      path: /dev/shm/\n      quota: 4Gi\n      high: \"0.9\"\n      low: \"0.5\"\n"       \
	"    - mediumtype: SSD\n      path: /var/cache\n      quota: 100Gi\n"
#define REF(ns, target)                                                                            \
	"apiVersion: data.fluid.io/v1alpha1\nkind: Dataset\nmetadata: {name: spark, "              \
	"namespace: " ns "}\nspec:\n  mounts:\n  - mountPoint: dataset://" target "\n"
