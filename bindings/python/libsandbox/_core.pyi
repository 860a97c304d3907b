# Stubs for the compiled core. Dicts are shaped like the messages of config.proto.

from collections.abc import Mapping
from typing import Any, TypedDict, type_check_only

VERSION: str
DEFAULT_LANGUAGE: str
DEFAULT_READ_BYTES: int

@type_check_only
class _FileDict(TypedDict):
    path: str
    size: int
    host_path: str

@type_check_only
class _ResultDict(TypedDict):
    status: str
    reason: str
    exit_code: int | None
    stdout: str
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool
    duration_s: float
    files: list[_FileDict]
    message: str

@type_check_only
class _CheckDict(TypedDict):
    name: str
    ok: bool
    detail: str
    remedy: str

@type_check_only
class _AuditRecordDict(TypedDict):
    time: str
    user: str
    policy: str
    language: str
    status: str
    reason: str
    exit_code: int | None
    duration_s: float
    stdout_bytes: int
    stderr_bytes: int
    files: int
    file_bytes: int
    code: str | None
    code_truncated: bool

@type_check_only
class _SessionKeyDict(TypedDict):
    user: str
    policy: str
    chat: str

@type_check_only
class _SessionInfoDict(TypedDict):
    key: _SessionKeyDict | None
    workspace: str
    execs: int
    idle_s: float
    memory_bytes: int
    running: bool

@type_check_only
class _ProcessInfoDict(TypedDict):
    id: str
    command: str
    language: str
    running: bool
    exit_code: int | None
    reason: str
    stdout_bytes: int
    stderr_bytes: int
    duration_s: float

@type_check_only
class _ProcessOutputDict(TypedDict):
    stdout: bytes
    stderr: bytes
    stdout_offset: int
    stderr_offset: int
    stdout_truncated: bool
    stderr_truncated: bool
    info: _ProcessInfoDict

@type_check_only
class _DirEntryDict(TypedDict):
    name: str
    type: str
    size: int

@type_check_only
class _DirListingDict(TypedDict):
    entries: list[_DirEntryDict]
    truncated: bool

MAX_AUDIT_QUERY_LIMIT: int

def run(request: dict[str, Any], config: dict[str, Any]) -> _ResultDict: ...
def runsc_version(config: dict[str, Any]) -> str: ...
def doctor(config: dict[str, Any]) -> list[_CheckDict]: ...
def default_limits() -> dict[str, Any]: ...
def resolved_config(config: dict[str, Any]) -> dict[str, Any]: ...
def query_audit(config: dict[str, Any], user: str, limit: int) -> list[_AuditRecordDict]: ...
def get_policies(config: dict[str, Any]) -> dict[str, Any]: ...
def set_policies(policy_set: Mapping[str, Any], config: dict[str, Any]) -> None: ...
def set_policy(policy: Mapping[str, Any], config: dict[str, Any]) -> None: ...
def remove_policy(name: str, config: dict[str, Any]) -> None: ...
def languages() -> list[str]: ...
def status_names() -> list[str]: ...
def metrics() -> dict[str, Any]: ...
def shutdown() -> None: ...
def session_exec(
    key: dict[str, Any], request: dict[str, Any], options: dict[str, Any], config: dict[str, Any]
) -> _ResultDict: ...
def stop_session(key: dict[str, Any], config: dict[str, Any]) -> None: ...
def reset_session(key: dict[str, Any], config: dict[str, Any]) -> None: ...
def list_sessions(config: dict[str, Any]) -> list[_SessionInfoDict]: ...
def session_info(
    key: dict[str, Any], options: dict[str, Any], config: dict[str, Any]
) -> _SessionInfoDict: ...

# Session calls take (key, options, config, ...); failures raise
# FileNotFoundError, PermissionError, ValueError, TimeoutError or RuntimeError.
def session_start(
    key: dict[str, Any], options: dict[str, Any], config: dict[str, Any], request: dict[str, Any]
) -> str: ...
def session_poll(
    key: dict[str, Any],
    options: dict[str, Any],
    config: dict[str, Any],
    id: str,
    stdout_offset: int,
    stderr_offset: int,
) -> _ProcessOutputDict: ...
def session_write_input(
    key: dict[str, Any], options: dict[str, Any], config: dict[str, Any], id: str, data: bytes
) -> None: ...
def session_close_input(
    key: dict[str, Any], options: dict[str, Any], config: dict[str, Any], id: str
) -> None: ...
def session_kill(
    key: dict[str, Any], options: dict[str, Any], config: dict[str, Any], id: str, signal: int
) -> None: ...
def session_processes(
    key: dict[str, Any], options: dict[str, Any], config: dict[str, Any]
) -> list[_ProcessInfoDict]: ...
def session_read_file(
    key: dict[str, Any], options: dict[str, Any], config: dict[str, Any], path: str, max_bytes: int
) -> bytes: ...
def session_write_file(
    key: dict[str, Any], options: dict[str, Any], config: dict[str, Any], path: str, data: bytes
) -> None: ...
def session_list_dir(
    key: dict[str, Any], options: dict[str, Any], config: dict[str, Any], path: str
) -> _DirListingDict: ...
