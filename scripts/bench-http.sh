#!/usr/bin/env bash
# HTTP load benchmark: `nocturne serve` driven by wrk over loopback.
#
#   bash scripts/bench-http.sh            # full run; rewrites the bench:http section of BENCHMARKS.md
#   bash scripts/bench-http.sh --quick    # smoke run (short, smaller store); BENCHMARKS.md untouched
#
# Goal: memory_search and context at >= 2,000 requests/s with p99 < 50 ms and
# zero errors, 10,000 memories, on this machine.
#
# What it does: builds the release CLI, writes an export document with N
# varied memories (scripts/bench-http/gen_export.py) and imports it into a
# fresh store, starts `nocturne serve --insecure-local` on a free loopback
# port, warms it up, then runs wrk (closed loop, --latency) against
#   (a) GET  /v1/memories/search?q=...&k=10   (scripts/bench-http/search.lua)
#   (b) POST /v1/context {"task","budget":800,"team"}  (scripts/bench-http/context.lua)
# RUNS times each, interleaved, and prints a markdown table (median of the runs).
# wrk and the server share the machine's cores; the CPU each used is reported.
#
# Knobs (environment): BENCH_MEMORIES (10000), BENCH_DURATION (seconds, 30),
# BENCH_CONNECTIONS (32), BENCH_THREADS (wrk threads, 2), BENCH_RUNS (3),
# CARGO_TARGET_DIR (where the release binary is built), NOCTURNE_BIN (skip
# the build and use this binary).
set -euo pipefail

QUICK=0
for a in "$@"; do
    case "$a" in
        --quick) QUICK=1 ;;
        -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "unknown argument: $a (use --quick)" >&2; exit 2 ;;
    esac
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HERE="$ROOT/scripts/bench-http"
if [[ $QUICK == 1 ]]; then
    N=${BENCH_MEMORIES:-2000}; DURATION=${BENCH_DURATION:-5}; RUNS=${BENCH_RUNS:-1}
else
    N=${BENCH_MEMORIES:-10000}; DURATION=${BENCH_DURATION:-30}; RUNS=${BENCH_RUNS:-3}
fi
CONNS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-2}
WARMUP=${BENCH_WARMUP:-5}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
DATA="$ROOT/target/bench-data/http"

command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl not found: apt-get install -y curl" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 not found (needed to write the seed document)" >&2; exit 1; }

log() { printf '[bench-http] %s\n' "$*" >&2; }

# --- build ---
if [[ -n ${NOCTURNE_BIN:-} ]]; then
    BIN=$NOCTURNE_BIN
else
    log "building the release CLI (CARGO_TARGET_DIR=$TARGET)"
    (cd "$ROOT" && CARGO_TARGET_DIR="$TARGET" cargo build --release -q -p nocturne-cli)
    BIN="$TARGET/release/nocturne"
fi
[[ -x $BIN ]] || { echo "no binary at $BIN" >&2; exit 1; }

# --- seed a fresh store ---
mkdir -p "$DATA"
STORE="$DATA/store-$N.db"
SEED="$DATA/seed-$N.json"
SERVER_LOG="$DATA/server.log"
rm -f "$STORE" "$STORE-wal" "$STORE-shm"
log "writing $N memories to $SEED"
python3 "$HERE/gen_export.py" "$N" "$SEED"
t0=$(date +%s.%N)
"$BIN" --store "$STORE" import "$SEED" >/dev/null
t1=$(date +%s.%N)
IMPORT_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
log "imported in ${IMPORT_S} s into $STORE"

