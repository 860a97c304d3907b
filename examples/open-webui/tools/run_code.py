"""
title: Run code
author: libsandbox authors
version: 0.1.0
license: Apache-2.0
description: Lets the model run Python or Bash code in a gVisor sandbox with hard limits.
requirements: libsandbox
"""

# An Open WebUI *tool*: the model calls run_python_code / run_bash_command on
# its own. The companion *function* (functions/run_code.py) adds a "Run code"
# button under assistant messages instead.
#
# Outside Open WebUI:
#   echo 'print("hello")' | python3 run_code.py --language=python
#   python3 run_code.py --self_test

import argparse
import asyncio
import importlib
import importlib.util
import inspect
import json
import os
import pathlib
import re
import sys
import types
import typing
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable

import pydantic

# Where this file keeps generated files by default (the function uses its own).
_DEFAULT_STORAGE_PATH = "$DATA_DIR/cache/tools/run_code"
_DEFAULT_STORAGE_URL = "/cache/tools/run_code"

# ==== Shared part: byte-identical in tools/run_code.py and functions/run_code.py. ====

_OVERRIDE_PREFIX = "CODE_EVAL_VALVE_OVERRIDE_"
_LANGUAGES = ("python", "bash")
# Open WebUI keeps DATA_DIR here when the variable is not set.
_DEFAULT_DATA_DIR = "/app/backend/data"
# The model does not need more than this of a failure explanation.
_MAX_MESSAGE_CHARS = 4096

EventEmitter = Callable[[dict[str, typing.Any]], typing.Any] | None


def _override_note(name: str) -> str:
    return f" Overridable by environment variable {_OVERRIDE_PREFIX}{name}."


class ValveError(ValueError):
    """A valve (or its environment override) has a value outside its bounds."""


class Valves(pydantic.BaseModel):
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
    WEB_ACCESSIBLE_DIRECTORY_PATH: str = pydantic.Field(
        default=_DEFAULT_STORAGE_PATH,
        min_length=1,
        description="Directory generated files are kept in (one subdirectory per user). "
        "A leading $DATA_DIR is replaced by Open WebUI's data directory."
        + _override_note("WEB_ACCESSIBLE_DIRECTORY_PATH"),
    )
    WEB_ACCESSIBLE_DIRECTORY_URL: str = pydantic.Field(
        default=_DEFAULT_STORAGE_URL,
        min_length=1,
        description="URL under which WEB_ACCESSIBLE_DIRECTORY_PATH is served; may start "
        "with '/' to be relative to Open WebUI." + _override_note("WEB_ACCESSIBLE_DIRECTORY_URL"),
    )
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


def effective_valves(valves: Valves) -> Valves:
    """`valves` with every CODE_EVAL_VALVE_OVERRIDE_<NAME> applied and
    validated against the valve's own bounds; raises ValveError naming each
    bad value."""
    data = valves.model_dump()
    overridden: dict[str, str] = {}
    for name in type(valves).model_fields:
        raw = os.environ.get(_OVERRIDE_PREFIX + name)
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
                where = f"{_OVERRIDE_PREFIX}{name}={overridden[name]!r}"
            else:
                where = f"valve {name}={data.get(name)!r}"
            problems.append(f"{where}: {error['msg']}")
        raise ValveError("; ".join(problems)) from None


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


class _Events:
    """Sends Open WebUI events; a broken emitter never fails the run."""

    def __init__(self, emitter: EventEmitter, debug: bool) -> None:
        self._emitter = emitter
        self._debug = debug

    async def emit(self, kind: str, data: dict[str, typing.Any]) -> None:
        if self._emitter is None:
            return
        try:
            maybe = self._emitter({"type": kind, "data": data})
            if inspect.isawaitable(maybe):
                await maybe
        except Exception as e:  # The chat may be gone; the run still counts.
            if self._debug:
                print(f"event emitter failed: {e!r}", file=sys.stderr)

    async def status(self, description: str, done: bool = False, error: bool = False) -> None:
        state = "error" if error else ("complete" if done else "in_progress")
        await self.emit("status", {"status": state, "description": description, "done": done})


