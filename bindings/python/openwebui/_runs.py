"""Running code through libsandbox: one-shot runs, persistent sessions,
and what their results become for Open WebUI."""

from __future__ import annotations

import typing

import libsandbox

from ._valves import LANGUAGES, Valves, _clip, file_url, session_dir


class RunOutcome(typing.NamedTuple):
    status: str
    output: str
    truncated: bool
    message: str  # what went wrong, for the user; empty when OK
    files: list[dict[str, typing.Any]]  # path, size, url (None: not linkable)
    host_files: list[str]  # host paths, same order as files
    notes: tuple[str, ...] = ()  # e.g. attached files left out, and why
    session: str = ""  # SESSION_MODE when the code ran in a session
    outputs: tuple[libsandbox.Output, ...] = ()  # figures and saved images, in order
    images: tuple[str, ...] = ()  # their URLs in Open WebUI's Files store, once stored


def _combined_output(stdout: str, stderr: str) -> str:
    parts = [part.strip("\n") for part in (stdout, stderr) if part and part.strip()]
    return "\n".join(parts).strip()


def failure_message(
    status: str, reason: libsandbox.Reason, valves: Valves, language: str, exit_code: int | None = None
) -> str:
    """What a non-OK status means, in words for the chat."""
    title = language.title()
    if status == "ERROR":
        code = "" if exit_code is None else f" (exit code {exit_code})"
        return f"{title} code exited with an error{code}."
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


def _valve_limits(valves: Valves) -> dict[str, typing.Any]:
    """The Limits keyword arguments the valves set for runs and sessions."""
    return {
        "timeout_s": float(valves.MAX_RUNTIME_SECONDS),
        "memory_mb": valves.MAX_RAM_MEGABYTES,
        "cpus": float(valves.MAX_CPUS),
        "max_pids": valves.MAX_PIDS,
        "max_output_bytes": valves.MAX_OUTPUT_BYTES,
        "workspace_mb": valves.MAX_WORKSPACE_MEGABYTES,
    }


def run_arguments(valves: Valves, root: str) -> dict[str, typing.Any]:
    """How the valves become libsandbox.run arguments: Limits and Config
    keyword arguments (limits None: the policy's), the network switch and the
    policy. Pooled sandboxes boot with the valves' limits, so every run
    without a policy can take one."""
    limits = _valve_limits(valves)
    return {
        "config": {
            "storage_dir": root,
            "allow_unenforced_limits": not valves.REQUIRE_RESOURCE_LIMITING,
            "max_files_per_execution": valves.MAX_FILES_PER_EXECUTION,
            "max_files_per_user": valves.MAX_FILES_PER_USER,
            "max_bytes_per_user": valves.MAX_MEGABYTES_PER_USER << 20,
            "debug": valves.DEBUG,
            "pool_size": valves.WARM_POOL_SIZE,
            "pool_max_size": valves.WARM_POOL_MAX_SIZE,
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
    *,
    show_debug: bool = True,
) -> RunOutcome:
    """Runs `code` through libsandbox without blocking the event loop;
    `files` (name, content) are put in its workspace first. Host details
    (DEBUG valve) reach the message only with `show_debug` (an admin)."""
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
    return _outcome(result, valves, language, root, show_debug)


def _outcome(
    result: libsandbox.Result, valves: Valves, language: str, root: str, show_debug: bool
) -> RunOutcome:
    status = result.status.name
    truncated = bool(result.stdout_truncated or result.stderr_truncated)
    output = _combined_output(result.stdout, result.stderr)
    if truncated:
        output += f"\n[output truncated: only the first {valves.MAX_OUTPUT_BYTES} bytes were kept]"
    message = ""
    if status != "OK":
        message = failure_message(status, result.reason, valves, language, result.exit_code)
        if status == "INVALID_INPUT" and result.message:
            message += " " + _clip(result.message)  # About the input, not the host.
        elif show_debug and valves.DEBUG and result.message:
            message += f" [DEBUG] {_clip(result.message)}"
    files = []
    host_files = []
    for f in result.files:
        files.append({"path": f.path, "size": f.size, "url": file_url(valves, root, f.host_path)})
        host_files.append(f.host_path)
    return RunOutcome(status, output, truncated, message, files, host_files, outputs=tuple(result.outputs))


# ---- Sessions: one persistent sandbox per (user, policy[, chat]).

# Python variables of a session, pickled between execs (in its home directory).
_STATE_FILE = ".libsandbox_session_state.pickle"

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


def session_key(valves: Valves, user: str, chat: str) -> tuple[str, str] | None:
    """The (user, chat) of the session a call runs in; None: a one-shot
    run. Callers without a user id (or, in chat mode, a chat id) never
    share a session."""
    if valves.SESSION_MODE == "off" or not user:
        return None
    if valves.SESSION_MODE == "user":
        return user, ""
    return (user, chat) if chat else None


# Whether this process ever ran a session: sessions live in the process
# that started them, so with none started there is nothing to stop, and
# one-shot runs skip the lookup.
_sessions_started = False


def stop_sessions(valves: Valves) -> int:
    """Stops the running session sandboxes of these valves' session store
    (their files stay): what SESSION_MODE "off" means for sessions a
    previous setting left running. Blocks; returns how many it stopped."""
    if not _sessions_started:
        return 0
    try:
        config = libsandbox.Config(**session_arguments(valves, session_dir(valves))["config"])
        running = libsandbox.list_sessions(config)
    except (ValueError, RuntimeError):
        return 0  # no usable session store: nothing of it can be running
    for info in running:
        libsandbox.Session(info.user, policy=info.policy, chat=info.chat, config=config).stop()
    return len(running)


def session_arguments(valves: Valves, session_root: str) -> dict[str, typing.Any]:
    """How the valves become libsandbox.Session arguments (Limits and
    Config as keyword arguments)."""
    if valves.POLICY:
        limits = dict.fromkeys(("timeout_s", "cpus"), 0.0)  # 0: the policy's value
        limits.update(dict.fromkeys(("memory_mb", "max_pids", "max_output_bytes", "workspace_mb"), 0))
    else:
        limits = _valve_limits(valves)
        # The persistent workspace is a volume of its own size; /tmp is
        # capped like a run's.
        limits["tmp_mb"] = limits["workspace_mb"]
        limits["workspace_mb"] = valves.SESSION_WORKSPACE_MEGABYTES
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


async def session_run(
    language: str,
    code: str,
    valves: Valves,
    key: tuple[str, str],
    root: str,
    files: list[tuple[str, bytes]] | None = None,
    *,
    show_debug: bool = True,
) -> RunOutcome:
    """Runs `code` in the persistent session of `key` (user, chat): the
    `files` are written to its home directory first, the files the code
    creates or changes are kept like a one-shot run's (same directory,
    quotas and links)."""
    global _sessions_started
    _sessions_started = True
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
    runnable = code
    if language == "python":
        runnable = _PYTHON_WITH_STATE.replace("__STATE__", repr(_STATE_FILE)).replace("__SRC__", repr(code))
    kept_like_runs = run_arguments(valves, root)["config"]
    result = await session.exec_async(
        runnable,
        language,
        files=files or None,
        keep_files=True,
        keep_exclude=[_STATE_FILE],
        keep_config=libsandbox.Config(
            storage_dir=root,
            max_files_per_execution=kept_like_runs["max_files_per_execution"],
            max_files_per_user=kept_like_runs["max_files_per_user"],
            max_bytes_per_user=kept_like_runs["max_bytes_per_user"],
        ),
    )
    return _outcome(result, valves, language, root, show_debug)._replace(session=valves.SESSION_MODE)
