#!/usr/bin/env bash
# An API fuzzer nobody here wrote: Schemathesis (PyPI), driven by the
# server's own /openapi.json, against a live `nocturne serve` on a temp
# SQLite store, twice: with tokens (an admin token minted by the CLI) and
# with --insecure-local. Bounded: --max-examples per operation (FUZZ_EXAMPLES,
# default 20) and a fuzzing budget per run (FUZZ_MAX_TIME, default 60 s): about
# 5 minutes in all on 2 cores.
# Prints Schemathesis' report (and keeps its JUnit report in FUZZ_REPORT_DIR
# when that is set); exits non-zero on any failure.
#
#   bash scripts/fuzz-api.sh
#
# Env: FUZZ_VENV (default ~/.cache/nocturne-test/fuzz-venv), CARGO_TARGET_DIR.
#
# Checks: all of Schemathesis' checks except
#   - positive_data_acceptance: it expects every request the schema allows to
#     succeed (2xx/404/409), but some rules are about data, not shape, and no
#     JSON Schema says them: a memory text that looks like a secret is refused
#     (400), `set` must name a dimension of the taxonomy in force, TOML must
#     parse. The schema states the shapes (types, enums, bounds, required and
#     unknown fields); the server answers 400 with the documented error body.
#   - use_after_free / ensure_resource_availability: stateful checks for
#     DELETE-style APIs; this API deletes nothing (memories are retired and
#     kept), so they have nothing to check. The stateful phase is off: the
#     document declares no links between operations for it to chain; the
#     ids of seeded objects are given to the operations instead (below).
# POST /v1/runs is fuzzed against a server started with an agent definition
# (agents/lead.md) and a model: the scripted fake provider
# (`nocturne-fake-provider`, answering every request with one text), so a
# run is queued (201) instead of the 503 of a server without a runtime. The
# server runs without its worker (--no-worker): fuzzing is about the API,
# and queued runs and dreams stay queued.
# The review pages (tag `review`) are fuzzed in both modes; with tokens in
# a Schemathesis run of their own on the same server. A page opened with
# `?token=X` answers 303 with a cookie holding X; fuzzed together with the
# API operations, the unauthenticated re-request of ignored_auth once carried
# a cookie that authenticated it (Schemathesis' session, not the server: the
# pages alone, with every check, pass), so the two are kept apart.
# The authentication checks (ignored_auth, missing_required_header) bite in
# the token run; in local mode the served document asks for no token, as
# the server does not.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
VENV="${FUZZ_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/nocturne-test/fuzz-venv}"
EXAMPLES="${FUZZ_EXAMPLES:-20}"
MAX_TIME="${FUZZ_MAX_TIME:-60}"
if ! "$VENV/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

cargo build --quiet -p nocturne-cli -p nocturne-fake-provider
BIN="${CARGO_TARGET_DIR:-target}/debug/nocturne"
FAKE="${CARGO_TARGET_DIR:-target}/debug/nocturne-fake-provider"
WORK="$(mktemp -d)"
REPORT_DIR="${FUZZ_REPORT_DIR:-$WORK/reports}"
PID=""
FAKE_PID=""
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  if [ -n "$FAKE_PID" ]; then kill "$FAKE_PID" 2>/dev/null || true; wait "$FAKE_PID" 2>/dev/null || true; fi
  if [ -z "${FUZZ_REPORT_DIR:-}" ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# `json_field a.b`: that field of the JSON on stdin.
json_field() {
  python3 -c 'import functools,json,sys; print(functools.reduce(lambda v,k: v[k], sys.argv[1].split("."), json.load(sys.stdin)))' "$1"
}

# A store with data to find: the sample transcripts, a memory, a pending
# proposal, a queued job. Their ids go into a Schemathesis config so that
# the operations on one object reach it (not only 404s).
seed() {
  local store="$1" config="$2"
  "$BIN" ingest --store "$store" crates/cli/samples >/dev/null
  local memory dream job
  memory="$("$BIN" memory add --store "$store" --kind preference --text "Use pnpm, not npm." --json | json_field memory.id)"
  dream="$("$BIN" dream --store "$store" --json | json_field id)"
  job="$("$BIN" dream --store "$store" --queue --json | json_field id)"
  run="$("$BIN" run lead "Summarize the open issues." --queue --store "$store" --agents "$WORK/agents" \
    --model "openai:$FAKE_URL/v1#fake" --json | json_field run)"
  cat >"$config" <<TOML
[[operations]]
include-path-regex = "^/(v1/)?memories/[{]id[}]"
parameters = { "path.id" = "$memory" }

[[operations]]
include-path-regex = "^/(v1/)?dreams/[{]id[}]"
parameters = { "path.id" = "$dream" }

[[operations]]
include-path-regex = "^/v1/jobs/[{]id[}]"
parameters = { "path.id" = "$job" }

[[operations]]
include-path-regex = "^/(v1/)?runs/[{]id[}]"
parameters = { "path.id" = "$run" }

[[operations]]
include-path-regex = "^/v1/sessions/[{]id[}]"
parameters = { "path.id" = "cart-total-rounding" }
TOML
}

# The runtime of the fuzzed servers: one agent and the fake model (any
# request gets the same short answer; nothing calls it without a worker).
mkdir -p "$WORK/agents"
printf -- '---\nname: lead\ndescription: The lead agent.\n---\nYou are the lead.\n' >"$WORK/agents/lead.md"
echo '{"fallback": {"text": "done", "usage": {"input_tokens": 10, "output_tokens": 5}}}' >"$WORK/fake-script.json"
"$FAKE" --script "$WORK/fake-script.json" >"$WORK/fake.log" 2>&1 &
FAKE_PID=$!
for _ in $(seq 1 100); do
  if grep -q "listening on" "$WORK/fake.log" 2>/dev/null; then break; fi
  if ! kill -0 "$FAKE_PID" 2>/dev/null; then cat "$WORK/fake.log"; echo "the fake provider did not start"; exit 1; fi
  sleep 0.1
done
FAKE_URL="$(sed -n 's/^listening on //p' "$WORK/fake.log")"
[ -n "$FAKE_URL" ] || { echo "the fake provider did not say where it listens"; exit 1; }
export NOCTURNE_MODEL_KEY=fuzz-key

start() {
  local store="$1" port="$2"; shift 2
  "$BIN" serve --store "$store" --listen "127.0.0.1:$port" --no-worker --config "$WORK/none.toml" \
    --agents "$WORK/agents" --model "openai:$FAKE_URL/v1#fake" "$@" \
    >"$WORK/serve-$port.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 100); do
    if python3 -c 'import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
      "http://127.0.0.1:$port/openapi.json" 2>/dev/null; then return 0; fi
    if ! kill -0 "$PID" 2>/dev/null; then cat "$WORK/serve-$port.log"; echo "the server did not start"; exit 1; fi
    sleep 0.1
  done
  echo "the server did not answer on port $port"; exit 1
}

# The fuzzed server can start runs: POST /v1/runs with a valid body queues
# one (202), so the fuzzer reaches the handler, not a 503.
check_runs() {
  local port="$1"; shift
  python3 - "http://127.0.0.1:$port/v1/runs" "$@" <<'PY'
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1], data=json.dumps({"agent": "lead", "task": "check"}).encode(),
                             headers={"Content-Type": "application/json", **dict(h.split(": ", 1) for h in sys.argv[2:])})
