"""End-to-end test of Nocturne's review pages in headless Chromium.

Run through tests/browser/run.sh, which installs Chromium, chromedriver and
Selenium, builds the CLI and passes its path in NOCTURNE_BIN. Plain Python,
no pytest; prints one line per check, then `N passed, M failed`, and exits
non-zero on any failure.

The story: ingest the five sample sessions (each with its user, team shop),
dream (a pending proposal with several ops), serve with --insecure-local on a
free loopback port, then in the browser: see the proposal on `/`, open it,
check every op's diff and evidence, uncheck all ops but the first, apply,
confirm through the CLI and the API that exactly one memory was created and
the proposal is applied, then browse `/memories` and the new memory's page
with its history. Screenshots go to $SHOTS_DIR (default /tmp/nocturne-browser).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

REPO = Path(__file__).resolve().parents[2]
NOCTURNE = os.environ["NOCTURNE_BIN"]
SHOTS = Path(os.environ.get("SHOTS_DIR", "/tmp/nocturne-browser"))
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")
SAMPLE_NAME = re.compile(r"^(?P<format>.+)-(?P<user>[a-z]+)-(?P<day>\d+)\.(jsonl|json)$")

RESULTS: list[tuple[str, bool, str]] = []


def check(name: str, cond: object, detail: str = "") -> bool:
    ok = bool(cond)
    RESULTS.append((name, ok, detail))
    print(f"{'ok  ' if ok else 'FAIL'} {name}{'' if ok else ': ' + detail}", flush=True)
    return ok


def wait_url(d, pattern: str, timeout: float = 30.0) -> str:
    """The page's address once it matches `pattern` (a click's navigation
    finishes on its own time on a loaded machine), or the last one seen."""
    end = time.monotonic() + timeout
    while True:
        url = d.current_url
        if re.fullmatch(pattern, url) or time.monotonic() > end:
            return url
        time.sleep(0.1)


def norm(s: str) -> str:
    """Whitespace collapsed, for comparing rendered text."""
    return " ".join(s.split())


def cli(store: Path, *args: str) -> object:
    out = subprocess.run(
        [NOCTURNE, "--store", str(store), *args, "--json"], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"nocturne {' '.join(args)} failed ({out.returncode}): {out.stderr}")
    return json.loads(out.stdout)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def prepare_store(tmp: Path) -> tuple[Path, dict]:
    """Ingests each sample with the user from its name (FORMAT-USER-DAY.ext), team shop; dreams."""
    store = tmp / "store.db"
    samples = sorted((REPO / "crates" / "cli" / "samples").iterdir())
    users = set()
    for f in samples:
        m = SAMPLE_NAME.match(f.name)
        if not m:
            raise RuntimeError(f"unexpected sample name {f.name}")
        users.add(m["user"])
        cli(store, "ingest", str(f), "--format", m["format"], "--user", m["user"], "--team", "shop")
    sessions = cli(store, "sessions", "list")
    check("store: every sample ingested", len(sessions) == len(samples), f"{len(sessions)} sessions")
    check(
        "store: sessions carry their users and team",
        {s["user"] for s in sessions} == users and {s["team"] for s in sessions} == {"shop"},
        json.dumps([(s["user"], s["team"]) for s in sessions]),
    )
    check("store: no memory before the dream", cli(store, "memory", "list") == [])
    proposal = cli(store, "dream")
    check(
        "dream: a pending proposal with >= 2 ops",
        proposal["status"] == "pending" and len(proposal["ops"]) >= 2,
        f"status {proposal['status']}, {len(proposal['ops'])} ops",
    )
    return store, proposal


def start_server(store: Path, tmp: Path) -> tuple[subprocess.Popen, str, Path]:
    port = free_port()
    log = tmp / "server.log"
    proc = subprocess.Popen(
        [NOCTURNE, "--store", str(store), "serve", "--insecure-local", "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        stdin=subprocess.DEVNULL,
    )
    pidfile = os.environ.get("SERVER_PIDFILE")
    if pidfile:
        Path(pidfile).write_text(str(proc.pid))
    deadline = time.monotonic() + 30
    base = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()}")
        m = re.search(r"listening on (http://\S+)", log.read_text())
        if m:
            base = m[1].rstrip("/")
            break
        time.sleep(0.1)
    if base is None:
        raise RuntimeError(f"server did not print its address in 30 s: {log.read_text()}")
    check("server: listening on the chosen port", base == f"http://127.0.0.1:{port}", base)
    return proc, base, log


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    pidfile = os.environ.get("SERVER_PIDFILE")
    if pidfile:
        Path(pidfile).write_text("")


def browser(profile: Path) -> webdriver.Chrome:
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1280,1000",
    ):
        opts.add_argument(flag)
    # Paths given, so Selenium Manager has nothing to download.
    return webdriver.Chrome(options=opts, service=Service(executable_path=CHROMEDRIVER))


def shot(d: webdriver.Chrome, name: str) -> None:
    """A screenshot of the whole page, from its top (Chromium's DevTools capture beyond the viewport)."""
    d.execute_script("window.scrollTo(0, 0)")
    size = d.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    width, height = int(size["width"]), min(int(size["height"]), 12000)
    png = d.execute_cdp_cmd(
        "Page.captureScreenshot",
        {"format": "png", "captureBeyondViewport": True, "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}},
    )["data"]
    path = SHOTS / f"{name}.png"
    path.write_bytes(base64.b64decode(png))
    check(f"screenshot {path}", path.stat().st_size > 5000, f"{path.stat().st_size} bytes")


def browse(d: webdriver.Chrome, base: str, store: Path, proposal: dict) -> None:
    pid = proposal["id"]
    ops = proposal["ops"]

    # --- the review page lists the pending proposal
    d.get(base + "/")
    check("/: title", d.title == "Proposals · Nocturne", d.title)
    check("/: insecure-local banner names the local org admin", "local: admin, org-wide" in d.find_element(By.TAG_NAME, "nav").text, d.find_element(By.TAG_NAME, "nav").text)
    rows = d.find_elements(By.XPATH, f"//table//tr[td/a[normalize-space()='{pid}']]")
    if check("/: the proposal has a row", len(rows) == 1, f"{len(rows)} rows for {pid}"):
        cells = [c.text for c in rows[0].find_elements(By.TAG_NAME, "td")]
        check("/: row says pending", cells[2] == "pending", repr(cells))
        check("/: row counts the ops", cells[3] == str(len(ops)), repr(cells))
        check("/: row counts the sessions", cells[4] == str(len(proposal["sessions"])), repr(cells))
    shot(d, "01-proposals")

    # --- open it by clicking its link
    d.find_element(By.LINK_TEXT, pid).click()
    wait_url(d, rf"{re.escape(base)}/dreams/{re.escape(pid)}")
    check("proposal: opened by its link", d.current_url == f"{base}/dreams/{pid}", d.current_url)
    check("proposal: heading", d.find_element(By.TAG_NAME, "h1").text == f"Proposal {pid}", d.find_element(By.TAG_NAME, "h1").text)
    check("proposal: status pending", "Status pending" in d.find_element(By.CSS_SELECTOR, "p.meta").text)
    blocks = d.find_elements(By.CSS_SELECTOR, "form[action$='/apply'] div.op")
    check("proposal: one block per op inside the apply form", len(blocks) == len(ops), f"{len(blocks)} blocks, {len(ops)} ops")
    for op, block in zip(ops, blocks):
        n = op["n"]
        tag = f"op {n}"
        h3 = block.find_element(By.TAG_NAME, "h3").text
        check(f"{tag}: heading '#{n} {op['op']} {op['kind']}'", h3.startswith(f"#{n} {op['op']} {op['kind']}"), h3)
        boxes = block.find_elements(By.CSS_SELECTOR, "input[type=checkbox][name=op]")
        check(
            f"{tag}: a checked checkbox op={n}",
            len(boxes) == 1 and boxes[0].get_attribute("value") == str(n) and boxes[0].is_selected(),
            f"{len(boxes)} boxes",
        )
        check(f"{tag}: rationale shown", norm(op["rationale"]) in norm(block.text), op["rationale"])
        # The diff: a before/after table; for a create, "new memory" and the text inserted.
        tables = block.find_elements(By.TAG_NAME, "table")
        has_diff = len(tables) >= 1 and "Before" in tables[0].text and "After" in tables[0].text
        check(f"{tag}: a before → after table", has_diff, block.text[:300])
        if has_diff:
            inserted = [norm(e.get_attribute("textContent")) for e in tables[0].find_elements(By.TAG_NAME, "ins")]
            check(f"{tag}: the new text is marked inserted", norm(op["text"]) in inserted, f"{inserted!r} vs {op['text']!r}")
            if op["op"] == "create":
                check(f"{tag}: labelled 'new memory'", "new memory" in block.text)
                text_row = tables[0].find_element(By.XPATH, ".//tr[th='text']")
                before = text_row.find_elements(By.TAG_NAME, "td")[0].text
                check(f"{tag}: nothing before a create", before == "—", before)
        # The evidence: each quote in a blockquote, with its session.
        quotes = [e.get_attribute("textContent") for e in block.find_elements(By.CSS_SELECTOR, "details blockquote")]
        check(f"{tag}: has evidence", len(op["evidence"]) >= 1 and len(quotes) == len(op["evidence"]), f"{len(quotes)} quotes, {len(op['evidence'])} evidence")
        for i, ev in enumerate(op["evidence"]):
            check(f"{tag}: evidence {i + 1} quote shown verbatim", i < len(quotes) and quotes[i] == ev["quote"], f"{quotes[i] if i < len(quotes) else None!r} vs {ev['quote']!r}")
            check(f"{tag}: evidence {i + 1} names its session", ev["session"] in block.text, ev["session"])
    shot(d, "02-proposal-pending")

    # --- apply only op 1: uncheck every other op, click apply
    first = ops[0]["n"]
    for op in ops[1:]:
        box = d.find_element(By.ID, f"op{op['n']}")
        if box.is_selected():
            # Click the label, as a person would (it is tied to the box by for=).
            d.find_element(By.CSS_SELECTOR, f"label[for=op{op['n']}]").click()
    checked = [b.get_attribute("value") for b in d.find_elements(By.CSS_SELECTOR, "input[name=op]") if b.is_selected()]
    check("apply: only op 1 left checked", checked == [str(first)], repr(checked))
    shot(d, "03-proposal-one-checked")
    d.find_element(By.XPATH, "//button[normalize-space()='Apply the checked ops']").click()
    pattern = rf"{re.escape(base)}/dreams/{re.escape(pid)}\?applied=(\d+)"
    url = wait_url(d, pattern)
    m = re.fullmatch(pattern, url)
    check("apply: redirected to the proposal with ?applied=REV", m, url)
    rev = int(m[1]) if m else None
    notice = d.find_elements(By.CSS_SELECTOR, "p.notice")
    check("apply: notice 'Applied as revision'", notice and f"Applied as revision {rev}" in notice[0].text, notice[0].text if notice else "no notice")
    check("apply: page status applied", "Status applied" in d.find_element(By.TAG_NAME, "body").text)
    check("apply: no checkboxes or forms left", not d.find_elements(By.CSS_SELECTOR, "input[name=op]") and not d.find_elements(By.TAG_NAME, "form"))
    shot(d, "04-proposal-applied")

    # --- the store: exactly one memory, from op 1; the proposal applied
    mems = cli(store, "memory", "list")
    check("cli: exactly one memory", len(mems) == 1, f"{len(mems)} memories")
    mem = mems[0] if mems else {}
    check("cli: the memory is op 1's text", mem.get("text") == ops[0]["text"], f"{mem.get('text')!r} vs {ops[0]['text']!r}")
    check("cli: the memory is op 1's kind", mem.get("kind") == ops[0]["kind"], f"{mem.get('kind')!r}")
    listed = cli(store, "dreams", "list")
    listed = listed["proposals"] if isinstance(listed, dict) else listed
    got = next((p for p in listed if p["id"] == pid), {})
    check("cli: the proposal is applied", got.get("status") == "applied", got.get("status", "missing"))
    check("cli: applied at the page's revision", got.get("applied_revision") == rev, f"{got.get('applied_revision')} vs {rev}")
    api = http_json(base + "/v1/memories")
    api_list = api if isinstance(api, list) else api.get("memories", api.get("items", []))
    check("api: GET /v1/memories has exactly that memory", [m["id"] for m in api_list] == [mem.get("id")], json.dumps(api)[:300])

    # --- the memory browser and the memory's page with its history
    d.get(base + "/memories")
    check("/memories: title", d.title == "Memories · Nocturne", d.title)
    links = d.find_elements(By.CSS_SELECTOR, "table a[href^='/memories/']")
    check("/memories: one memory listed", len(links) == 1 and links[0].text == mem.get("id"), repr([a.text for a in links]))
    check("/memories: its text shown", norm(mem.get("text", "")) in norm(d.find_element(By.TAG_NAME, "table").text))
    shot(d, "05-memories")
    if links:
        links[0].click()
        wait_url(d, rf"{re.escape(base)}/memories/{re.escape(mem.get('id', ''))}")
        check("memory: opened by its link", d.current_url == f"{base}/memories/{mem.get('id')}", d.current_url)
        check("memory: heading", d.find_element(By.TAG_NAME, "h1").text == f"Memory {mem.get('id')}")
        now = d.find_element(By.TAG_NAME, "table")
        check("memory: current text", norm(mem.get("text", "")) in norm(now.text))
        h2 = [e.text for e in d.find_elements(By.TAG_NAME, "h2")]
        check("memory: a History section", "History" in h2, repr(h2))
        revs = [e.text for e in d.find_elements(By.CSS_SELECTOR, "div.op h3")]
        check("memory: history has the apply's revision", revs == [f"Revision {rev}"], repr(revs))
        meta = d.find_element(By.CSS_SELECTOR, "div.op p.meta").text
        check("memory: the revision names the proposal", pid in meta, meta)
        if mem.get("evidence"):
            q = [e.get_attribute("textContent") for e in d.find_elements(By.TAG_NAME, "blockquote")]
            check("memory: evidence quotes shown", all(e["quote"] in q for e in mem["evidence"]), repr(q))
        rb = d.find_elements(By.XPATH, f"//form[@action='/rollback']//button[normalize-space()='Roll all memory back to revision {rev}']")
        check("memory: rollback button for the local org admin", len(rb) == 1)
        shot(d, "06-memory-history")


def main() -> int:
    started = time.monotonic()
    if SHOTS.exists():
        for old in SHOTS.glob("*.png"):
            old.unlink()
    SHOTS.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="nocturne-browser-"))
    proc = None
    driver = None
    log = None
    try:
        store, proposal = prepare_store(tmp)
        proc, base, log = start_server(store, tmp)
        driver = browser(tmp / "chromium-profile")
        pidfile = os.environ.get("SERVER_PIDFILE")
        if pidfile:  # so that run.sh's trap can stop chromedriver too
            with open(pidfile, "a") as f:
                f.write(f"\n{driver.service.process.pid}")
        browse(driver, base, store, proposal)
    except Exception as e:  # noqa: BLE001 - any crash is one failed check
        traceback.print_exc()
        check("run completes", False, f"{type(e).__name__}: {e}")
    finally:
        if driver is not None:
            driver.quit()
        if proc is not None:
            stop_server(proc)
            check("server: stopped", proc.poll() is not None)
    failed = [r for r in RESULTS if not r[1]]
    if failed and log is not None and log.exists():
        print("--- server log\n" + log.read_text(errors="replace"))
    if not failed:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"kept {tmp}")
    print(f"screenshots in {SHOTS} ({time.monotonic() - started:.1f} s)")
    print(f"{len(RESULTS) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
