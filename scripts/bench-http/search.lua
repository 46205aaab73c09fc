-- wrk script: GET /v1/memories/search?q=...&k=10, rotating through queries.
-- Each thread starts at a different offset; every response that is not 200
-- is counted and reported in done() as a BENCH_RESULT line.

local queries = {
  "how do I release checkout", "package manager for TypeScript", "rollback billing deployment",
  "postgres migration staging", "rate limit per tenant", "vault secrets auth", "flaky tests quarantine",
  "commit message format", "grpc protobufs gateway", "debug slow requests tracing",
  "docker compose redis seed", "format rust code before pushing", "who owns migrations",
  "kafka consumer lag", "feature flag naming", "on-call runbook notifications", "money floats pricing",
  "integration tests need docker", "rotate api key", "regenerate client proto", "terraform apply laptop",
  "logging request bodies tokens", "utc timestamps rfc 3339", "pull request size limit",
  "clickhouse replica heavy queries", "deploy pipeline minutes", "pnpm instead of npm", "pytest ruff mypy",
  "kubectl rollout undo", "metrics prefix prometheus grafana", "schema version bump", "env file committed",
  "nightly build broke", "p99 latency doubled", "british english copy", "ask before touching production",
  "cargo clippy nextest", "s3 export worker", "elasticsearch search-api reindex", "ledger fraud detector",
}

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  reqs = {}
  for i, q in ipairs(queries) do
    reqs[i] = wrk.format("GET", "/v1/memories/search?q=" .. urlencode(q) .. "&k=10")
  end
  n = (id or 0) * 7
  responses = 0
  non200 = 0
end

function request()
  n = n + 1
  return reqs[(n % #reqs) + 1]
end

function response(status, headers, body)
  responses = responses + 1
  if status ~= 200 then non200 = non200 + 1 end
end

function done(summary, latency, requests)
  local resp, bad = 0, 0
  for _, t in ipairs(threads) do
    resp = resp + t:get("responses")
    bad = bad + t:get("non200")
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d responses=%d non200=%d connect=%d read=%d write=%d timeout=%d status=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    resp, bad, e.connect, e.read, e.write, e.timeout, e.status))
end
