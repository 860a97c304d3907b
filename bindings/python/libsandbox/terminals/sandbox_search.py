# Runs INSIDE a session's sandbox, as its user (the server prepends
# `REQUEST = '<json>'`): searches the sandbox's own files, so its view and
# permissions decide what is reached. Prints one JSON answer. Every walk is
# bounded; symlinks are never followed; binary files are skipped.
import fnmatch
import heapq
import json
import os
import re
import stat
import sys
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

HOME = "/home/user"
WALK_ENTRIES = 200000
GREP_FILE_BYTES = 8 << 20
MATCH_FILE_BYTES = 1 << 20
LINE_SHOWN = 1000
SKILL_ROOTS = (".agents/skills", ".cptr/skills", ".claude/skills", ".codex/skills")

Answer = dict[str, Any]
req: dict[str, Any] = {}  # the request, set below when run


def walk(root: str, show_hidden: bool = True) -> Iterator[tuple[str, str, os.stat_result]]:
    """(full path, name, lstat) of the entries below root, sorted, bounded."""
    seen = 0
    for top, dirs, files in os.walk(root, followlinks=False):
        if not show_hidden:
            dirs[:] = [d for d in dirs if not d.startswith(".")]
        dirs.sort()
        for name in sorted(dirs + files):
            if not show_hidden and name.startswith("."):
                continue
            seen += 1
            if seen > WALK_ENTRIES:
                return
            full = os.path.join(top, name)
            try:
                yield full, name, os.lstat(full)
            except OSError:
                continue


def kind(st: os.stat_result) -> str:
    return "directory" if stat.S_ISDIR(st.st_mode) else "file"


