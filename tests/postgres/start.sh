#!/usr/bin/env bash
# Starts a throw-away PostgreSQL server for the tests and prints the
# variables to export (source it, or eval its output):
#
#   eval "$(bash tests/postgres/start.sh)"     # sets NOCTURNE_TEST_POSTGRES and NOCTURNE_TEST_PGDATA
#   ... cargo test ...
#   bash tests/postgres/stop.sh                # stops it and removes its data
#
# Installs Debian's `postgresql` package when no server is found (waits for
# apt's lock), makes a data directory with initdb in a temporary folder,
# starts `postgres` on a free loopback port, as the user `postgres` when run
# as root (the server refuses to run as root). Nothing else on the machine
# is touched. Everything it says goes to stderr; stdout has only the exports.
set -euo pipefail

log() { echo "tests/postgres: $*" >&2; }

find_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    if [ -x "$dir/postgres" ] && [ -x "$dir/initdb" ]; then
      echo "$dir"
    fi
  done | sort -V | tail -1
}

BIN="$(find_bin || true)"
if [ -z "$BIN" ]; then
  log "installing Debian's postgresql package"
  export DEBIAN_FRONTEND=noninteractive
  for i in $(seq 1 60); do
    if apt-get -o DPkg::Lock::Timeout=60 install -y -q postgresql >&2 2>&1; then
      break
    fi
    log "apt-get install failed (try $i); updating the package lists and trying again"
    apt-get -o DPkg::Lock::Timeout=60 update -q >&2 2>&1 || true
    sleep 2
  done
  BIN="$(find_bin || true)"
  if [ -z "$BIN" ]; then
    log "no PostgreSQL server after installing it"
    exit 1
  fi
fi

DATA="$(mktemp -d /tmp/nocturne-pg.XXXXXX)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
RUN=()
if [ "$(id -u)" = "0" ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
  chown postgres "$DATA"
  RUN=(runuser -u postgres --)
fi
chmod 700 "$DATA"
"${RUN[@]}" "$BIN/initdb" -D "$DATA/db" -U nocturne --auth=trust -E UTF8 --locale=C.UTF-8 >"$DATA/initdb.log" 2>&1 \
  || { cat "$DATA/initdb.log" >&2; exit 1; }
cat >>"$DATA/db/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DATA'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 128MB
CONF
"${RUN[@]}" "$BIN/pg_ctl" -D "$DATA/db" -l "$DATA/server.log" -w -t 60 start >&2 \
  || { cat "$DATA/server.log" >&2; exit 1; }
"$BIN/psql" -h 127.0.0.1 -p "$PORT" -U nocturne -d postgres -qc 'CREATE DATABASE nocturne_test' >&2
log "PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT, data in $DATA"
echo "export NOCTURNE_TEST_POSTGRES='postgres://nocturne@127.0.0.1:$PORT/nocturne_test'"
echo "export NOCTURNE_TEST_PGDATA='$DATA'"
