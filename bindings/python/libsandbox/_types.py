"""The typed values of the public API: Status, Limits, Config, File, Result, Check, AuditRecord,
SessionInfo.

Configuration classes validate on construction, so a bad value fails where it
is written (ValueError for a bad value, TypeError for a wrong type or an unknown
field) rather than somewhere inside a run.
"""

from __future__ import annotations

import base64
import enum
import ipaddress
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

_INT64_MAX = 2**63 - 1
_INT32_MAX = 2**31 - 1
# Sizes in MiB become bytes on the C++ side; they must still fit in 64 bits.
_MIB_MAX = _INT64_MAX >> 20
# Goes onto runsc's command line: a plain word, never something flag-like.
_PLATFORM_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
# The formats the core reads a policy file in, chosen by extension.
_POLICY_FILE_SUFFIXES = (".textproto", ".txtpb", ".pbtxt", ".json")


class Status(enum.Enum):
    """How a run ended. ``status.name`` is the contract's string ("OK", ...)."""

    OK = "OK"
    ERROR = "ERROR"
    TIMEOUT = "TIMEOUT"
    INTERRUPTED = "INTERRUPTED"
    STORAGE_ERROR = "STORAGE_ERROR"
    SANDBOX_ERROR = "SANDBOX_ERROR"
    INVALID_INPUT = "INVALID_INPUT"


class Reason(str, enum.Enum):
    """Why a run, exec or background process ended the way it did, when its
    status alone does not say. Each member is the contract's string, so
    ``result.reason == "memory"`` and ``result.reason is Reason.MEMORY`` both
    hold; ``Reason.NONE`` is ``""``."""

    NONE = ""
    MEMORY = "memory"  # out of memory, stopped
    PIDS = "pids"  # over max_pids, stopped
    TIMEOUT = "timeout"  # past its wall-clock limit, stopped
    SANDBOX = "sandbox"  # a session's sandbox stopped under it
    SETUP = "setup"  # the sandbox could not be set up or started
    POLICY = "policy"  # refused by the policy or the admin caps
    BUSY = "busy"  # no room to run now; try again later
    KILLED = "killed"  # a background process killed on request

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


def _reason(name: str) -> Reason:
    """The member named ``name`` by the core; NONE for one this package does
    not know (the core and this package ship together, so only a mismatched
    build gets there)."""
    try:
        return Reason(name)
    except ValueError:
        return Reason.NONE


def _require_int(
    owner: str, name: str, value: object, maximum: int = _INT64_MAX, zero: str = "no limit"
) -> None:
    # bool is an int subclass; Limits(memory_mb=True) is a bug, not 1 MiB.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{owner}.{name} must be an int, got {type(value).__name__}")
    if not 0 <= value <= maximum:
        raise ValueError(f"{owner}.{name} must be between 0 and {maximum} (0 means {zero}), got {value}")


