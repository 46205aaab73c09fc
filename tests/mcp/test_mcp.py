"""End-to-end tests of Nocturne's MCP server with the official MCP Python SDK
(a client we did not write), over stdio and streamable HTTP.

Run through tests/mcp/run.sh, which builds the binary and passes its path
in NOCTURNE_BIN: stdio is `nocturne --store S mcp`, HTTP is `/mcp` on
`nocturne --store S serve`. Plain asyncio, no pytest; prints
`N passed, M failed` and exits non-zero on any failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import traceback
import urllib.error
import urllib.request
from pathlib import Path

import httpx2
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

REPO = Path(__file__).resolve().parents[2]
NOCTURNE = os.environ["NOCTURNE_BIN"]

TOOLS = {"memory_search", "memory_context", "memory_propose", "outcome_log", "session_append"}
MEMORY_TEXT = "Run the unit tests with `npm run test:unit`; plain `npm test` has no script in this repo."

RESULTS: list[tuple[str, bool, str]] = []


def check(name: str, cond: bool, detail: str = "") -> bool:
    RESULTS.append((name, bool(cond), detail))
    print(f"{'ok  ' if cond else 'FAIL'} {name}{'' if cond else ': ' + detail}", flush=True)
    return bool(cond)


def cli(store: Path, *args: str) -> object:
    out = subprocess.run(
        [NOCTURNE, "--store", str(store), *args, "--json"], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"nocturne {' '.join(args)} failed ({out.returncode}): {out.stderr}")
    return json.loads(out.stdout)


def memory_ids(store: Path) -> list[str]:
    return sorted(m["id"] for m in cli(store, "memory", "list"))


def proposals(store: Path) -> list[dict]:
    got = cli(store, "dreams", "list")
    return got["proposals"] if isinstance(got, dict) else got


def event_count(store: Path, session: str) -> int:
    return next(s["event_count"] for s in cli(store, "sessions", "list") if s["id"] == session)


def text_of(result) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)


def prepare_store(tmp: Path) -> tuple[Path, str, str]:
    """A store with the sample sessions and one memory: (store, session id, memory id)."""
    store = tmp / "store.db"
    cli(store, "ingest", str(REPO / "crates" / "cli" / "samples"))
    session = cli(store, "sessions", "list")[0]["id"]
    mem = cli(store, "memory", "add", "--kind", "procedure", "--text", MEMORY_TEXT)["memory"]["id"]
    return store, session, mem


async def suite(label: str, s: ClientSession, store: Path, session: str, mem: str) -> None:
    """The same checks over any transport. `label` keeps proposal texts distinct."""
    init = await s.initialize()
    check(f"{label}: server identifies as nocturne", init.server_info.name == "nocturne", str(init.server_info))
    check(f"{label}: server gives instructions", bool(init.instructions and "memory_context" in init.instructions))

    listed = (await s.list_tools()).tools
    names = {t.name for t in listed}
    check(f"{label}: lists the 5 tools", names == TOOLS, str(sorted(names)))
    check(
        f"{label}: every tool has a description",
        all(t.description and len(t.description) > 80 for t in listed),
        str({t.name: t.description for t in listed}),
    )
    check(
        f"{label}: every tool has an object input schema with described properties",
        all(
            t.input_schema.get("type") == "object"
            and all(p.get("description") for p in t.input_schema.get("properties", {}).values())
            for t in listed
        ),
        str({t.name: t.input_schema for t in listed}),
    )
    check(f"{label}: every tool declares an output schema", all(t.output_schema for t in listed))

    # memory_search
    r = await s.call_tool("memory_search", {"query": "how do I run the unit tests", "k": 5})
    hits = (r.structured_content or {}).get("hits", [])
    check(f"{label}: memory_search succeeds", not r.is_error, text_of(r))
    check(
        f"{label}: memory_search finds the memory",
        any(h["id"] == mem and h["text"] == MEMORY_TEXT for h in hits) and MEMORY_TEXT in text_of(r),
        json.dumps(hits),
    )
    check(
        f"{label}: hits carry id, kind, scope, text, score",
        bool(hits) and all({"id", "kind", "scope", "text", "score"} <= set(h) for h in hits),
        json.dumps(hits),
    )
    r = await s.call_tool("memory_search", {"query": "tests", "k": 0})
    check(f"{label}: bad k is a tool error", r.is_error and "invalid_input" in text_of(r), text_of(r))
    r = await s.call_tool("memory_search", {"query": "tests", "kind": "procedure", "scope": "team:nobody"})
    check(
        f"{label}: search filters by scope",
        not r.is_error and r.structured_content["hits"] == [],
        text_of(r),
    )

    # memory_context
    r = await s.call_tool(
        "memory_context", {"task": "run the unit tests before committing", "budget": 800, "session": session}
    )
    out = r.structured_content or {}
    check(f"{label}: memory_context succeeds", not r.is_error, text_of(r))
    check(f"{label}: the bundle holds the memory", MEMORY_TEXT in text_of(r) and mem in out.get("memory_ids", []), text_of(r))
    check(f"{label}: the bundle is markdown with ids", text_of(r).startswith("#") and f"memory ids: {mem}" in text_of(r), text_of(r))
    check(f"{label}: the hand-out is recorded", isinstance(out.get("usage_id"), int) and out["usage_id"] > 0, json.dumps(out))
    r = await s.call_tool("memory_context", {"task": "x", "budget": 0})
    check(f"{label}: zero budget is a tool error", r.is_error and "budget" in text_of(r), text_of(r))

    # memory_propose: a pending proposal, memory unchanged
    before = memory_ids(store)
    pending_before = {p["id"] for p in proposals(store)}
    proposal_text = f"The staging deploy ({label}) needs the VPN up first; use token ghp_abcdefghijklmnopqrstuvwxyz0123456789"
    r = await s.call_tool(
        "memory_propose",
        {
            "kind": "fact",
            "text": proposal_text,
            "rationale": "deploy failed twice without the VPN",
            "session": session,
        },
    )
    out = r.structured_content or {}
    check(f"{label}: memory_propose succeeds", not r.is_error, text_of(r))
    check(f"{label}: the proposal is pending", out.get("status") == "pending" and out.get("proposal_id", "").startswith("p-"), json.dumps(out))
    check(f"{label}: the secret is redacted", out.get("redacted") is True and "ghp_" not in out.get("text", "x"), json.dumps(out))
    check(f"{label}: memory is unchanged after a proposal", memory_ids(store) == before, f"{before} -> {memory_ids(store)}")
    new = [p for p in proposals(store) if p["id"] not in pending_before]
    check(
        f"{label}: dreams list shows one new pending proposal with a create op citing the session",
        len(new) == 1
        and new[0]["id"] == out.get("proposal_id")
        and new[0]["status"] == "pending"
        and [o["op"] for o in new[0]["ops"]] == ["create"]
        and new[0]["ops"][0]["evidence"][0]["session"] == session
        and "ghp_" not in json.dumps(new[0]),
        json.dumps(new),
    )
    r = await s.call_tool("memory_propose", {"kind": "fact", "text": proposal_text})
    check(f"{label}: proposing the same text again is a conflict", r.is_error and "conflict" in text_of(r), text_of(r))
    r = await s.call_tool("memory_propose", {"kind": "procedure", "text": MEMORY_TEXT.upper()})
    check(f"{label}: proposing an existing memory is a conflict", r.is_error and mem in text_of(r), text_of(r))
    r = await s.call_tool("memory_propose", {"kind": "Not A Kind", "text": "x y z"})
    check(f"{label}: a bad kind is a tool error", r.is_error and "invalid_input" in text_of(r), text_of(r))

    # outcome_log
    r = await s.call_tool(
        "outcome_log", {"session": session, "set": {"result": "failure", "failure_reason": "environment"}, "comment": f"via {label}"}
    )
    out = r.structured_content or {}
    check(f"{label}: outcome_log succeeds", not r.is_error, text_of(r))
    dims = {o["dimension"]: o for o in out.get("outcomes", [])}
    check(
        f"{label}: outcomes are stored with source model",
        set(dims) == {"result", "failure_reason"}
        and dims["result"]["value"] == "failure"
        and dims["failure_reason"]["value"] == "environment"
        and all(o["source"] == "model" for o in dims.values()),
        json.dumps(out),
    )
    listed = cli(store, "outcomes", "list", "--session", session)
    listed = listed.get("outcomes", listed) if isinstance(listed, dict) else listed
    check(
        f"{label}: outcomes list shows them",
        any(o["dimension"] == "result" and o.get("comment") == f"via {label}" and o.get("source") == "model" for o in listed),
        json.dumps(listed)[-2000:],
    )
    r = await s.call_tool("outcome_log", {"session": session, "set": {"result": "maybe"}})
    check(f"{label}: a value outside the taxonomy is a tool error", r.is_error and "invalid_input" in text_of(r), text_of(r))
    r = await s.call_tool("outcome_log", {"session": "no-such-session", "set": {"result": "success"}})
    check(f"{label}: an unknown session is not_found", r.is_error and "not_found" in text_of(r), text_of(r))

    # session_append
    n0 = event_count(store, session)
    events = [
        {"role": "user", "kind": "user_message", "text": f"({label}) deploy to staging", "timestamp": "2026-01-31T12:00:00Z"},
        {"role": "assistant", "kind": "tool_call", "tool_name": "Bash", "tool_input": {"command": "make deploy"}, "tool_use_id": "t9"},
        {"role": "tool", "kind": "tool_result", "tool_use_id": "t9", "text": "VPN down", "is_error": True},
    ]
    r = await s.call_tool("session_append", {"session": session, "events": events})
    out = r.structured_content or {}
    check(f"{label}: session_append succeeds", not r.is_error, text_of(r))
    check(
        f"{label}: the events are appended",
        out.get("appended") == 3 and out.get("events") == n0 + 3 and event_count(store, session) == n0 + 3,
        f"{json.dumps(out)} (was {n0})",
    )
    r = await s.call_tool("session_append", {"session": session, "events": [{"role": "robot", "kind": "user_message", "text": "x"}]})
    check(f"{label}: a bad event is a tool error naming it", r.is_error and "event 1" in text_of(r), text_of(r))
    check(f"{label}: a refused append adds nothing", event_count(store, session) == n0 + 3)


def http_status(url: str, token: str | None) -> int:
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
        }
    ).encode()
    req = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    )
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


async def over_stdio(tmp: Path) -> None:
    store, session, mem = prepare_store(tmp / "stdio")
    params = StdioServerParameters(command=NOCTURNE, args=["--store", str(store), "mcp"])
    with open(tmp / "stdio-server.log", "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as s:
                await suite("stdio", s, store, session, mem)


async def over_http(tmp: Path) -> None:
    store, session, mem = prepare_store(tmp / "http")
    write_token = cli(store, "tokens", "create", "--scope", "write")["token"]
    read_token = cli(store, "tokens", "create", "--scope", "read")["token"]
    errlog = open(tmp / "http-server.log", "w")
    proc = subprocess.Popen(
        [NOCTURNE, "--store", str(store), "serve", "--listen", "127.0.0.1:0"],
        stdout=errlog,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stderr.readline() if proc.stderr else ""
        if "listening on http://" not in line:
            raise RuntimeError(f"the server did not start: {line!r}")
        url = line.split("listening on ")[1].split()[0] + "/mcp"

        check("http: no token is 401", http_status(url, None) == 401)
        check("http: an unknown token is 401", http_status(url, "noc_not_a_token") == 401)
        check("http: a valid token is accepted", http_status(url, write_token) == 200)

        headers = {"Authorization": f"Bearer {write_token}"}
        async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60)) as client:
            async with streamable_http_client(url, http_client=client) as (read, write):
                async with ClientSession(read, write) as s:
                    await suite("http", s, store, session, mem)

        # A read token may search but not propose.
        headers = {"Authorization": f"Bearer {read_token}"}
        async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60)) as client:
            async with streamable_http_client(url, http_client=client) as (read, write):
                async with ClientSession(read, write) as s:
                    await s.initialize()
                    r = await s.call_tool("memory_search", {"query": "unit tests"})
                    check("http read token: memory_search works", not r.is_error, text_of(r))
                    before = len(proposals(store))
                    r = await s.call_tool("memory_propose", {"kind": "fact", "text": "read tokens cannot propose"})
                    check("http read token: memory_propose is forbidden", r.is_error and "forbidden" in text_of(r), text_of(r))
                    check("http read token: no proposal is stored", len(proposals(store)) == before)
                    r = await s.call_tool("outcome_log", {"session": session, "set": {"result": "success"}})
                    check("http read token: outcome_log is forbidden", r.is_error and "forbidden" in text_of(r), text_of(r))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        errlog.close()


async def main() -> int:
    with tempfile.TemporaryDirectory(prefix="nocturne-mcp-") as d:
        tmp = Path(d)
        for name, run in (("stdio", over_stdio), ("http", over_http)):
            try:
                await asyncio.wait_for(run(tmp), timeout=120)
            except BaseException as e:  # noqa: BLE001 - report and go on to the next transport
                check(f"{name}: suite ran to the end", False, "".join(traceback.format_exception(e)))
                for log in tmp.glob(f"{name}-server.log"):
                    print(f"--- {log.name} ---\n{log.read_text()[-4000:]}", file=sys.stderr)
    passed = sum(1 for _, ok, _ in RESULTS if ok)
    failed = len(RESULTS) - passed
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
