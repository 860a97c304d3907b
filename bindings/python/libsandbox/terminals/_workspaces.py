"""One libsandbox Session per (verified user, policy, context), the working
directory of each Open WebUI chat in it, and the public ids of processes and
terminals, each bound to the owner that made it."""

from __future__ import annotations

import asyncio
import functools
import posixpath
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal, TypeVar

from fastapi import HTTPException

import libsandbox
from libsandbox.terminals._settings import HOME, Settings

T = TypeVar("T")

# Session calls block (a first call boots a sandbox); they run here, never on
# the event loop. Sized for many users at once, not for the 2 cores.
_EXECUTOR = ThreadPoolExecutor(max_workers=256, thread_name_prefix="lsb-terminals")
_HANDLES = 4096  # cached Session handles (a dropped one is re-made: same session)
_CWDS_PER_WORKSPACE = 1024
_REFS_PER_WORKSPACE = 512


async def blocking(fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    """Runs a blocking Session call off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(_EXECUTOR, functools.partial(fn, *args, **kwargs))


@dataclass(frozen=True)
class WorkspaceKey:
    user: str
    policy: str
    context: str  # X-Terminal-Context-Id ("chat:<id>", "automation:<id>") or ""


@dataclass(kw_only=True)
class ProcessRef:
    """A command or a terminal a caller started: its public id (128 random
    bits) and the owner it answers to."""

    id: str
    key: WorkspaceKey
    session_id: str  # the X-Session-Id (Open WebUI chat) it was started from
    pid: str  # the library's id inside the session
    kind: Literal["command", "terminal"]
    command: str
    cwd: str
    created_at: str = field(
        default_factory=lambda: datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    )
    killed: bool = False
    connected: bool = False  # a terminal with its WebSocket attached
    offset: int = 0  # output a terminal's WebSocket has sent


def resolve(path: str, cwd: str) -> str:
    """An absolute path inside the sandbox: relative ones from ``cwd``."""
    if "\0" in path:
        raise HTTPException(400, "a path may not contain NUL")
    if not path:
        path = "."
    return posixpath.normpath(posixpath.join(cwd, path))


class Workspaces:
    """Everything the server keeps per user, behind one lock."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._handles: OrderedDict[WorkspaceKey, libsandbox.Session] = OrderedDict()
        self._cwds: dict[WorkspaceKey, OrderedDict[str, tuple[str, float]]] = {}
        self._refs: dict[str, ProcessRef] = {}

    def session(self, key: WorkspaceKey) -> libsandbox.Session:
        with self._lock:
            handle = self._handles.get(key)
            if handle is None:
                handle = libsandbox.Session(
                    key.user, policy=key.policy, chat=key.context, config=self._settings.config
                )
                self._handles[key] = handle
                while len(self._handles) > _HANDLES:
                    self._handles.popitem(last=False)
            self._handles.move_to_end(key)
            return handle

    async def stop_all(self) -> None:
        with self._lock:
            handles = list(self._handles.values())
            self._handles.clear()
            self._refs.clear()
        results = await asyncio.gather(*(blocking(h.stop) for h in handles), return_exceptions=True)
        for error in results:
            if isinstance(error, BaseException) and not isinstance(error, Exception):
                raise error

    def keys(self) -> list[WorkspaceKey]:
        with self._lock:
            return list(self._handles)

    # -- the working directory of each chat --------------------------------

    def cwd(self, key: WorkspaceKey, session_id: str) -> str:
        now = time.monotonic()
        with self._lock:
            cwds = self._cwds.get(key)
            entry = cwds.get(session_id) if cwds and session_id else None
            if entry is None or now - entry[1] > self._settings.cwd_ttl_s:
                return HOME
            assert cwds is not None
            cwds[session_id] = (entry[0], now)
            cwds.move_to_end(session_id)
            return entry[0]

    def set_cwd(self, key: WorkspaceKey, session_id: str, path: str) -> None:
        if not session_id:
            return
        with self._lock:
            cwds = self._cwds.setdefault(key, OrderedDict())
            cwds[session_id] = (path, time.monotonic())
            cwds.move_to_end(session_id)
            while len(cwds) > _CWDS_PER_WORKSPACE:
                cwds.popitem(last=False)

    # -- processes and terminals -------------------------------------------

    def add(self, key: WorkspaceKey, session_id: str, pid: str, **fields: object) -> ProcessRef:
        ref = ProcessRef(id=secrets.token_hex(16), key=key, session_id=session_id, pid=pid, **fields)  # type: ignore[arg-type]
        with self._lock:
            self._refs[ref.id] = ref
            mine = [r for r in self._refs.values() if r.key == key]
            for old in mine[: max(0, len(mine) - _REFS_PER_WORKSPACE)]:
                del self._refs[old.id]
        return ref

    def get(self, ref_id: str, key: WorkspaceKey, session_id: str, kind: str) -> ProcessRef:
        """The caller's own process or terminal; anyone else's is NotFound,
        the same answer as an id that never existed."""
        with self._lock:
            ref = self._refs.get(ref_id)
        if ref is None or ref.key != key or ref.session_id != session_id or ref.kind != kind:
            raise HTTPException(404, "Process not found" if kind == "command" else "Session not found")
        return ref

    def mine(self, key: WorkspaceKey, session_id: str, kind: str) -> list[ProcessRef]:
        with self._lock:
            return [
                r
                for r in self._refs.values()
                if r.key == key and r.session_id == session_id and r.kind == kind
            ]

    def of_key(self, key: WorkspaceKey) -> list[ProcessRef]:
        with self._lock:
            return [r for r in self._refs.values() if r.key == key]

    def count_user(self, user: str, kind: str) -> int:
        with self._lock:
            return sum(r.key.user == user and r.kind == kind for r in self._refs.values())

    def forget(self, ref: ProcessRef) -> None:
        with self._lock:
            self._refs.pop(ref.id, None)

    def forget_key(self, key: WorkspaceKey) -> None:
        with self._lock:
            for ref in [r for r in self._refs.values() if r.key == key]:
                del self._refs[ref.id]
            self._cwds.pop(key, None)

    def counts(self) -> dict[str, int]:
        with self._lock:
            refs = list(self._refs.values())
            return {
                "workspaces": len(self._handles),
                "users": len({k.user for k in self._handles}),
                "commands": sum(r.kind == "command" for r in refs),
                "terminals": sum(r.kind == "terminal" for r in refs),
            }
