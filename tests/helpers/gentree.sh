#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Generates a tree shaped like the walkthrough's Spark mirror (three release directories, the
# seven spark-3.3.1 names with their sizes times SCALE), random incompressible reproducible bytes.
# Usage: gentree.sh DIR SCALE      e.g. SCALE 0.03 -> ~42 MB, 0.2 -> ~268 MiB in spark-3.3.1
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ $# -eq 2 ] || { echo "usage: gentree.sh DIR SCALE" >&2; exit 2; }
dir="$1" scale="$2"
awk -v s="$scale" 'BEGIN { exit !(s + 0 > 0) }' || { echo "gentree.sh: SCALE \"$scale\" must be a number > 0" >&2; exit 2; }

# name and size (KiB) as du -sh printed them in the walkthrough
spark331=(
	"SparkR_3.3.1.tar.gz 348"
	"pyspark-3.3.1.tar.gz $((269 * 1024))"
	"spark-3.3.1-bin-hadoop2.tgz $((262 * 1024))"
	"spark-3.3.1-bin-hadoop3-scala2.13.tgz $((293 * 1024))"
	"spark-3.3.1-bin-hadoop3.tgz $((286 * 1024))"
	"spark-3.3.1-bin-without-hadoop.tgz $((201 * 1024))"
	"spark-3.3.1.tgz $((28 * 1024))"
)

mkdir -p "$dir/spark-3.1.3" "$dir/spark-3.2.3" "$dir/spark-3.3.1"
for e in "${spark331[@]}"; do
	name="${e% *}" kib="${e##* }"
	bytes=$(awk -v k="$kib" -v s="$scale" 'BEGIN { printf "%d", k * 1024 * s + 0.5 }')
	# an odd tail so files do not end on a block boundary
	bytes=$((bytes + 12345))
	rand_file "$dir/spark-3.3.1/$name" "$bytes" "$name"
done

# The other two releases: a few small files, awkward names, a nested directory, an empty file.
rand_file "$dir/spark-3.1.3/spark-3.1.3.tgz" 300001 spark-3.1.3.tgz
rand_file "$dir/spark-3.1.3/pyspark-3.1.3.tar.gz" 150000 pyspark-3.1.3
rand_file "$dir/spark-3.1.3/release notes 3.1.3.txt" 4097 notes313
: >"$dir/spark-3.1.3/EMPTY"
rand_file "$dir/spark-3.2.3/spark-3.2.3.tgz" 250000 spark-3.2.3.tgz
rand_file "$dir/spark-3.2.3/Überblick-données-データ.txt" 7001 nonascii
mkdir -p "$dir/spark-3.2.3/docs/api"
rand_file "$dir/spark-3.2.3/docs/api/index 100%.html" 2048 percent
echo "gentree: $(du -sb "$dir" | cut -f1) bytes in $(find "$dir" -type f | wc -l) files under $dir"
