#!/usr/bin/env python3
"""Writes a Nocturne export document (format v2, see docs/export-format.md)
with N varied active memories created by one revision, for the HTTP benchmark.

Usage: gen_export.py N OUT.json [SEED]

Texts come from word banks (commands, services, tools, preferences,
mistakes, procedures) so BM25 and the vector index see a realistic spread of
vocabulary; scopes are mostly org with a few team:NAME. Deterministic for a
given seed.
"""
import json
import random
import sys

TEAMS = ["web", "payments", "infra", "mobile", "data", "search"]
SERVICES = [
    "checkout", "billing", "auth", "search-api", "gateway", "notifications", "inventory", "ledger",
    "recommendations", "image-resizer", "scheduler", "webhooks", "reporting", "catalog", "sessions",
    "feature-flags", "audit-log", "email-sender", "metrics-collector", "user-profile", "shipping",
    "pricing", "fraud-detector", "export-worker", "cdn-edge", "rate-limiter", "queue-consumer",
]
LANGS = ["Rust", "TypeScript", "Python", "Go", "Kotlin", "Swift", "Ruby", "Java"]
TOOLS = {
    "Rust": ["cargo", "clippy", "rustfmt", "cargo-nextest", "cargo-deny"],
    "TypeScript": ["pnpm", "vitest", "eslint", "prettier", "tsc", "playwright"],
    "Python": ["uv", "pytest", "ruff", "mypy", "poetry", "black"],
    "Go": ["go test", "golangci-lint", "gofumpt", "go vet"],
    "Kotlin": ["gradle", "ktlint", "detekt"],
    "Swift": ["xcodebuild", "swiftlint", "swift-format"],
    "Ruby": ["bundler", "rspec", "rubocop"],
    "Java": ["maven", "junit", "spotless"],
}
DATASTORES = ["Postgres", "Redis", "Kafka", "S3", "ClickHouse", "SQLite", "Elasticsearch", "DynamoDB", "RabbitMQ"]
ENVS = ["staging", "production", "the dev cluster", "preview environments", "the canary pool", "CI"]
PATHS = [
    "migrations/", "src/handlers/", "config/prod.toml", "deploy/helm/values.yaml", "scripts/release.sh",
    ".github/workflows/ci.yml", "docs/runbooks/", "packages/ui/", "internal/queue/", "tests/fixtures/",
    "Makefile", "Dockerfile", "terraform/modules/", "proto/", "locales/", "benches/",
]
VERBS_BAD = [
    "ran the full test suite before a one-line change", "edited generated code by hand",
    "forgot to bump the schema version", "committed a .env file", "used npm instead of pnpm",
    "restarted the pod instead of rolling the deployment", "pushed directly to main",
    "ran the migration without a backup", "skipped the lint step", "mocked the database in integration tests",
    "deleted the cache key in production", "hard-coded the API base URL", "merged with failing snapshot tests",
    "changed the public API without a deprecation notice", "left debug logging enabled",
    "applied terraform from a laptop", "used floats for money", "ignored the flaky-test quarantine list",
]
CONSEQUENCES = [
    "which broke the nightly build", "and the release had to be rolled back", "which leaked credentials to CI logs",
    "and the on-call engineer was paged at 3am", "which doubled the p99 latency", "and customers saw stale prices",
    "which corrupted a day of metrics", "and the review took three extra rounds", "which filled the disk on the runners",
    "and the feature flag stayed on for everyone",
]
PREFS = [
    "Prefer {tool} over alternatives for {lang} work in {svc}.",
    "Keep pull requests for {svc} under 400 lines; split refactors from behaviour changes.",
    "Write commit messages in the imperative mood and reference the ticket, e.g. `{svc}: fix retry backoff (OPS-{n})`.",
    "Use {ds} for {svc} state; do not add a new datastore without an architecture review.",
    "Format {lang} code with {tool} before pushing; CI rejects unformatted files.",
    "Log structured JSON from {svc}; never log request bodies or tokens.",
    "Name feature flags `{svc}.{word}`; remove them within two sprints of full rollout.",
    "In {svc}, prefer explicit error types over stringly-typed errors.",
    "Use UTC timestamps in RFC 3339 everywhere in {svc}, including logs.",
    "The user prefers short answers with the command first, explanation after.",
    "Ask before running anything that touches {env}.",
    "Reply in British English in user-facing copy for {svc}.",
]
FACTS = [
    "{svc} runs on {lang} and stores its data in {ds}.",
    "{svc} is deployed to {env} by the `{word}` pipeline; deploys take about {n} minutes.",
    "The {svc} team owns `{path}`; changes there need their review.",
    "{svc} talks to {svc2} over gRPC; the protobufs live in `proto/{svc2}.proto`.",
    "The {ds} instance for {svc} is shared with {svc2}; heavy queries must run on the replica.",
    "{svc} has a rate limit of {n}00 requests per second per tenant.",
    "Secrets for {svc} live in Vault under `kv/{svc}/{env_short}`.",
    "The integration tests for {svc} need Docker and take around {n} minutes.",
    "{svc} reads its configuration from `{path}` and environment variables prefixed `{upper}_`.",
    "On-call for {svc} rotates weekly; the runbook is in `docs/runbooks/{svc}.md`.",
    "{svc} emits metrics with the prefix `{svc_us}_` to Prometheus; dashboards are in Grafana folder {upper}.",
    "The {svc} API is versioned in the path (/v{n}/); old versions are kept for six months.",
]
PROCS = [
    "To release {svc}: run `{tool}` checks, tag `v{n}.{m}.0`, push the tag, then watch the {word} pipeline.",
    "To reproduce a {svc} bug locally: `docker compose up {ds_l}`, seed with `make seed`, then run `{tool}`.",
    "To add a {ds} migration for {svc}: create it under `migrations/`, run it on staging first, then production.",
    "To rotate the {svc} API key: create the new key in Vault, deploy, verify, then revoke the old key.",
    "To debug slow {svc} requests: enable tracing with `{upper}_TRACE=1` and look at the span for {ds}.",
    "To update dependencies in {svc}: run `{tool}` update, read the changelogs, run the full suite in CI.",
    "To roll back {svc}: `kubectl rollout undo deploy/{svc} -n {env_short}` and announce it in #incidents.",
    "To regenerate the {svc} client: run `make proto` after editing `proto/{svc}.proto`; never edit the output.",
    "To run only the {svc} tests: `{tool} {svc_us}` from the repository root.",
    "Before merging to {svc}, run `{tool}` and make sure the {word} job is green.",
]
MISTAKES = [
    "Do not repeat this: an agent {bad} in {svc}, {cons}.",
    "Mistake in {svc}: {bad}, {cons}. Check first.",
    "Avoid in {env}: someone {bad}, {cons}.",
]
WORDS = [
    "blue", "nightly", "canary", "release", "hotfix", "deploy", "verify", "smoke", "matrix", "gate", "audit",
    "shadow", "rollout", "cleanup", "backfill", "reindex", "compact", "warmup",
]
TAGS = ["tooling", "testing", "deploy", "style", "security", "db", "perf", "ci", "docs", "oncall", "api"]
KINDS = [("fact", FACTS, 4), ("preference", PREFS, 3), ("procedure", PROCS, 3), ("mistake", MISTAKES, 2)]