def _require_number(owner: str, name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{owner}.{name} must be a number, got {type(value).__name__}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{owner}.{name} must be a finite number >= 0 (0 means no limit), got {value}")


def _require_bool(owner: str, name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{owner}.{name} must be a bool, got {type(value).__name__}")


def _require_text(owner: str, name: str, value: object) -> str:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise TypeError(f"{owner}.{name} must be a str, got {type(value).__name__}")
    if "\0" in value:
        raise ValueError(f"{owner}.{name} must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{owner}.{name} is not valid UTF-8 text") from None
    return value


def _require_texts(owner: str, name: str, value: object) -> tuple[str, ...]:
    # A bare string is a sequence of characters; that is never what was meant.
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{owner}.{name} must be a list of str, got {type(value).__name__}")
    return tuple(_require_text(owner, f"{name}[{i}]", v) for i, v in enumerate(value))


@dataclass(frozen=True)
class Limits:
    """Caps for one run. 0 means "no limit" for every field.

    ``tmp_mb`` sizes /tmp (0: same as ``workspace_mb``). A run without limits
    uses these defaults.
    """

    timeout_s: float = 30.0
    memory_mb: int = 128
    cpus: float = 1.0
    max_pids: int = 128
    max_output_bytes: int = 1048576
    workspace_mb: int = 64
    tmp_mb: int = 0

    def __post_init__(self) -> None:
        _require_number("Limits", "timeout_s", self.timeout_s)
        _require_int("Limits", "memory_mb", self.memory_mb, _MIB_MAX)
        _require_number("Limits", "cpus", self.cpus)
        _require_int("Limits", "max_pids", self.max_pids)
        _require_int("Limits", "max_output_bytes", self.max_output_bytes)
        _require_int("Limits", "workspace_mb", self.workspace_mb, _MIB_MAX)
        _require_int("Limits", "tmp_mb", self.tmp_mb, _MIB_MAX)

    def to_dict(self) -> dict[str, Any]:
        return {
            "timeout_s": float(self.timeout_s),
            "memory_mb": self.memory_mb,
            "cpus": float(self.cpus),
            "max_pids": self.max_pids,
            "max_output_bytes": self.max_output_bytes,
            "workspace_mb": self.workspace_mb,
            "tmp_mb": self.tmp_mb,
        }


def _require_limits(owner: str, name: str, value: object) -> Limits | None:
    if value is None or isinstance(value, Limits):
        return value
    # Settings read from JSON or a valve mapping arrive as a dict.
    if isinstance(value, Mapping):
        try:
            return Limits(**value)
        except TypeError as e:
            raise TypeError(f"{owner}.{name}: {e}") from None
        except ValueError as e:
            raise ValueError(f"{owner}.{name}: {e}") from None
    raise TypeError(f"{owner}.{name} must be a libsandbox.Limits or None, got {type(value).__name__}")


@dataclass(frozen=True, kw_only=True)
class Config:
    """Where and how sandboxes run. Every field is optional.

    Paths accept str or os.PathLike and are kept as str. Empty paths mean the
    library's defaults (runsc from PATH, /run/libsandbox, /var/lib/libsandbox/files).
    The quota fields bound the files kept from runs (defaults: 32 files per
    run, 4096 files and 256 MiB per user, 256 MiB of the disk left free, which
    also counts the room of mounted session workspaces); 0 means no limit.
    ``pool_size`` keeps that many pre-booted sandboxes per pool language (each
    used for one run only; 0: no pool); under demand the pool grows up to
    ``pool_max_size`` per language (0: sized to the host's cores and memory;
    equal to ``pool_size``: no growth) and shrinks back after a quiet minute.
    Configs that boot the same sandboxes share one pool per process, sized by
    the newest of them (so ``pool_size=0`` in a new Config drains it).
    ``max_concurrent``,
    ``max_concurrent_per_user`` and ``max_queued`` cap the runs at once and
    waiting (0: 32, 8 and 256); a queued run gives up after ``queue_timeout_s``
    (0: 60 s). ``pool_limits`` are the caps pooled sandboxes boot with (None:
    the defaults of ``Limits()``); a run takes a pooled sandbox only if its
    /tmp size matches, its other caps apply when it takes one. A mapping of
    Limits fields is accepted and kept as a Limits.

    ``policy_file`` names the admin's policy set (caps and named policies, as
    .textproto/.txtpb/.pbtxt or .json; re-read when it changes); runs then
    choose a policy with ``run(..., policy=...)``. With ``audit`` every run
    appends a record to ``audit_path`` (empty: ``<state_dir>/audit.log``),
    readable with ``query_audit()``, and so does every call on a session
    (``audit_skip_file_reads`` leaves out its file reads and listings); the
    code itself is logged only with ``audit_code``.

    ``egress_dns_server`` ("IP" or "IP:PORT") is where the egress proxy of
    allowlist runs resolves names (empty: the host's /etc/resolv.conf).

    ``max_sessions`` caps the session sandboxes running at once (0: 64);
    booting one more first stops the least recently used idle session (of the
    user holding the most), and with none idle the session call fails naming
    ``max_sessions``. ``max_sessions_per_user`` (0: 4; the policy file's
    ``caps.sessions_per_user`` wins) caps one user's: at it, the user's own
    least recently used idle session is stopped, or the call fails naming
    it; another user's never is.

    On cgroup v2 the library moves the processes of its own cgroup into a
    leaf (``libsandbox-host``) once, so that the cgroup can hand memory, CPU
    and pids controllers to sandbox cgroups beside it. ``keep_cgroup_processes``
    forbids moving any process but this one: a cgroup shared with other
    processes then refuses capped runs, naming the fix.
    """

    runsc_path: str = ""
    state_dir: str = ""
    storage_dir: str = ""
    allow_unenforced_limits: bool = False
    platform: str = ""
    allowed_cidrs: Sequence[str] = ()
    extra_ro_mounts: Sequence[str] = ()
    debug: bool = False
    max_files_per_execution: int = 32
    max_files_per_user: int = 4096
    max_bytes_per_user: int = 256 << 20
    min_free_bytes: int = 256 << 20
    pool_size: int = 0
    pool_max_size: int = 0
    pool_languages: Sequence[str] = ()
    max_concurrent: int = 0
    max_concurrent_per_user: int = 0
    max_queued: int = 0
    queue_timeout_s: float = 0.0
    policy_file: str = ""
    audit: bool = False
    audit_code: bool = False
    audit_path: str = ""
    audit_skip_file_reads: bool = False
    pool_limits: Limits | None = None
    max_sessions: int = 0
    max_sessions_per_user: int = 0
    egress_dns_server: str = ""
    keep_cgroup_processes: bool = False

    def __post_init__(self) -> None:
        paths = ("runsc_path", "state_dir", "storage_dir", "policy_file", "audit_path", "egress_dns_server")
        for name in paths:
            object.__setattr__(self, name, _require_text("Config", name, getattr(self, name)))
        _require_bool("Config", "allow_unenforced_limits", self.allow_unenforced_limits)
        _require_bool("Config", "debug", self.debug)
        _require_bool("Config", "audit", self.audit)
        _require_bool("Config", "audit_code", self.audit_code)
        _require_bool("Config", "audit_skip_file_reads", self.audit_skip_file_reads)
        _require_bool("Config", "keep_cgroup_processes", self.keep_cgroup_processes)
        # Caught here rather than as a SANDBOX_ERROR on every run.
        if self.policy_file and not self.policy_file.endswith(_POLICY_FILE_SUFFIXES):
            raise ValueError(
                f"Config.policy_file must end in {', '.join(_POLICY_FILE_SUFFIXES)}, got {self.policy_file!r}"
            )
        platform = _require_text("Config", "platform", self.platform)
        if platform and not _PLATFORM_RE.fullmatch(platform):
            raise ValueError(f"Config.platform must be a runsc platform name like 'ptrace', got {platform!r}")
        cidrs = _require_texts("Config", "allowed_cidrs", self.allowed_cidrs)
        for cidr in cidrs:
            try:
                ipaddress.ip_network(cidr, strict=True)
            except ValueError as e:
                raise ValueError(
                    f"Config.allowed_cidrs: {cidr!r} is not a network like '10.0.0.0/8': {e}"
                ) from None
        object.__setattr__(self, "allowed_cidrs", cidrs)
        mounts = _require_texts("Config", "extra_ro_mounts", self.extra_ro_mounts)
        for mount in mounts:
            parts = mount.split(":")
            if len(parts) > 2 or not all(p.startswith("/") for p in parts):
                raise ValueError(
                    f"Config.extra_ro_mounts: {mount!r} must be 'HOST_PATH' or "
                    "'HOST_PATH:SANDBOX_PATH' with absolute paths"
                )
        object.__setattr__(self, "extra_ro_mounts", mounts)
        for name in ("max_files_per_execution", "max_files_per_user", "max_bytes_per_user", "min_free_bytes"):
            _require_int("Config", name, getattr(self, name))
        _require_int("Config", "pool_size", self.pool_size, _INT32_MAX, zero="no pool")
        _require_int("Config", "pool_max_size", self.pool_max_size, _INT32_MAX, zero="auto")
        for name, zero in (("max_concurrent", "32"), ("max_concurrent_per_user", "8"), ("max_queued", "256")):
            _require_int("Config", name, getattr(self, name), _INT32_MAX, zero=zero)
        pool_languages = _require_texts("Config", "pool_languages", self.pool_languages)
        object.__setattr__(self, "pool_languages", pool_languages)
        _require_number("Config", "queue_timeout_s", self.queue_timeout_s)
        _require_int("Config", "max_sessions", self.max_sessions, _INT32_MAX, zero="64")
        _require_int("Config", "max_sessions_per_user", self.max_sessions_per_user, _INT32_MAX, zero="4")
        object.__setattr__(self, "pool_limits", _require_limits("Config", "pool_limits", self.pool_limits))

    def to_dict(self) -> dict[str, Any]:
        return {
            "runsc_path": self.runsc_path,
            "state_dir": self.state_dir,
            "storage_dir": self.storage_dir,
            "allow_unenforced_limits": self.allow_unenforced_limits,
            "platform": self.platform,
            "allowed_cidrs": list(self.allowed_cidrs),
            "extra_ro_mounts": list(self.extra_ro_mounts),
            "debug": self.debug,
            "pool_size": self.pool_size,
            "pool_max_size": self.pool_max_size,
            "pool_languages": list(self.pool_languages),
            "max_concurrent": self.max_concurrent,
            "max_concurrent_per_user": self.max_concurrent_per_user,
            "max_queued": self.max_queued,
            "queue_timeout_s": float(self.queue_timeout_s),
            "policy_file": self.policy_file,
            "audit": self.audit,
            "audit_code": self.audit_code,
            "audit_path": self.audit_path,
            "audit_skip_file_reads": self.audit_skip_file_reads,
            "pool_limits": None if self.pool_limits is None else self.pool_limits.to_dict(),
            "max_sessions": self.max_sessions,
            "max_sessions_per_user": self.max_sessions_per_user,
            "egress_dns_server": self.egress_dns_server,
            "keep_cgroup_processes": self.keep_cgroup_processes,
            "quota": {
                "max_files_per_execution": self.max_files_per_execution,
                "max_files_per_user": self.max_files_per_user,
                "max_bytes_per_user": self.max_bytes_per_user,
                "min_free_bytes": self.min_free_bytes,
            },
        }


@dataclass(frozen=True)
class File:
    """A file the run left in its workspace, kept in the user's storage."""

    path: str  # relative to the workspace
    size: int
    host_path: str  # where it is kept on the host

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "host_path": self.host_path}


@dataclass(frozen=True)
class Output:
    """A rich output of a run: a matplotlib figure (captured without the code
    asking) or an image the code saved. ``data`` is the file's bytes."""

    mime_type: str  # image/png, image/svg+xml, image/jpeg, ...
    data: bytes
    name: str  # e.g. figure-1.png, or the saved file's path

    def to_dict(self) -> dict[str, Any]:
        """``data`` as base64 text, so the dict is JSON-ready."""
        return {"mime_type": self.mime_type, "data": base64.b64encode(self.data).decode(), "name": self.name}


@dataclass(frozen=True)
class EgressAllowlist:
    """The only names (and ports) an allowlist run may reach, through the
    host's filtering proxy. ``"*.x.org"`` matches subdomains only; ports
    default to 443. Needs ``network=True``."""

    domains: Sequence[str]
    ports: Sequence[int] = ()

    def __post_init__(self) -> None:
        domains = _require_texts("EgressAllowlist", "domains", self.domains)
        if not domains:
            raise ValueError("EgressAllowlist.domains must name at least one domain")
        object.__setattr__(self, "domains", domains)
        ports = tuple(self.ports)
        for port in ports:
            if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
                raise ValueError(f"EgressAllowlist.ports: {port!r} is not a port (1..65535)")
        object.__setattr__(self, "ports", ports)

    def to_dict(self) -> dict[str, Any]:
        return {"domains": list(self.domains), "ports": list(self.ports)}


@dataclass(frozen=True)
class Egress:
    """What an allowlist run's proxy let through and refused: ``denials``
    holds the first refusals as ``"HOST:PORT: reason"`` (escaped, cut short;
    the host part comes from the sandboxed code)."""

    allowed: int = 0
    denied: int = 0
    denials: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "denied": self.denied, "denials": list(self.denials)}


