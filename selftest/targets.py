"""What a case runs against: an Open WebUI tool or function file (started as
a subprocess like the plugin we replace did, or loaded in-process like Open
WebUI does) or the libsandbox module itself. All answer with an Outcome."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import time
import types
import urllib.parse
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import valves as valve_defaults

OVERRIDE_PREFIX = valve_defaults.OVERRIDE_PREFIX
# Links in replies point here unless a case sets its own URL root.
DEFAULT_URL_ROOT = "http://selftest.invalid/files"
# Replies larger than this are not believed (the output cap is far below).
_MAX_REPLY_BYTES = 256 << 20
_ValveValue = str | int | float | bool


@dataclass(frozen=True)
class Request:
    language: str
    code: str
    storage_root: str
    valves: Mapping[str, _ValveValue] = field(default_factory=dict)
    user: str = ""
    # Extra variables for the host process that starts the sandbox.
    env: Mapping[str, str] = field(default_factory=dict)
    # Call the tool/function in this process (as Open WebUI does).
    in_process: bool = False
    # Start the run in a fresh network namespace: no network at all.
    isolate_network: bool = False


@dataclass
class OutFile:
    path: str
    size: int | None = None
    host_path: str | None = None
    markdown: str | None = None  # the function's chat rendering


@dataclass
class Outcome:
    status: str
    output: str
    truncated: bool
    files: dict[str, OutFile]
    reply: dict[str, Any]
    log: str  # what the host side printed or emitted, for failure reports
    elapsed_s: float
    events: list[dict[str, Any]] = field(default_factory=list)


class TargetError(Exception):
    """The target did not produce a result at all."""


@contextlib.contextmanager
def _environment(extra: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _valve_text(value: _ValveValue) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _url_root(req: Request) -> str:
    return str(req.valves.get("WEB_ACCESSIBLE_DIRECTORY_URL", DEFAULT_URL_ROOT))


def _host_path(url: str | None, url_root: str, storage_root: str) -> str | None:
    prefix = url_root.rstrip("/") + "/"
    if not url or not url.startswith(prefix):
        return None
    relative = urllib.parse.unquote(url[len(prefix) :])
    path = os.path.normpath(os.path.join(storage_root, relative))
    return path if path.startswith(storage_root.rstrip("/") + "/") else None


def _outcome_from_reply(
    reply: dict[str, Any], req: Request, log: str, elapsed: float, events: list[dict[str, Any]]
) -> Outcome:
    files: dict[str, OutFile] = {}
    for entry in reply.get("files") or []:
        path = str(entry.get("path"))
        files[path] = OutFile(
            path=path,
            size=entry.get("size"),
            host_path=_host_path(entry.get("url"), _url_root(req), req.storage_root),
        )
    for path, markdown in (reply.get("generated_files") or {}).items():
        files.setdefault(path, OutFile(path=path)).markdown = str(markdown)
    return Outcome(
        status=str(reply.get("status")),
        output=str(reply.get("output") or ""),
        truncated=bool(reply.get("output_truncated")),
        files=files,
        reply=reply,
        log=log,
        elapsed_s=elapsed,
        events=events,
    )


def load_plugin(path: str) -> types.ModuleType:
    """Loads a tool/function file the way Open WebUI does: its source executed
    into a fresh module registered under a unique name."""
    with open(path, encoding="utf-8") as f:
        source = f.read()
    name = f"selftest_plugin_{uuid.uuid4().hex}"
    module = types.ModuleType(name)
    module.__file__ = path
    sys.modules[name] = module
    exec(compile(source, path, "exec"), module.__dict__)
    return module


def network_isolation_available() -> bool:
    """Whether this host lets us start a process in a fresh network namespace."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    try:
        done = subprocess.run([unshare, "--net", "--", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


async def _communicate(argv: list[str], stdin: bytes, env: Mapping[str, str]) -> tuple[int, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(env),
    )
    try:
        out, err = await proc.communicate(stdin)
    finally:
        if proc.returncode is None:  # Cancelled by the case budget.
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out, err


def _parse_reply(out: bytes) -> dict[str, Any]:
    if len(out) > _MAX_REPLY_BYTES:
        raise TargetError(f"reply of {len(out)} bytes is larger than any real reply")
    text = out.decode("utf-8", errors="replace").strip()
    try:
        reply = json.loads(text)
    except json.JSONDecodeError:
        # Tolerate stray lines before the reply: it is the last line.
        lines = text.splitlines()
        try:
            reply = json.loads(lines[-1]) if lines else None
        except json.JSONDecodeError:
            reply = None
    if not isinstance(reply, dict) or "status" not in reply:
        raise TargetError(f"stdout is not a JSON reply with a status: {text[:500]!r}")
    return reply


class Target:
    kind = ""
    debug = False

    async def run(self, req: Request) -> Outcome:
        raise NotImplementedError


class FileTarget(Target):
    """An Open WebUI tool ("tool") or function ("function") file."""

    def __init__(self, path: str, kind: str, debug: bool = False) -> None:
        if kind not in ("tool", "function"):
            raise ValueError(f"unknown plugin kind {kind!r}")
        self.path = path
        self.kind = kind
        self.debug = debug
        self._module: types.ModuleType | None = None

    def module(self) -> types.ModuleType:
        if self._module is None:
            self._module = load_plugin(self.path)
        return self._module

    async def run(self, req: Request) -> Outcome:
        if req.in_process:
            return await self._run_in_process(req)
        return await self._run_subprocess(req)

    async def _run_subprocess(self, req: Request) -> Outcome:
        env = dict(os.environ)
        env.update(req.env)
        env[OVERRIDE_PREFIX + "WEB_ACCESSIBLE_DIRECTORY_PATH"] = req.storage_root
        env[OVERRIDE_PREFIX + "WEB_ACCESSIBLE_DIRECTORY_URL"] = _url_root(req)
        for name, value in req.valves.items():
            env[OVERRIDE_PREFIX + name] = _valve_text(value)
        argv = [sys.executable, self.path, f"--language={req.language}"]
        if req.user:
            argv.append(f"--user={req.user}")
        if self.debug:
            argv.append("--debug")
        if req.isolate_network:
            argv = ["unshare", "--net", "--", *argv]
        start = time.monotonic()
        code, out, err = await _communicate(argv, req.code.encode("utf-8"), env)
        elapsed = time.monotonic() - start
        log = err.decode("utf-8", errors="replace")
        if code != 0:
            raise TargetError(f"{os.path.basename(self.path)} exited with status {code}:\n{log[-3000:]}")
        return _outcome_from_reply(_parse_reply(out), req, log, elapsed, [])

    async def _run_in_process(self, req: Request) -> Outcome:
        module = self.module()
        plugin = module.Tools() if self.kind == "tool" else module.Action()
        values: dict[str, Any] = dict(req.valves)
        values["WEB_ACCESSIBLE_DIRECTORY_PATH"] = req.storage_root
        values["WEB_ACCESSIBLE_DIRECTORY_URL"] = _url_root(req)
        if self.debug:
            values["DEBUG"] = True
        plugin.valves = plugin.Valves(**values)
        events: list[dict[str, Any]] = []

        async def emitter(event: dict[str, Any]) -> None:
            events.append(event)

        user = {"id": req.user, "name": "Self-test", "role": "user"} if req.user else None
        start = time.monotonic()
        with _environment(req.env):
            if self.kind == "tool":
                method = plugin.run_python_code if req.language == "python" else plugin.run_bash_command
                text = await method(req.code, __user__=user, __event_emitter__=emitter, __id__="selftest")
            else:
                fence = module._fenced(req.code, req.language)
                body = {"messages": [{"role": "assistant", "content": fence + "\n"}]}
                text = await plugin.action(body, __user__=user, __event_emitter__=emitter, __id__="selftest")
        elapsed = time.monotonic() - start
        log = "\n".join(json.dumps(e, ensure_ascii=False)[:2000] for e in events)
        return _outcome_from_reply(_parse_reply(str(text).encode("utf-8")), req, log, elapsed, events)


# Runs one request with libsandbox in a fresh process (for isolate_network).
_ISOLATED_RUN = """
import json, sys
import libsandbox
k = json.load(sys.stdin)
r = libsandbox.run(k["code"], k["language"], user=k["user"], limits=libsandbox.Limits(**k["limits"]),
                   network=k["network"], config=libsandbox.Config(**k["config"]))
print(json.dumps(r.to_dict()))
"""


class LibraryTarget(Target):
    """libsandbox.run_async itself, with valves mapped to Limits/Config the
    way the Open WebUI files map them."""

    kind = "library"

    def __init__(self, debug: bool = False) -> None:
        self.debug = debug

    async def run(self, req: Request) -> Outcome:
        libsandbox = importlib.import_module("libsandbox")
        values = dict(req.valves)
        if self.debug:
            values["DEBUG"] = True
        kwargs = valve_defaults.run_kwargs(values, req.storage_root)
        start = time.monotonic()
        if req.isolate_network:
            payload = dict(kwargs, code=req.code, language=req.language, user=req.user)
            env = dict(os.environ)
            env.update(req.env)
            argv = ["unshare", "--net", "--", sys.executable, "-c", _ISOLATED_RUN]
            code, out, err = await _communicate(argv, json.dumps(payload).encode(), env)
            if code != 0:
                raise TargetError(f"isolated run exited with status {code}: {err.decode()[-3000:]}")
            raw = _parse_reply(out)
            log = err.decode("utf-8", errors="replace")
        else:
            with _environment(req.env):
                result = await libsandbox.run_async(
                    req.code,
                    req.language,
                    user=req.user,
                    limits=libsandbox.Limits(**kwargs["limits"]),
                    network=kwargs["network"],
                    config=libsandbox.Config(**kwargs["config"]),
                )
            raw = result.to_dict()
            log = str(raw.get("message") or "")
        elapsed = time.monotonic() - start
        stdout, stderr = str(raw.get("stdout") or ""), str(raw.get("stderr") or "")
        files = {
            str(f["path"]): OutFile(path=str(f["path"]), size=int(f["size"]), host_path=str(f["host_path"]))
            for f in raw.get("files") or []
        }
        status = raw.get("status")
        return Outcome(
            status=str(getattr(status, "name", status)),
            output="\n".join(p.strip("\n") for p in (stdout, stderr) if p.strip()),
            truncated=bool(raw.get("stdout_truncated") or raw.get("stderr_truncated")),
            files=files,
            reply=raw,
            log=log,
            elapsed_s=elapsed,
        )
