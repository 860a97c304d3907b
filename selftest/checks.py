"""Checks shared by the cases: status, generated files and their chat
rendering, what the storage root holds, probe reports. Each returns None when
it holds and a sentence saying what is wrong otherwise."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .targets import Outcome

# Probe reports are one line "PROBE <json>" printed by the sandboxed code.
_PROBE_PREFIX = "PROBE "
_MAX_PROBE_CHARS = 1 << 20


@dataclass(frozen=True)
class FileExpect:
    """What one generated file must look like. Markdown checks apply where
    the target renders files (the function); content checks wherever the
    kept file can be found on the host."""

    markdown_has: tuple[str, ...] = ()
    markdown_lacks: tuple[str, ...] = ()
    content_has: tuple[bytes, ...] = ()


def status(out: Outcome, want: Sequence[str]) -> str | None:
    if out.status in want:
        return None
    wanted = " or ".join(want)
    return f"status was {out.status}, expected {wanted}"


def files(out: Outcome, want: Mapping[str, FileExpect], target_kind: str) -> str | None:
    """The run kept exactly the files of `want`, each as described."""
    got = set(out.files)
    missing = sorted(set(want) - got)
    unexpected = sorted(got - set(want))
    if missing:
        return f"file(s) missing: {', '.join(missing)}"
    if unexpected:
        return f"unexpected generated file(s): {', '.join(unexpected[:20])}"
    for name, expect in sorted(want.items()):
        f = out.files[name]
        if target_kind == "function":
            if f.markdown is None:
                return f"{name}: the reply has no rendering for it"
            for text in expect.markdown_has:
                if text not in f.markdown:
                    return f"{name}: rendering lacks {text!r} (got {f.markdown[:300]!r})"
            for text in expect.markdown_lacks:
                if text in f.markdown:
                    return f"{name}: rendering unexpectedly has {text!r} (got {f.markdown[:300]!r})"
        if expect.content_has:
            if f.host_path is None:
                return f"{name}: the reply does not say where the file was kept"
            content = read_kept(f.host_path, 1 << 20)
            if content is None:
                return f"{name}: the kept file {f.host_path} cannot be read"
            for data in expect.content_has:
                if data not in content:
                    return f"{name}: kept file lacks {data!r}"
    return None


def read_kept(path: str, limit: int) -> bytes | None:
    """Up to `limit` bytes of a kept regular file, not following symlinks."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, limit)
    finally:
        os.close(fd)


def stored_files(root: str) -> list[str]:
    """The kept files under a storage root: regular files inside execution
    directories (<root>/<user>/<execution>/...), not lock or staging files."""
    kept = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        relative = os.path.relpath(dirpath, root)
        parts = [] if relative == "." else relative.split(os.sep)
        if len(parts) < 2:
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            continue
        for name in filenames:
            path = os.path.join(dirpath, name)
            if stat.S_ISREG(os.lstat(path).st_mode):
                kept.append(path)
    return sorted(kept)


def stored_count(root: str, want: int) -> str | None:
    got = len(stored_files(root))
    return None if got == want else f"storage holds {got} files, expected {want}"


def probe(output: str) -> dict[str, Any] | None:
    """The last probe report in the sandbox's output."""
    for line in reversed(output.splitlines()):
        if line.startswith(_PROBE_PREFIX) and len(line) < _MAX_PROBE_CHARS:
            try:
                report = json.loads(line[len(_PROBE_PREFIX) :])
            except json.JSONDecodeError:
                return None
            return report if isinstance(report, dict) else None
    return None


def user_dir(host_path: str, relative: str) -> str:
    """<root>/<user> of a kept file <root>/<user>/<execution>/<relative>."""
    execution_dir = host_path[: -len(relative)].rstrip("/") if host_path.endswith(relative) else host_path
    return os.path.dirname(execution_dir)