def text_for(rng, templates):
    svc, svc2 = rng.sample(SERVICES, 2)
    lang = rng.choice(LANGS)
    env = rng.choice(ENVS)
    ds = rng.choice(DATASTORES)
    return rng.choice(templates).format(
        svc=svc, svc2=svc2, svc_us=svc.replace("-", "_"), upper=svc.replace("-", "_").upper(),
        lang=lang, tool=rng.choice(TOOLS[lang]), ds=ds, ds_l=ds.lower(), env=env,
        env_short={"staging": "stg", "production": "prod"}.get(env, "dev"), path=rng.choice(PATHS),
        word=rng.choice(WORDS), n=rng.randint(2, 40), m=rng.randint(0, 20), bad=rng.choice(VERBS_BAD),
        cons=rng.choice(CONSEQUENCES),
    )


def main():
    n = int(sys.argv[1])
    out = sys.argv[2]
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 42)
    now = "2026-01-15T12:00:00Z"
    kinds = [k for k, _, w in KINDS for _ in range(w)]
    templates = {k: t for k, t, _ in KINDS}
    seen, mems = set(), []
    while len(mems) < n:
        kind = rng.choice(kinds)
        text = text_for(rng, templates[kind])
        if text in seen:
            continue
        seen.add(text)
        r = rng.random()
        scope = {"level": "org"} if r < 0.7 else {"level": "team", "name": rng.choice(TEAMS)}
        day = rng.randint(1, 28)
        ts = f"2025-{rng.randint(1, 12):02d}-{day:02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z"
        mems.append({
            "id": "m-%012x" % rng.getrandbits(48),
            "kind": kind,
            "text": text,
            "tags": sorted(set(rng.sample(TAGS, rng.randint(0, 3)))),
            "scope": scope,
            "priority": rng.choices([0, 1, 2, -1], weights=[70, 20, 5, 5])[0],
            "status": "active",
            "evidence": [],
            "created_at": ts,
            "updated_at": ts,
        })
    # ids must be unique
    ids = {m["id"] for m in mems}
    assert len(ids) == len(mems), "id collision; use another seed"
    mems.sort(key=lambda m: m["id"])
    doc = {
        "format": "nocturne-export",
        "version": 2,
        "exported_at": now,
        "head_revision": 1,
        "memories": mems,
        "revisions": [{
            "rev": 1,
            "author": "import",
            "reason": f"http benchmark seed ({n} memories)",
            "created_at": now,
            "changes": [{"memory_id": m["id"], "before": None, "after": m} for m in mems],
        }],
        "taxonomies": [],
        "outcomes": [],
    }
    with open(out, "w") as f:
        json.dump(doc, f)


if __name__ == "__main__":
    main()
