#!/usr/bin/env bash
# Soak test (issue 14): mixed traffic against `nocturne serve` on a SQLite
# store, with the server SIGKILLed and restarted every KILL_EVERY seconds,
# then checks that nothing acknowledged was lost. Bounded, loopback only,
# not part of the default CI.
#
#   bash scripts/soak.sh                 # 10 minutes, 32 connections, a kill every 120 s
#   SOAK_MINUTES=3 bash scripts/soak.sh  # shorter
#
# Traffic (32 keep-alive connections, each a closed loop): ingest of new
# sessions (POST /v1/sessions), memory search, context, memory_propose over
# MCP (/mcp), dreams (POST /v1/dreams) and applies of the proposals they made
# (POST /v1/dreams/{id}/apply). Every 2xx answer is recorded as acknowledged.
# Afterwards (server stopped, then the CLI on the same file):
#   - every acknowledged session is stored with every acknowledged event;
#   - every acknowledged proposal is stored; every acknowledged apply's
#     revision is stored exactly as it was answered (all its changes);
#   - revision numbers run 1..head with none missing or repeated, each has
#     changes, and replaying them gives the memory the store lists;
#   - `nocturne sessions verify` passes.
# Prints a JSON summary and a markdown table (for BENCHMARKS.md); exits 1 if
# a check fails.
#
# Knobs (environment): SOAK_MINUTES (10), SOAK_CONNECTIONS (32),
# SOAK_KILL_EVERY (seconds, 120), NOCTURNE_BIN (default: the release binary
# of CARGO_TARGET_DIR or target/, built if missing), SOAK_DIR (a folder to
# keep the store and logs in; default a temporary one, removed after).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-target}"
BIN="${NOCTURNE_BIN:-$TARGET/release/nocturne}"
if [ ! -x "$BIN" ]; then
    echo "soak: building the release CLI" >&2
    cargo build --release -p nocturne-cli >&2
fi
exec python3 scripts/soak/soak.py --bin "$BIN" \
    --minutes "${SOAK_MINUTES:-10}" --connections "${SOAK_CONNECTIONS:-32}" \
    --kill-every "${SOAK_KILL_EVERY:-120}" ${SOAK_DIR:+--dir "$SOAK_DIR"}
