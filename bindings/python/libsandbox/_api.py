"""run(), run_async(), doctor(), query_audit() and friends on top of the compiled core."""

from __future__ import annotations

import asyncio
import atexit
import functools
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeAlias

from libsandbox import _core
from libsandbox._types import (
    AuditRecord,
    Check,
    Config,
    Egress,
    EgressAllowlist,
    File,
    Limits,
    Output,
    Result,
    Status,
    _reason,
)

FileContent: TypeAlias = bytes | bytearray | memoryview | str
# Sequence, not Iterable: a dict is an Iterable too, which defeats type inference.
Files: TypeAlias = Mapping[str, FileContent] | Sequence[tuple[str, FileContent]]

# run_async() hands runs to these threads. Runs spend their time waiting on
# runsc with the GIL released, so threads are cheap; the library itself
# decides how many sandboxes really run at once.
ASYNC_WORKERS = 32
# Session.wait_async() blocks a thread per waiter (a terminal panel each, for
# minutes) without holding a sandbox: its own, larger pool, so waiters never
# keep runs from starting.
WAIT_WORKERS = 512
_executor: ThreadPoolExecutor | None = None
_wait_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _forget_executor() -> None:
    # A forked child inherits the object but not its threads.
    global _executor, _wait_executor
    _executor = None
    _wait_executor = None


os.register_at_fork(after_in_child=_forget_executor)


def _get_executor() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=ASYNC_WORKERS, thread_name_prefix="libsandbox-run")
        return _executor


def _get_wait_executor() -> ThreadPoolExecutor:
    global _wait_executor
    with _executor_lock:
        if _wait_executor is None:
            _wait_executor = ThreadPoolExecutor(
                max_workers=WAIT_WORKERS, thread_name_prefix="libsandbox-wait"
            )
        return _wait_executor


class _BadText(Exception):
    """A string argument with no UTF-8 form: an invalid input, not a crash."""


def _text(where: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{where} must be a str, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _BadText(f"{where} is not valid UTF-8 text") from None
    return value


def _content(where: str, value: object) -> bytes:
    if isinstance(value, str):
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError:
            raise _BadText(f"{where} is not valid UTF-8 text") from None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{where} must be bytes or str, got {type(value).__name__}")


def _file_list(files: object) -> list[dict[str, Any]]:
    items: Iterable[object]
    if isinstance(files, Mapping):
        items = files.items()
    elif isinstance(files, Iterable) and not isinstance(files, (str, bytes)):
        items = files
    else:
        raise TypeError(
            "files must be a mapping of path -> content or a list of (path, content), "
            f"got {type(files).__name__}"
        )
    out: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, tuple) or len(item) != 2:
            raise TypeError(f"files entries must be (path, content) pairs, got {item!r:.80}")
        path = _text("files path", item[0])
        out.append({"path": path, "content": _content(f"files[{path!r}]", item[1])})
    return out


def _request(
    code: object,
    language: object,
    user: object,
    limits: object,
    network: object,
    files: object,
    env: object,
    stdin: object,
    policy: object,
    egress: object = None,
) -> dict[str, Any]:
    if limits is not None and not isinstance(limits, Limits):
        raise TypeError(f"limits must be a libsandbox.Limits or None, got {type(limits).__name__}")
    if not isinstance(network, bool):
        raise TypeError(f"network must be a bool, got {type(network).__name__}")
    if egress is not None and not isinstance(egress, EgressAllowlist):
        raise TypeError(f"egress must be a libsandbox.EgressAllowlist or None, got {type(egress).__name__}")
    env_map: dict[str, str] = {}
    if env is not None:
        if not isinstance(env, Mapping):
            raise TypeError(f"env must be a mapping of str -> str, got {type(env).__name__}")
        for key, value in env.items():
            env_map[_text("env key", key)] = _text(f"env[{key!r}]", value)
    return {
        "code": _text("code", code),
        "language": _text("language", language),
        "user": _text("user", user),
        "limits": None if limits is None else limits.to_dict(),
        "network": network,
        "files": [] if files is None else _file_list(files),
        "env": env_map,
        "stdin": None if stdin is None else _content("stdin", stdin),
        "policy": _text("policy", policy),
        "egress": None if egress is None else egress.to_dict(),
    }


def _config(config: object) -> dict[str, Any]:
    if config is None:
        return Config().to_dict()
    if not isinstance(config, Config):
        raise TypeError(f"config must be a libsandbox.Config or None, got {type(config).__name__}")
    return config.to_dict()


def _status(name: str) -> Status | None:
    try:
        return Status[name]
    except KeyError:
        return None


