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
    signal: int
    pty: bool
    ended_s: float

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
    mtime: float
    mode: int
    writable: bool

@type_check_only
class _FileStatDict(TypedDict):
    path: str
    name: str
    type: str
    size: int
    mtime: float
    mode: int
    writable: bool
    target: str

@type_check_only
class _FileChunkDict(TypedDict):
    data: bytes
    offset: int
    size: int
    eof: bool

@type_check_only
class _FindMatchDict(TypedDict):
    path: str
    line: int
    text: str

@type_check_only
class _FindResultDict(TypedDict):
    matches: list[_FindMatchDict]
    truncated: bool

@type_check_only
class _ListeningPortDict(TypedDict):
    port: int
    address: str
    pid: int
    command: str

@type_check_only
class _PortListingDict(TypedDict):
    ports: list[_ListeningPortDict]

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
def list_sessions(config: dict[str, Any]) -> list[_SessionInfoDict]: ...

# Failures of the core (absl::Status) raise ValueError, PermissionError,
# TimeoutError or one of these (the table in module.cc).
class NotFoundError(FileNotFoundError, KeyError): ...
class PreconditionError(ValueError, RuntimeError): ...
class SandboxError(RuntimeError, OSError): ...
class ExistsError(FileExistsError, RuntimeError): ...

class Client:
    # The library under one Config dict.

    def __init__(self, config: dict[str, Any]) -> None: ...
    @property
    def config(self) -> dict[str, Any]: ...
    def run(self, request: dict[str, Any]) -> _ResultDict: ...
    def session(self, key: dict[str, Any], options: dict[str, Any]) -> Session: ...
    def list_sessions(self) -> list[_SessionInfoDict]: ...

class Session:
    # The session of one key; made by Client.session, not constructible.
    def __init__(self, *args: Any, **kwargs: Any) -> None: ...
    @property
    def key(self) -> _SessionKeyDict: ...
    def exec(self, request: dict[str, Any]) -> _ResultDict: ...
    def start(self, request: dict[str, Any]) -> str: ...
    def poll(self, id: str, stdout_offset: int, stderr_offset: int) -> _ProcessOutputDict: ...
    def wait(
        self, id: str, stdout_offset: int, stderr_offset: int, timeout_s: float
    ) -> _ProcessOutputDict: ...
    def release(self, id: str) -> None: ...
    def resize(self, id: str, rows: int, cols: int) -> None: ...
    def write_input(self, id: str, data: bytes) -> None: ...
    def close_input(self, id: str) -> None: ...
    def kill(self, id: str, signal: int) -> None: ...
    def processes(self) -> list[_ProcessInfoDict]: ...
    def list_ports(self) -> _PortListingDict: ...
    def connect_port(self, port: int) -> int: ...
    def read_file(self, path: str, max_bytes: int) -> bytes: ...
    def write_file(self, path: str, data: bytes) -> None: ...
    def list_dir(self, path: str) -> _DirListingDict: ...
    def stat(self, path: str) -> _FileStatDict: ...
    def make_dir(self, path: str, parents: bool) -> None: ...
    def remove(self, path: str, recursive: bool) -> None: ...
    def rename(self, source: str, target: str) -> None: ...
    def read_file_range(self, path: str, offset: int, length: int) -> _FileChunkDict: ...
    def write_file_at(self, path: str, data: bytes, offset: int) -> None: ...
    def append_file(self, path: str, data: bytes) -> None: ...
    def find(self, request: dict[str, Any]) -> _FindResultDict: ...
    def archive(self, paths: list[str], max_bytes: int) -> bytes: ...
    def info(self) -> _SessionInfoDict: ...
    def stop(self) -> None: ...
    def reset(self) -> None: ...
