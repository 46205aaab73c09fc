#!/usr/bin/env bash
# End-to-end tests of the MCP server with the official MCP Python SDK.
# Installs the SDK into a venv if missing, builds the CLI and the MCP
# examples, runs tests/mcp/test_mcp.py. Exits non-zero on any failure and
# prints `N passed, M failed`.
#
#   bash tests/mcp/run.sh
#
# Env: MCP_VENV (default /work/.venv-mcp), CARGO_TARGET_DIR (default: cargo's).
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV="${MCP_VENV:-/work/.venv-mcp}"
PY="$VENV/bin/python"
if ! "$PY" -c 'import mcp, httpx2' >/dev/null 2>&1; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet 'mcp==2.3.0'
fi

cargo build --quiet -p nocturne-cli
TARGET="${CARGO_TARGET_DIR:-target}"
export NOCTURNE_BIN="$TARGET/debug/nocturne"

exec "$PY" tests/mcp/test_mcp.py
