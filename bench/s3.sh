#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Benchmark (issue 11), prints figures and never fails on targets: the walkthrough's spark tree in a
# versitygw (or, BENCH_S3_SERVER=seaweedfs, SeaweedFS) bucket on loopback, read by weir, by rclone mount (--vfs-cache-mode full) and by s3fs
# (use_cache), the two from Debian, with the same number of connections where they take one.
# First what no client can beat: the server's own limit (BENCH_CONNECTIONS-way parallel
# curl --aws-sigv4 range GETs of the spark objects, in ranges of 1, 4, 16 MiB and whole objects,
# with the server's CPU for each) and the local floor (cp -R of the server's own directory, tmpfs
# to tmpfs). Cold is a fresh cache; warm is after a remount (page cache gone, the tool's own cache
# kept). The runs reported: spark cold, the median of BENCH_COLD_ROUNDS rounds, each round weir,
# rclone and s3fs in turn, each from an empty cache (the load of the shared machine moves, so the
# sides alternate); warm (spark and small), the best of BENCH_RUNS runs per side; small cold, one
# run per side. A peer that is missing or fails is reported, skipped. BENCH_BASE_BUILD=<build dir
# of another tree> adds that build to the cold rounds.
# Selectors, so one invocation stays short: BENCH_PARTS (default "limit floor spark small cold"):
# limit = curl single stream and the server's limit, floor = the local floors, spark / small = each
# peer's first cold and warm copies of that tree, cold = the alternated spark cold rounds;
# BENCH_PEERS (default "weir rclone s3fs"). A ratio whose parts were not run says n/a.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../tests/helpers/lib.sh"
. "$here/../tests/helpers/weir.sh"
. "$here/../tests/helpers/versitygw.sh"
. "$here/../tests/helpers/seaweedfs.sh"

SCALE="${BENCH_SCALE:-0.2}" # 0.2 -> 268 MiB in spark-3.3.1
SMALL="${BENCH_SMALL:-20000}" # small files (1-16 KiB) in one more prefix
RUNS="${BENCH_RUNS:-3}"     # warm runs; the best is reported
CONN="${BENCH_CONNECTIONS:-16}"
SERVER="${BENCH_S3_SERVER:-versitygw}" # or seaweedfs
case "$SERVER" in
versitygw | seaweedfs) ;;
*) fail "BENCH_S3_SERVER is \"$SERVER\": versitygw or seaweedfs" ;;
esac
BASE="${BENCH_BASE_BUILD:-}"
CROUNDS="${BENCH_COLD_ROUNDS:-3}"
PARTS=" ${BENCH_PARTS:-limit floor spark small cold} "
PEERS=" ${BENCH_PEERS:-weir rclone s3fs} "
for k in $PARTS; do
	case "$k" in limit | floor | spark | small | cold) ;; *) fail "BENCH_PARTS has \"$k\": limit, floor, spark, small or cold" ;; esac
done
for k in $PEERS; do
	case "$k" in weir | rclone | s3fs) ;; *) fail "BENCH_PEERS has \"$k\": weir, rclone or s3fs" ;; esac
done
part_on() { [[ "$PARTS" == *" $1 "* ]]; }
peer_on() { [[ "$PEERS" == *" $1 "* ]]; }
DIRS=()
part_on spark && DIRS+=(spark-3.3.1)
part_on small && DIRS+=(small)

require_root_fuse
find_weir_bins
THIS_BUILD="$(dirname "$(dirname "$WEIR_BIN")")"
TMP="$(mktemp -d /tmp/weir-bench-s3.XXXXXX)"
at_exit 'rm -rf "$TMP"'
SHM="$(mktemp -d /dev/shm/weir-bench-s3.XXXXXX)" # server, caches and copies in tmpfs: no disk
at_exit 'rm -rf "$SHM"'
weir_setup "$TMP"
TIERS="mem:$WEIR_TIER_DIR/mem" # one tier directory per prefix mounted
unset AWS_PROFILE AWS_SESSION_TOKEN
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

