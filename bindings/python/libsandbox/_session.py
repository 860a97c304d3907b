"""Persistent sessions: one long-lived sandbox and workspace per user (and chat)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from typing import Any

from libsandbox import _core
from libsandbox._api import _BadText, _config, _content, _get_executor, _result, _text
from libsandbox._types import Config, Limits, Result, SessionInfo, Status, _require_number


def _env(where: str, env: object) -> dict[str, str]:
    if env is None:
        return {}
    if not isinstance(env, Mapping):
        raise TypeError(f"{where} must be a mapping of str -> str, got {type(env).__name__}")
    return {_text(f"{where} key", k): _text(f"{where}[{k!r}]", v) for k, v in env.items()}


def _session_info(raw: Mapping[str, Any]) -> SessionInfo:
    key = raw["key"] or {}
    return SessionInfo(
        user=key.get("user", ""),
        policy=key.get("policy", ""),
        chat=key.get("chat", ""),
        workspace=raw["workspace"],
        execs=raw["execs"],
        idle_s=raw["idle_s"],
        memory_bytes=raw["memory_bytes"],
        running=raw["running"],
    )


class Session:
    """The persistent session of ``user`` (and ``policy``, ``chat``).

    Its sandbox boots on the first exec and stays up between execs, so the
    current directory, files and background processes carry over. The
    workspace is a directory below ``<storage_dir>/sessions/`` that outlives
    the sandbox: ``stop()`` (and an idle timeout, ``idle_timeout_s``; 0: 30
    minutes) stop the sandbox and keep it; ``reset()`` empties it.

    ``limits`` cap the whole session (memory, CPU, pids) and give each exec
    its default timeout and output cap (None: the defaults of ``Limits()``
    with an unlimited workspace and a 64 MiB /tmp; a session workspace cannot
    be size-capped, so a Limits needs ``workspace_mb=0``). ``env`` is set for every
    exec. The options of the first Session object of a key (in this process
    and ``config``) win while the session exists.

    Execs never raise for what the code does: that is in the Result. Bad
    argument types raise TypeError/ValueError.
    """

    def __init__(
        self,
        user: str,
        *,
        policy: str = "",
        chat: str = "",
        limits: Limits | None = None,
        network: bool = False,
        env: Mapping[str, str] | None = None,
        idle_timeout_s: float = 0.0,
        config: Config | None = None,
    ) -> None:
        if limits is not None and not isinstance(limits, Limits):
            raise TypeError(f"limits must be a libsandbox.Limits or None, got {type(limits).__name__}")
        if not isinstance(network, bool):
            raise TypeError(f"network must be a bool, got {type(network).__name__}")
        _require_number("Session", "idle_timeout_s", idle_timeout_s)
        try:
            self._key = {
                "user": _text("user", user),
                "policy": _text("policy", policy),
                "chat": _text("chat", chat),
            }
            env_map = _env("env", env)
        except _BadText as e:
            raise ValueError(str(e)) from None
        self._options: dict[str, Any] = {
            "limits": None if limits is None else limits.to_dict(),
            "network": network,
            "env": env_map,
            "idle_timeout_s": float(idle_timeout_s),
        }
        self._config = _config(config)

    @property
    def user(self) -> str:
        return str(self._key["user"])

    @property
    def policy(self) -> str:
        return str(self._key["policy"])

    @property
    def chat(self) -> str:
        return str(self._key["chat"])

    def __repr__(self) -> str:
        return f"libsandbox.Session(user={self.user!r}, policy={self.policy!r}, chat={self.chat!r})"

    def exec(
        self,
        code: str,
        language: str = "python",
        *,
        stdin: str | bytes | None = None,
        env: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
        max_output_bytes: int | None = None,
    ) -> Result:
        """Runs ``code`` in the session, booting its sandbox if it is not up.

        Blocks with the GIL released. ``timeout_s`` and ``max_output_bytes``
        (None: the session's; 0: none) apply to this exec only; a TIMEOUT
        stops this exec, not the session. INTERRUPTED "memory" means the
        sandbox was stopped; the next exec boots a new one on the same
        workspace. Concurrent execs of one session run one after the other.
        """
        if timeout_s is not None:
            _require_number("exec", "timeout_s", timeout_s)
        if max_output_bytes is not None and (
            isinstance(max_output_bytes, bool) or not isinstance(max_output_bytes, int)
        ):
            raise TypeError(f"max_output_bytes must be an int or None, got {type(max_output_bytes).__name__}")
        if max_output_bytes is not None and not 0 <= max_output_bytes < 2**63:
            raise ValueError(f"max_output_bytes must be >= 0 (0 means no limit), got {max_output_bytes}")
        try:
            request: dict[str, Any] = {
                "code": _text("code", code),
                "language": _text("language", language),
                "stdin": None if stdin is None else _content("stdin", stdin),
                "env": _env("env", env),
                "timeout_s": None if timeout_s is None else float(timeout_s),
                "max_output_bytes": max_output_bytes,
            }
        except _BadText as e:
            return Result(status=Status.INVALID_INPUT, message=f"{e}; pass valid Unicode text.")
        return _result(_core.session_exec(self._key, request, self._options, self._config))

    async def exec_async(
        self,
        code: str,
        language: str = "python",
        *,
        stdin: str | bytes | None = None,
        env: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
        max_output_bytes: int | None = None,
    ) -> Result:
        """exec() without blocking the event loop: the exec waits in a worker
        thread. Cancelling the awaiting task does not stop a started exec."""
        call = functools.partial(
            self.exec,
            code,
            language,
            stdin=stdin,
            env=env,
            timeout_s=timeout_s,
            max_output_bytes=max_output_bytes,
        )
        return await asyncio.get_running_loop().run_in_executor(_get_executor(), call)

    def stop(self) -> None:
        """Stops the sandbox (background processes end); the workspace stays.
        The next exec boots a new one. Raises RuntimeError when it cannot."""
        _core.stop_session(self._key, self._config)

    def reset(self) -> None:
        """Stops the sandbox and empties the workspace. Raises RuntimeError
        when it cannot (e.g. another host process uses the session)."""
        _core.reset_session(self._key, self._config)

    def info(self) -> SessionInfo:
        """Where the workspace is and whether the sandbox runs; never waits
        for a running exec (it then reports only key and workspace)."""
        return _session_info(_core.session_info(self._key, self._options, self._config))


def list_sessions(config: Config | None = None) -> list[SessionInfo]:
    """The sessions of ``config`` in this process whose sandbox is running."""
    return [_session_info(raw) for raw in _core.list_sessions(_config(config))]
