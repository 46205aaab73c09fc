#!/usr/bin/env bash
# Stops the server tests/postgres/start.sh started and removes its data
# (NOCTURNE_TEST_PGDATA names it).
set -uo pipefail
DATA="${NOCTURNE_TEST_PGDATA:-}"
if [ -z "$DATA" ] || [ ! -d "$DATA/db" ]; then
  exit 0
fi
BIN="$(for d in /usr/lib/postgresql/*/bin; do [ -x "$d/pg_ctl" ] && echo "$d"; done | sort -V | tail -1)"
RUN=()
[ "$(id -u)" = "0" ] && RUN=(runuser -u postgres --)
"${RUN[@]}" "$BIN/pg_ctl" -D "$DATA/db" -m immediate -w stop >/dev/null 2>&1 || true
rm -rf "$DATA"