timed() {
	local dst="$1" t0 t1
	shift
	rm -rf "$dst"
	t0="$(now)"
	"$@" >&2 || return 1
	t1="$(now)"
	elapsed "$t0" "$t1"
}
best() { printf '%s\n' "$@" | sort -g | head -n 1; }
# cpt ARGS...: cp ARGS..., its own CPU (user + system, ms) left in $TMP/cp-cpu (cp is gone before
# /proc could be read: bash's time builtin takes it from wait4's rusage)
cpt() {
	local TIMEFORMAT='%3U %3S' rc=0
	{ time cp "$@" 2>"$TMP/cp-err"; } 2>"$TMP/cp-time" || rc=$?
	cat "$TMP/cp-err" >&2
	awk '{ printf "%d\n", ($1 + $2) * 1000 }' "$TMP/cp-time" >"$TMP/cp-cpu"
	return "$rc"
}
# bound SERVER_MS CLIENT_MS CP_MS: the 2-core bound, seconds: every CPU-second of the copy spread
# perfectly over both cores; no copy on this machine can take less wall time than this
bound() { awk -v a="$1" -v b="$2" -v c="$3" 'BEGIN { printf "%.3f", (a + b + c) / 2000 }'; }
# cpu_line T S K C: "T s (CPU ms server S + client K + cp C = SUM, 2-core bound B s)"
cpu_line() { echo "$1 s (CPU ms server $2 + client $3 + cp $4 = $(($2 + $3 + $4)), 2-core bound $(bound "$2" "$3" "$4") s)"; }
# cpu_ms PID: the user + system CPU of a process so far, in ms (every thread's)
cpu_ms() { awk -v t="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 1000 / t) }' "/proc/$1/stat"; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "n/a" }'; }
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f MB/s", b / s / 1e6 }'; }
wait_mounted() {
	local i
	for i in $(seq 1 100); do is_mounted "$1" && return 0; sleep 0.1; done
	return 1
}
fuse_off() { fusermount3 -u "$1" 2>/dev/null || umount -l "$1" 2>/dev/null || true; }

step "spark tree (scale $SCALE) in a $SERVER bucket on loopback"
"$here/../tests/helpers/gentree.sh" "$SHM/tree" "$SCALE" | sed 's/^/  /'
SRC="$SHM/tree/spark-3.3.1"
"$here/../tests/helpers/gensmall.py" "$SHM/tree/small" "$SMALL"
BYTES=$(( $(find "$SRC" -type f -printf '%s+') 0 ))
if [ "$SERVER" = seaweedfs ]; then sw_start "$SHM/vgw"; else vgw_start "$SHM/vgw"; fi
vgw_curl -f -X PUT "$VGW_URL/bkt" -o /dev/null || fail "creating the bucket failed"
vgw_put_tree "$SHM/tree" bkt
note "$SERVER $VGW_URL; spark-3.3.1: $BYTES bytes"
# a server that closes every connection makes each range request pay a connection
CONN_HDR="$(vgw_curl -f -s -r 0-0 -D - -o /dev/null "$(vgw_key_url bkt "spark-3.3.1/$(ls "$SRC" | head -n 1)")" |
	tr -d '\r' | grep -i '^connection:' || true)"
note "its answer to a range GET says: ${CONN_HDR:-no Connection header (keeps the connection alive)}"

