#!/usr/bin/env bash
# End-to-end test of the review pages in a real browser: Debian's headless
# Chromium driven through chromedriver by Selenium (Python).
#
# Installs Chromium and chromedriver when missing (apt-get, as root) and
# Selenium into a venv, builds the CLI, then runs tests/browser/test_review.py,
# which prepares a temporary store, starts `nocturne serve --insecure-local`
# on a free loopback port, and drives the pages. Exits non-zero on any
# failure and prints `N passed, M failed` last.
#
#   bash tests/browser/run.sh
#
# Env: BROWSER_VENV (default /work/.venv-browser), CARGO_TARGET_DIR (default:
# cargo's), SHOTS_DIR (screenshots, default /tmp/nocturne-browser).
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  echo "== installing chromium and chromium-driver (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  # Wait for another apt/dpkg run to release its lock rather than fail.
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium chromium-driver >/dev/null
fi

VENV="${BROWSER_VENV:-/work/.venv-browser}"
PY="$VENV/bin/python"
if ! "$PY" -c 'import selenium' >/dev/null 2>&1; then
  echo "== installing selenium into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet 'selenium==4.51.0'
fi

echo "== cargo build -p nocturne-cli"
cargo build --quiet -p nocturne-cli
TARGET="${CARGO_TARGET_DIR:-target}"
case "$TARGET" in
  /*) NOCTURNE_BIN="$TARGET/debug/nocturne" ;;
  *) NOCTURNE_BIN="$PWD/$TARGET/debug/nocturne" ;;
esac
export NOCTURNE_BIN

# The Python script starts and stops the server and the browser itself
# (try/finally) and writes their pids here; this trap is a second net for
# those left behind if Python is killed.
PIDFILE="$(mktemp)"
export SERVER_PIDFILE="$PIDFILE"
cleanup() {
  local pid
  for pid in $(cat "$PIDFILE" 2>/dev/null); do
    kill "$pid" 2>/dev/null || true
  done
  rm -f "$PIDFILE"
}
trap cleanup EXIT INT TERM

"$PY" tests/browser/test_review.py
