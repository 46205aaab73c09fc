#!/usr/bin/env python3
"""Soak test for `nocturne serve` on SQLite: see scripts/soak.sh.

Python standard library only. Loopback only: the server listens on
127.0.0.1 on a port the OS picks, and every request goes there.
"""

import argparse
import http.client
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

OPS = [("ingest", 30), ("search", 30), ("context", 20), ("propose", 10), ("dream", 3), ("apply", 7)]
QUERIES = ["run the linter", "checkout tests", "deploy to staging", "package manager", "flaky tests", "log files"]


class Server:
    """One `nocturne serve` at a time; SIGKILLed and restarted on demand."""

    def __init__(self, bin_, store, logdir):
        self.bin, self.store, self.logdir = bin_, store, logdir
        self.proc = None
        self.addr = None
        self.starts = 0
        self.lock = threading.Lock()
        self.restart_secs = []

    def start(self):
        self.starts += 1
        log = os.path.join(self.logdir, f"serve-{self.starts}.log")
        f = open(log, "wb")
        t0 = time.monotonic()
        env = dict(os.environ, NOCTURNE_AUTHOR="user:soak")
        env.pop("NOCTURNE_STORE", None)
        proc = subprocess.Popen(
            [self.bin, "--store", self.store, "serve", "--insecure-local", "--listen", "127.0.0.1:0"],
            stdout=subprocess.DEVNULL, stderr=f, env=env)
        deadline = time.monotonic() + 60
        addr = None
        while addr is None:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"soak: the server did not start; see {log}")
            time.sleep(0.02)
            m = re.search(r"listening on http://(\S+)", open(log, errors="replace").read())
            if m:
                addr = m.group(1)
        with self.lock:
            self.proc, self.addr = proc, addr
        self.restart_secs.append(time.monotonic() - t0)

    def kill9(self):
        with self.lock:
            p, self.addr = self.proc, None
        if p:
            p.send_signal(signal.SIGKILL)
            p.wait()

    def stop(self):
        with self.lock:
            p, self.addr = self.proc, None
        if p:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def address(self):
        with self.lock:
            return self.addr


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.count = {}
        self.lat = {}
        self.acked_sessions = {}  # id -> events acknowledged
        self.acked_proposals = {}  # id -> ops
        self.acked_revisions = {}  # rev -> revision as answered
        self.pending = []  # acknowledged proposals not yet applied
        self.errors = []

    def note(self, op, outcome, secs=None):
        with self.lock:
            self.count.setdefault(op, {}).setdefault(outcome, 0)
            self.count[op][outcome] += 1
            if secs is not None:
                self.lat.setdefault(op, []).append(secs)


