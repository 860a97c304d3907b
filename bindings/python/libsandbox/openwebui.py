"""What the Open WebUI tool and function files have in common: the valves and
their environment overrides, per-user storage, running code through
libsandbox, Open WebUI's status and citation events, and the command line.

The files keep only what is their own (the Tools / Action class, where their
files are stored, the function's code-block picking and rendering) and import
the rest from here, so the two can never drift apart.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import inspect
import json
import os
import pathlib
import re
import stat
import sys
import types
import typing
import urllib.parse
import uuid
from collections.abc import Callable, Coroutine

import pydantic

import libsandbox

__all__ = [
    "LANGUAGES",
    "OVERRIDE_PREFIX",
    "AttachmentSource",
    "CodeRun",
    "EventEmitter",
    "Events",
    "Plugin",
    "RunOnce",
    "RunOutcome",
    "ValveError",
    "Valves",
    "attachment_dir",
    "attachment_name",
    "attachment_sources",
    "chat_id",
    "effective_valves",
    "failure_message",
    "file_url",
    "load_selftest",
    "main",
    "read_attachments",
    "reply_fields",
    "run_arguments",
    "sandbox_run",
    "session_arguments",
    "session_dir",
    "session_key",
    "session_run",
    "storage_dir",
    "storage_path_valve",
    "storage_url_valve",
    "user_id",
]

OVERRIDE_PREFIX = "CODE_EVAL_VALVE_OVERRIDE_"
LANGUAGES = ("python", "bash")
# Open WebUI keeps DATA_DIR here when the variable is not set.
_DEFAULT_DATA_DIR = "/app/backend/data"
# The model does not need more than this of a failure explanation.
_MAX_MESSAGE_CHARS = 4096

EventEmitter: typing.TypeAlias = Callable[[dict[str, typing.Any]], typing.Any] | None


def _override_note(name: str) -> str:
    return f" Overridable by environment variable {OVERRIDE_PREFIX}{name}."


class ValveError(ValueError):
    """A valve (or its environment override) has a value outside its bounds."""


def storage_path_valve(default: str = "") -> typing.Any:
    """The WEB_ACCESSIBLE_DIRECTORY_PATH field; each file gives its own
    default (no default: required)."""
    return pydantic.Field(
        default=default or ...,
        min_length=1,
        description="Directory generated files are kept in (one subdirectory per user). "
        "A leading $DATA_DIR is replaced by Open WebUI's data directory."
        + _override_note("WEB_ACCESSIBLE_DIRECTORY_PATH"),
    )


def storage_url_valve(default: str = "") -> typing.Any:
    """The WEB_ACCESSIBLE_DIRECTORY_URL field; each file gives its own
    default (no default: required)."""
    return pydantic.Field(
        default=default or ...,
        min_length=1,
        description="URL under which WEB_ACCESSIBLE_DIRECTORY_PATH is served; may start "
        "with '/' to be relative to Open WebUI." + _override_note("WEB_ACCESSIBLE_DIRECTORY_URL"),
    )


class Valves(pydantic.BaseModel):
    """The valves of both files. The storage location has no default here:
    each file subclasses this and names its own (as the plugin we replace
    did), e.g. `WEB_ACCESSIBLE_DIRECTORY_PATH: str = storage_path_valve(...)`."""

    model_config = pydantic.ConfigDict(validate_assignment=True)

    NETWORKING_ALLOWED: bool = pydantic.Field(
        default=False,
        description="Let code open outbound connections. The host's own services, "
        "link-local and cloud metadata addresses and private ranges stay unreachable."
        + _override_note("NETWORKING_ALLOWED"),
    )
    MAX_RUNTIME_SECONDS: int = pydantic.Field(
        default=30,
        ge=1,
        description="Wall-clock seconds code may run before it is stopped."
        + _override_note("MAX_RUNTIME_SECONDS"),
    )
    MAX_RAM_MEGABYTES: int = pydantic.Field(
        default=128,
        ge=0,
        description="Memory the sandbox may use, in MiB; 0 disables the cap."
        + _override_note("MAX_RAM_MEGABYTES"),
    )
    REQUIRE_RESOURCE_LIMITING: bool = pydantic.Field(
        default=True,
        description="Refuse to run when this host cannot enforce the caps "
        "(instead of running without them)." + _override_note("REQUIRE_RESOURCE_LIMITING"),
    )
    AUTO_INSTALL: bool = pydantic.Field(
        default=True,
        description="Kept for compatibility. Nothing is ever downloaded: install gVisor "
        "with your package manager (the error message says how)." + _override_note("AUTO_INSTALL"),
    )
    CHECK_FOR_UPDATES: bool = pydantic.Field(
        default=False,
        description="Kept for compatibility. No update check ever reaches the network; "
        "update with `pip install -U libsandbox`." + _override_note("CHECK_FOR_UPDATES"),
    )
    DEBUG: bool = pydantic.Field(
        default=False,
        description="Show host diagnostics in failure messages (admins only)." + _override_note("DEBUG"),
    )
    MAX_FILES_PER_EXECUTION: int = pydantic.Field(
        default=32,
        ge=1,
        description="Files one run may leave behind to be kept." + _override_note("MAX_FILES_PER_EXECUTION"),
    )
    MAX_FILES_PER_USER: int = pydantic.Field(
        default=4096,
        ge=1,
        description="Files kept per user; older runs are evicted whole, oldest first."
        + _override_note("MAX_FILES_PER_USER"),
    )
    MAX_MEGABYTES_PER_USER: int = pydantic.Field(
        default=256,
        ge=1,
        description="MiB of files kept per user; older runs are evicted whole, oldest first."
        + _override_note("MAX_MEGABYTES_PER_USER"),
    )
    WEB_ACCESSIBLE_DIRECTORY_PATH: str = storage_path_valve()
    WEB_ACCESSIBLE_DIRECTORY_URL: str = storage_url_valve()
    MAX_CPUS: float = pydantic.Field(
        default=1.0,
        ge=0,
        le=1024,
        description="CPU cores the sandbox may use; 0 disables the cap." + _override_note("MAX_CPUS"),
    )
    MAX_PIDS: int = pydantic.Field(
        default=128,
        ge=0,
        le=1 << 22,
        description="Processes and threads the sandbox may have at once; 0 disables the cap."
        + _override_note("MAX_PIDS"),
    )
    MAX_OUTPUT_BYTES: int = pydantic.Field(
        default=1 << 20,
        ge=1024,
        le=64 << 20,
        description="Bytes of stdout (and, separately, stderr) kept; the rest is dropped "
        "and the output is marked truncated." + _override_note("MAX_OUTPUT_BYTES"),
    )
    MAX_WORKSPACE_MEGABYTES: int = pydantic.Field(
        default=256,
        ge=1,
        le=1 << 20,
        description="Size of the sandbox's writable home directory (and of /tmp), in MiB."
        + _override_note("MAX_WORKSPACE_MEGABYTES"),
    )
    WARM_POOL_SIZE: int = pydantic.Field(
        default=1,
        ge=0,
        le=16,
        description="Sandboxes kept pre-booted per language (Python and bash) so code starts "
        "faster; each is used for one run only, then discarded. 0 boots every sandbox on demand."
        + _override_note("WARM_POOL_SIZE"),
    )
    SESSION_MODE: typing.Literal["off", "chat", "user"] = pydantic.Field(
        default="off",
        description="'off': every run starts from an empty sandbox. 'chat': runs in one chat share "
        "one persistent sandbox (files, current directory, Python variables holding data and "
        "imported modules); 'user': one per user across chats. Callers without a user id always "
        "get one-shot runs." + _override_note("SESSION_MODE"),
    )
    SESSION_IDLE_TIMEOUT_MINUTES: int = pydantic.Field(
        default=30,
        ge=1,
        le=24 * 60,
        description="A session's sandbox stops after this many minutes without a run; its files "
        "stay and the next run boots it again." + _override_note("SESSION_IDLE_TIMEOUT_MINUTES"),
    )
    SESSION_DIRECTORY_PATH: str = pydantic.Field(
        default="$DATA_DIR/libsandbox",
        min_length=1,
        description="Directory session workspaces are kept in; never a web-served one (code "
        "writes there directly). A leading $DATA_DIR is replaced by Open WebUI's data directory."
        + _override_note("SESSION_DIRECTORY_PATH"),
    )
    POLICY: str = pydantic.Field(
        default="",
        pattern=r"^[a-z0-9_-]{0,64}$",
        description="Named policy of POLICY_FILE to run under; its limits and network replace "
        "the MAX_* limit valves and NETWORKING_ALLOWED. Empty: no policy." + _override_note("POLICY"),
    )
    POLICY_FILE: str = pydantic.Field(
        default="",
        pattern=r"^(/.*\.(textproto|txtpb|pbtxt|json))?$",
        description="Absolute path of the admin's policy file (caps and named policies; "
        ".textproto, .txtpb, .pbtxt or .json). Empty: none." + _override_note("POLICY_FILE"),
    )
    MAX_ATTACHMENT_MEGABYTES: int = pydantic.Field(
        default=32,
        ge=0,
        le=1 << 12,
        description="MiB of the chat's attached files copied into the sandbox's home directory "
        "before a run (files beyond it are left out and named in the reply). 0: none are copied."
        + _override_note("MAX_ATTACHMENT_MEGABYTES"),
    )
    ATTACHMENT_DIRECTORY_PATH: str = pydantic.Field(
        default="$DATA_DIR/uploads",
        min_length=1,
        description="Only attached files stored below this directory (Open WebUI's uploads) are "
        "copied. A leading $DATA_DIR is replaced by Open WebUI's data directory."
        + _override_note("ATTACHMENT_DIRECTORY_PATH"),
    )


_V = typing.TypeVar("_V", bound=Valves)


def effective_valves(valves: _V) -> _V:
    """`valves` with every CODE_EVAL_VALVE_OVERRIDE_<NAME> applied and
    validated against the valve's own bounds; raises ValveError naming each
    bad value."""
    data = valves.model_dump()
    overridden: dict[str, str] = {}
    for name in type(valves).model_fields:
        raw = os.environ.get(OVERRIDE_PREFIX + name)
        if raw is not None:
            overridden[name] = raw
            data[name] = raw.strip()
    try:
        return type(valves).model_validate(data)
    except pydantic.ValidationError as e:
        problems = []
        for error in e.errors():
            name = str(error["loc"][0]) if error["loc"] else "?"
            if name in overridden:
                where = f"{OVERRIDE_PREFIX}{name}={overridden[name]!r}"
            else:
                where = f"valve {name}={data.get(name)!r}"
            problems.append(f"{where}: {error['msg']}")
        raise ValveError("; ".join(problems)) from None


class Plugin(typing.Generic[_V]):
    """What Open WebUI needs of a Tools or Action class: `Valves`, the
    class, and `valves`, the values (Open WebUI replaces them with the ones
    the admin saved)."""

    Valves: type[_V]

    def __init__(self) -> None:
        self.valves: _V = self.Valves()


def _valve_path(name: str, path: str) -> str:
    """The directory valve `name` names, $DATA_DIR expanded."""
    if path == "$DATA_DIR" or path.startswith("$DATA_DIR/"):
        data_dir = os.environ.get("DATA_DIR")
        if not data_dir:
            if not os.path.isdir(os.path.dirname(_DEFAULT_DATA_DIR)):
                raise ValveError(
                    f"{name} starts with $DATA_DIR but DATA_DIR is not "
                    "set; set DATA_DIR or give the valve an absolute path"
                )
            data_dir = _DEFAULT_DATA_DIR
        path = data_dir + path[len("$DATA_DIR") :]
    if not os.path.isabs(path):
        raise ValveError(f"{name} must be an absolute path, not {path!r}")
    return os.path.normpath(path)


def storage_dir(valves: Valves) -> str:
    """The directory WEB_ACCESSIBLE_DIRECTORY_PATH names, $DATA_DIR expanded."""
    return _valve_path("WEB_ACCESSIBLE_DIRECTORY_PATH", valves.WEB_ACCESSIBLE_DIRECTORY_PATH)


def session_dir(valves: Valves) -> str:
    """The directory SESSION_DIRECTORY_PATH names, $DATA_DIR expanded;
    never one below the web-served WEB_ACCESSIBLE_DIRECTORY_PATH, since code
    writes (and could link to host files) there directly."""
    path = _valve_path("SESSION_DIRECTORY_PATH", valves.SESSION_DIRECTORY_PATH)
    served = os.path.realpath(storage_dir(valves))
    real = os.path.realpath(path)
    if os.path.commonpath([served, real]) == served:
        raise ValveError(
            "SESSION_DIRECTORY_PATH must be outside WEB_ACCESSIBLE_DIRECTORY_PATH, which is "
            "served to browsers"
        )
    return path


def attachment_dir(valves: Valves) -> str:
    """The directory ATTACHMENT_DIRECTORY_PATH names, $DATA_DIR expanded."""
    return _valve_path("ATTACHMENT_DIRECTORY_PATH", valves.ATTACHMENT_DIRECTORY_PATH)


def file_url(valves: Valves, root: str, host_path: str) -> str | None:
    """The download URL of a kept file, or None when it is not below `root`
    (never hand out other host paths)."""
    real_root = os.path.realpath(root)
    real_path = os.path.realpath(host_path)
    if os.path.commonpath([real_root, real_path]) != real_root or real_path == real_root:
        return None
    relative = os.path.relpath(real_path, real_root)
    return valves.WEB_ACCESSIBLE_DIRECTORY_URL.rstrip("/") + "/" + urllib.parse.quote(relative)


def user_id(user: dict[str, typing.Any] | None) -> str:
    """The key of the caller's private file store: Open WebUI's user id."""
    if isinstance(user, dict) and user.get("id") is not None:
        return str(user["id"])
    return ""


def chat_id(*sources: object) -> str:
    """The chat a call belongs to: the first of Open WebUI's `__chat_id__`,
    or a `chat_id` in `__metadata__` or the action's body."""
    for source in sources:
        value = source.get("chat_id") if isinstance(source, dict) else source
        if isinstance(value, str) and value:
            return value
    return ""