def text_lines(full: str, st: os.stat_result, cap: int) -> list[str]:
    """The lines of a UTF-8 text file of at most cap bytes; else none."""
    if not stat.S_ISREG(st.st_mode) or st.st_size > cap:
        return []
    try:
        with open(full, "rb") as f:
            data = f.read(cap)
        if b"\0" in data[:8192]:
            return []
        return data.decode("utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []


def grep() -> Answer:
    flags = re.IGNORECASE if req["case_insensitive"] else 0
    try:
        pattern = re.compile(req["query"] if req["regex"] else re.escape(req["query"]), flags)
    except re.error as e:
        return {"error": f"Invalid regex: {e}", "status": 400}
    root, include, limit = req["path"], req["include"] or [], req["max_results"]
    if not os.path.lexists(root):
        return {"error": "Search path not found", "status": 404}
    matches: list[dict[str, Any]] = []
    truncated = False
    st = os.lstat(root)
    entries = walk(root) if stat.S_ISDIR(st.st_mode) else iter([(root, os.path.basename(root), st)])
    for full, name, entry in entries:
        if include and not any(fnmatch.fnmatch(name, g) for g in include):
            continue
        for number, line in enumerate(text_lines(full, entry, GREP_FILE_BYTES), 1):
            if not pattern.search(line):
                continue
            if len(matches) >= limit:
                truncated = True
                break
            if not req["match_per_line"]:
                matches.append({"file": full})
                break
            matches.append({"file": full, "line": number, "content": line[:LINE_SHOWN]})
        if truncated:
            break
    return {"query": req["query"], "path": root, "matches": matches, "truncated": truncated}


def glob() -> Answer:
    root, pattern, exclude, want = req["path"], req["pattern"], req["exclude"] or [], req["type"]
    if not os.path.isdir(root):
        return {"error": "Search directory not found", "status": 404}
    matches: list[dict[str, Any]] = []
    truncated = False
    for full, name, st in walk(root):
        entry_type = kind(st)
        rel = os.path.relpath(full, root)
        if want != "any" and entry_type != want:
            continue
        if not (fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(rel, pattern)):
            continue
        if any(fnmatch.fnmatch(name, x) or fnmatch.fnmatch(rel, x) for x in exclude):
            continue
        if len(matches) >= req["max_results"]:
            truncated = True
            break
        matches.append({"path": rel, "type": entry_type, "size": st.st_size, "modified": st.st_mtime})
    return {"pattern": pattern, "path": root, "matches": matches, "truncated": truncated}


def search() -> Answer:
    root, want, query = req["path"], req["type"], req["query"].strip().lower()
    if not os.path.isdir(root):
        return {"error": "Search directory not found", "status": 404}

    def candidates() -> Iterator[tuple[int, int, str, dict[str, Any]]]:
        for full, name, st in walk(root, req["show_hidden"]):
            entry_type, lower = kind(st), name.lower()
            if (want != "any" and entry_type != want) or (query and query not in lower):
                continue
            rank = 0 if lower == query else 1 if lower.startswith(query) else 2
            entry = {
                "path": full,
                "name": name,
                "type": entry_type,
                "size": st.st_size,
                "modified": st.st_mtime,
            }
            yield rank, len(name), os.path.relpath(full, root).lower(), entry

    best = heapq.nsmallest(req["limit"], candidates(), key=lambda c: c[:3])
    return {"results": [c[3] for c in best]}


def matches() -> Answer:
    root, query = req["path"], req["query"].strip().lower()
    if not os.path.isdir(root):
        return {"error": "Search directory not found", "status": 404}
    found: list[tuple[int, int, str, dict[str, Any]]] = []
    for full, name, st in walk(root, req["show_hidden"]):
        rel = os.path.relpath(full, root)
        lower, rel_lower = name.lower(), rel.lower()
        score = (
            0 if lower == query else 1 if lower.startswith(query) else 2 if query in lower
            else 3 if query in rel_lower else 4
        )  # fmt: skip
        content: list[dict[str, Any]] = []
        for number, line in enumerate(text_lines(full, st, MATCH_FILE_BYTES), 1):
            at = line.lower().find(query)
            if at >= 0:
                content.append({"line": number, "column": at + 1, "text": line[:LINE_SHOWN]})
                if len(content) >= 3:
                    break
        if score == 4 and not content:
            continue
        entry = {
            "path": full,
            "relative_path": rel,
            "name": name,
            "type": kind(st),
            "name_match": score < 4,
            "content_matches": content,
        }
        found.append((score, len(rel), rel_lower, entry))
    found.sort(key=lambda c: c[:3])
    start, limit = req["offset"], req["limit"]
    more = start + limit < len(found)
    return {
        "results": [c[3] for c in found[start : start + limit]],
        "next_offset": start + limit if more else None,
    }


def front_matter(text: str) -> tuple[dict[str, str], str]:
    """The `---` block of a SKILL.md (flat `key: value` lines) and the rest."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return {}, text
    fields: dict[str, str] = {}
    for i, line in enumerate(lines[1:], 1):
        if line.strip() == "---":
            return fields, "\n".join(lines[i + 1 :])
        key, sep, value = line.partition(":")
        if sep and key.strip() and not key.startswith((" ", "\t")):
            fields[key.strip()] = value.strip().strip("\"'")
    return {}, text


def skill_list() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    names: set[str] = set()
    for root in SKILL_ROOTS:
        top = os.path.join(HOME, root)
        try:
            dirs = sorted(os.listdir(top))
        except OSError:
            continue
        for d in dirs:
            path = os.path.join(top, d, "SKILL.md")
            if d.startswith(".") or os.path.islink(path) or not os.path.isfile(path):
                continue
            try:
                with open(path, "rb") as f:
                    text = f.read(1 << 20).decode("utf-8", "replace")
            except OSError:
                continue
            fields, body = front_matter(text)
            name, description = (fields.get("name") or d).strip(), (fields.get("description") or "").strip()
            if not description or not name or name in names:
                continue
            names.add(name)
            found.append(
                {
                    "id": "terminal:" + quote(name, safe=""),
                    "name": name,
                    "description": description[:1024],
                    "location": path,
                    "scope": "global",
                    "source": "terminal",
                    "content": body,
                }
            )
    return found


def skills() -> Answer:
    return {"skills": [{k: v for k, v in s.items() if k != "content"} for s in skill_list()]}


def skill() -> Answer:
    for s in skill_list():
        if s["name"] == req["name"]:
            top = os.path.dirname(s["location"])
            files = [full for full, _, st in walk(top) if stat.S_ISREG(st.st_mode) and full != s["location"]]
            return {**s, "resources": [os.path.relpath(f, top) for f in files[:200]]}
    return {"error": "Skill not found", "status": 404}


OPS = {"grep": grep, "glob": glob, "search": search, "matches": matches, "skills": skills, "skill": skill}

if __name__ == "__main__":  # run by the server; importing it does nothing
    req.update(json.loads(globals()["REQUEST"]))
    sys.stdout.write(json.dumps(OPS[req["op"]]()))
