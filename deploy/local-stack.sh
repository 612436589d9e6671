# shellcheck shell=bash
# deploy/local-stack.sh - a private worker-runtime + nginx in one directory.
#
# Sourced (bash) by deploy/quickstart, tests/e2e/*.sh and tests/bench/: the
# production site file deploy/nginx.conf is rendered with the paths of a
# state directory, so what the tests exercise is what operators install.
# Processes are started in the caller's shell (so it can wait for them) and
# are stopped by PID only.
#
# Layout of $WR_DIR (mirrors /etc/worker-runtime, /run/worker-runtime and
# /var/log/nginx of a real install):
#   tls/cert.pem tls/key.pem  self-signed, CN=localhost, IP:127.0.0.1
#   ca.pem                    a copy of tls/cert.pem: what clients verify with
#   token                     the local token (hex), 0600
#   token.conf                the nginx map include, 0600
#   fcgi.sock                 the Runtime's FastCGI socket
#   nginx.conf nginx-site.conf nginx/  the private nginx
#   worker-runtime.pid nginx.pid *.log
# WR_NGINX_BIN names the nginx binary (default: nginx on PATH).  Never call
# that variable NGINX: nginx reads $NGINX as a list of inherited sockets.

# wr_stack_init DIR: creates DIR (0700) and sets WR_DIR.  Fails when the
# socket path would not fit in sun_path (108 bytes).
wr_stack_init() {
	local dir=$1
	mkdir -p "$dir" || return 1
	chmod 0700 "$dir" || return 1
	WR_DIR=$(cd "$dir" && pwd) || return 1
	if [ $(( ${#WR_DIR} + 10 )) -ge 108 ]; then
		echo "local-stack: $WR_DIR is too long for a unix socket path" \
			"(max ~97 bytes); choose a shorter directory" >&2
		return 1
	fi
	mkdir -p "$WR_DIR/nginx" "$WR_DIR/tls" || return 1
}

# wr_stack_tls: a self-signed EC certificate for localhost/127.0.0.1 that is
# also the CA file clients verify against.  Kept when it already exists.
wr_stack_tls() {
	local crt="$WR_DIR/tls/cert.pem" key="$WR_DIR/tls/key.pem"
	if [ -s "$crt" ] && [ -s "$key" ]; then
		cp "$crt" "$WR_DIR/ca.pem"
		return
	fi
	( umask 077
	  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-nodes -days 825 -keyout "$key" -out "$crt" \
		-subj /CN=localhost \
		-addext subjectAltName=IP:127.0.0.1,DNS:localhost \
		>/dev/null 2>&1 ) || {
		echo "local-stack: openssl could not make a certificate" >&2
		return 1
	}
	chmod 0644 "$crt"
	# The same certificate is what clients verify against.
	cp "$crt" "$WR_DIR/ca.pem"
}

# wr_stack_token: DIR/token (random, kept across runs) and the nginx include
# DIR/token.conf derived from it; both 0600.
wr_stack_token() {
	local tok="$WR_DIR/token"
	( umask 077
	  if ! [ -s "$tok" ]; then
		openssl rand -hex 32 > "$tok.tmp" && mv "$tok.tmp" "$tok"
	  fi
	  printf '"~^Bearer %s$" ok;\n' "$(cat "$tok")" > "$WR_DIR/token.conf" ) ||
		return 1
	chmod 0600 "$tok" "$WR_DIR/token.conf"
	WR_TOKEN=$(cat "$tok")
}

# wr_stack_render_nginx SRCDIR PORT [EXTRA]: writes DIR/nginx.conf (from
# deploy/nginx-local.conf.in) and DIR/nginx-site.conf (deploy/nginx.conf with
# this directory's paths, listening on 127.0.0.1:PORT only).  EXTRA, if
# given, is a file included in the server block before "location /" (the
# benchmark's static location).  WR_NGINX_SITE names another site file of
# SRCDIR to render the same way (default deploy/nginx.conf; the two-Runtime
# test renders deploy/nginx-multi.conf).  Fails if a production path
# survives.
wr_stack_render_nginx() {
	local src=$1 port=$2 extra=${3:-} user_directive=""
	local site="$WR_DIR/nginx-site.conf"
	if [ "$(id -u)" = 0 ]; then
		user_directive="user root;"
	fi
	sed -e "s#/etc/worker-runtime/#$WR_DIR/#g" \
	    -e "s#/run/worker-runtime/#$WR_DIR/#g" \
	    -e "s#/var/log/nginx/#$WR_DIR/#g" \
	    -e "s#^\([[:space:]]*\)listen 443 ssl;#\1listen 127.0.0.1:$port ssl;#" \
	    "$src/${WR_NGINX_SITE:-deploy/nginx.conf}" > "$site.tmp" || return 1
	if [ -n "$extra" ]; then
		sed -i -e "s#^\([[:space:]]*\)location / {#\1include $extra;\n&#" \
			"$site.tmp" || return 1
		grep -q "include $extra;" "$site.tmp" || {
			echo "local-stack: no 'location / {' in nginx.conf" >&2
			return 1
		}
	fi
	if grep -nE '^[^#]*(/etc/worker-runtime|/run/worker-runtime|/var/log/nginx)' "$site.tmp" >&2 ||
	   ! grep -q "listen 127.0.0.1:$port ssl;" "$site.tmp"; then
		echo "local-stack: deploy/nginx.conf no longer renders" \
			"(paths or listen line changed?)" >&2
		return 1
	fi
	mv "$site.tmp" "$site" || return 1
	sed -e "s#@DIR@#$WR_DIR#g" -e "s#@USER_DIRECTIVE@#$user_directive#" \
	    "$src/deploy/nginx-local.conf.in" > "$WR_DIR/nginx.conf" || return 1
	WR_PORT=$port
	WR_BASE_URL="https://127.0.0.1:$port"
}

# wr_stack_pid_alive PID: true if PID is a live (non-zombie) process.
wr_stack_pid_alive() {
	[ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null &&
		! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# wr_stack_start_runtime BIN [ARGS...]: starts BIN on DIR/fcgi.sock in the
# background, stderr to DIR/worker-runtime.log, and waits (<= 10 s) for the
# socket.  Sets WR_RUNTIME_PID and writes DIR/worker-runtime.pid.
wr_stack_start_runtime() {
	local bin=$1 i
	shift
	rm -f "$WR_DIR/fcgi.sock"
	"$bin" --socket "unix:$WR_DIR/fcgi.sock" "$@" \
		</dev/null >>"$WR_DIR/worker-runtime.log" 2>&1 &
	WR_RUNTIME_PID=$!
	echo "$WR_RUNTIME_PID" > "$WR_DIR/worker-runtime.pid"
	for i in $(seq 100); do
		[ -S "$WR_DIR/fcgi.sock" ] && return 0
		wr_stack_pid_alive "$WR_RUNTIME_PID" || break
		sleep 0.1
	done
	echo "local-stack: worker-runtime did not come up; its log:" >&2
	tail -n 20 "$WR_DIR/worker-runtime.log" >&2
	return 1
}

# wr_stack_start_nginx: checks and starts the private nginx in the
# background, waits (<= 10 s) until it answers TLS on WR_PORT.  Sets
# WR_NGINX_PID.  Returns 98 when the port was taken (pick another and
# render again), 1 on any other failure.
wr_stack_start_nginx() {
	local i nginx=${WR_NGINX_BIN:-nginx}
	: > "$WR_DIR/nginx-error.log"
	if ! env -u NGINX "$nginx" -t -q -p "$WR_DIR/nginx/" -c "$WR_DIR/nginx.conf" \
		-e "$WR_DIR/nginx-error.log" 2>>"$WR_DIR/nginx-error.log"; then
		echo "local-stack: nginx -t failed:" >&2
		tail -n 20 "$WR_DIR/nginx-error.log" >&2
		return 1
	fi
	env -u NGINX "$nginx" -p "$WR_DIR/nginx/" -c "$WR_DIR/nginx.conf" \
		-e "$WR_DIR/nginx-error.log" </dev/null \
		>>"$WR_DIR/nginx-error.log" 2>&1 &
	WR_NGINX_PID=$!
	for i in $(seq 100); do
		if ! wr_stack_pid_alive "$WR_NGINX_PID"; then
			wait "$WR_NGINX_PID" 2>/dev/null
			WR_NGINX_PID=
			if grep -q 'Address already in use' "$WR_DIR/nginx-error.log"; then
				return 98
			fi
			echo "local-stack: nginx exited; its log:" >&2
			tail -n 20 "$WR_DIR/nginx-error.log" >&2
			return 1
		fi
		if curl -s -o /dev/null --max-time 2 \
			--cacert "$WR_DIR/tls/cert.pem" "$WR_BASE_URL/"; then
			return 0
		fi
		sleep 0.1
	done
	echo "local-stack: nginx did not answer on $WR_BASE_URL" >&2
	return 1
}

# wr_stack_stop_pid PID NAME: SIGTERM, wait up to 10 s, then SIGKILL; reaps
# the process when it is our child.
wr_stack_stop_pid() {
	local pid=$1 _
	[ -n "$pid" ] || return 0
	if wr_stack_pid_alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null
		for _ in $(seq 100); do
			wr_stack_pid_alive "$pid" || break
			sleep 0.1
		done
		if wr_stack_pid_alive "$pid"; then
			echo "local-stack: $2 ($pid) ignored SIGTERM; killing" >&2
			kill -KILL "$pid" 2>/dev/null
		fi
	fi
	wait "$pid" 2>/dev/null
	return 0
}

# wr_stack_stop: stops nginx first (no new requests), then the Runtime.
wr_stack_stop() {
	wr_stack_stop_pid "${WR_NGINX_PID:-}" nginx
	WR_NGINX_PID=
	wr_stack_stop_pid "${WR_RUNTIME_PID:-}" worker-runtime
	WR_RUNTIME_PID=
	rm -f "$WR_DIR/nginx.pid" "$WR_DIR/worker-runtime.pid" "$WR_DIR/fcgi.sock"
}