# --- start the server ---
SERVER_PID=
cleanup() {
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$BIN" --store "$STORE" serve --insecure-local --listen 127.0.0.1:0 >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!
ADDR=
for _ in $(seq 100); do
    ADDR=$(sed -n 's|.*listening on \(http://[0-9.:]*\).*|\1|p' "$SERVER_LOG" | head -n1)
    [[ -n $ADDR ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$SERVER_LOG" >&2; exit 1; }
    sleep 0.1
done
[[ -n $ADDR ]] || { echo "the server did not report its address" >&2; cat "$SERVER_LOG" >&2; exit 1; }
log "server pid $SERVER_PID at $ADDR"

# --- sanity checks (also builds the memory index: embeds and caches every vector) ---
t0=$(date +%s.%N)
hits=$(curl -fsS "$ADDR/v1/memories/search?q=release%20checkout&k=10" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
t1=$(date +%s.%N)
FIRST_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
[[ $hits -ge 1 ]] || { echo "search returned no hits" >&2; exit 1; }
items=$(curl -fsS -H 'Content-Type: application/json' -d '{"task":"fix the failing checkout tests","budget":800,"team":"web"}' \
    "$ADDR/v1/context" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["bundle"]["items"]))')
[[ $items -ge 1 ]] || { echo "context returned an empty bundle" >&2; exit 1; }
log "first search (index build over $N memories) took ${FIRST_S} s; search: $hits hits, context: $items items"

# --- measurement helpers ---
proc_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }           # utime + stime of one process
sys_ticks() { awk '/^cpu / { print $2+$3+$4+$5+$6+$7+$8+$9, $5+$6 }' /proc/stat; }  # total, idle+iowait
HZ=$(getconf CLK_TCK)

# run_wrk NAME SCRIPT URL DURATION -> prints "BENCH_RESULT ... server_cpu=.. wrk_cpu=.. busy=.."
run_wrk() {
    local name=$1 script=$2 url=$3 dur=$4 out="$DATA/wrk-$1.txt"
    local s0 sys0 sys1 s1 wrk_cpu
    s0=$(proc_cpu_ticks "$SERVER_PID"); sys0=$(sys_ticks)
    # wrk's own CPU: from bash's `times`-like accounting via /usr/bin/time is not always present, so read it from /proc.
    wrk -t"$THREADS" -c"$CONNS" -d"${dur}s" --timeout 5s --latency -s "$script" "$url" >"$out" 2>&1 &
    local wpid=$!
    local w=0
    while kill -0 "$wpid" 2>/dev/null; do
        w=$(proc_cpu_ticks "$wpid" 2>/dev/null || echo "$w")
        sleep 0.5
    done
    wait "$wpid" || { cat "$out" >&2; return 1; }
    s1=$(proc_cpu_ticks "$SERVER_PID"); sys1=$(sys_ticks)
    local line
    line=$(grep '^BENCH_RESULT ' "$out") || { cat "$out" >&2; return 1; }
    # CPU seconds per wall second (1.00 = one core busy)
    awk -v l="$line" -v s0="$s0" -v s1="$s1" -v w="$w" -v hz="$HZ" -v a="$sys0" -v b="$sys1" 'BEGIN {
        split(a, x, " "); split(b, y, " ");
        n = split(l, f, " "); for (i = 2; i <= n; i++) { split(f[i], kv, "="); r[kv[1]] = kv[2] }
        wall = r["duration_us"] / 1e6;
        tot = (y[1] - x[1]); idle = (y[2] - x[2]);
        busy = tot > 0 ? (tot - idle) / hz / wall : 0;
        srv = (s1 - s0) / hz / wall; wk = w / hz / wall;
        printf "%s server_cpu=%.2f wrk_cpu=%.2f busy_cpu=%.2f other_cpu=%.2f\n", l, srv, wk, busy, busy - srv - wk
    }'
}

SEARCH_URL="$ADDR"
CONTEXT_URL="$ADDR"

log "warm-up: ${WARMUP} s per endpoint"
run_wrk warm-search "$HERE/search.lua" "$SEARCH_URL" "$WARMUP" >/dev/null
run_wrk warm-context "$HERE/context.lua" "$CONTEXT_URL" "$WARMUP" >/dev/null

RESULTS="$DATA/results.txt"
: >"$RESULTS"
for r in $(seq "$RUNS"); do
    for ep in search context; do
        log "run $r/$RUNS: $ep, $THREADS threads, $CONNS connections, ${DURATION} s"
        line=$(run_wrk "$ep" "$HERE/$ep.lua" "$ADDR" "$DURATION")
        echo "endpoint=$ep run=$r $line" | tee -a "$RESULTS" >&2
    done
done

# --- report ---
NPROC=$(nproc)
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
MEM_GIB=$(awk '/^MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)
WRK_V=$(wrk --version 2>&1 | head -n1 | awk '{ print $1, $2 }' || true)
TABLE=$(python3 - "$RESULTS" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
    rows.setdefault(kv["endpoint"], []).append(kv)
label = {"search": "`GET /v1/memories/search?q=…&k=10`", "context": "`POST /v1/context` (budget 800)"}
print("| endpoint | runs | req/s (median) | min–max req/s | p50 | p90 | p99 (median) | p99 worst | max | errors | CPU: server / wrk / other (cores) | goal |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for ep in ("search", "context"):
    rs = rows.get(ep, [])
    if not rs:
        continue
    med = lambda k: statistics.median(float(r[k]) for r in rs)
    rps = [float(r["rps"]) for r in rs]
    errs = sum(int(r["non200"]) + int(r["connect"]) + int(r["read"]) + int(r["write"]) + int(r["timeout"]) for r in rs)
    # socket errors and non-200 responses, and a check that every request got a response
    ok = med("rps") >= 2000 and med("p99_us") < 50000 and errs == 0
    ms = lambda us: f"{us / 1000:.1f} ms"
    print(f"| {label[ep]} | {len(rs)} | {med('rps'):.0f} | {min(rps):.0f}–{max(rps):.0f} | {ms(med('p50_us'))} | {ms(med('p90_us'))} "
          f"| {ms(med('p99_us'))} | {ms(max(float(r['p99_us']) for r in rs))} | {ms(max(float(r['max_us']) for r in rs))} "
          f"| {errs} | {med('server_cpu'):.2f} / {med('wrk_cpu'):.2f} / {max(0.0, med('other_cpu')):.2f} | {'met' if ok else 'missed'} |")
EOF
)

SECTION=$(cat <<EOF
Machine: ${CPU}, ${NPROC} cores (\`nproc\`), ${MEM_GIB} GiB RAM; linux $(uname -m); release build.
Load generator: ${WRK_V} on the same machine (closed loop: ${THREADS} threads, ${CONNS} connections, ${DURATION} s per run, runs interleaved, after a ${WARMUP} s warm-up per endpoint); wrk and the server share the ${NPROC} cores.

Store: ${N} active memories (generated, ~70% org scope, the rest in 6 \`team:NAME\` scopes) imported in ${IMPORT_S} s; the first search after start (builds the index, embeds every memory) took ${FIRST_S} s. Server: \`nocturne serve --insecure-local\` (no token check). Context requests rotate 20 tasks × 7 teams (one without a team); each records a usage event.

Errors = non-200 responses (counted by a wrk \`response\` hook) + socket errors (connect, read, write, timeout). "CPU" is CPU-seconds per wall second over the run: the server process, wrk, and everything else on the machine.

${TABLE}
EOF
)

echo
echo "$SECTION"

if [[ $QUICK == 0 ]]; then
    python3 - "$ROOT/BENCHMARKS.md" "$SECTION" <<'EOF'
import sys
path, body = sys.argv[1], sys.argv[2]
text = open(path).read()
start, end = "<!-- bench:http -->", "<!-- /bench:http -->"
block = f"{start}\n{body}\n\n{end}"
if start in text and end in text:
    a = text.index(start)
    b = text.index(end) + len(end)
    text = text[:a] + block + text[b:]
else:
    text = text.rstrip("\n") + "\n\n## HTTP (goal: memory search and context ≥ 2,000 requests/s at p99 < 50 ms, zero errors)\n\n" \
        "`bash scripts/bench-http.sh` (wrk against `nocturne serve`, 10,000 memories):\n\n" + block + "\n"
open(path, "w").write(text)
EOF
    log "wrote the bench:http section of BENCHMARKS.md"
fi