with urllib.request.urlopen(req, timeout=10) as r:
    if r.status != 202:
        sys.exit(f"POST /v1/runs answered {r.status}, not 202")
PY
}

stop() {
  local port="$1"
  kill "$PID"
  # A crash (not our SIGTERM) shows as a non-zero exit beside 143.
  local rc=0; wait "$PID" || rc=$?
  PID=""
  if [ "$rc" != 0 ] && [ "$rc" != 143 ]; then
    echo "the server exited with $rc:"; cat "$WORK/serve-$port.log"; return 1
  fi
  if grep -qi "panicked" "$WORK/serve-$port.log"; then
    echo "the server panicked:"; cat "$WORK/serve-$port.log"; return 1
  fi
}

fuzz() {
  local name="$1" port="$2" config="$3"; shift 3
  echo "== Schemathesis $SCHEMATHESIS_VERSION: $name (max $EXAMPLES examples per operation)"
  local rc=0
  SCHEMATHESIS_HOOKS=scripts/fuzz-api-hooks.py "$VENV/bin/st" --config-file "$config" run "http://127.0.0.1:$port/openapi.json" \
    --checks all \
    --exclude-checks positive_data_acceptance,use_after_free,ensure_resource_availability \
    --phases examples,coverage,fuzzing \
    --max-examples "$EXAMPLES" --max-time "$MAX_TIME" --seed 1 \
    --workers 2 --request-timeout 30 --suppress-health-check all \
    --report junit --report-dir "$REPORT_DIR/$name" \
    --output-truncate true "$@" || rc=$?
  return "$rc"
}

failed=0
# 1. With tokens.
STORE="$WORK/tokens.db"
seed "$STORE" "$WORK/tokens.toml"
TOKEN="$("$BIN" tokens create --store "$STORE" --scope admin --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
PORT="$(free_port)"
start "$STORE" "$PORT"
check_runs "$PORT" "Authorization: Bearer $TOKEN" || failed=1
fuzz tokens "$PORT" "$WORK/tokens.toml" -H "Authorization: Bearer $TOKEN" --exclude-tag review || failed=1
fuzz tokens-review "$PORT" "$WORK/tokens.toml" -H "Authorization: Bearer $TOKEN" --include-tag review || failed=1
stop "$PORT" || failed=1

# 2. Local mode, no tokens.
STORE="$WORK/local.db"
seed "$STORE" "$WORK/local.toml"
PORT="$(free_port)"
start "$STORE" "$PORT" --insecure-local
check_runs "$PORT" || failed=1
fuzz insecure-local "$PORT" "$WORK/local.toml" || failed=1
stop "$PORT" || failed=1

if [ "$failed" != 0 ]; then
  echo "fuzz-api: FAILED (reports in $REPORT_DIR)"
  exit 1
fi
echo "fuzz-api: 0 server errors, 0 schema mismatches, 0 crashes in both modes"