class Client:
    def __init__(self, n, server, stats, stop_at):
        self.n, self.server, self.stats, self.stop_at = n, server, stats, stop_at
        self.conn = None
        self.addr = None
        self.mcp_session = None
        self.seq = 0
        self.rng = random.Random(n)

    def connect(self):
        addr = self.server.address()
        if addr is None:
            return False
        if self.conn is None or addr != self.addr:
            host, port = addr.rsplit(":", 1)
            self.conn = http.client.HTTPConnection(host, int(port), timeout=60)
            self.addr = addr
            self.mcp_session = None
        return True

    def request(self, method, path, body=None, ctype="application/json", headers=None):
        h = {"Content-Type": ctype} if body is not None else {}
        h.update(headers or {})
        self.conn.request(method, path, body=body, headers=h)
        r = self.conn.getresponse()
        data = r.read()
        return r.status, r.getheaders(), data

    def run(self):
        ops = [o for o, w in OPS for _ in range(w)]
        while time.monotonic() < self.stop_at:
            if not self.connect():
                time.sleep(0.05)
                continue
            op = self.rng.choice(ops)
            if op == "apply" and not self.stats.pending:
                op = "search"  # nothing to apply yet
            t0 = time.monotonic()
            try:
                outcome = getattr(self, "op_" + op)()
            except (OSError, http.client.HTTPException) as e:
                # The server was killed under the request (or between two).
                self.conn.close()
                self.conn = None
                self.stats.note(op, "no answer")
                time.sleep(0.05)
                continue
            secs = time.monotonic() - t0
            self.stats.note(op, outcome, secs if outcome == "2xx" else None)

    def outcome(self, status):
        return "2xx" if 200 <= status < 300 else str(status)

    def op_ingest(self):
        self.seq += 1
        sid = f"soak-{self.n}-{self.seq}-{self.rng.randrange(1 << 30):x}"
        events = self.rng.randrange(3, 12)
        lines = [json.dumps({"nocturne": "session", "version": 1, "id": sid, "user": f"u{self.rng.randrange(6)}",
                             "team": "web", "agent": "coder"})]
        for j in range(events):
            ts = f"2026-11-{1 + self.seq % 28:02d}T{j // 60 % 24:02d}:{j % 60:02d}:00Z"
            if j % 2 == 0:
                text = f"Please always run the linter before you commit. Step {j} of fix {self.seq}."
                lines.append(json.dumps({"role": "user", "kind": "user_message", "timestamp": ts, "text": text}))
            else:
                text = f"Running npm run lint, then the unit tests, step {j}."
                lines.append(json.dumps({"role": "assistant", "kind": "assistant_message", "timestamp": ts,
                                         "text": text}))
        body = ("\n".join(lines) + "\n").encode()
        st, _, data = self.request("POST", "/v1/sessions?format=nocturne", body, "application/x-ndjson")
        if 200 <= st < 300:
            rep = json.loads(data)
            if rep["totals"]["events_added"] != events:
                self.stats.errors.append(f"ingest of {sid} answered {st} but added {rep['totals']['events_added']}")
            with self.stats.lock:
                self.stats.acked_sessions[sid] = events
        return self.outcome(st)

    def op_search(self):
        q = self.rng.choice(QUERIES).replace(" ", "+")
        st, _, _ = self.request("GET", f"/v1/memories/search?q={q}&k=5")
        return self.outcome(st)

    def op_context(self):
        body = json.dumps({"task": self.rng.choice(QUERIES), "budget": 400}).encode()
        st, _, _ = self.request("POST", "/v1/context", body)
        return self.outcome(st)

    def mcp(self, payload):
        h = {"Accept": "application/json, text/event-stream"}
        if self.mcp_session:
            h["Mcp-Session-Id"] = self.mcp_session
        st, headers, data = self.request("POST", "/mcp", json.dumps(payload).encode(), headers=h)
        for k, v in headers:
            if k.lower() == "mcp-session-id":
                self.mcp_session = v
        msgs = []
        text = data.decode(errors="replace")
        if text.lstrip().startswith("{"):
            msgs.append(json.loads(text))
        else:
            for line in text.splitlines():
                if line.startswith("data:") and line[5:].strip():
                    msgs.append(json.loads(line[5:]))
        return st, msgs

    def op_propose(self):
        if self.mcp_session is None:
            st, _ = self.mcp({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "soak", "version": "1"}}})
            if not 200 <= st < 300:
                self.mcp_session = None
                return "init " + str(st)
            self.mcp({"jsonrpc": "2.0", "method": "notifications/initialized"})
        self.seq += 1
        text = f"Service {self.n}-{self.seq}-{self.rng.randrange(1 << 30):x} writes its logs to /var/log/soak."
        st, msgs = self.mcp({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "memory_propose", "arguments": {"kind": "fact", "text": text, "rationale": "seen in the soak"}}})
        if st in (400, 404):
            self.mcp_session = None  # a restarted server forgot the session
        res = next((m.get("result") for m in msgs if "result" in m), None)
        if not 200 <= st < 300 or res is None or res.get("isError"):
            return self.outcome(st) if not 200 <= st < 300 else "tool error"
        pid = res["structuredContent"]["proposal_id"]
        with self.stats.lock:
            self.stats.acked_proposals[pid] = 1
            self.stats.pending.append(pid)
        return "2xx"

    def op_dream(self):
        st, _, data = self.request("POST", "/v1/dreams", json.dumps({"sessions": 40}).encode())
        if 200 <= st < 300:
            p = json.loads(data)
            with self.stats.lock:
                self.stats.acked_proposals[p["id"]] = len(p["ops"])
                if p["ops"]:
                    self.stats.pending.append(p["id"])
        return self.outcome(st)

    def op_apply(self):
        with self.stats.lock:
            if not self.stats.pending:
                pid = None
            else:
                pid = self.stats.pending.pop(self.rng.randrange(len(self.stats.pending)))
        if pid is None:
            return "nothing to apply"
        st, _, data = self.request("POST", f"/v1/dreams/{pid}/apply", b"{}")
        if 200 <= st < 300:
            rev = json.loads(data)
            with self.stats.lock:
                if rev["rev"] in self.stats.acked_revisions:
                    self.stats.errors.append(f"revision {rev['rev']} acknowledged twice")
                self.stats.acked_revisions[rev["rev"]] = rev
        return self.outcome(st)


def cli(bin_, store, *args):
    env = dict(os.environ, NOCTURNE_AUTHOR="user:soak")
    env.pop("NOCTURNE_STORE", None)
    out = subprocess.run([bin_, "--store", store, *args, "--json"], capture_output=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"soak: nocturne {' '.join(args)} failed: {out.stderr.decode(errors='replace')}")
    return json.loads(out.stdout)


def pct(v, p):
    if not v:
        return 0.0
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))]


