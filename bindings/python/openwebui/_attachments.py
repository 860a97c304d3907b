"""Attached files: from Open WebUI's uploads into the run's home directory."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import re
import stat
import typing

from ._valves import Valves, attachment_dir

# (display name, host path, Open WebUI file id) of one attached file.
AttachmentSource: typing.TypeAlias = tuple[str, str, str]
_MAX_ATTACHMENT_NAME_BYTES = 200
_MAX_ATTACHMENTS = 256
_O_NOFOLLOW_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _first_text(*values: object) -> str:
    for value in values:
        if isinstance(value, str) and value:
            return value
    return ""


def _attachment_source(item: dict[str, typing.Any]) -> AttachmentSource | None:
    # Open WebUI passes {"type": "file", "id", "name", "file": {"id",
    # "filename", "path", "meta": {"name", ...}}}; older code a flat dict.
    inner = item.get("file") if isinstance(item.get("file"), dict) else {}
    assert isinstance(inner, dict)
    meta = inner.get("meta") if isinstance(inner.get("meta"), dict) else {}
    outer_meta = item.get("meta") if isinstance(item.get("meta"), dict) else {}
    assert isinstance(meta, dict) and isinstance(outer_meta, dict)
    path = _first_text(inner.get("path"), item.get("path"))
    file_id = _first_text(inner.get("id"), item.get("id"))
    if not path and not file_id:
        return None  # A web page, a collection, ...: nothing on disk.
    name = _first_text(
        meta.get("name"),
        inner.get("filename"),
        item.get("name"),
        item.get("filename"),
        outer_meta.get("name"),
        os.path.basename(path),
    )
    return name, path, file_id


def attachment_sources(*groups: object) -> list[AttachmentSource]:
    """The attached files in `groups` (lists of Open WebUI file dicts, or
    lists of such lists), first occurrence of each file only."""
    out: list[AttachmentSource] = []
    seen: set[tuple[str, str]] = set()
    pending: list[object] = list(reversed(groups))
    while pending and len(out) < _MAX_ATTACHMENTS:
        item = pending.pop()
        if isinstance(item, (list, tuple)):
            pending.extend(reversed(item))
        elif isinstance(item, dict):
            source = _attachment_source(item)
            if source is not None and (source[1], source[2]) not in seen:
                seen.add((source[1], source[2]))
                out.append(source)
    return out


def attachment_name(name: str, taken: set[str]) -> str:
    """A safe file name for an attachment in the home directory: the last
    path component, no control characters, no leading dots, bounded, and
    unique among `taken` (which it joins)."""
    base = re.split(r"[/\\]", name)[-1]
    base = "".join(c for c in base if c.isprintable()).strip().lstrip(".").strip()
    base = base.encode("utf-8", "replace")[:_MAX_ATTACHMENT_NAME_BYTES].decode("utf-8", "ignore")
    base = base or "attachment"
    stem, extension = os.path.splitext(base)
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{stem} ({n}){extension}"
    taken.add(candidate)
    return candidate


async def _open_webui_file_path(file_id: str, user: str) -> str | None:
    """Inside Open WebUI: the stored path of the user's own file `file_id`
    ("" if it is not theirs). Outside: None (paths are only confined). The
    request's file list comes from the browser and may claim any path."""
    try:
        files_model = importlib.import_module("open_webui.models.files").Files
    except Exception:
        return None
    if not file_id:
        return ""  # Inside Open WebUI a file is known by its id, never by a claimed path.
    try:
        record = files_model.get_file_by_id(file_id)
        if inspect.isawaitable(record):
            record = await record
    except Exception:
        return ""
    if record is None or str(getattr(record, "user_id", "")) != user:
        return ""
    path = getattr(record, "path", "")
    return path if isinstance(path, str) else ""


def _read_regular(path: str, limit: int) -> bytes | None:
    """Up to `limit` bytes of the regular file `path`, never through a
    symlink; None when it is not one or is larger."""
    fd = os.open(path, _O_NOFOLLOW_READ)
    try:
        return _read_fd(fd, limit)
    finally:
        os.close(fd)


async def read_attachments(
    sources: list[AttachmentSource], valves: Valves, user: str
) -> tuple[list[tuple[str, bytes]], list[str]]:
    """The attachments to put in the run's home directory, as (safe name,
    content), and a note for each one left out. Only regular files below
    ATTACHMENT_DIRECTORY_PATH (inside Open WebUI: the caller's own uploads)
    are read, within MAX_ATTACHMENT_MEGABYTES in total."""
    if not sources:
        return [], []
    if valves.MAX_ATTACHMENT_MEGABYTES == 0 or not user:
        why = "MAX_ATTACHMENT_MEGABYTES is 0" if user else "no user id"
        return [], [f"Attached files were not copied ({why})."]
    # The directory as configured and as resolved (it may itself be reached
    # through a symlink); below it, nothing may be.
    roots = [attachment_dir(valves)]
    roots.append(os.path.realpath(roots[0]))
    budget = valves.MAX_ATTACHMENT_MEGABYTES << 20
    files: list[tuple[str, bytes]] = []
    notes: list[str] = []
    taken: set[str] = set()
    for name, path, file_id in sources:
        shown = _code_span(_printable(name or path or file_id))
        stored = await _open_webui_file_path(file_id, user)
        if stored is not None:
            path = stored  # Never the path the request claimed.
        if not path:
            notes.append(f"{shown} was not copied: it is not one of your uploaded files.")
            continue
        absolute = os.path.normpath(os.path.abspath(path))
        below = [os.path.relpath(absolute, r) for r in roots if os.path.commonpath([r, absolute]) == r]
        if not below or below[0] == ".":
            notes.append(f"{shown} was not copied: it is not below ATTACHMENT_DIRECTORY_PATH.")
            continue
        real = os.path.realpath(absolute)
        if real != os.path.join(roots[-1], below[0]):
            notes.append(f"{shown} was not copied: its path goes through a symbolic link.")
            continue
        try:
            content = await asyncio.to_thread(_read_regular, real, budget)
        except OSError as e:
            notes.append(f"{shown} was not copied: {e.strerror or 'unreadable'}.")
            continue
        if content is None:
            notes.append(
                f"{shown} was not copied: not a regular file, or over the "
                f"{valves.MAX_ATTACHMENT_MEGABYTES} MiB of MAX_ATTACHMENT_MEGABYTES left."
            )
            continue
        budget -= len(content)
        files.append((attachment_name(name or os.path.basename(real), taken), content))
    return files, notes


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "\ufffd" for c in text)[:_MAX_ATTACHMENT_NAME_BYTES]


def _code_span(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _read_fd(fd: int, limit: int) -> bytes | None:
    """Up to `limit` bytes of the regular file open at `fd`; None when it
    is not one or is larger."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
        return None
    chunks, remaining = [], limit + 1
    while remaining > 0:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    data = b"".join(chunks)
    return data if len(data) <= limit else None
