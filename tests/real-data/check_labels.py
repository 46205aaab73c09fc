#!/usr/bin/env python3
"""Check the labelled expectations in tests/real-data/expect/*.toml against the real transcripts.

For every evidence entry (lessons, recoveries, junk examples with a location) it loads the cited
record and asserts that the quote is a verbatim substring of one of the record's strings (message
text, thinking, tool input, tool result, system content, ...). It also checks the structure of
each file (see tests/real-data/README.md): required keys, `recurring = true` only with evidence in
at least two distinct sessions, every lesson's own `text` satisfies its own `match`, no lesson text
leaks a session-specific value, junk/wrong examples do not match a lesson, and (claude-code-log)
the `[[session]]` table agrees with the evidence.

Usage: python3 tests/real-data/check_labels.py [--data DIR] [FILE.toml ...]
The data folder is found by --data, then $NOCTURNE_REAL_TRANSCRIPTS, then by walking up from the
repository root looking for shared/data/real-transcripts. If it is absent the script prints a
notice and exits 0 (like the Rust tests, which skip). Exit code 1 lists every problem found.
Python 3.11+ (tomllib), standard library only.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import re
import signal
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
KINDS = {"mistake", "procedure", "preference", "fact"}
SCOPES = {"project", "any"}
RELATIONS = {"instead", "before", "with", "none"}
MAX_TEXT = 200
# Regex constructs outside the common subset of Python `re` and Rust `regex` (no look-around, no
# back-references): patterns must stay portable because the Rust suite reads the same files.
NON_PORTABLE = re.compile(r"\(\?[=!<]|\\[1-9]")


def find_data(explicit: str | None) -> Path | None:
    if explicit:
        return Path(explicit)
    env = os.environ.get("NOCTURNE_REAL_TRANSCRIPTS")
    if env:
        return Path(env)
    for parent in [REPO, *REPO.parents]:
        cand = parent / "shared" / "data" / "real-transcripts"
        if cand.is_dir():
            return cand
    return None


def strings_of(value, out: list[str]) -> list[str]:
    """Every string inside a JSON value; strings that are themselves JSON are walked too."""
    if isinstance(value, str):
        out.append(value)
        s = value.strip()
        if s[:1] in "{[" and len(s) > 1:
            try:
                strings_of(json.loads(s), out)
            except ValueError:
                pass
    elif isinstance(value, dict):
        for k, v in value.items():
            strings_of(v, out)
    elif isinstance(value, list):
        for v in value:
            strings_of(v, out)
    return out


def json_pointer(doc, pointer: str):
    if pointer in ("", "/"):
        return doc
    cur = doc
    for raw in pointer.lstrip("/").split("/"):
        key = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(cur, list):
            cur = cur[int(key)]
        else:
            cur = cur[key]
    return cur


class Data:
    """Loads and caches source files; answers 'texts of record' and 'session key of record'."""

    def __init__(self, root: Path):
        self.root = root
        self.lines: dict[Path, list[str]] = {}
        self.docs: dict[Path, object] = {}
        self.aider_starts: dict[Path, list[int]] = {}

    def path(self, source: str, file: str) -> Path:
        return self.root / source / file

    def text_lines(self, p: Path) -> list[str]:
        if p not in self.lines:
            with open(p, encoding="utf-8") as fh:
                self.lines[p] = fh.read().split("\n")
        return self.lines[p]

    def doc(self, p: Path):
        if p not in self.docs:
            with open(p, encoding="utf-8") as fh:
                self.docs[p] = json.load(fh)
        return self.docs[p]

    def record(self, source: str, ev: dict):
        """Return (texts, session_key) for an evidence entry, or raise ValueError."""
        if "file" not in ev:
            raise ValueError("evidence has no `file`")
        p = self.path(source, ev["file"])
        if not p.is_file():
            raise ValueError(f"no such file {p}")
        if p.suffix == ".md":
            lines = self.text_lines(p)
            start = int(ev["line"])
            end = int(ev.get("end_line", start))
            if not 1 <= start <= end <= len(lines):
                raise ValueError(f"line {start}..{end} outside 1..{len(lines)}")
            texts = ["\n".join(lines[start - 1 : end])]
            return texts, ("aider-run", ev["file"], self.aider_run(p, start))
        if p.suffix == ".jsonl":
            lines = self.text_lines(p)
            n = int(ev["line"])
            if not 1 <= n <= len(lines):
                raise ValueError(f"line {n} outside 1..{len(lines)}")
            rec = json.loads(lines[n - 1])
            key = ("file", ev["file"])
            if "messages_display" in rec:  # tau-bench few-shot: one record per session
                key = ("record", ev["file"], n)
            return strings_of(rec, []), key
        doc = self.doc(p)
        if "simulation" in ev:  # tau2-bench results JSON
            sims = [s for s in doc["simulations"] if s["id"] == ev["simulation"]]
            if len(sims) != 1:
                raise ValueError(f"simulation {ev['simulation']} not found")
            msgs = sims[0]["messages"]
            i = int(ev["message"])
            if not 0 <= i < len(msgs):
                raise ValueError(f"message {i} outside 0..{len(msgs) - 1}")
            return strings_of(msgs[i], []), ("simulation", ev["simulation"])
        if "pointer" in ev:
            try:
                node = json_pointer(doc, ev["pointer"])
            except (KeyError, IndexError, ValueError) as e:
                raise ValueError(f"pointer {ev['pointer']} does not resolve ({e})")
            return strings_of(node, []), ("file", ev["file"])
        raise ValueError("JSON evidence needs `simulation`+`message` or `pointer`")

    def aider_run(self, p: Path, line: int) -> int:
        """1-based line of the `# aider chat started at` header of the run holding `line` (0 = preamble)."""
        if p not in self.aider_starts:
            self.aider_starts[p] = [
                i + 1 for i, l in enumerate(self.text_lines(p)) if l.startswith("# aider chat started at")
            ]
        starts = self.aider_starts[p]
        k = bisect.bisect_right(starts, line) - 1
        return starts[k] if k >= 0 else 0


def matches(text: str, groups, unless=()) -> bool:
    """Every group has an alternative that is a substring of the lowercased text, and no `unless` string is."""
    t = text.lower()
    if any(u.lower() in t for u in unless):
        return False
    return all(any(alt.lower() in t for alt in group) for group in groups)


class Checker:
    def __init__(self, data: Data):
        self.data = data
        self.problems: list[str] = []
        self.quotes = 0

    def bad(self, where: str, msg: str):
        self.problems.append(f"{where}: {msg}")

    def check_match(self, where: str, groups):
        if not isinstance(groups, list) or not groups:
            self.bad(where, "`match` must be a non-empty list of groups")
            return False
        for g in groups:
            if not isinstance(g, list) or not g or not all(isinstance(a, str) and a for a in g):
                self.bad(where, f"match group {g!r} must be a non-empty list of non-empty strings")
                return False
        return True

    def check_quote(self, source: str, where: str, ev: dict):
        try:
            texts, key = self.data.record(source, ev)
        except (ValueError, KeyError, json.JSONDecodeError) as e:
            self.bad(where, str(e))
            return None
        q = ev.get("quote")
        if not isinstance(q, str) or not q.strip():
            self.bad(where, "evidence needs a non-empty `quote`")
            return key
        if not any(q in t for t in texts):
            self.bad(where, f"quote not found verbatim in the cited record: {q[:120]!r}")
        else:
            self.quotes += 1
        return key

    def check_file(self, path: Path):
        name = path.name
        with open(path, "rb") as fh:
            try:
                doc = tomllib.load(fh)
            except tomllib.TOMLDecodeError as e:
                self.bad(name, f"TOML: {e}")
                return
        source = doc.get("source")
        if not source or not (self.data.root / source).is_dir():
            self.bad(name, f"`source` {source!r} is not a folder of the data set")
            return
        if path.stem != source:
            self.bad(name, f"file should be named {source}.toml")
        if not doc.get("description"):
            self.bad(name, "missing `description`")

        values, patterns = [], []
        for i, ss in enumerate(doc.get("session_specific", [])):
            values += ss.get("values", [])
            for pat in ss.get("patterns", []):
                if NON_PORTABLE.search(pat):
                    self.bad(f"{name} session_specific[{i}]", f"pattern {pat!r} uses look-around/back-references")
                try:
                    patterns.append(re.compile(pat))
                except re.error as e:
                    self.bad(f"{name} session_specific[{i}]", f"bad regex {pat!r}: {e}")

        def leaks(text: str) -> list[str]:
            hit = [v for v in values if v.lower() in text.lower()]
            hit += [p.pattern for p in patterns if p.search(text)]
            return hit

        ids: set[str] = set()
        lesson_groups: dict[str, list] = {}
        lesson_texts: dict[str, str] = {}
        paraphrases: dict[str, list] = {}
        lesson_sessions: dict[str, set] = {}
        lesson_files: dict[str, set] = {}
        for i, les in enumerate(doc.get("lesson", [])):
            lid = les.get("id", f"#{i}")
            where = f"{name} lesson {lid}"
            if lid in ids:
                self.bad(where, "duplicate id")
            ids.add(lid)
            for key in ("id", "kind", "scope_hint", "recurring", "text", "match", "evidence"):
                if key not in les:
                    self.bad(where, f"missing `{key}`")
            if les.get("kind") not in KINDS:
                self.bad(where, f"kind {les.get('kind')!r} not in {sorted(KINDS)}")
            if les.get("scope_hint") not in SCOPES:
                self.bad(where, f"scope_hint {les.get('scope_hint')!r} not in {sorted(SCOPES)}")
            text = les.get("text", "")
            if len(text) > MAX_TEXT:
                self.bad(where, f"text is {len(text)} chars (> {MAX_TEXT})")
            if leaks(text):
                self.bad(where, f"text leaks session-specific values {leaks(text)}")
            lesson_texts[lid] = text
            if self.check_match(where, les.get("match")):
                lesson_groups[lid] = (les["match"], les.get("unless", []))
                if not matches(text, les["match"], les.get("unless", [])):
                    self.bad(where, "the lesson's own `text` does not satisfy its `match`")
            paraphrases[lid] = les.get("paraphrases", [])
            sessions, files = set(), set()
            for j, ev in enumerate(les.get("evidence", [])):
                key = self.check_quote(source, f"{where} evidence[{j}]", ev)
                if key is not None:
                    sessions.add(key)
                    files.add(ev["file"])
            if not les.get("evidence"):
                self.bad(where, "no evidence")
            lesson_sessions[lid] = sessions
            lesson_files[lid] = files
            if les.get("recurring") is True and len(sessions) < 2:
                self.bad(where, f"recurring = true but evidence spans {len(sessions)} session(s)")
            if les.get("recurring") is False and len(sessions) >= 2:
                self.bad(where, f"recurring = false but evidence spans {len(sessions)} sessions")
            rec = les.get("recovery")
            if rec is not None:
                if rec.get("relation") not in RELATIONS:
                    self.bad(where, f"recovery relation {rec.get('relation')!r} not in {sorted(RELATIONS)}")
                if rec.get("relation") != "none" or "file" in rec:
                    self.check_quote(source, f"{where} recovery", rec)
            if "projects" in les and source == "claude-code-log":
                for proj in les["projects"]:
                    if not (self.data.root / source / "real_projects" / proj).is_dir():
                        self.bad(where, f"unknown project {proj!r}")

        for section in ("acceptable", "wrong", "junk"):
            for i, ent in enumerate(doc.get(section, [])):
                eid = ent.get("id", f"#{i}")
                where = f"{name} {section} {eid}"
                if eid in ids:
                    self.bad(where, "id already used")
                ids.add(eid)
                if not self.check_match(where, ent.get("match")):
                    continue
                if section in ("wrong", "junk") and not ent.get("why"):
                    self.bad(where, "needs `why`")
                unless = ent.get("unless", [])
                for ex in ent.get("examples", []):
                    if not matches(ex, ent["match"], unless):
                        self.bad(where, f"example does not satisfy its own match: {ex[:80]!r}")
                    if section in ("wrong", "junk"):
                        for lid, (g, u) in lesson_groups.items():
                            if matches(ex, g, u):
                                self.bad(where, f"example would also match lesson {lid}: {ex[:80]!r}")
                for j, ev in enumerate(ent.get("evidence", [])):
                    self.check_quote(source, f"{where} evidence[{j}]", ev)

        # A correct op worded like one lesson must not also satisfy another lesson's match.
        # Paraphrases (other correct wordings) must satisfy their own lesson's match.
        for lid, text in lesson_texts.items():
            for para in paraphrases.get(lid, []):
                if leaks(para):
                    self.bad(f"{name} lesson {lid}", f"paraphrase leaks session-specific values {leaks(para)}")
                if lid in lesson_groups and not matches(para, *lesson_groups[lid]):
                    self.bad(f"{name} lesson {lid}", f"paraphrase does not satisfy the match: {para[:80]!r}")
            for wording in [text, *paraphrases.get(lid, [])]:
                for other, (g, u) in lesson_groups.items():
                    if other != lid and matches(wording, g, u):
                        self.bad(f"{name} lesson {lid}", f"{wording[:60]!r} also satisfies the match of lesson {other}")
                for w in doc.get("wrong", []):
                    if isinstance(w.get("match"), list) and matches(wording, w["match"], w.get("unless", [])):
                        self.bad(f"{name} lesson {lid}", f"{wording[:60]!r} would count as wrong ({w.get('id')})")

        sessions = doc.get("session", [])
        if source == "claude-code-log":
            listed: dict[str, set] = {}
            for i, s in enumerate(sessions):
                where = f"{name} session {s.get('file', i)}"
                f = s.get("file")
                p = self.data.path(source, f or "")
                if not f or not p.is_file():
                    self.bad(where, "file missing")
                    continue
                lines = self.data.text_lines(p)
                n = s.get("first_prompt_line")
                if not isinstance(n, int) or not 1 <= n <= len(lines):
                    self.bad(where, f"first_prompt_line {n!r} outside the file")
                else:
                    rec = json.loads(lines[n - 1])
                    if rec.get("type") != "user":
                        self.bad(where, f"line {n} is a {rec.get('type')!r} record, not the user's prompt")
                    elif s.get("first_prompt_quote") and not any(
                        s["first_prompt_quote"] in t for t in strings_of(rec, [])
                    ):
                        self.bad(where, "first_prompt_quote not in that line")
                for lid in s.get("lessons", []):
                    if lid not in lesson_files:
                        self.bad(where, f"unknown lesson {lid}")
                        continue
                    if f not in lesson_files[lid]:
                        self.bad(where, f"lists {lid} but that lesson has no evidence in this file")
                    listed.setdefault(lid, set()).add(f)
            for les in doc.get("lesson", []):
                if les.get("recurring"):
                    missing = lesson_files.get(les["id"], set()) - listed.get(les["id"], set())
                    for f in sorted(missing):
                        self.bad(f"{name} lesson {les['id']}", f"evidence file {f} has no [[session]] entry listing it")


def main() -> int:
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` ends quietly
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="the real-transcripts folder")
    ap.add_argument("files", nargs="*", help="expectation files (default: all in expect/)")
    args = ap.parse_args()
    root = find_data(args.data)
    if root is None or not root.is_dir():
        print("notice: real-transcripts folder not found; nothing checked (set NOCTURNE_REAL_TRANSCRIPTS)")
        return 0
    files = [Path(f) for f in args.files] or sorted((HERE / "expect").glob("*.toml"))
    checker = Checker(Data(root))
    for f in files:
        checker.check_file(f)
    for p in checker.problems:
        print(p)
    print(f"{len(files)} file(s), {checker.quotes} quote(s) verified, {len(checker.problems)} problem(s)")
    return 1 if checker.problems else 0


if __name__ == "__main__":
    sys.exit(main())
