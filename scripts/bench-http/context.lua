-- wrk script: POST /v1/context {"task", "budget": 800, "team"}, rotating
-- through tasks and teams (and no team). Every response that is not 200 is
-- counted and reported in done() as a BENCH_RESULT line.
-- Note: each context call records a usage event (one SQLite write).

local tasks = {
  "fix the failing checkout tests", "release a new version of billing", "add a postgres migration to ledger",
  "debug slow requests in search-api", "rotate the auth API key", "update dependencies in the gateway",
  "roll back the notifications deploy", "add a feature flag to pricing", "regenerate the inventory grpc client",
  "investigate kafka consumer lag in queue-consumer", "write integration tests for shipping",
  "clean up logging in user-profile", "set up CI lint step for webhooks", "speed up the reporting export",
  "move scheduler secrets to vault", "review the terraform change for cdn-edge",
  "reduce p99 latency of recommendations", "fix the flaky playwright tests in catalog",
  "bump the schema version for sessions", "document the on-call runbook for email-sender",
}
local teams = { "web", "payments", "infra", "mobile", "data", "search", false }

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  reqs = {}
  local headers = { ["Content-Type"] = "application/json" }
  local i = 0
  for _, t in ipairs(tasks) do
    for _, team in ipairs(teams) do
      local body
      if team then
        body = string.format('{"task": "%s", "budget": 800, "team": "%s"}', t, team)
      else
        body = string.format('{"task": "%s", "budget": 800}', t)
      end
      i = i + 1
      reqs[i] = wrk.format("POST", "/v1/context", headers, body)
    end
  end
  n = (id or 0) * 11
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
