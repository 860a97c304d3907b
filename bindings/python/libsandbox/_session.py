"""Persistent sessions: one long-lived sandbox and workspace per user (and chat)."""

from __future__ import annotations

import asyncio
import functools
import signal as _signal
import socket
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from libsandbox import _core
from libsandbox._api import (
    Files,
    _BadText,
    _config,
    _content,
    _file_list,
    _get_executor,
    _get_wait_executor,
    _result,
    _text,
)
from libsandbox._types import (
    Config,
    Limits,
    Reason,
    Result,
    SessionInfo,
    Status,
    _reason,
    _require_number,
)


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


@dataclass(frozen=True, kw_only=True)
class ProcessInfo:
    """A background process of a session (``Session.start``).

    ``exit_code`` is set once it has ended (the code, or 128 + signal);
    ``signal`` is the signal that ended it when the library sent it (kill,
    a timeout, release), else 0. ``reason`` is ``Reason.TIMEOUT``,
    ``Reason.KILLED`` or (its session's sandbox stopped) ``Reason.SANDBOX``
    when that ended it. ``stdout_bytes``/``stderr_bytes`` count everything
    it wrote, kept or not. ``ended_s``: seconds since it ended (its record
    goes ``process_ttl_s`` after that).
    """

    id: str
    command: str  # the code, cut at 64 KiB
    language: str
    running: bool
    exit_code: int | None = None
    reason: Reason = Reason.NONE
    stdout_bytes: int = 0
    stderr_bytes: int = 0
    duration_s: float = 0.0
    signal: int = 0
    pty: bool = False
    ended_s: float = 0.0

    def __post_init__(self) -> None:
        # A plain "memory" given by a caller becomes Reason.MEMORY.
        object.__setattr__(self, "reason", Reason(self.reason))


@dataclass(frozen=True, kw_only=True)
class ProcessOutput:
    """Output of a background process from the offsets a poll asked for.

    Pass ``stdout_offset``/``stderr_offset`` to the next poll. Polls never
    consume: several readers may follow one process at their own offsets.
    ``*_truncated``: output between the asked offset and this is no longer
    kept (only the newest ``max_output_bytes`` of each stream are).
    """

    stdout: bytes
    stderr: bytes
    stdout_offset: int
    stderr_offset: int
    stdout_truncated: bool
    stderr_truncated: bool
    info: ProcessInfo


@dataclass(frozen=True, kw_only=True)
class ListeningPort:
    """A TCP port listening inside a session's sandbox (``Session.list_ports``):
    ``address`` as bound, and the process holding it (``pid`` inside the
    sandbox, 0 when not shown; ``command`` its command line)."""

    port: int
    address: str
    pid: int = 0
    command: str = ""


@dataclass(frozen=True, kw_only=True)
class DirEntry:
    """One entry of ``Session.list_dir``; ``type`` is "file", "directory",
    "symlink" or "other"; ``mtime`` in seconds since the epoch, ``mode`` the
    permission bits, ``writable`` by the sandbox's user."""

    name: str
    type: str
    size: int
    mtime: float = 0.0
    mode: int = 0
    writable: bool = False


@dataclass(frozen=True, kw_only=True)
class FileStat:
    """``Session.stat`` of one path (absolute inside the sandbox); a final
    symlink is described, with its ``target``, not followed."""

    path: str
    name: str
    type: str
    size: int
    mtime: float
    mode: int
    writable: bool
    target: str = ""


@dataclass(frozen=True, kw_only=True)
class FileChunk:
    """``Session.read_file_range``: ``data`` from ``offset`` of a file of
    ``size`` bytes; ``eof`` when it reaches the end."""

    data: bytes
    offset: int
    size: int
    eof: bool


@dataclass(frozen=True, kw_only=True)
class FindMatch:
    """A path ``Session.find`` matched; with ``grep`` also the ``line``
    (from 1) and its ``text`` (cut at 512 bytes)."""

    path: str
    line: int = 0
    text: str = ""


@dataclass(frozen=True, kw_only=True)
class FindResult:
    matches: list[FindMatch]
    truncated: bool = False


@dataclass(frozen=True, kw_only=True)
class DirListing:
    """A directory's entries, sorted by name; ``truncated`` when it has more
    than were listed (at most 10000)."""

    entries: list[DirEntry]
    truncated: bool = False


