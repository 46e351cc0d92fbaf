# SPDX-License-Identifier: Apache-2.0
# A private nginx on loopback serving a directory tree with autoindex, for weir's tests
# (source it after lib.sh). It runs in the foreground of its own directory and is killed on exit.
#
#   nginx_start DIR ROOT [--port P] [--limit-rate RATE] [--limit-rate-under DIR RATE]... [--json]
#               [--addr IPV4]
#     (--limit-rate-under: the files under /DIR/ at RATE instead)
#     sets NGINX_PORT, NGINX_URL (http://ADDR:P/, ADDR 127.0.0.1 by default: --addr for a test's
#     own network, e.g. a bridge other network namespaces reach), NGINX_JSON_URL (.../json/ with --json),
#     NGINX_PID, NGINX_ACCESS_LOG. / serves ROOT as autoindex HTML; /json/ as autoindex JSON.
#   nginx_stop [--kill]     stop it (SIGTERM, or SIGKILL to die mid-transfer)
#   nginx_requests          number of requests in the access log so far
#   nginx_requests_since N  prints access-log lines after the first N
#   nginx_starts            prints every request as "START_S REQUEST RANGE", in the order they
#                           began (the access log is written as each ends): timing.log has each
#                           request's end ($msec) and duration ($request_time)
[ -z "${WEIR_NGINX_SH:-}" ] || return 0 # sourced once (walkthrough.sh brings it along)
WEIR_NGINX_SH=1

NGINX_BIN="${NGINX_BIN:-/usr/sbin/nginx}"
NGINX_PID=""

nginx_start() {
	local dir="$1" root="$2" port="" rate="" json=0 try
	_NGINX_UNDER=""
	NGINX_ADDR=127.0.0.1
	shift 2
	while [ $# -gt 0 ]; do
		case "$1" in
		--port) port="$2"; shift 2 ;;
		--limit-rate) rate="$2"; shift 2 ;;
		--limit-rate-under)
			_NGINX_UNDER+="		location /$2/ { autoindex on; autoindex_exact_size on; limit_rate $3; }
"
			shift 3 ;;
		--json) json=1; shift ;;
		--addr) NGINX_ADDR="$2"; shift 2 ;;
		*) fail "nginx_start: unknown option \"$1\"" ;;
		esac
	done
	[ -x "$NGINX_BIN" ] || fail "nginx is not at $NGINX_BIN: install nginx-light (scripts/install-deps.sh)"
	[ -d "$root" ] || fail "nginx_start: document root $root does not exist"
	mkdir -p "$dir/tmp"
	NGINX_DIR="$(cd "$dir" && pwd)"
	NGINX_ACCESS_LOG="$NGINX_DIR/access.log"
	root="$(cd "$root" && pwd)"

	for try in 1 2 3 4 5; do
		NGINX_PORT="${port:-$(free_port)}"
		_nginx_conf "$root" "$rate" "$json" >"$NGINX_DIR/nginx.conf"
		# master_process off: one process, no user switch, so a root-owned 0700 temp dir is
		# readable and one kill stops everything.
		"$NGINX_BIN" -p "$NGINX_DIR/" -e "$NGINX_DIR/error.log" -c "$NGINX_DIR/nginx.conf" \
			</dev/null >>"$NGINX_DIR/stdout.log" 2>&1 &
		NGINX_PID=$!
		pid_track "$NGINX_PID"
		if _nginx_wait_up; then
			NGINX_URL="http://$NGINX_ADDR:$NGINX_PORT/"
			NGINX_JSON_URL=""
			[ "$json" -eq 1 ] && NGINX_JSON_URL="http://$NGINX_ADDR:$NGINX_PORT/json/"
			if [ -z "${_NGINX_TRAP_SET:-}" ]; then
				at_exit nginx_stop --kill
				_NGINX_TRAP_SET=1
			fi
			return 0
		fi
		pid_signal KILL "$NGINX_PID" || true
		pid_stop "$NGINX_PID"
		NGINX_PID=""
		[ -n "$port" ] && break    # a fixed port that is busy will not free itself
	done
	cat "$NGINX_DIR/error.log" >&2 2>/dev/null || true
	fail "nginx did not start on $NGINX_ADDR:${NGINX_PORT} (error log above, config in $NGINX_DIR/nginx.conf)"
}

_nginx_conf() {
	local root="$1" rate="$2" json="$3" limit=""
	[ -n "$rate" ] && limit="limit_rate $rate;"
	cat <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/error.log info;
events { worker_connections 1024; }
http {
	types { application/octet-stream tgz gz; text/plain txt; }
	default_type application/octet-stream;
	log_format weir '\$remote_addr [\$time_local] "\$request" \$status \$body_bytes_sent "\$http_range" "\$http_if_match"';
	access_log $NGINX_DIR/access.log weir;
	log_format weirtime '\$msec \$request_time "\$request" "\$http_range"';
	access_log $NGINX_DIR/timing.log weirtime;
	client_body_temp_path $NGINX_DIR/tmp/body;
	proxy_temp_path $NGINX_DIR/tmp/proxy;
	fastcgi_temp_path $NGINX_DIR/tmp/fastcgi;
	uwsgi_temp_path $NGINX_DIR/tmp/uwsgi;
	scgi_temp_path $NGINX_DIR/tmp/scgi;
	sendfile on;
	keepalive_requests 100000;
	keepalive_timeout 120s;
	server {
		listen $NGINX_ADDR:$NGINX_PORT;
		server_name localhost;
		root $root;
		charset utf-8;
		location / {
			autoindex on;
			autoindex_exact_size on;
			$limit
		}
$_NGINX_UNDER$( [ "$json" -eq 1 ] && cat <<JSON
		location /json/ {
			alias $root/;
			autoindex on;
			autoindex_format json;
			$limit
		}
JSON
)
	}
}
CONF
}

_nginx_wait_up() {
	local i
	for i in $(seq 1 50); do
		pid_alive "$NGINX_PID" || return 1
		if curl -s -o /dev/null --max-time 1 "http://$NGINX_ADDR:$NGINX_PORT/__weir_probe__" 2>/dev/null; then
			# the probe is not one of the test's requests
			: >"$NGINX_DIR/access.log"
			return 0
		fi
		sleep 0.1
	done
	return 1
}

nginx_stop() {
	local sig=TERM
	[ "${1:-}" = "--kill" ] && sig=KILL
	[ -n "$NGINX_PID" ] || return 0
	pid_signal "$sig" "$NGINX_PID" || true
	pid_stop "$NGINX_PID" # waits for it to end, and reaps it
	NGINX_PID=""
}

nginx_requests() {
	if [ -f "$NGINX_ACCESS_LOG" ]; then wc -l <"$NGINX_ACCESS_LOG"; else echo 0; fi
}

nginx_requests_since() {
	tail -n "+$(($1 + 1))" "$NGINX_ACCESS_LOG"
}

nginx_starts() {
	awk -F'"' '{ split($1, t, " "); printf "%.3f %s %s\n", t[1] - t[2], $2, $4 }' \
		"$NGINX_DIR/timing.log" | sort -n -s -k1,1
}