def _result(raw: Mapping[str, Any]) -> Result:
    name = raw["status"]
    message = raw["message"]
    status = _status(name)
    if status is None:
        # Never report an unknown outcome as anything but a failure.
        status = Status.SANDBOX_ERROR
        message = f"the sandbox reported an unknown status {name!r}. {message}".strip()
    return Result(
        status=status,
        reason=_reason(raw["reason"]),
        exit_code=raw["exit_code"],
        stdout=raw["stdout"],
        stderr=raw["stderr"],
        stdout_truncated=raw["stdout_truncated"],
        stderr_truncated=raw["stderr_truncated"],
        duration_s=raw["duration_s"],
        files=[File(path=f["path"], size=f["size"], host_path=f["host_path"]) for f in raw["files"]],
        message=message,
        egress=_egress(raw.get("egress")),
        outputs=[
            Output(mime_type=o["mime_type"], data=o["data"], name=o["name"]) for o in raw.get("outputs", ())
        ],
    )


def _egress(raw: Mapping[str, Any] | None) -> Egress | None:
    if raw is None:
        return None
    return Egress(allowed=raw["allowed"], denied=raw["denied"], denials=list(raw["denials"]))


def run(
    code: str,
    language: str = "python",
    *,
    user: str = "",
    limits: Limits | None = None,
    network: bool = False,
    files: Files | None = None,
    env: Mapping[str, str] | None = None,
    stdin: str | bytes | None = None,
    config: Config | None = None,
    policy: str = "",
    egress: EgressAllowlist | None = None,
) -> Result:
    """Runs ``code`` in a fresh gVisor sandbox and returns what happened.

    Blocks until the run is over, with the GIL released, so other Python
    threads keep going. Never raises for what the code does or for bad code or
    language: those are a Result (ERROR, TIMEOUT, INVALID_INPUT, ...). Raises
    TypeError/ValueError only for arguments of the wrong type.

    ``files`` maps paths relative to the workspace to their content (bytes or
    str), or is a list of (path, content); ``stdin`` is fed to the code.
    ``limits=None`` applies the defaults of ``Limits()``.

    ``policy`` names a policy of ``config.policy_file`` (empty: its default
    policy). Under a policy, ``limits=None`` means the policy's limits; a
    Limits may only ask for less (each nonzero field replaces the policy's
    value, and must be within it; mind that the defaults of ``Limits()``
    count as asked for), else the run is INVALID_INPUT naming the cap.
    Naming a policy without a policy file is INVALID_INPUT too.

    ``egress`` (with ``network=True``) limits the network to the names of an
    EgressAllowlist, through the host's filtering proxy; ``Result.egress``
    then counts what it let through and refused. A policy with network mode
    "allowlist" does the same (and then the request may not set ``egress``).
    """
    config_dict = _config(config)
    try:
        request = _request(code, language, user, limits, network, files, env, stdin, policy, egress)
    except _BadText as e:
        return Result(status=Status.INVALID_INPUT, message=f"{e}; pass valid Unicode text.")
    return _result(_core.run(request, config_dict))


async def run_async(
    code: str,
    language: str = "python",
    *,
    user: str = "",
    limits: Limits | None = None,
    network: bool = False,
    files: Files | None = None,
    env: Mapping[str, str] | None = None,
    stdin: str | bytes | None = None,
    config: Config | None = None,
    policy: str = "",
    egress: EgressAllowlist | None = None,
) -> Result:
    """run() without blocking the event loop: the run waits in a worker thread.

    Cancelling the awaiting task does not stop a run that has started; it
    finishes (within its limits) and its result is dropped.
    """
    call = functools.partial(
        run,
        code,
        language,
        user=user,
        limits=limits,
        network=network,
        files=files,
        env=env,
        stdin=stdin,
        config=config,
        policy=policy,
        egress=egress,
    )
    return await asyncio.get_running_loop().run_in_executor(_get_executor(), call)


def runsc_version(config: Config | None = None) -> str:
    """The version of the runsc that ``config`` selects.

    Raises FileNotFoundError when there is no runsc, RuntimeError when it
    does not answer.
    """
    return _core.runsc_version(_config(config))


def doctor(config: Config | None = None) -> list[Check]:
    """Checks what gVisor and the limits need on this host, each with a remedy."""
    return [
        Check(name=c["name"], ok=c["ok"], detail=c["detail"], remedy=c["remedy"])
        for c in _core.doctor(_config(config))
    ]


# The core silently clamps larger limits; refusing them here says so instead.
_MAX_AUDIT_QUERY_LIMIT: int = _core.MAX_AUDIT_QUERY_LIMIT