def _process_info(raw: Mapping[str, Any]) -> ProcessInfo:
    return ProcessInfo(
        id=raw["id"],
        command=raw["command"],
        language=raw["language"],
        running=raw["running"],
        exit_code=raw["exit_code"],
        reason=_reason(raw["reason"]),
        stdout_bytes=raw["stdout_bytes"],
        stderr_bytes=raw["stderr_bytes"],
        duration_s=raw["duration_s"],
        signal=raw["signal"],
        pty=raw["pty"],
        ended_s=raw["ended_s"],
    )


def _process_output(raw: Mapping[str, Any]) -> ProcessOutput:
    return ProcessOutput(
        stdout=raw["stdout"],
        stderr=raw["stderr"],
        stdout_offset=raw["stdout_offset"],
        stderr_offset=raw["stderr_offset"],
        stdout_truncated=raw["stdout_truncated"],
        stderr_truncated=raw["stderr_truncated"],
        info=_process_info(raw["info"]),
    )


MAX_FILE_BYTES = 64 << 20  # one read or write of a session's file


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return value


def _terminal_side(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not 1 <= value <= 1000:
        raise ValueError(f"{name} must be between 1 and 1000, got {value}")
    return value


def _process_id(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"process_id must be a str, got {type(value).__name__}")
    return value


def _offset(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not 0 <= value < 2**63:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def _exec_request(
    code: object,
    language: object,
    stdin: object,
    env: object,
    timeout_s: float | None,
    max_output_bytes: int | None,
    files: object = None,
    keep_files: object = False,
    keep_exclude: object = (),
    keep_config: object = None,
    cwd: object = None,
) -> dict[str, Any]:
    """The ExecRequest dict of exec() and start(); raises _BadText."""
    if not isinstance(keep_files, bool):
        raise TypeError(f"keep_files must be a bool, got {type(keep_files).__name__}")
    if isinstance(keep_exclude, (str, bytes)) or not isinstance(keep_exclude, Sequence):
        raise TypeError(f"keep_exclude must be a sequence of str, got {type(keep_exclude).__name__}")
    if keep_config is not None and not isinstance(keep_config, Config):
        raise TypeError(f"keep_config must be a libsandbox.Config or None, got {type(keep_config).__name__}")
    keep_to: dict[str, Any] = {}
    if keep_config is not None:
        where = keep_config.to_dict()
        keep_to = {"keep_storage_dir": where["storage_dir"], "keep_quota": where["quota"]}
    return {
        "code": _text("code", code),
        "language": _text("language", language),
        "stdin": None if stdin is None else _content("stdin", stdin),
        "env": _env("env", env),
        "timeout_s": None if timeout_s is None else float(timeout_s),
        "max_output_bytes": max_output_bytes,
        "files": [] if files is None else _file_list(files),
        "keep_files": keep_files,
        "keep_exclude": [_text("keep_exclude entry", path) for path in keep_exclude],
        "cwd": "" if cwd is None else _text("cwd", cwd),
        **keep_to,
    }


class Session:
    """The persistent session of ``user`` (and ``policy``, ``chat``); an empty
    ``user`` is refused (ValueError): it would share one workspace.

    Its sandbox boots on the first exec and stays up between execs, so the
    current directory, files and background processes carry over. The
    workspace is a directory below ``<storage_dir>/sessions/`` that outlives
    the sandbox: ``stop()`` (and an idle timeout, ``idle_timeout_s``; 0: 30
    minutes) stop the sandbox and keep it; ``reset()`` empties it.

    ``limits`` cap the whole session (memory, CPU, pids) and give each exec
    its default timeout and output cap (None: the defaults of ``Limits()``
    with a 512 MiB workspace and a 64 MiB /tmp). A ``workspace_mb`` above 0
    makes the workspace an ext4 volume of that size (loop devices needed, and
    disk room for it: ``min_free_bytes``); 0 leaves it an uncapped directory.
    ``env`` is set for every
    exec. The options of the first Session object of a key (in this process
    and ``config``) win while the session exists.

    Execs never raise for what the code does: that is in the Result. Bad
    argument types raise TypeError/ValueError.

    For a terminal server: ``start`` runs a command in the background (on a
    terminal with ``pty=True``) and returns its id; ``poll`` returns its
    output from given offsets and ``wait``/``wait_async`` block until there
    is more; ``write_input``/``close_input`` feed its stdin; ``kill``
    signals it, ``resize`` sets its terminal's size, ``release`` forgets
    it; ``processes`` lists them. At most ``max_processes`` (0: 16, or the
    policy file's ``caps.processes_per_session``) run at once; the record
    of an ended one stays ``process_ttl_s`` (0: 600) seconds. The file
    calls (``read_file``, ``write_file``, ``list_dir``, ``stat``,
    ``make_dir``, ``remove``, ``rename``, ranged and chunked reads and
    writes, ``find``, ``archive``) act inside the sandbox as its user
    (relative paths from /home/user), so only the sandbox's own files are
    reachable; ``list_ports``/``connect_port`` reach its listening ports. These block with the GIL
    released and raise on failure: FileNotFoundError (no such file or
    process), PermissionError, FileExistsError (a rename or make_dir
    target), ValueError (bad argument, file too large), RuntimeError (e.g.
    too many processes or sessions, nothing listening on a port).
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
        max_processes: int = 0,
        process_ttl_s: float = 0.0,
        config: Config | None = None,
    ) -> None:
        if limits is not None and not isinstance(limits, Limits):
            raise TypeError(f"limits must be a libsandbox.Limits or None, got {type(limits).__name__}")
        if not isinstance(network, bool):
            raise TypeError(f"network must be a bool, got {type(network).__name__}")
        _require_number("Session", "idle_timeout_s", idle_timeout_s)
        _require_number("Session", "process_ttl_s", process_ttl_s)
        if isinstance(max_processes, bool) or not isinstance(max_processes, int):
            raise TypeError(f"max_processes must be an int, got {type(max_processes).__name__}")
        try:
            self._key = {
                "user": _text("user", user),
                "policy": _text("policy", policy),
                "chat": _text("chat", chat),
            }
            env_map = _env("env", env)
        except _BadText as e:
            raise ValueError(str(e)) from None
        if not self._key["user"]:
            raise ValueError(
                "user: a session needs a user id (one empty id would give every caller the same "
                "workspace); give each end user their own id"
            )
        self._options: dict[str, Any] = {
            "limits": None if limits is None else limits.to_dict(),
            "network": network,
            "env": env_map,
            "idle_timeout_s": float(idle_timeout_s),
            "max_processes": max_processes,
            "process_ttl_s": float(process_ttl_s),
        }
        self._config = _config(config)
        # The core's handle on the session: nothing is created or booted
        # until its first call.
        self._session = _core.Client(self._config).session(self._key, self._options)

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
        files: Files | None = None,
        keep_files: bool = False,
        keep_exclude: Sequence[str] = (),
        keep_config: Config | None = None,
        cwd: str | None = None,
    ) -> Result:
        """Runs ``code`` in the session, booting its sandbox if it is not up.

        Blocks with the GIL released. ``timeout_s`` and ``max_output_bytes``
        (None: the session's; 0: none) apply to this exec only; a TIMEOUT
        stops this exec, not the session. INTERRUPTED "memory" means the
        sandbox was stopped; the next exec boots a new one on the same
        workspace. Concurrent execs of one session run one after the other.

        ``files`` (as for ``run``: paths relative to the home directory,
        content bytes or str) are written into the workspace before the code
        runs, replacing what is there and never through a symbolic link.
        With ``keep_files`` the files this exec created or changed in the
        workspace (but not ``files`` it left unchanged, nor the paths in
        ``keep_exclude``) are kept like a run's: in ``config.storage_dir``
        under its quotas, listed in ``Result.files`` (STORAGE_ERROR when
        they break a quota). ``keep_config`` keeps them in its
        ``storage_dir`` under its quotas instead (its other fields are not
        used), e.g. for front ends that share a session but serve their own
        directories.

        ``cwd`` (relative: to /home/user) runs it there instead of where the
        last exec ended, and leaves the session's cwd where it was; a missing
        directory makes it an ERROR that names it.
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
            request = _exec_request(
                code,
                language,
                stdin,
                env,
                timeout_s,
                max_output_bytes,
                files,
                keep_files,
                keep_exclude,
                keep_config,
                cwd,
            )
        except _BadText as e:
            return Result(status=Status.INVALID_INPUT, message=f"{e}; pass valid Unicode text.")
        return _result(self._session.exec(request))

    async def exec_async(
        self,
        code: str,
        language: str = "python",
        *,
        stdin: str | bytes | None = None,
        env: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
        max_output_bytes: int | None = None,
        files: Files | None = None,
        keep_files: bool = False,
        keep_exclude: Sequence[str] = (),
        keep_config: Config | None = None,
        cwd: str | None = None,
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
            files=files,
            keep_files=keep_files,
            keep_exclude=keep_exclude,
            keep_config=keep_config,
            cwd=cwd,
        )
        return await asyncio.get_running_loop().run_in_executor(_get_executor(), call)

    def start(
        self,
        code: str,
        language: str = "python",
        *,
        stdin: str | bytes | None = None,
        env: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
        max_output_bytes: int | None = None,
        cwd: str | None = None,
        pty: bool = False,
        rows: int = 24,
        cols: int = 80,
    ) -> str:
        """Starts ``code`` in the background and returns its process id at
        once, booting the sandbox if needed. It starts in ``cwd`` (relative:
        to /home/user), else where the last exec ended.

        Its stdin stays open for ``write_input`` (``stdin`` comes first). No
        timeout unless ``timeout_s`` is given. The newest ``max_output_bytes``
        (None: the session's; 0: 1 MiB) of each stream are kept. With ``pty``
        it runs on a terminal of ``rows`` x ``cols`` (TERM=xterm-256color
        unless ``env`` sets it): echo, line editing, job control, Ctrl-C as
        input, ``resize``; all output comes as stdout. At most
        ``max_processes`` (16) run at once per session (RuntimeError).
        """
        if timeout_s is not None:
            _require_number("start", "timeout_s", timeout_s)
        if max_output_bytes is not None:
            _offset("max_output_bytes", max_output_bytes)
        if not isinstance(pty, bool):
            raise TypeError(f"pty must be a bool, got {type(pty).__name__}")
        size = (_terminal_side("rows", rows), _terminal_side("cols", cols))
        try:
            request = _exec_request(code, language, stdin, env, timeout_s, max_output_bytes, cwd=cwd)
        except _BadText as e:
            raise ValueError(str(e)) from None
        if pty:
            request.update(pty=True, rows=size[0], cols=size[1])
        elif (rows, cols) != (24, 80):
            raise ValueError("rows and cols: only with pty=True")
        return self._session.start(request)

    def poll(self, process_id: str, stdout_offset: int = 0, stderr_offset: int = 0) -> ProcessOutput:
        """Output of a background process from the given offsets (0 the
        first time, then those of the last answer). Never consumes: the
        record stays until ``release`` or ``process_ttl_s`` after the end."""
        return _process_output(
            self._session.poll(
                _process_id(process_id),
                _offset("stdout_offset", stdout_offset),
                _offset("stderr_offset", stderr_offset),
            )
        )

    def wait(
        self,
        process_id: str,
        stdout_offset: int = 0,
        stderr_offset: int = 0,
        timeout_s: float = 30.0,
    ) -> ProcessOutput:
        """``poll`` once there is output past either offset, the process has
        ended, or ``timeout_s`` (at most 600) passed. Blocks with the GIL
        released; no busy polling."""
        _require_number("wait", "timeout_s", timeout_s)
        if not 0 <= timeout_s <= 600:
            raise ValueError(f"timeout_s must be between 0 and 600, got {timeout_s}")
        return _process_output(
            self._session.wait(
                _process_id(process_id),
                _offset("stdout_offset", stdout_offset),
                _offset("stderr_offset", stderr_offset),
                float(timeout_s),
            )
        )

    async def wait_async(
        self,
        process_id: str,
        stdout_offset: int = 0,
        stderr_offset: int = 0,
        timeout_s: float = 30.0,
    ) -> ProcessOutput:
        """wait() without blocking the event loop (in a thread pool of its
        own, so many waiters never hold up runs)."""
        call = functools.partial(self.wait, process_id, stdout_offset, stderr_offset, timeout_s)
        return await asyncio.get_running_loop().run_in_executor(_get_wait_executor(), call)

    def release(self, process_id: str) -> None:
        """Forgets the process's record, killing it first if it still runs."""
        self._session.release(_process_id(process_id))

    def resize(self, process_id: str, rows: int, cols: int) -> None:
        """Sets a ``pty`` process's terminal size; it gets SIGWINCH."""
        self._session.resize(
            _process_id(process_id), _terminal_side("rows", rows), _terminal_side("cols", cols)
        )

    def write_input(self, process_id: str, data: str | bytes) -> None:
        """Queues ``data`` for the process's stdin (str as UTF-8)."""
        try:
            content = _content("data", data)
        except _BadText as e:
            raise ValueError(str(e)) from None
        self._session.write_input(_process_id(process_id), content)

    def close_input(self, process_id: str) -> None:
        """Closes the process's stdin once queued input is written."""
        self._session.close_input(_process_id(process_id))

    def kill(self, process_id: str, signal: int = _signal.SIGKILL) -> None:
        """Sends ``signal`` (1..31) to the process and its children."""
        if isinstance(signal, bool) or not isinstance(signal, int):
            raise TypeError(f"signal must be an int, got {type(signal).__name__}")
        if not 1 <= signal <= 31:
            raise ValueError(f"signal must be between 1 and 31, got {signal}")
        self._session.kill(_process_id(process_id), int(signal))

    def processes(self) -> list[ProcessInfo]:
        """Running background processes and kept records, by start order."""
        return [_process_info(raw) for raw in self._session.processes()]

    def list_ports(self) -> list[ListeningPort]:
        """The TCP ports listening inside the sandbox, by port."""
        return [
            ListeningPort(port=p["port"], address=p["address"], pid=p["pid"], command=p["command"])
            for p in self._session.list_ports()["ports"]
        ]

    def connect_port(self, port: int) -> socket.socket:
        """A byte stream to ``port`` on the sandbox's own loopback, e.g. for
        a reverse proxy: a connected socket the caller owns (closing it ends
        the relay inside; ``asyncio.open_connection(sock=...)`` takes it).
        Nothing is exposed on the host's network. RuntimeError when nothing
        listens there or 64 streams of the session are open."""
        if isinstance(port, bool) or not isinstance(port, int):
            raise TypeError(f"port must be an int, got {type(port).__name__}")
        if not 1 <= port <= 65535:
            raise ValueError(f"port must be between 1 and 65535, got {port}")
        return socket.socket(fileno=self._session.connect_port(port))

    def read_file(self, path: str, max_bytes: int = 1 << 20) -> bytes:
        """A regular file's bytes, read inside the sandbox; ValueError when
        it is larger than ``max_bytes`` (at most 64 MiB)."""
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int):
            raise TypeError(f"max_bytes must be an int, got {type(max_bytes).__name__}")
        if not 1 <= max_bytes <= 64 << 20:
            raise ValueError(f"max_bytes must be between 1 and {64 << 20}, got {max_bytes}")
        return self._session.read_file(self._path(path), max_bytes)

    def write_file(self, path: str, data: str | bytes) -> None:
        """Creates or replaces a regular file (and missing parent
        directories) inside the sandbox; str is written as UTF-8."""
        try:
            content = _content("data", data)
        except _BadText as e:
            raise ValueError(str(e)) from None
        self._session.write_file(self._path(path), content)

    def list_dir(self, path: str = ".") -> DirListing:
        """A directory's entries, listed inside the sandbox."""
        raw = self._session.list_dir(self._path(path))
        entries = [DirEntry(**e) for e in raw["entries"]]
        return DirListing(entries=entries, truncated=raw["truncated"])

    def stat(self, path: str) -> FileStat:
        """One path, inside the sandbox; a final symlink is not followed."""
        return FileStat(**self._session.stat(self._path(path)))

    def make_dir(self, path: str, parents: bool = True) -> None:
        """Makes a directory; with ``parents`` (the default) also missing
        parents and no error when it exists. FileExistsError otherwise."""
        self._session.make_dir(self._path(path), _flag("parents", parents))

    def remove(self, path: str, recursive: bool = False) -> None:
        """Removes a file, a symlink (never its target) or an empty
        directory; ``recursive`` removes a tree without following symlinks.
        The workspace itself is never removed (ValueError)."""
        self._session.remove(self._path(path), _flag("recursive", recursive))

    def rename(self, source: str, target: str) -> None:
        """Moves ``source`` to ``target``; FileExistsError when ``target``
        exists (it is never replaced)."""
        self._session.rename(self._path(source), self._path(target))

    def read_file_range(self, path: str, offset: int, length: int) -> FileChunk:
        """At most ``length`` (up to 64 MiB) bytes from ``offset``."""
        _offset("offset", offset)
        if isinstance(length, bool) or not isinstance(length, int) or not 1 <= length <= MAX_FILE_BYTES:
            raise ValueError(f"length must be an int between 1 and {MAX_FILE_BYTES}, got {length!r}")
        return FileChunk(**self._session.read_file_range(self._path(path), offset, length))

    def read_file_chunks(self, path: str, chunk_bytes: int = 32 << 20) -> Iterator[bytes]:
        """A file of any size, ``chunk_bytes`` at a time (each one call into
        the sandbox), so neither side ever holds all of it. 32 MiB chunks
        move about 2.5x faster than 8 MiB ones (bench/session_terminal.py)."""
        offset = 0
        while True:
            chunk = self.read_file_range(path, offset, chunk_bytes)
            if chunk.data:
                yield chunk.data
            offset += len(chunk.data)
            if chunk.eof or not chunk.data:
                return

    def write_file_at(self, path: str, data: str | bytes, offset: int) -> None:
        """Writes ``data`` at ``offset`` without truncating (the file and its
        parents made if missing)."""
        self._session.write_file_at(self._path(path), self._data(data), _offset("offset", offset))

    def append_file(self, path: str, data: str | bytes) -> None:
        """Appends ``data`` to a file (made if missing)."""
        self._session.append_file(self._path(path), self._data(data))

    def upload_file(self, path: str, chunks: Iterable[bytes]) -> int:
        """Replaces a file with the concatenated ``chunks`` (each at most 64
        MiB), one call into the sandbox per chunk, so a large upload never
        sits whole in memory. Returns the bytes written."""
        target = self._path(path)
        self._session.write_file(target, b"")
        written = 0
        for chunk in chunks:
            data = self._data(chunk)
            if data:
                self._session.write_file_at(target, data, written)
                written += len(data)
        return written

    def find(
        self,
        path: str = ".",
        glob: str = "*",
        grep: str = "",
        *,
        regex: bool = False,
        max_results: int = 1000,
    ) -> FindResult:
        """Paths below ``path`` whose name matches ``glob`` and, with
        ``grep`` (a fixed string, or with ``regex`` a Python regex), the
        lines of text files (up to 8 MiB each) holding it. Symlinks are not
        followed; ``truncated`` past ``max_results`` (at most 10000)."""
        request = {
            "path": self._path(path),
            "glob": _text("glob", glob),
            "grep": _text("grep", grep),
            "regex": _flag("regex", regex),
            "max_results": _offset("max_results", max_results),
        }
        raw = self._session.find(request)
        return FindResult(matches=[FindMatch(**m) for m in raw["matches"]], truncated=raw["truncated"])

    def archive(self, paths: Sequence[str], max_bytes: int = MAX_FILE_BYTES) -> bytes:
        """A zip of ``paths`` (directories whole, symlinks left out); ValueError
        when it would be larger than ``max_bytes`` (at most 64 MiB)."""
        if isinstance(paths, str) or not isinstance(paths, Sequence):
            raise TypeError(f"paths must be a sequence of str, got {type(paths).__name__}")
        return self._session.archive([self._path(p) for p in paths], _offset("max_bytes", max_bytes))

    @staticmethod
    def _data(data: object) -> bytes:
        try:
            return _content("data", data)
        except _BadText as e:
            raise ValueError(str(e)) from None

    @staticmethod
    def _path(path: object) -> str:
        try:
            return _text("path", path)
        except _BadText as e:
            raise ValueError(str(e)) from None

    def stop(self) -> None:
        """Stops the sandbox (background processes end); the workspace stays.
        The next exec boots a new one. Raises RuntimeError when it cannot."""
        self._session.stop()

    def reset(self) -> None:
        """Stops the sandbox and empties the workspace. Raises RuntimeError
        when it cannot (e.g. another host process uses the session)."""
        self._session.reset()

    def info(self) -> SessionInfo:
        """Where the workspace is and whether the sandbox runs; never waits
        for a running exec (it then reports only key and workspace)."""
        return _session_info(self._session.info())


def list_sessions(config: Config | None = None) -> list[SessionInfo]:
    """The sessions of ``config`` in this process whose sandbox is running."""
    return [_session_info(raw) for raw in _core.list_sessions(_config(config))]
