#!/usr/bin/env python3
"""Peak memory of ingesting one big generated Claude Code file (issue 14: memory bounded, not
proportional to the file). Standard library only; writes its files in a temporary folder and
deletes them.

    python3 scripts/bench-big-ingest.py [--size MIB] [--bin PATH] [--max-peak-mib N]

Generates a session of about MIB MiB (default 200) with scripts/big-claude-code.py, then runs
the `nocturne` binary (default: $CARGO_TARGET_DIR/debug/nocturne, else target/debug/nocturne)
on a fresh store: ingest (new), ingest again (nothing new), and into another fresh store its
first fifth then the whole file (grown). Each run's peak resident memory is measured by GNU
time (`/usr/bin/time -f %M`); the stored sessions are checked with `sessions verify` and the
grown one must end in the head of the one ingested whole. Prints a Markdown table.
With --max-peak-mib, exits 1 when a run peaks above N MiB: the regression check (a file parsed
whole peaks at about 3x its size; streamed, at a few tens of MiB whatever its size).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_bin():
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    return os.path.join(target, "debug", "nocturne")


def run(cmd):
    """Runs cmd; returns its stdout."""
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
    return p.stdout


def run_measured(cmd):
    """Runs cmd (its output dropped); returns its peak resident MiB and wall seconds. The peak is
    measured by GNU time (/usr/bin/time), which forks from a small process: a child forked from
    this Python process would report at least this process's own resident size."""
    start = time.monotonic()
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        p = subprocess.run(["/usr/bin/time", "-o", t.name, "-f", "%M", *cmd], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
        wall = time.monotonic() - start
        if p.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
        kib = int(t.read().strip().splitlines()[-1])
    return kib / 1024, wall


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=200, help="MiB of the generated file (default 200)")
    ap.add_argument("--bin", default=default_bin(), help="the nocturne binary")
    ap.add_argument("--max-peak-mib", type=float, help="fail when a run peaks above this")
    a = ap.parse_args()
    if not os.path.exists("/usr/bin/time"):
        sys.exit("GNU time (/usr/bin/time, Debian package time) is needed to measure peak memory")
    if not os.path.exists(a.bin):
        sys.exit(f"{a.bin} not found: build it (cargo build -p nocturne-cli) or pass --bin")
    tmp = tempfile.mkdtemp(prefix="nocturne-big-")
    try:
        big = os.path.join(tmp, "big.jsonl")
        gen = subprocess.run([sys.executable, os.path.join(ROOT, "scripts/big-claude-code.py"), big, str(a.size)],
                             check=True, capture_output=True, text=True)
        records = int(gen.stdout.split()[0])
        size = os.path.getsize(big)
        part = os.path.join(tmp, "part", "big.jsonl")  # same file name: same session
        os.makedirs(os.path.dirname(part))
        with open(big, "rb") as f, open(part, "wb") as p:
            chunk = f.read(size // 5)
            p.write(chunk[: chunk.rfind(b"\n") + 1])
            del chunk
        rows = []

        def ingest(store, path, what):
            peak, wall = run_measured([a.bin, "--store", store, "ingest", path, "--json"])
            rows.append((what, peak, wall))

        store = os.path.join(tmp, "a.db")
        ingest(store, big, "new")
        ingest(store, big, "again (nothing new)")
        grown = os.path.join(tmp, "b.db")
        ingest(grown, part, f"its first fifth ({os.path.getsize(part) / 2**20:.0f} MiB), fresh store")
        ingest(grown, big, "grown to the whole file")
        for s in (store, grown):
            report = json.loads(run([a.bin, "--store", s, "sessions", "verify", "--json"]))
            if report.get("failures"):
                sys.exit(f"sessions verify failed: {report['failures']}")
            heads = run([a.bin, "--store", s, "sessions", "list", "--json"])
            if s == store:
                first = heads
            elif json.loads(heads) and json.loads(first) and \
                    json.loads(heads)[0].get("head_hash") != json.loads(first)[0].get("head_hash"):
                sys.exit("the grown session's head differs from the one ingested whole")
        print(f"{size / 2**20:.0f} MiB Claude Code file, {records:,} records; binary {a.bin}\n")
        print("| run | peak resident | wall |")
        print("|---|---|---|")
        for what, peak, wall in rows:
            print(f"| {what} | {peak:.0f} MiB | {wall:.1f} s |")
        worst = max(p for _, p, _ in rows)
        if a.max_peak_mib is not None and worst > a.max_peak_mib:
            sys.exit(f"peak {worst:.0f} MiB is above {a.max_peak_mib:.0f} MiB: ingest is no longer memory bounded")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