class _CodeExecution:
    """Open WebUI's code_execution citation: shows the code, its output and
    files; sent again with the same id to update it."""

    def __init__(self, name: str, language: str, code: str) -> None:
        self.id = str(uuid.uuid4())
        self.name = name
        self.language = language
        self.code = code
        self.result: dict[str, typing.Any] = {}

    def event(self) -> dict[str, typing.Any]:
        data: dict[str, typing.Any] = {
            "type": "code_execution",
            "id": self.id,
            "uuid": self.id,
            "name": self.name,
            "language": self.language,
            "code": self.code,
        }
        if self.result:
            data["result"] = dict(self.result)
        return data


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


def _failure_message(status: str, reason: str, valves: Valves, language: str) -> str:
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
    keyword arguments and the network switch."""
    return {
        "limits": {
            "timeout_s": float(valves.MAX_RUNTIME_SECONDS),
            "memory_mb": valves.MAX_RAM_MEGABYTES,
            "cpus": float(valves.MAX_CPUS),
            "max_pids": valves.MAX_PIDS,
            "max_output_bytes": valves.MAX_OUTPUT_BYTES,
            "workspace_mb": valves.MAX_WORKSPACE_MEGABYTES,
        },
        "config": {
            "storage_dir": root,
            "allow_unenforced_limits": not valves.REQUIRE_RESOURCE_LIMITING,
            "max_files_per_execution": valves.MAX_FILES_PER_EXECUTION,
            "max_files_per_user": valves.MAX_FILES_PER_USER,
            "max_bytes_per_user": valves.MAX_MEGABYTES_PER_USER << 20,
            "debug": valves.DEBUG,
        },
        "network": valves.NETWORKING_ALLOWED,
    }


async def sandbox_run(language: str, code: str, valves: Valves, user: str, root: str) -> RunOutcome:
    """Runs `code` through libsandbox without blocking the event loop."""
    try:
        libsandbox = importlib.import_module("libsandbox")
    except ImportError as e:
        message = "The libsandbox package is not installed: run `pip install libsandbox`."
        if valves.DEBUG:
            message += f" [DEBUG] {e!r}"
        return RunOutcome("SANDBOX_ERROR", "", False, message, [], [])
    arguments = run_arguments(valves, root)
    result = await libsandbox.run_async(
        code,
        language,
        user=user,
        limits=libsandbox.Limits(**arguments["limits"]),
        network=arguments["network"],
        config=libsandbox.Config(**arguments["config"]),
    )
    status = result.status.name
    truncated = bool(result.stdout_truncated or result.stderr_truncated)
    output = _combined_output(result.stdout, result.stderr)
    if truncated:
        output += f"\n[output truncated: only the first {valves.MAX_OUTPUT_BYTES} bytes were kept]"
    message = ""
    if status != "OK":
        message = _failure_message(status, result.reason, valves, language)
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


def _load_selftest() -> types.ModuleType:
    """The self-test catalogue: installed with libsandbox, or the source
    checkout's selftest/ next to examples/."""
    try:
        return importlib.import_module("libsandbox.selftest")
    except ImportError:
        pass
    if "libsandbox_selftest" in sys.modules:
        return sys.modules["libsandbox_selftest"]
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


# ==== End of shared part. ====


def _strip_fences(code: str) -> str:
    """The code without the ```lang fence or single backticks models sometimes
    wrap it in."""
    code = code.strip()
    first, newline, rest = code.partition("\n")
    if newline and first.startswith("```") and re.fullmatch(r"[\w+.-]*", first[3:].strip()):
        code = rest.rstrip()
        if code.endswith("```"):
            code = code[:-3].rstrip()
    elif not newline and len(code) > 1 and code.startswith("`") and code.endswith("`"):
        code = code.strip("`").strip()
    return code