def check(bin_, store, dirn, stats):
    failures = list(stats.errors)
    exp = os.path.join(dirn, "export.json")
    env = dict(os.environ)
    env.pop("NOCTURNE_STORE", None)
    subprocess.run([bin_, "--store", store, "export", "--sessions", "--out", exp], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    doc = json.load(open(exp))
    stored = {s["id"]: len(s.get("events", [])) for s in doc.get("sessions", [])}
    lost = [s for s, n in stats.acked_sessions.items() if stored.get(s, -1) < n]
    if lost:
        failures.append(f"{len(lost)} acknowledged sessions missing or short, e.g. {lost[:3]}")
    props = {p["id"] for p in cli(bin_, store, "dreams", "list")["proposals"]}
    missing = [p for p in stats.acked_proposals if p not in props]
    if missing:
        failures.append(f"{len(missing)} acknowledged proposals missing, e.g. {missing[:3]}")
    revs = cli(bin_, store, "memory", "log")
    nums = [r["rev"] for r in revs]
    if sorted(nums) != list(range(1, len(nums) + 1)):
        failures.append(f"revision numbers are not 1..{len(nums)} once each")
    by_rev = {r["rev"]: r for r in revs}
    for n, r in stats.acked_revisions.items():
        if by_rev.get(n) != r:
            failures.append(f"acknowledged revision {n} is not stored as it was answered")
    empty = [r["rev"] for r in revs if not r["changes"]]
    if empty:
        failures.append(f"revisions without changes: {empty[:5]}")
    state = {}
    for r in sorted(revs, key=lambda r: r["rev"]):
        for c in r["changes"]:
            if c["after"] is None:
                state.pop(c["memory_id"], None)
            else:
                state[c["memory_id"]] = c["after"]
    listed = {m["id"]: m for m in cli(bin_, store, "memory", "list", "--all")}
    if listed != state:
        failures.append("replaying the revisions does not give the memory the store lists")
    v = cli(bin_, store, "sessions", "verify")
    if v["failures"]:
        failures.append(f"sessions verify: {len(v['failures'])} failures, e.g. {v['failures'][:2]}")
    return failures, {"sessions_stored": len(stored), "sessions_verified": v["sessions_checked"],
                      "revisions": len(revs), "memories": len(listed), "proposals_stored": len(props)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--kill-every", type=float, default=120)
    ap.add_argument("--dir")
    a = ap.parse_args()
    keep = a.dir is not None
    dirn = a.dir or tempfile.mkdtemp(prefix="nocturne-soak.")
    os.makedirs(dirn, exist_ok=True)
    store = os.path.join(dirn, "store.db")
    server = Server(os.path.abspath(a.bin), store, dirn)
    stats = Stats()
    try:
        server.start()
        t_start = time.monotonic()
        stop_at = t_start + a.minutes * 60
        clients = [Client(n, server, stats, stop_at) for n in range(a.connections)]
        threads = [threading.Thread(target=c.run, daemon=True) for c in clients]
        for t in threads:
            t.start()
        kills = 0
        next_kill = t_start + a.kill_every
        while time.monotonic() < stop_at:
            time.sleep(0.2)
            if time.monotonic() >= next_kill and time.monotonic() < stop_at - 5:
                server.kill9()
                kills += 1
                print(f"soak: SIGKILL {kills} at {time.monotonic() - t_start:.0f} s; restarting", file=sys.stderr)
                server.start()
                next_kill += a.kill_every
        for t in threads:
            t.join(timeout=120)
        wall = time.monotonic() - t_start
        server.stop()
        failures, stored = check(a.bin, store, dirn, stats)
        summary = {
            "minutes": a.minutes, "connections": a.connections, "kills": kills, "wall_s": round(wall, 1),
            "restart_s_max": round(max(server.restart_secs[1:] or [0]), 2),
            "requests": stats.count,
            "latency_ms": {op: {"p50": round(pct(v, 0.5) * 1000, 1), "p99": round(pct(v, 0.99) * 1000, 1)}
                           for op, v in stats.lat.items()},
            "acknowledged": {"sessions": len(stats.acked_sessions),
                             "events": sum(stats.acked_sessions.values()),
                             "proposals": len(stats.acked_proposals), "revisions": len(stats.acked_revisions)},
            "stored": stored, "failures": failures,
        }
        print(json.dumps(summary, indent=2))
        print(markdown(summary))
        return 1 if failures else 0
    finally:
        server.kill9()
        if not keep:
            shutil.rmtree(dirn, ignore_errors=True)


def markdown(s):
    rows = ["| operation | 2xx | other answers | no answer (server killed) | p50 | p99 |", "|---|---|---|---|---|---|"]
    for op, _ in OPS:
        c = s["requests"].get(op, {})
        other = ", ".join(f"{k}: {v}" for k, v in sorted(c.items()) if k not in ("2xx", "no answer")) or "0"
        lat = s["latency_ms"].get(op, {"p50": 0, "p99": 0})
        rows.append(f"| {op} | {c.get('2xx', 0)} | {other} | {c.get('no answer', 0)} | {lat['p50']} ms | "
                    f"{lat['p99']} ms |")
    ack, st = s["acknowledged"], s["stored"]
    rows.append("")
    rows.append(f"{s['minutes']} min, {s['connections']} connections, {s['kills']} SIGKILLs of the server "
                f"(restarted in ≤ {s['restart_s_max']} s). Acknowledged: {ack['sessions']} sessions "
                f"({ack['events']} events), {ack['proposals']} proposals, {ack['revisions']} applied revisions; "
                f"stored afterwards: {st['sessions_stored']} sessions (verified: {st['sessions_verified']}), "
                f"{st['proposals_stored']} proposals, {st['revisions']} revisions, {st['memories']} memories. "
                f"Checks: {'all passed' if not s['failures'] else '; '.join(s['failures'])}.")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
