"""libsandbox: run untrusted code in gVisor sandboxes with enforced limits.

    import libsandbox
    result = libsandbox.run("print('hi')")
    assert result.status is libsandbox.Status.OK and result.stdout == "hi\\n"

Runs never raise: what happened is in the Result. Configuration mistakes
(bad Limits/Config values) raise ValueError or TypeError where they are made.
"""

from libsandbox._api import (
    ASYNC_WORKERS,
    doctor,
    languages,
    metrics,
    policies,
    query_audit,
    remove_policy,
    run,
    run_async,
    runsc_version,
    set_policies,
    set_policy,
    shutdown,
)
from libsandbox._core import VERSION as _VERSION
from libsandbox._session import (
    DirEntry,
    DirListing,
    FileChunk,
    FileStat,
    FindMatch,
    FindResult,
    ListeningPort,
    ProcessInfo,
    ProcessOutput,
    Session,
    list_sessions,
)
from libsandbox._types import (
    AuditRecord,
    Check,
    Config,
    Egress,
    EgressAllowlist,
    File,
    Limits,
    Output,
    Reason,
    Result,
    SessionInfo,
    Status,
)

__version__: str = _VERSION

__all__ = [
    "ASYNC_WORKERS",
    "AuditRecord",
    "Check",
    "Config",
    "DirEntry",
    "DirListing",
    "Egress",
    "EgressAllowlist",
    "File",
    "FileChunk",
    "FileStat",
    "FindMatch",
    "FindResult",
    "Limits",
    "ListeningPort",
    "Output",
    "ProcessInfo",
    "ProcessOutput",
    "Reason",
    "Result",
    "Session",
    "SessionInfo",
    "Status",
    "__version__",
    "doctor",
    "languages",
    "list_sessions",
    "metrics",
    "policies",
    "query_audit",
    "remove_policy",
    "run",
    "run_async",
    "runsc_version",
    "set_policies",
    "set_policy",
    "shutdown",
]