def _clip(text: str, limit: int = _MAX_MESSAGE_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + " [...]"


class Events:
    """Sends Open WebUI events; a broken emitter never fails the run."""

    def __init__(self, emitter: EventEmitter, debug: bool) -> None:
        self._emitter = emitter
        self.debug = debug

    async def emit(self, kind: str, data: dict[str, typing.Any]) -> None:
        if self._emitter is None:
            return
        try:
            maybe = self._emitter({"type": kind, "data": data})
            if inspect.isawaitable(maybe):
                await maybe
        except Exception as e:  # The chat may be gone; the run still counts.
            if self.debug:
                print(f"event emitter failed: {e!r}", file=sys.stderr)

    async def status(self, description: str, done: bool = False, error: bool = False) -> None:
        state = "error" if error else ("complete" if done else "in_progress")
        await self.emit("status", {"status": state, "description": description, "done": done})


class RunOutcome(typing.NamedTuple):
    status: str
    output: str
    truncated: bool
    message: str  # what went wrong, for the user; empty when OK
    files: list[dict[str, typing.Any]]  # path, size, url (None: not linkable)
    host_files: list[str]  # host paths, same order as files
    notes: tuple[str, ...] = ()  # e.g. attached files left out, and why
    session: str = ""  # SESSION_MODE when the code ran in a session


def _combined_output(stdout: str, stderr: str) -> str:
    parts = [part.strip("\n") for part in (stdout, stderr) if part and part.strip()]
    return "\n".join(parts).strip()


def failure_message(status: str, reason: libsandbox.Reason, valves: Valves, language: str) -> str:
    """What a non-OK status means, in words for the chat."""
    title = language.title()
    if status == "ERROR":
        return f"{title} code exited with an error."
    if status == "TIMEOUT":
        return f"Code timed out after {valves.MAX_RUNTIME_SECONDS} seconds and was stopped."
    if status == "INTERRUPTED":
        if reason is libsandbox.Reason.MEMORY:
            return f"Code used more than {valves.MAX_RAM_MEGABYTES} MiB of memory and was stopped."
        if reason is libsandbox.Reason.PIDS:
            return f"Code started more than {valves.MAX_PIDS} processes or threads and was stopped."
        return f"Code used too many resources ({reason.value or 'unknown'}) and was stopped."
    if status == "STORAGE_ERROR":
        return (
            "Code generated more files than the storage quota allows "
            f"({valves.MAX_FILES_PER_EXECUTION} files per run, {valves.MAX_FILES_PER_USER} "
            f"files and {valves.MAX_MEGABYTES_PER_USER} MiB per user); none were kept."
        )
    if status == "INVALID_INPUT":
        return "The code could not be run as given."
    return (
        "The sandbox could not run code on this server. An administrator can turn on "
        "the DEBUG valve or run this file with --self_test to see why."
    )


def run_arguments(valves: Valves, root: str) -> dict[str, typing.Any]:
    """How the valves become libsandbox.run arguments: Limits and Config
    keyword arguments (limits None: the policy's), the network switch and the
    policy. Pooled sandboxes boot with the valves' limits, so every run
    without a policy can take one."""
    limits = {
        "timeout_s": float(valves.MAX_RUNTIME_SECONDS),
        "memory_mb": valves.MAX_RAM_MEGABYTES,
        "cpus": float(valves.MAX_CPUS),
        "max_pids": valves.MAX_PIDS,
        "max_output_bytes": valves.MAX_OUTPUT_BYTES,
        "workspace_mb": valves.MAX_WORKSPACE_MEGABYTES,
    }
    return {
        "config": {
            "storage_dir": root,
            "allow_unenforced_limits": not valves.REQUIRE_RESOURCE_LIMITING,
            "max_files_per_execution": valves.MAX_FILES_PER_EXECUTION,
            "max_files_per_user": valves.MAX_FILES_PER_USER,
            "max_bytes_per_user": valves.MAX_MEGABYTES_PER_USER << 20,
            "debug": valves.DEBUG,
            "pool_size": valves.WARM_POOL_SIZE,
            "pool_languages": list(LANGUAGES),
            "pool_limits": dict(limits),
            "policy_file": valves.POLICY_FILE,
        },
        # A named policy decides limits and network (asking for either is refused).
        "limits": None if valves.POLICY else limits,
        "network": valves.NETWORKING_ALLOWED and not valves.POLICY,
        "policy": valves.POLICY,
    }


async def sandbox_run(
    language: str,
    code: str,
    valves: Valves,
    user: str,
    root: str,
    files: list[tuple[str, bytes]] | None = None,
) -> RunOutcome:
    """Runs `code` through libsandbox without blocking the event loop;
    `files` (name, content) are put in its workspace first."""
    arguments = run_arguments(valves, root)
    config = dict(arguments["config"])
    config["pool_limits"] = libsandbox.Limits(**config["pool_limits"])
    limits = arguments["limits"]
    result = await libsandbox.run_async(
        code,
        language,
        user=user,
        limits=None if limits is None else libsandbox.Limits(**limits),
        network=arguments["network"],
        files=files or None,
        config=libsandbox.Config(**config),
        policy=arguments["policy"],
    )
    return _outcome(result, valves, language, root)


def _outcome(result: libsandbox.Result, valves: Valves, language: str, root: str) -> RunOutcome:
    status = result.status.name
    truncated = bool(result.stdout_truncated or result.stderr_truncated)
    output = _combined_output(result.stdout, result.stderr)
    if truncated:
        output += f"\n[output truncated: only the first {valves.MAX_OUTPUT_BYTES} bytes were kept]"
    message = ""
    if status != "OK":
        message = failure_message(status, result.reason, valves, language)
        if status == "INVALID_INPUT" and result.message:
            message += " " + _clip(result.message)  # About the input, not the host.
        elif valves.DEBUG and result.message:
            message += f" [DEBUG] {_clip(result.message)}"
    files = []
    host_files = []
    for f in result.files:
        files.append({"path": f.path, "size": f.size, "url": file_url(valves, root, f.host_path)})
        host_files.append(f.host_path)
    return RunOutcome(status, output, truncated, message, files, host_files)


# ---- Attached files: from Open WebUI's uploads into the run's home directory.

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


# ---- Sessions: one persistent sandbox per (user, policy[, chat]).

# Python variables of a session, pickled between execs (in its home directory).
_STATE_FILE = ".libsandbox_session_state.pickle"
# Bounds on walking a session workspace (which hostile code shapes).
_MAX_WALK_ENTRIES = 20000
_MAX_WALK_DEPTH = 32

# Runs in the sandbox: the code with the picklable globals and imported
# modules of the last Python exec, saving them again afterwards.
_PYTHON_WITH_STATE = r"""
import linecache as _lc, os as _os, pickle as _pk, sys as _sys, traceback as _tb, types as _ty
_src = __SRC__
_state = _os.path.join(_os.environ.get("HOME") or "/home/user", __STATE__)
_g = {"__name__": "__main__", "__builtins__": __builtins__}
try:
    with open(_state, "rb") as _f:
        _saved = _pk.load(_f)
except Exception:
    _saved = {}
for _k, (_kind, _v) in _saved.items():
    try:
        if _kind == "module":
            __import__(_v)
            _g[_k] = _sys.modules[_v]
        else:
            _g[_k] = _pk.loads(_v)
    except Exception:
        pass


def _save():
    out = {}
    for k, v in list(_g.items()):
        if k.startswith("__"):
            continue
        if isinstance(v, _ty.ModuleType):
            out[k] = ("module", v.__name__)
            continue
        try:
            out[k] = ("value", _pk.dumps(v))
        except Exception:
            pass  # Functions, classes, open files: defined again next time.
    try:
        with open(_state + ".tmp", "wb") as f:
            _pk.dump(out, f)
        _os.replace(_state + ".tmp", _state)
    except Exception:
        pass


_lc.cache["<code>"] = (len(_src), None, _src.splitlines(True), "<code>")
try:
    _c = compile(_src, "<code>", "exec")
except SyntaxError:
    _sys.stderr.write("".join(_tb.format_exception_only(*_sys.exc_info()[:2])))
    _sys.exit(1)
try:
    exec(_c, _g)
except SystemExit:
    _save()
    raise
except BaseException as _e:
    _save()
    _tb.print_exception(type(_e), _e, _e.__traceback__.tb_next)
    _sys.exit(1)
_save()
"""

# Runs in the sandbox: writes the attachments framed on stdin (8-byte
# header length, JSON [[name, size], ...], the contents) into $HOME.
_ATTACHMENT_WRITER = r"""
import json, os, sys
data = sys.stdin.buffer.read()
n = int.from_bytes(data[:8], "big")
at = 8 + n
home = os.environ.get("HOME") or "/home/user"
tmp = os.path.join(home, ".libsandbox-attachment.tmp")
for name, size in json.loads(data[8:at]):
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data[at : at + size])
    at += size
    os.replace(tmp, os.path.join(home, name))
"""

# Runs in a one-shot sandbox: moves the staged copies of a session's new
# files to their own paths, so that run keeps them as its outputs.
_KEEPER = r"""
import os
stage = __STAGE__
for d, _, names in os.walk(stage):
    for n in names:
        src = os.path.join(d, n)
        dst = os.path.relpath(src, stage)
        if os.path.dirname(dst):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
        os.replace(src, dst)
for d, _, _ in os.walk(stage, topdown=False):
    os.rmdir(d)
"""


def session_key(valves: Valves, user: str, chat: str) -> tuple[str, str] | None:
    """The (user, chat) of the session a call runs in; None: a one-shot
    run. Callers without a user id (or, in chat mode, a chat id) never
    share a session."""
    if valves.SESSION_MODE == "off" or not user:
        return None
    if valves.SESSION_MODE == "user":
        return user, ""
    return (user, chat) if chat else None


def session_arguments(valves: Valves, session_root: str) -> dict[str, typing.Any]:
    """How the valves become libsandbox.Session arguments (Limits and
    Config as keyword arguments)."""
    if valves.POLICY:
        limits = dict.fromkeys(("timeout_s", "cpus"), 0.0)  # 0: the policy's value
        limits.update(dict.fromkeys(("memory_mb", "max_pids", "max_output_bytes", "workspace_mb"), 0))
    else:
        limits = {
            "timeout_s": float(valves.MAX_RUNTIME_SECONDS),
            "memory_mb": valves.MAX_RAM_MEGABYTES,
            "cpus": float(valves.MAX_CPUS),
            "max_pids": valves.MAX_PIDS,
            "max_output_bytes": valves.MAX_OUTPUT_BYTES,
            # A session workspace is a directory that cannot be size-capped;
            # /tmp still is.
            "workspace_mb": 0,
            "tmp_mb": valves.MAX_WORKSPACE_MEGABYTES,
        }
    return {
        "policy": valves.POLICY,
        "limits": limits,
        "network": valves.NETWORKING_ALLOWED and not valves.POLICY,
        "idle_timeout_s": 60.0 * valves.SESSION_IDLE_TIMEOUT_MINUTES,
        "config": {
            "storage_dir": session_root,
            "allow_unenforced_limits": not valves.REQUIRE_RESOURCE_LIMITING,
            "debug": valves.DEBUG,
            "policy_file": valves.POLICY_FILE,
        },
    }


_Snapshot: typing.TypeAlias = dict[str, tuple[int, int, int]]


def _snapshot(workspace: str) -> _Snapshot | None:
    """Size, mtime and inode of each regular file below `workspace`, by
    relative path, walked by directory fds without following symlinks;
    None when it cannot be walked or is too large to."""
    try:
        root = os.open(workspace, _O_DIR)
    except OSError:
        return None
    out: _Snapshot = {}
    entries = 0
    stack = [(root, "", 0)]
    try:
        while stack:
            fd, prefix, depth = stack.pop()
            try:
                with os.scandir(fd) as it:  # A duplicate of fd.
                    for entry in it:
                        entries += 1
                        if entries > _MAX_WALK_ENTRIES:
                            return None
                        try:
                            st = entry.stat(follow_symlinks=False)
                        except OSError:
                            continue
                        if stat.S_ISREG(st.st_mode):
                            out[prefix + entry.name] = (st.st_size, st.st_mtime_ns, st.st_ino)
                        elif stat.S_ISDIR(st.st_mode) and depth < _MAX_WALK_DEPTH:
                            try:
                                sub = os.open(entry.name, _O_DIR, dir_fd=fd)
                            except OSError:
                                continue
                            stack.append((sub, prefix + entry.name + "/", depth + 1))
            except OSError:
                pass
            finally:
                os.close(fd)
    finally:
        for fd, _, _ in stack:
            os.close(fd)
    return out


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


def _read_below(workspace: str, rel: str, limit: int) -> bytes | None:
    """Up to `limit` bytes of the regular file `rel` below `workspace`,
    opened component by component without following symlinks."""
    parts = rel.split("/")
    fd = os.open(workspace, _O_DIR)
    try:
        for part in parts[:-1]:
            sub = os.open(part, _O_DIR, dir_fd=fd)
            os.close(fd)
            fd = sub
        file_fd = os.open(parts[-1], _O_NOFOLLOW_READ, dir_fd=fd)
    finally:
        os.close(fd)
    try:
        return _read_fd(file_fd, limit)
    finally:
        os.close(file_fd)


def _read_changed(workspace: str, paths: list[str], limit: int) -> list[tuple[str, bytes]] | None:
    """The contents of `paths` (vanished or unreadable ones left out); None
    when they are over `limit` bytes together."""
    out = []
    for rel in paths:
        try:
            content = _read_below(workspace, rel, limit)
        except OSError:
            continue
        if content is None:
            return None
        limit -= len(content)
        out.append((rel, content))
    return out


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _frame(files: list[tuple[str, bytes]]) -> bytes:
    header = json.dumps([[name, len(content)] for name, content in files]).encode()
    return len(header).to_bytes(8, "big") + header + b"".join(content for _, content in files)


def _storage_failure(outcome: RunOutcome, valves: Valves, language: str, detail: str) -> RunOutcome:
    if outcome.status != "OK":
        return outcome._replace(message=f"{outcome.message} Files were not kept: {detail}")
    message = failure_message("STORAGE_ERROR", libsandbox.Reason.NONE, valves, language)
    if valves.DEBUG:
        message += f" [DEBUG] {_clip(detail)}"
    return outcome._replace(status="STORAGE_ERROR", message=message)


async def _keep_session_files(
    outcome: RunOutcome,
    workspace: str,
    changed: list[str],
    valves: Valves,
    user: str,
    root: str,
    language: str,
) -> RunOutcome:
    """Keeps the files a session exec created or changed in the user's
    storage the way one-shot runs keep theirs (same quotas, same links):
    through a one-shot run that finds them as its own outputs."""
    if len(changed) > valves.MAX_FILES_PER_EXECUTION:
        return _storage_failure(outcome, valves, language, f"{len(changed)} files changed")
    # Names that are not UTF-8 (surrogate escapes here) cannot be passed on.
    readable = [p for p in changed if _is_utf8(p)]
    limit = valves.MAX_WORKSPACE_MEGABYTES << 20
    contents = await asyncio.to_thread(_read_changed, workspace, readable, limit)
    if contents is None:
        return _storage_failure(outcome, valves, language, "over MAX_WORKSPACE_MEGABYTES")
    if not contents:
        return outcome
    total_mb = sum(len(c) for _, c in contents) >> 20
    stage = ".stage-" + uuid.uuid4().hex  # Unguessable: no path of the session can collide.
    kept = await libsandbox.run_async(
        _KEEPER.replace("__STAGE__", repr(stage)),
        "python",
        user=user,
        limits=libsandbox.Limits(
            timeout_s=60.0, memory_mb=256 + 2 * total_mb, workspace_mb=16 + total_mb, tmp_mb=16
        ),
        files=[(f"{stage}/{rel}", content) for rel, content in contents],
        config=libsandbox.Config(
            storage_dir=root,
            allow_unenforced_limits=not valves.REQUIRE_RESOURCE_LIMITING,
            max_files_per_execution=valves.MAX_FILES_PER_EXECUTION,
            max_files_per_user=valves.MAX_FILES_PER_USER,
            max_bytes_per_user=valves.MAX_MEGABYTES_PER_USER << 20,
            debug=valves.DEBUG,
        ),
    )
    if kept.status is not libsandbox.Status.OK:
        return _storage_failure(outcome, valves, language, kept.message or kept.stderr)
    files = [{"path": f.path, "size": f.size, "url": file_url(valves, root, f.host_path)} for f in kept.files]
    return outcome._replace(files=files, host_files=[f.host_path for f in kept.files])


async def session_run(
    language: str,
    code: str,
    valves: Valves,
    key: tuple[str, str],
    root: str,
    files: list[tuple[str, bytes]] | None = None,
) -> RunOutcome:
    """Runs `code` in the persistent session of `key` (user, chat): the
    `files` are written to its home directory first, the files the code
    creates or changes are kept like a one-shot run's."""
    user, chat = key
    arguments = session_arguments(valves, session_dir(valves))
    session = libsandbox.Session(
        user,
        policy=arguments["policy"],
        chat=chat,
        limits=libsandbox.Limits(**arguments["limits"]),
        network=arguments["network"],
        idle_timeout_s=arguments["idle_timeout_s"],
        config=libsandbox.Config(**arguments["config"]),
    )
    if files:
        wrote = await session.exec_async(_ATTACHMENT_WRITER, "python", stdin=_frame(files))
        if wrote.status is not libsandbox.Status.OK:
            failed = _outcome(wrote, valves, "python", root)
            detail = _combined_output(wrote.stdout, wrote.stderr) if wrote.status.name == "ERROR" else ""
            message = f"The attached files could not be copied into the session. {failed.message}"
            if detail:
                message += " " + _clip(detail)
            return failed._replace(output="", message=message, session=valves.SESSION_MODE)
    workspace = ""
    try:
        info = await asyncio.to_thread(session.info)
        if not info.running:
            # Boot first: the workspace may be a volume mounted only while
            # the sandbox runs, and its files then are not this call's.
            booted = await session.exec_async("true", "bash")
            info = await asyncio.to_thread(session.info)
            if booted.status is libsandbox.Status.OK and info.running:
                workspace = info.workspace
        else:
            workspace = info.workspace
    except Exception:
        pass  # The exec below says what is wrong.
    before = await asyncio.to_thread(_snapshot, workspace) if workspace else None
    runnable = code
    if language == "python":
        runnable = _PYTHON_WITH_STATE.replace("__STATE__", repr(_STATE_FILE)).replace("__SRC__", repr(code))
    result = await session.exec_async(runnable, language)
    outcome = _outcome(result, valves, language, root)._replace(session=valves.SESSION_MODE)
    if outcome.status in ("SANDBOX_ERROR", "INVALID_INPUT"):
        return outcome
    if before is None:
        return outcome._replace(notes=("Files the code created could not be listed, so none were kept.",))
    after = await asyncio.to_thread(_snapshot, workspace)
    if after is None:
        return _storage_failure(outcome, valves, language, "the workspace has too many entries")
    changed = sorted(p for p, sig in after.items() if before.get(p) != sig and p != _STATE_FILE)
    if not changed:
        return outcome
    return await _keep_session_files(outcome, workspace, changed, valves, user, root, language)


class CodeRun:
    """One run as Open WebUI shows it: status events around it and the
    code_execution citation (the code, then its output and files, sent
    again under the same id)."""

    def __init__(self, name: str, language: str, code: str, emitter: EventEmitter, debug: bool) -> None:
        self.language = language
        self.code = code
        self.events = Events(emitter, debug)
        self._name = name
        self._id = str(uuid.uuid4())
        self._result: dict[str, typing.Any] = {}

    def _citation(self) -> dict[str, typing.Any]:
        data: dict[str, typing.Any] = {
            "type": "code_execution",
            "id": self._id,
            "uuid": self._id,
            "name": self._name,
            "language": self.language,
            "code": self.code,
        }
        if self._result:
            data["result"] = dict(self._result)
        return data

    async def execute(
        self,
        configured: Valves,
        user: dict[str, typing.Any] | None,
        chat: str = "",
        attachments: list[AttachmentSource] | None = None,
    ) -> RunOutcome:
        """Applies the overrides to the `configured` valves and runs the code
        in the caller's storage (and session, if the valves and the caller
        have one) with the `attachments` in its home directory; never raises."""
        title = self.language.title()
        try:
            valves = effective_valves(configured)
            self.events.debug = valves.DEBUG
            root = storage_dir(valves)
            os.makedirs(root, mode=0o755, exist_ok=True)
            caller = user_id(user)
            files, notes = await read_attachments(attachments or [], valves, caller)
            await self.events.status(f"Running {title} code in a gVisor sandbox...")
            await self.events.emit("citation", self._citation())
            key = session_key(valves, caller, chat)
            if key is None:
                outcome = await sandbox_run(self.language, self.code, valves, caller, root, files)
            else:
                outcome = await session_run(self.language, self.code, valves, key, root, files)
            return outcome._replace(notes=outcome.notes + tuple(notes))
        except ValveError as e:
            return RunOutcome("SANDBOX_ERROR", "", False, f"Misconfigured valve: {e}", [], [])
        except Exception as e:
            message = failure_message("SANDBOX_ERROR", libsandbox.Reason.NONE, configured, self.language)
            if configured.DEBUG:
                message += f" [DEBUG] {e!r}"
            return RunOutcome("SANDBOX_ERROR", "", False, message, [], [])

    async def finish(self, outcome: RunOutcome, chat_message: str = "") -> None:
        """Completes the citation, posts `chat_message` (if any) into the
        chat and sends the final status."""
        self._result["output"] = outcome.output
        if outcome.message:
            self._result["error"] = outcome.message
        self._result["files"] = [{"name": f["path"], "url": f["url"]} for f in outcome.files if f["url"]]
        await self.events.emit("citation", self._citation())
        if chat_message:
            await self.events.emit("message", {"content": chat_message})
        if outcome.status == "OK":
            await self.events.status(f"{self.language.title()} code ran successfully.", done=True)
        else:
            await self.events.status(outcome.message, done=True, error=True)


def reply_fields(outcome: RunOutcome) -> dict[str, typing.Any]:
    """The parts of the JSON reply both files give beyond status and output."""
    fields: dict[str, typing.Any] = {}
    if outcome.truncated:
        fields["output_truncated"] = True
    if outcome.message:
        fields["message"] = outcome.message
    if outcome.files:
        fields["files"] = outcome.files
    if outcome.notes:
        fields["notes"] = list(outcome.notes)
    if outcome.session:
        fields["session"] = outcome.session
    return fields


def load_selftest() -> types.ModuleType:
    """The self-test catalogue: installed with libsandbox, or the source
    checkout's selftest/ when this package runs from the checkout."""
    try:
        return importlib.import_module("libsandbox.selftest")
    except ImportError:
        pass
    if "libsandbox_selftest" in sys.modules:
        return sys.modules["libsandbox_selftest"]
    # <checkout>/bindings/python/libsandbox/openwebui.py (a build tree links here).
    package_dir = pathlib.Path(__file__).resolve().parents[3] / "selftest"
    spec = importlib.util.spec_from_file_location(
        "libsandbox_selftest",
        package_dir / "__init__.py",
        submodule_search_locations=[str(package_dir)],
    )
    if spec is None or spec.loader is None or not package_dir.is_dir():
        raise ImportError("libsandbox.selftest is not installed (pip install libsandbox)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# Runs `code` once through a file's Tools/Action: (language, code, __user__,
# __event_emitter__) -> the JSON reply.
RunOnce: typing.TypeAlias = Callable[
    [str, str, dict[str, typing.Any] | None, EventEmitter], Coroutine[typing.Any, typing.Any, str]
]


# What each file's command line says it does, by kind.
_CLI_DESCRIPTIONS = {
    "tool": "Run code in a gVisor sandbox, as Open WebUI would.",
    "function": "Run a code block in a gVisor sandbox, as the Open WebUI button would.",
}


def main(argv: list[str] | None, kind: str, path: str, valves: type[Valves], run_once: RunOnce) -> int:
    """The command line of a tool/function file (`kind`, at `path`): one run
    with the code from stdin, or its self-test suite."""
    parser = argparse.ArgumentParser(description=_CLI_DESCRIPTIONS[kind])
    parser.add_argument("--language", choices=LANGUAGES, default="python")
    parser.add_argument("--use_sample_code", action="store_true", help="run the sample code")
    parser.add_argument("--user", default="", help="Open WebUI user id to run as")
    parser.add_argument("--want_status", default="", help="exit non-zero unless the status is this")
    parser.add_argument("--self_test", action="store_true", help="run the self-test catalogue")
    parser.add_argument("--self_test_filter", default="", help="comma-separated case names or globs")
    parser.add_argument("--debug", action="store_true", help="turn on the DEBUG valve")
    args = parser.parse_args(argv)
    if args.debug:
        os.environ[OVERRIDE_PREFIX + "DEBUG"] = "true"
    if args.self_test:
        selftest = load_selftest()
        return int(
            selftest.run_file_suite(
                os.path.abspath(path), kind, name_filter=args.self_test_filter, debug=args.debug
            )
        )
    # One run per process: pre-booting sandboxes for later runs only costs time.
    os.environ.setdefault(OVERRIDE_PREFIX + "WARM_POOL_SIZE", "0")
    try:
        effective_valves(valves())
    except ValveError as e:
        print(f"Bad valve override: {e}", file=sys.stderr)
        return 2
    if args.use_sample_code:
        code = load_selftest().SAMPLE_CODE[args.language]
    else:
        code = sys.stdin.read()
    quiet = bool(args.want_status)

    def show(event: dict[str, typing.Any]) -> None:
        if not quiet:
            print(f"Event: {json.dumps(event, ensure_ascii=False)}", file=sys.stderr)

    user = {"id": args.user} if args.user else None
    reply = asyncio.run(run_once(args.language, code, user, show))
    print(reply)
    if args.want_status:
        got = json.loads(reply)["status"]
        if got != args.want_status:
            print(f"\u274c Status is {got}, expected {args.want_status}.", file=sys.stderr)
            return 1
        print(f"\u2705 Status is {got} as expected.", file=sys.stderr)
    return 0
