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
    "CodeRun",
    "EventEmitter",
    "Events",
    "Plugin",
    "RunOnce",
    "RunOutcome",
    "ValveError",
    "Valves",
    "effective_valves",
    "failure_message",
    "file_url",
    "load_selftest",
    "main",
    "reply_fields",
    "run_arguments",
    "sandbox_run",
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


def storage_dir(valves: Valves) -> str:
    """The directory WEB_ACCESSIBLE_DIRECTORY_PATH names, $DATA_DIR expanded."""
    path = valves.WEB_ACCESSIBLE_DIRECTORY_PATH
    if path == "$DATA_DIR" or path.startswith("$DATA_DIR/"):
        data_dir = os.environ.get("DATA_DIR")
        if not data_dir:
            if not os.path.isdir(os.path.dirname(_DEFAULT_DATA_DIR)):
                raise ValveError(
                    "WEB_ACCESSIBLE_DIRECTORY_PATH starts with $DATA_DIR but DATA_DIR is not "
                    "set; set DATA_DIR or give the valve an absolute path"
                )
            data_dir = _DEFAULT_DATA_DIR
        path = data_dir + path[len("$DATA_DIR") :]
    if not os.path.isabs(path):
        raise ValveError(f"WEB_ACCESSIBLE_DIRECTORY_PATH must be an absolute path, not {path!r}")
    return os.path.normpath(path)


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


def _combined_output(stdout: str, stderr: str) -> str:
    parts = [part.strip("\n") for part in (stdout, stderr) if part and part.strip()]
    return "\n".join(parts).strip()


def failure_message(status: str, reason: str, valves: Valves, language: str) -> str:
    """What a non-OK status means, in words for the chat."""
    title = language.title()
    if status == "ERROR":
        return f"{title} code exited with an error."
    if status == "TIMEOUT":
        return f"Code timed out after {valves.MAX_RUNTIME_SECONDS} seconds and was stopped."
    if status == "INTERRUPTED":
        if reason == "memory":
            return f"Code used more than {valves.MAX_RAM_MEGABYTES} MiB of memory and was stopped."
        return f"Code used too many resources ({reason or 'unknown'}) and was stopped."
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
    keyword arguments and the network switch. Pooled sandboxes boot with the
    run's own limits, so every run can take one."""
    limits = {
        "timeout_s": float(valves.MAX_RUNTIME_SECONDS),
        "memory_mb": valves.MAX_RAM_MEGABYTES,
        "cpus": float(valves.MAX_CPUS),
        "max_pids": valves.MAX_PIDS,
        "max_output_bytes": valves.MAX_OUTPUT_BYTES,
        "workspace_mb": valves.MAX_WORKSPACE_MEGABYTES,
    }
    return {
        "limits": limits,
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
        },
        "network": valves.NETWORKING_ALLOWED,
    }


async def sandbox_run(language: str, code: str, valves: Valves, user: str, root: str) -> RunOutcome:
    """Runs `code` through libsandbox without blocking the event loop."""
    arguments = run_arguments(valves, root)
    config = dict(arguments["config"])
    config["pool_limits"] = libsandbox.Limits(**config["pool_limits"])
    result = await libsandbox.run_async(
        code,
        language,
        user=user,
        limits=libsandbox.Limits(**arguments["limits"]),
        network=arguments["network"],
        config=libsandbox.Config(**config),
    )
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

    async def execute(self, configured: Valves, user: dict[str, typing.Any] | None) -> RunOutcome:
        """Applies the overrides to the `configured` valves and runs the code
        in the caller's storage; never raises."""
        title = self.language.title()
        try:
            valves = effective_valves(configured)
            self.events.debug = valves.DEBUG
            root = storage_dir(valves)
            os.makedirs(root, mode=0o755, exist_ok=True)
            await self.events.status(f"Running {title} code in a gVisor sandbox...")
            await self.events.emit("citation", self._citation())
            return await sandbox_run(self.language, self.code, valves, user_id(user), root)
        except ValveError as e:
            return RunOutcome("SANDBOX_ERROR", "", False, f"Misconfigured valve: {e}", [], [])
        except Exception as e:
            message = failure_message("SANDBOX_ERROR", "", configured, self.language)
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