class Tools:
    Valves = Valves

    def __init__(self) -> None:
        self.valves = self.Valves()

    async def run_python_code(
        self,
        python_code: str,
        __user__: dict[str, typing.Any] | None = None,
        __event_emitter__: EventEmitter = None,
        __id__: str | None = None,
    ) -> str:
        """
        Run Python code safely in a gVisor sandbox. Files written to the current
        directory are kept and returned as download links.

        :param python_code: Python code to run.

        :return: A JSON object with `status`, `output` and `python_code`. When
            `status` is "OK", the user is interested in `output`; otherwise report
            `status` and `message` first.
        """
        return await self._run("python", python_code, __user__, __event_emitter__)

    async def run_bash_command(
        self,
        bash_command: str,
        __user__: dict[str, typing.Any] | None = None,
        __event_emitter__: EventEmitter = None,
        __id__: str | None = None,
    ) -> str:
        """
        Run a bash command line or script safely in a gVisor sandbox. Files
        written to the current directory are kept and returned as download links.

        :param bash_command: Bash command or script to run.

        :return: A JSON object with `status`, `output` and `bash_command`. When
            `status` is "OK", the user is interested in `output`; otherwise report
            `status` and `message` first.
        """
        return await self._run("bash", bash_command, __user__, __event_emitter__)

    async def _run(
        self,
        language: str,
        code: str,
        user: dict[str, typing.Any] | None,
        emitter: EventEmitter,
    ) -> str:
        code_field = "python_code" if language == "python" else "bash_command"
        code = _strip_fences(code)
        debug = bool(self.valves.DEBUG)
        events = _Events(emitter, debug)
        execution = _CodeExecution(f"{language.title()} tool execution", language, code)
        reply: dict[str, typing.Any] = {code_field: code}
        try:
            valves = effective_valves(self.valves)
            events = _Events(emitter, valves.DEBUG)
            root = storage_dir(valves)
            os.makedirs(root, mode=0o755, exist_ok=True)
            await events.status(f"Running {language.title()} code in a gVisor sandbox...")
            await events.emit("citation", execution.event())
            outcome = await sandbox_run(language, code, valves, user_id(user), root)
        except ValveError as e:
            outcome = RunOutcome("SANDBOX_ERROR", "", False, f"Misconfigured valve: {e}", [], [])
        except Exception as e:
            message = _failure_message("SANDBOX_ERROR", "", self.valves, language)
            if debug:
                message += f" [DEBUG] {e!r}"
            outcome = RunOutcome("SANDBOX_ERROR", "", False, message, [], [])

        reply.update(status=outcome.status, output=outcome.output)
        if outcome.truncated:
            reply["output_truncated"] = True
        if outcome.message:
            reply["message"] = outcome.message
        if outcome.files:
            reply["files"] = outcome.files
        execution.result["output"] = outcome.output
        if outcome.message:
            execution.result["error"] = outcome.message
        execution.result["files"] = [{"name": f["path"], "url": f["url"]} for f in outcome.files if f["url"]]
        await events.emit("citation", execution.event())
        if outcome.status == "OK":
            await events.status(f"{language.title()} code ran successfully.", done=True)
        else:
            await events.status(outcome.message, done=True, error=True)
        return json.dumps(reply, ensure_ascii=False)


async def _run_once(language: str, code: str, user: str, quiet: bool) -> str:
    def show(event: dict[str, typing.Any]) -> None:
        if not quiet:
            print(f"Event: {json.dumps(event, ensure_ascii=False)}", file=sys.stderr)

    tools = Tools()
    method: Callable[..., Awaitable[str]] = (
        tools.run_python_code if language == "python" else tools.run_bash_command
    )
    return await method(code, __user__={"id": user} if user else None, __event_emitter__=show)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run code in a gVisor sandbox, as Open WebUI would.")
    parser.add_argument("--language", choices=_LANGUAGES, default="python")
    parser.add_argument("--use_sample_code", action="store_true", help="run the sample code")
    parser.add_argument("--user", default="", help="Open WebUI user id to run as")
    parser.add_argument("--want_status", default="", help="exit non-zero unless the status is this")
    parser.add_argument("--self_test", action="store_true", help="run the self-test catalogue")
    parser.add_argument("--self_test_filter", default="", help="comma-separated case names or globs")
    parser.add_argument("--debug", action="store_true", help="turn on the DEBUG valve")
    args = parser.parse_args(argv)
    if args.debug:
        os.environ[_OVERRIDE_PREFIX + "DEBUG"] = "true"
    if args.self_test:
        selftest = _load_selftest()
        return int(
            selftest.run_file_suite(
                os.path.abspath(__file__), "tool", name_filter=args.self_test_filter, debug=args.debug
            )
        )
    try:
        effective_valves(Valves())
    except ValveError as e:
        print(f"Bad valve override: {e}", file=sys.stderr)
        return 2
    if args.use_sample_code:
        code = _load_selftest().SAMPLE_CODE[args.language]
    else:
        code = sys.stdin.read()
    reply = asyncio.run(_run_once(args.language, code, args.user, quiet=bool(args.want_status)))
    print(reply)
    if args.want_status:
        got = json.loads(reply)["status"]
        if got != args.want_status:
            print(f"\u274c Status is {got}, expected {args.want_status}.", file=sys.stderr)
            return 1
        print(f"\u2705 Status is {got} as expected.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