@dataclass(frozen=True)
class Result:
    """What happened in one run. Runs never raise: failures are a status here."""

    status: Status
    reason: Reason = Reason.NONE  # e.g. Reason.MEMORY ("memory") for INTERRUPTED
    exit_code: int | None = None
    stdout: str = ""  # invalid UTF-8 replaced
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    duration_s: float = 0.0
    files: list[File] = field(default_factory=list)
    message: str = ""  # what happened and what to change, for non-OK results
    egress: Egress | None = None  # allowlist runs only
    # Figures, then saved images, in order; at most 16, 8 MiB each, 32 MiB in all.
    outputs: list[Output] = field(default_factory=list)

    def __post_init__(self) -> None:
        # A plain "memory" given by a caller becomes Reason.MEMORY.
        object.__setattr__(self, "reason", Reason(self.reason))

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``status`` is its name, ``files`` a list of dicts."""
        return {
            "status": self.status.name,
            "reason": self.reason.value,
            "exit_code": self.exit_code,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "stdout_truncated": self.stdout_truncated,
            "stderr_truncated": self.stderr_truncated,
            "duration_s": self.duration_s,
            "files": [f.to_dict() for f in self.files],
            "message": self.message,
            "egress": None if self.egress is None else self.egress.to_dict(),
            "outputs": [o.to_dict() for o in self.outputs],
        }


@dataclass(frozen=True)
class Check:
    """One host self-check from doctor()."""

    name: str
    ok: bool
    detail: str
    remedy: str  # what to change when not ok

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "remedy": self.remedy}


@dataclass(frozen=True, kw_only=True)
class AuditRecord:
    """One run, or one call on a session, in the audit log (see
    ``Config.audit`` and ``query_audit()``). ``call`` says which: ``"run"``,
    or a session's ``"exec"``, ``"start"``, ``"input"``, ``"close_input"``,
    ``"kill"``, ``"write_file"``, ``"read_file"``, ``"list_dir"``, ``"stop"``,
    ``"reset"``; a failed call carries its ``error``.

    Fields written by the sandboxed code's run (``reason``, ``code``) are
    untrusted text, with invalid UTF-8 replaced.
    """

    time: str  # RFC 3339, UTC, when the run was logged
    user: str
    policy: str  # the policy asked for; empty: none
    language: str
    status: Status
    reason: Reason = Reason.NONE
    exit_code: int | None = None
    duration_s: float = 0.0
    stdout_bytes: int = 0
    stderr_bytes: int = 0
    files: int = 0  # files kept
    file_bytes: int = 0
    code: str | None = None  # only when the config has audit_code; cut at 64 KiB
    code_truncated: bool = False
    egress_allowed: int = 0  # allowlist runs: connections let through
    egress_denied: int = 0  # and attempts refused
    egress_denials: list[str] = field(default_factory=list)  # the first refusals
    call: str = "run"
    chat: str = ""  # sessions: the key's chat
    process: str = ""  # start, input, close_input, kill
    path: str = ""  # file calls
    bytes: int = 0  # input and write_file: sent; read_file: read
    signal: int = 0  # kill
    error: str = ""  # a failed call's error

    def __post_init__(self) -> None:
        # A plain "memory" given by a caller becomes Reason.MEMORY.
        object.__setattr__(self, "reason", Reason(self.reason))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``status`` is its name."""
        return {
            "time": self.time,
            "user": self.user,
            "policy": self.policy,
            "language": self.language,
            "status": self.status.name,
            "reason": self.reason.value,
            "exit_code": self.exit_code,
            "duration_s": self.duration_s,
            "stdout_bytes": self.stdout_bytes,
            "stderr_bytes": self.stderr_bytes,
            "files": self.files,
            "file_bytes": self.file_bytes,
            "code": self.code,
            "code_truncated": self.code_truncated,
            "egress_allowed": self.egress_allowed,
            "egress_denied": self.egress_denied,
            "egress_denials": list(self.egress_denials),
            "call": self.call,
            "chat": self.chat,
            "process": self.process,
            "path": self.path,
            "bytes": self.bytes,
            "signal": self.signal,
            "error": self.error,
        }


@dataclass(frozen=True, kw_only=True)
class SessionInfo:
    """A persistent session: whose it is, where its workspace is, how busy it is.

    ``user``, ``policy`` and ``chat`` are the session's key. ``execs`` counts
    the execs in the current sandbox, ``idle_s`` the seconds since the last
    one ended, ``memory_bytes`` what the sandbox uses now (0 when unknown or
    not running). ``running`` says whether its sandbox is up.
    """

    user: str
    policy: str
    chat: str
    workspace: str  # host path of the persistent workspace
    execs: int = 0
    idle_s: float = 0.0
    memory_bytes: int = 0
    running: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "policy": self.policy,
            "chat": self.chat,
            "workspace": self.workspace,
            "execs": self.execs,
            "idle_s": self.idle_s,
            "memory_bytes": self.memory_bytes,
            "running": self.running,
        }
