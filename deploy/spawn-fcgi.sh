#!/bin/sh
# deploy/spawn-fcgi.sh - launch worker-runtime under spawn-fcgi (as root).
#
#   deploy/spawn-fcgi.sh [worker-runtime args...]
#
# spawn-fcgi creates the FastCGI unix socket with the ownership nginx needs
# (owner worker-runtime, group of the nginx workers, mode 0660: nobody else
# can talk to the Runtime), drops to the unprivileged worker-runtime user
# and starts the binary with the listening socket as fd 0, which is how
# worker-runtime runs when it gets no --socket flag.  For systemd use
# deploy/systemd/ instead (same socket, made by a .socket unit).
#
# Settings (environment):
#   WR_BIN           binary (default /usr/local/sbin/worker-runtime)
#   WR_SOCKET        socket path (default /run/worker-runtime/fcgi.sock;
#                    must match "server unix:..." in deploy/nginx.conf)
#   WR_USER/WR_GROUP user and group the Runtime runs as (worker-runtime)
#   WR_SOCKET_GROUP  group of the nginx worker processes (www-data)
#   WR_PIDFILE       pid file (default /run/worker-runtime/worker-runtime.pid)
#   WR_FOREGROUND=1  stay in the foreground (spawn-fcgi -n), e.g. under a
#                    supervisor; the pid file is then not written
# Without arguments the Runtime gets the defaults below: a durable store in
# /var/lib/worker-runtime and --threads 16 (see "Threads and keepalive" in
# docs/deploy.md before lowering it).
set -eu

WR_BIN=${WR_BIN:-/usr/local/sbin/worker-runtime}
WR_SOCKET=${WR_SOCKET:-/run/worker-runtime/fcgi.sock}
WR_USER=${WR_USER:-worker-runtime}
WR_GROUP=${WR_GROUP:-worker-runtime}
WR_SOCKET_GROUP=${WR_SOCKET_GROUP:-www-data}
WR_PIDFILE=${WR_PIDFILE:-/run/worker-runtime/worker-runtime.pid}
WR_STATE=${WR_STATE:-/var/lib/worker-runtime}

if [ "$(id -u)" != 0 ]; then
	echo "spawn-fcgi.sh: run as root (it creates the socket and drops" \
		"privileges to $WR_USER)" >&2
	exit 1
fi
command -v spawn-fcgi >/dev/null || {
	echo "spawn-fcgi.sh: spawn-fcgi not found (apt-get install spawn-fcgi)" >&2
	exit 1
}
id "$WR_USER" >/dev/null 2>&1 || {
	echo "spawn-fcgi.sh: no user $WR_USER; create it with" >&2
	echo "  useradd --system --home-dir $WR_STATE --shell /usr/sbin/nologin $WR_USER" >&2
	exit 1
}

if [ $# -eq 0 ]; then
	install -d -m 0700 -o "$WR_USER" -g "$WR_GROUP" "$WR_STATE"
	set -- --runtime-id "$(hostname -s)" --store "fs:$WR_STATE/store" \
		--threads 16
fi

# The socket's directory: nginx's group may enter it, nobody else.
install -d -m 0750 -o "$WR_USER" -g "$WR_SOCKET_GROUP" "$(dirname "$WR_SOCKET")"

# No secrets on the command line: a --local-token-file is a path.
if [ "${WR_FOREGROUND:-0}" = 1 ]; then
	exec spawn-fcgi -n -s "$WR_SOCKET" -M 0660 \
		-U "$WR_USER" -G "$WR_SOCKET_GROUP" -u "$WR_USER" -g "$WR_GROUP" \
		-- "$WR_BIN" "$@"
fi
exec spawn-fcgi -s "$WR_SOCKET" -M 0660 -P "$WR_PIDFILE" \
	-U "$WR_USER" -G "$WR_SOCKET_GROUP" -u "$WR_USER" -g "$WR_GROUP" \
	-- "$WR_BIN" "$@"