t_curl="" t_limit=""
if part_on limit; then
	step "baseline: single-stream curl --aws-sigv4, files in turn"
	urls=()
	for f in "$SRC"/*; do urls+=("$(vgw_key_url bkt "spark-3.3.1/$(basename "$f")")" -o /dev/null); done
	t_curl="$(timed "$TMP/none" vgw_curl -f "${urls[@]}")"
	note "curl: $t_curl s ($(mbps "$BYTES" "$t_curl"))"
fi

# server_limit PART: every byte of spark-3.3.1 as range GETs of PART bytes (0: whole objects),
# CONN at once, by curl --parallel; "seconds server-CPU-ms requests".
LIMIT_OBJS=() # "size url" of each spark object, made once
for f in "$SRC"/*; do LIMIT_OBJS+=("$(stat -c %s "$f") $(vgw_key_url bkt "spark-3.3.1/$(basename "$f")")"); done
server_limit() {
	local part="$1" cfg="$TMP/limit.conf" o sz url off end n c0 c1 t
	: >"$cfg"
	for o in "${LIMIT_OBJS[@]}"; do
		sz="${o%% *}" url="${o#* }" off=0
		while [ "$off" -lt "$sz" ]; do
			end=$((part ? off + part - 1 : sz - 1))
			[ "$end" -lt "$sz" ] || end=$((sz - 1))
			[ -s "$cfg" ] && echo next >>"$cfg"
			# after "next" curl forgets every option: the keys again, from vgw's own file
			cat "$VGW_DIR/curl.conf" >>"$cfg"
			printf 'url = "%s"\nrange = "%d-%d"\noutput = "/dev/null"\n' "$url" "$off" "$end" >>"$cfg"
			off=$((end + 1))
		done
	done
	n="$(grep -c '^url' "$cfg")"
	c0="$(cpu_ms "$VGW_PID")"
	t="$(timed "$TMP/none" curl -sS --no-progress-meter -f --parallel --parallel-max "$CONN" -K "$cfg")" ||
		fail "curl's range GETs of $part bytes failed"
	c1="$(cpu_ms "$VGW_PID")"
	echo "$t $((c1 - c0)) $n"
}
declare -A LIM LIMCPU
if part_on limit; then
	step "the server's own limit: $CONN-way parallel curl range GETs of spark-3.3.1 (best of $RUNS)"
	for part in 1048576 4194304 16777216 0; do
		tt=() cc=()
		for i in $(seq 1 "$RUNS"); do
			read -r t c n < <(server_limit "$part")
			tt+=("$t") cc+=("$c")
		done
		LIM[$part]="$(best "${tt[@]}")" LIMCPU[$part]="$(best "${cc[@]}")"
		note "ranges of $([ "$part" = 0 ] && echo "whole objects" || echo "$((part >> 20)) MiB"): $n requests, ${tt[*]} s (best $(mbps "$BYTES" "${LIM[$part]}")); server CPU ${cc[*]} ms"
	done
	t_limit="$(best "${LIM[@]}")"
	# the same for the small files: every one a whole-object GET, CONN at once
	(cd "$SHM/tree" && find small -type f) | python3 -c '
import sys, urllib.parse as u
conf, url = open(sys.argv[1]).read(), sys.argv[2]
out = []
for k in sys.stdin.read().split():
    out.append(conf + "url = \"%s/bkt/%s\"\noutput = \"/dev/null\"\n" % (url, u.quote(k, safe="/~")))
sys.stdout.write("next\n".join(out))
' "$VGW_DIR/curl.conf" "$VGW_URL" >"$TMP/limit-small.conf"
	tt=() cc=()
	for i in $(seq 1 "$RUNS"); do
		c0="$(cpu_ms "$VGW_PID")"
		tt+=("$(timed "$TMP/none" curl -sS --no-progress-meter -f --parallel --parallel-max "$CONN" -K "$TMP/limit-small.conf")") ||
			fail "curl's GETs of the small files failed"
		c1="$(cpu_ms "$VGW_PID")"
		cc+=("$((c1 - c0))")
	done
	LIM[small]="$(best "${tt[@]}")" LIMCPU[small]="$(best "${cc[@]}")"
	note "small files, $SMALL whole-object GETs: ${tt[*]} s; server CPU ${cc[*]} ms"
fi
# The floor is copied the way the peers' warm copies are: the same cp -R into the same
# destination, the source's pages in memory (tmpfs, as every peer's cache is), best of as many
# runs as a warm side gets.
# The source is a tmpfs of its own: from the destination's own tmpfs cp would copy with
# copy_file_range (one call per file, no copy through user space), a path no copy out of a FUSE
# mount can take (across filesystems cp reads and writes, as it does from every peer).
declare -A FLOOR FLOORS
if part_on floor; then
	step "the local floors: cp -R of the server's own directories, from a tmpfs to another (best of $RUNS)"
	mkdir -p "$TMP/floor"
	mount -t tmpfs -o size=2g,mode=0700 weir-bench-floor "$TMP/floor" || fail "mounting a tmpfs at $TMP/floor failed"
	at_exit "umount -l '$TMP/floor'"
	cp -R "$SHM/tree/spark-3.3.1" "$SHM/tree/small" "$TMP/floor/"
	for dir in spark-3.3.1 small; do
		tt=()
		for i in $(seq 1 "$RUNS"); do tt+=("$(timed "$SHM/out" cp -R "$TMP/floor/$dir" "$SHM/out")"); done
		FLOORS[$dir]=" ${tt[*]}"
		note "cp -R $dir: ${tt[*]} s"
	done
fi

# Every side mounts each tree of the bucket as its own mount of that prefix (s3://bkt/DIR, as a
# Fluid Dataset names one mountPoint; weir picks its open mode per view, see the README).
# peer NAME MOUNTPOINT MOUNT_FN UMOUNT_FN DIR...: for each DIR of the bucket, a cold cp -R through a
# fresh mount of it (MOUNT_FN, the prefix in PFX), then warm after remounts; R[NAME,DIR,cold|warm]
# hold the seconds. Every copy is compared with the source (diff -r), warm ones too.
declare -A R RC
PFX=""
# side_pid NAME MOUNTPOINT: the process serving that mount (weir-node of $WEIR_STATE, or the
# rclone / s3fs daemon whose command line names the mountpoint, a fresh temp dir)
side_pid() {
	case "$1" in
	weir) weir_node_pid ;;
	*) pgrep -n -f -- "$1 .*$2" || true ;;
	esac
}
# cpu0 / cpu1: the server's and the side's CPU around a copy (the side's pid from the mount
# of $name at $mp); cpu1 leaves CS CK CC (ms: server, client, cp)
cpu0() { CPID="$(side_pid "$name" "$mp")" CS0="$(cpu_ms "$VGW_PID")" CK0="$([ -z "$CPID" ] || cpu_ms "$CPID")"; }
cpu1() {
	CS=$(($(cpu_ms "$VGW_PID") - CS0)) CK=0 CC="$(cat "$TMP/cp-cpu" 2>/dev/null || echo 0)"
	[ -z "$CPID" ] || [ ! -e "/proc/$CPID/stat" ] || CK=$(($(cpu_ms "$CPID") - CK0))
}
peer() {
	local name="$1" mp="$2" mount_fn="$3" umount_fn="$4" dir i t
	shift 4
	mkdir -p "$mp"
	at_exit "fuse_off '$mp'"
	for dir in "$@"; do
		PFX="$dir"
		if ! "$mount_fn"; then
			note "$name failed to mount $dir: $(tail -3 "$TMP/$name.log" 2>/dev/null); skipped"
			continue
		fi
		cpu0
		t="$(timed "$SHM/out" cpt -R "$mp" "$SHM/out")" && R[$name,$dir,cold]="$t"
		cpu1 && RC[$name,$dir,cold]="$(cpu_line "$t" "$CS" "$CK" "$CC")"
		diff -rq "$SHM/tree/$dir" "$SHM/out" >/dev/null || note "$name: the cold copy of $dir differs from the source"
		warm=() wl=""
		for i in $(seq 1 "$RUNS"); do
			"$umount_fn"
			"$mount_fn" || break
			# the floor again beside each warm copy: the load moves, the best floor of the
			# whole run is the one reported
			! part_on floor || FLOORS[$dir]+=" $(timed "$SHM/out" cp -R "$TMP/floor/$dir" "$SHM/out")"
			cpu0
			t="$(timed "$SHM/out" cpt -R "$mp" "$SHM/out")"
			warm+=("$t")
			cpu1 && wl+="; $(cpu_line "$t" "$CS" "$CK" "$CC")"
			if [ "$t" = "$(best "${warm[@]}")" ]; then RC[$name,$dir,warm]="$(cpu_line "$t" "$CS" "$CK" "$CC")"; fi
			diff -rq "$SHM/tree/$dir" "$SHM/out" >/dev/null || note "$name: warm copy $i of $dir differs from the source"
		done
		"$umount_fn"
		[ ${#warm[@]} -eq 0 ] || R[$name,$dir,warm]="$(best "${warm[@]}")"
		note "$name $dir: cold ${RC[$name,$dir,cold]:-failed}; warm${wl:-: failed}"
	done
}

MP="$TMP/weir" MPR="$TMP/rclone" MPS="$TMP/s3fs"
weir_on() {
	AWS_ACCESS_KEY_ID="$VGW_KEY" AWS_SECRET_ACCESS_KEY="$VGW_SECRET" weir_mount "s3://bkt/$PFX" "$MP" \
		--tier "$TIERS-$PFX:4GiB" --s3-endpoint "$VGW_URL" --s3-path-style --fetch-concurrency "$CONN" >/dev/null
}
weir_off() { w umount "$MP" >/dev/null || fuse_off "$MP"; }
rclone_mount() {
	# rclone 1.60 refuses to start with AWS_CA_BUNDLE set; the keys go through its env
	env -u AWS_CA_BUNDLE RCLONE_CONFIG_VGW_TYPE=s3 RCLONE_CONFIG_VGW_PROVIDER=Other \
		RCLONE_CONFIG_VGW_ACCESS_KEY_ID="$VGW_KEY" RCLONE_CONFIG_VGW_SECRET_ACCESS_KEY="$VGW_SECRET" \
		RCLONE_CONFIG_VGW_ENDPOINT="$VGW_URL" RCLONE_CONFIG_VGW_FORCE_PATH_STYLE=true \
		rclone mount "vgw:bkt/$PFX" "$MPR" --vfs-cache-mode full --cache-dir "$SHM/rclone-cache" \
		--transfers "$CONN" --daemon --log-file "$TMP/rclone.log" && wait_mounted "$MPR"
}
rclone_off() { fuse_off "$MPR"; sleep 0.5; }
s3fs_mount() {
	s3fs "bkt:/$PFX" "$MPS" -o url="$VGW_URL" -o use_path_request_style -o passwd_file="$TMP/s3fs.passwd" \
		-o use_cache="$SHM/s3fs-cache" -o parallel_count="$CONN" -o logfile="$TMP/s3fs.log" &&
		wait_mounted "$MPS"
}
s3fs_off() { fuse_off "$MPS"; sleep 0.5; }

(umask 077 && printf '%s:%s\n' "$VGW_KEY" "$VGW_SECRET" >"$TMP/s3fs.passwd")
if [ ${#DIRS[@]} -gt 0 ] && peer_on weir; then
	step "weir: cold, then warm after remounts (best of $RUNS)"
	peer weir "$MP" weir_on weir_off "${DIRS[@]}"
	[ -n "${R[weir,${DIRS[0]},cold]:-}" ] || fail "weir's cold copy failed"
fi

if [ ${#DIRS[@]} -gt 0 ] && peer_on rclone; then
	step "rclone mount --vfs-cache-mode full (Debian's; --transfers $CONN)"
	if command -v rclone >/dev/null; then
		peer rclone "$MPR" rclone_mount rclone_off "${DIRS[@]}"
	else
		note "rclone is not installed (apt-get install rclone); skipped"
	fi
fi

if [ ${#DIRS[@]} -gt 0 ] && peer_on s3fs; then
	step "s3fs (Debian's; use_cache, parallel_count $CONN)"
	if command -v s3fs >/dev/null; then
		peer s3fs "$MPS" s3fs_mount s3fs_off "${DIRS[@]}"
	else
		note "s3fs is not installed (apt-get install s3fs); skipped"
	fi
fi

# s3_cold_of BUILD: a cold cp -R of spark-3.3.1 through a fresh weir-node of BUILD; "seconds
# server-CPU-ms client-CPU-ms" (the client: weir-node).
s3_cold_of() {
	local build="$1" dir t c0 c1
	dir="$(mktemp -d "$TMP/side.XXXXXX")"
	weir_use_build "$build"
	weir_setup "$dir"
	printf 'metrics-listen =\n' >"$WEIR_STATE/node.conf"
	mkdir -p "$dir/mnt"
	AWS_ACCESS_KEY_ID="$VGW_KEY" AWS_SECRET_ACCESS_KEY="$VGW_SECRET" weir_mount s3://bkt/spark-3.3.1 "$dir/mnt" \
		--tier "mem:$WEIR_TIER_DIR/mem:4GiB" --s3-endpoint "$VGW_URL" --s3-path-style \
		--fetch-concurrency "$CONN" >/dev/null
	local np k0 k1
	np="$(weir_node_pid)"
	c0="$(cpu_ms "$VGW_PID")" k0="$(cpu_ms "$np")"
	t="$(timed "$SHM/out" cpt -R "$dir/mnt" "$SHM/out")"
	c1="$(cpu_ms "$VGW_PID")" k1="$(cpu_ms "$np")"
	diff -rq "$SRC" "$SHM/out" >/dev/null || fail "$build: the cold copy differs from the source"
	weir_teardown >/dev/null 2>&1
	echo "$t $((c1 - c0)) $((k1 - k0)) $(cat "$TMP/cp-cpu")"
}
# peer_cold NAME: a cold cp -R of spark-3.3.1 through a fresh mount of s3fs or rclone, its cache
# emptied first; "seconds server-CPU-ms client-CPU-ms", or nothing if it failed.
peer_cold() {
	local t c0 c1
	PFX=spark-3.3.1
	mkdir -p "$MPS" "$MPR" # made by peer() when its parts ran, not in a cold-only run
	case "$1" in
	s3fs) rm -rf "$SHM/s3fs-cache"; s3fs_mount || return 0 ;;
	rclone) rm -rf "$SHM/rclone-cache"; rclone_mount || return 0 ;;
	esac
	local mp pid k0 k1
	mp="$([ "$1" = s3fs ] && echo "$MPS" || echo "$MPR")"
	# the daemon serving this mount (its mountpoint, a fresh temp dir, is on its command line)
	pid="$(pgrep -n -f -- "$1 .*$mp" || true)"
	[ -n "$pid" ] || fail "no $1 process serving $mp"
	c0="$(cpu_ms "$VGW_PID")" k0="$(cpu_ms "$pid")"
	t="$(timed "$SHM/out" cpt -R "$mp" "$SHM/out")" || t=""
	c1="$(cpu_ms "$VGW_PID")" k1="$(cpu_ms "$pid")"
	diff -rq "$SRC" "$SHM/out" >/dev/null || note "$1: a cold copy differs from the source"
	"$1_off"
	[ -z "$t" ] || echo "$t $((c1 - c0)) $((k1 - k0)) $(cat "$TMP/cp-cpu")"
}
sides=()
if peer_on weir; then
	[ -z "$BASE" ] || sides+=(base)
	sides+=(this)
fi
peer_on rclone && command -v rclone >/dev/null && sides+=(rclone)
peer_on s3fs && command -v s3fs >/dev/null && sides+=(s3fs)
part_on cold || CROUNDS=0
[ "$CROUNDS" -eq 0 ] || step "spark cold, $CROUNDS rounds: ${sides[*]} in turn, each from an empty cache"
declare -A S SC KC CP BD
for i in $(seq 1 "$CROUNDS"); do
	line=""
	for k in "${sides[@]}"; do
		case "$k" in
		base) r="$(s3_cold_of "$BASE")" ;;
		this) r="$(s3_cold_of "$THIS_BUILD")" ;;
		*) r="$(peer_cold "$k")" ;;
		esac
		[ -n "$r" ] || { line+=" $k failed;"; continue; }
		read -r rt rs rk rc <<<"$r"
		S[$k]+=" $rt" SC[$k]+=" $rs" KC[$k]+=" $rk" CP[$k]+=" $rc" BD[$k]+=" $(bound "$rs" "$rk" "$rc")"
		line+=" $k $(cpu_line "$rt" "$rs" "$rk" "$rc");"
	done
	note "round $i:$line"
done
declare -A M MC MK MP MB
for k in "${sides[@]}"; do
	[ -n "${S[$k]:-}" ] || continue
	M[$k]="$(median ${S[$k]})" MC[$k]="$(median ${SC[$k]})" MK[$k]="$(median ${KC[$k]})"
	MP[$k]="$(median ${CP[$k]})" MB[$k]="$(median ${BD[$k]})"
done

for dir in "${!FLOORS[@]}"; do FLOOR[$dir]="$(best ${FLOORS[$dir]})"; done
t_floor="${FLOOR[spark-3.3.1]:-}"
echo
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (uptime's 1, 5, 15 min) on $(nproc) cores; server $SERVER"
echo "bytes: $BYTES (spark-3.3.1 at scale $SCALE); small: $SMALL files; $CONN connections"
echo "server's Connection header: ${CONN_HDR:-none (keep-alive)}"
echo "parts: $PARTS; peers: $PEERS"
echo "runs: spark cold = median of $CROUNDS alternated rounds (with none, each peer's first cold copy); warm = best of $RUNS; small cold = 1 run"
part_on limit && echo "curl single stream (spark-3.3.1): $t_curl s"
part_on limit && echo "server limit, $CONN-way whole-object GETs of the $SMALL small files: ${LIM[small]} s, server CPU ${LIMCPU[small]} ms"
part_on limit && for part in 1048576 4194304 16777216 0; do
	echo "server limit, $CONN-way ranges of $([ "$part" = 0 ] && echo "whole objects" || echo "$((part >> 20)) MiB"): ${LIM[$part]} s, server CPU ${LIMCPU[$part]} ms"
done
part_on floor && echo "local floor (cp -R from another tmpfs, read and write; best of every floor copy of the run, one beside each warm copy): spark-3.3.1 ${FLOOR[spark-3.3.1]} s of${FLOORS[spark-3.3.1]}; small ${FLOOR[small]} s of${FLOORS[small]}"
for k in "${sides[@]}"; do
	[ -n "${M[$k]:-}" ] || continue
	echo "spark cold, $k: median ${M[$k]} s of${S[$k]}; CPU medians: server ${MC[$k]} ms, client ${MK[$k]} ms (weir-node, rclone or s3fs), cp ${MP[$k]} ms; 2-core bound (CPU / 2) median ${MB[$k]} s of${BD[$k]}"
done
for p in weir rclone s3fs; do
	echo "$p: spark warm ${R[$p,spark-3.3.1,warm]:-n/a} s; small cold ${R[$p,small,cold]:-n/a} s, warm ${R[$p,small,warm]:-n/a} s"
	for what in spark-3.3.1,cold spark-3.3.1,warm small,cold small,warm; do
		[ -z "${RC[$p,$what]:-}" ] || echo "  $p ${what/,/ }$([ "${what#*,}" = warm ] && echo " (the best)"): ${RC[$p,$what]}"
	done
done
# the 2-core bound: is 2x the best peer reachable here at all? weir's bound against half the
# peer's wall time (above 1: weir's CPU alone, spread perfectly over both cores, still takes
# longer than 2x the peer would allow)
for p in rclone s3fs; do
	[ -z "${MB[this]:-}" ] || [ -z "${M[$p]:-}" ] ||
		echo "weir_cold_bound_vs_${p}_over_2: $(ratio "${MB[this]}" "$(awk -v a="${M[$p]}" 'BEGIN { print a / 2 }')")x (weir's median 2-core bound over half $p's median cold time; above 1: 2x $p is out of reach for weir's present CPU cost)"
done
[ "$CROUNDS" -eq 0 ] || R[weir,spark-3.3.1,cold]="${M[this]:-}"
for p in rclone s3fs; do [ "$CROUNDS" -eq 0 ] || R[$p,spark-3.3.1,cold]="${M[$p]:-}"; done
echo "weir_cold_vs_curl: $(ratio "$t_curl" "${R[weir,spark-3.3.1,cold]:-}")x"
echo "weir_cold_vs_server_limit: $(ratio "$t_limit" "${R[weir,spark-3.3.1,cold]:-}")x (the best of the server's own limits over weir's cold)"
echo "weir_cold_vs_local_floor: $(ratio "$t_floor" "${R[weir,spark-3.3.1,cold]:-}")x"
for p in weir rclone s3fs; do
	[ -z "${R[$p,small,cold]:-}" ] || [ -z "${LIM[small]:-}" ] ||
		echo "${p}_small_cold_vs_server_limit: $(ratio "${LIM[small]}" "${R[$p,small,cold]}")x (the server's own $CONN-way GETs over $p's cold copy)"
done
# every side's warm copy against the floor of the same tree (1.00x: the copy with no FUSE at all)
for p in weir rclone s3fs; do
	for dir in spark-3.3.1 small; do
		[ -z "${R[$p,$dir,warm]:-}" ] || [ -z "${FLOOR[$dir]:-}" ] ||
			echo "${p}_warm_${dir}_vs_local_floor: $(ratio "${FLOOR[$dir]}" "${R[$p,$dir,warm]}")x"
	done
done
for p in rclone s3fs; do
	for what in spark-3.3.1,cold spark-3.3.1,warm small,cold small,warm; do
		if [ -n "${R[$p,$what]:-}" ] && [ -n "${R[weir,$what]:-}" ]; then
			echo "weir_vs_${p}_${what/,/_}: $(ratio "${R[$p,$what]}" "${R[weir,$what]}")x (target >= 2x)"
		else
			echo "weir_vs_${p}_${what/,/_}: n/a (a side failed or is missing)"
		fi
	done
	# what 2x the peer would take, against what no client can beat
	for what in spark-3.3.1,cold spark-3.3.1,warm small,cold small,warm; do
		[ -z "${R[$p,$what]:-}" ] || [ -z "${FLOOR[${what%,*}]:-}" ] ||
			echo "${p}_${what/,/_}_over_2_vs_local_floor: $(ratio "${FLOOR[${what%,*}]}" "$(awk -v a="${R[$p,$what]}" 'BEGIN { print a / 2 }')")x (above 1: 2x $p is faster than the copy with no network or FUSE)"
	done
done
if [ -n "$BASE" ]; then
	echo "side_cold_this_vs_base: $(ratio "${M[base]}" "${M[this]}")x (base's time over this build's)"
fi