def query_audit(config: Config | None = None, user: str = "", limit: int = 100) -> list[AuditRecord]:
    """Up to ``limit`` audit records of ``user`` (empty: every user), newest first.

    Reads the log that runs under ``config`` write when ``config.audit`` is on
    (``audit_path``, or ``<state_dir>/audit.log``) and its rotation; an absent
    log is an empty list. Releases the GIL while it reads. Raises OSError
    (PermissionError, ...) when the log cannot be read.
    """
    config_dict = _config(config)
    try:
        user = _text("user", user)
    except _BadText as e:
        raise ValueError(str(e)) from None
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError(f"limit must be an int, got {type(limit).__name__}")
    if not 1 <= limit <= _MAX_AUDIT_QUERY_LIMIT:
        raise ValueError(f"limit must be between 1 and {_MAX_AUDIT_QUERY_LIMIT}, got {limit}")
    return [_audit_record(r) for r in _core.query_audit(config_dict, user, limit)]


def policies(config: Config | None = None) -> dict[str, Any]:
    """The policy set ``config.policy_file`` holds now, as a dict shaped like
    policy.proto's PolicySet: ``caps``, ``policies`` (a list of dicts with
    ``name``, ``cpus``, ``memory``, ``network``, ...) and ``default_policy``.

    Raises FileNotFoundError when the file does not exist, ValueError when
    the config has no policy file or the file does not parse.
    """
    return dict(_core.get_policies(_config(config)))


def set_policy(policy: Mapping[str, Any], config: Config | None = None) -> None:
    """Adds ``policy`` (a dict like ``{"name": "small", "memory": "64Mi",
    "network": {"mode": "allowlist", "domains": ["pypi.org"]}}``) to the
    config's policy file, or replaces the policy of that name.

    The whole set is checked against the file's caps first: a value over a
    cap raises ValueError naming the cap, and nothing is written. The file is
    replaced atomically; every process using it sees the change at its next
    run. Comments in a textproto file are not kept.
    """
    if not isinstance(policy, Mapping):
        raise TypeError(f"policy must be a mapping, got {type(policy).__name__}")
    _core.set_policy(dict(policy), _config(config))


def set_policies(policy_set: Mapping[str, Any], config: Config | None = None) -> None:
    """Replaces the config's policy file with ``policy_set`` (caps,
    policies, default_policy), checked in full first (ValueError, nothing
    written, when it is not sound)."""
    if not isinstance(policy_set, Mapping):
        raise TypeError(f"policy_set must be a mapping, got {type(policy_set).__name__}")
    _core.set_policies(dict(policy_set), _config(config))


def remove_policy(name: str, config: Config | None = None) -> None:
    """Removes the policy ``name`` from the config's policy file. KeyError if
    there is none; ValueError if it is the default policy."""
    try:
        name = _text("name", name)
    except _BadText as e:
        raise ValueError(str(e)) from None
    _core.remove_policy(name, _config(config))


def _audit_record(raw: Mapping[str, Any]) -> AuditRecord:
    # A record with a status this version does not know (a newer writer, a
    # damaged line) never reads as a success.
    status = _status(raw["status"]) or Status.SANDBOX_ERROR
    return AuditRecord(
        time=raw["time"],
        user=raw["user"],
        policy=raw["policy"],
        language=raw["language"],
        status=status,
        reason=_reason(raw["reason"]),
        exit_code=raw["exit_code"],
        duration_s=raw["duration_s"],
        stdout_bytes=raw["stdout_bytes"],
        stderr_bytes=raw["stderr_bytes"],
        files=raw["files"],
        file_bytes=raw["file_bytes"],
        code=raw["code"],
        code_truncated=raw["code_truncated"],
        egress_allowed=raw.get("egress_allowed", 0),
        egress_denied=raw.get("egress_denied", 0),
        egress_denials=list(raw.get("egress_denials", [])),
        # Lines written before sessions were audited are runs.
        call=raw.get("call") or "run",
        chat=raw.get("chat", ""),
        process=raw.get("process", ""),
        path=raw.get("path", ""),
        bytes=raw.get("bytes", 0),
        signal=raw.get("signal", 0),
        error=raw.get("error", ""),
    )


def languages() -> list[str]:
    """The languages run() accepts."""
    return list(_core.languages())


def metrics() -> dict[str, Any]:
    """Counters, gauges and latency histograms of this process's runs.

    ``{"counters": {"runs": 3, "pool_hits": 1, ...}, "gauges": {"running": 0,
    ...}, "histograms": {"run": {"upper_bounds_s": [...], "counts": [...],
    "count": 3, "sum_s": 1.2}, ...}}``, ready for JSON or an exporter.
    """
    return _core.metrics()


def shutdown() -> None:
    """Stops pre-booted (pool) sandboxes and sessions (their workspaces are
    kept) and releases what runs keep between runs. Later runs and execs work
    again. Called at interpreter exit."""
    _core.shutdown()


# Leave no warm sandbox behind. concurrent.futures joins the run_async workers
# before atexit handlers run, so no run is in flight here.
atexit.register(shutdown)
