"""What the Open WebUI tool and function files have in common: the valves and
their environment overrides, per-user storage, running code through
libsandbox, Open WebUI's status and citation events, and the command line.

The files keep only what is their own (the Tools / Action class, where their
files are stored, the function's code-block picking and rendering) and import
the rest from here, so the two can never drift apart.

Installed as libsandbox.openwebui, it uses only libsandbox's public API
(never its private modules); its parts, by concern: _valves (valves,
overrides, directories), _attachments (attached files), _runs (one-shot
runs and sessions), _events (status and citation events), _cli (the
command line and self-test).
"""

from __future__ import annotations

from ._attachments import AttachmentSource, attachment_name, attachment_sources, read_attachments
from ._cli import RunOnce, load_selftest, main
from ._events import CodeRun, Events, reply_fields
from ._runs import (
    RunOutcome,
    failure_message,
    run_arguments,
    sandbox_run,
    session_arguments,
    session_key,
    session_run,
)
from ._valves import (
    LANGUAGES,
    OVERRIDE_PREFIX,
    EventEmitter,
    Plugin,
    ValveError,
    Valves,
    attachment_dir,
    chat_id,
    effective_valves,
    file_url,
    session_dir,
    storage_dir,
    storage_path_valve,
    storage_url_valve,
    user_id,
)

__all__ = [
    "LANGUAGES",
    "OVERRIDE_PREFIX",
    "AttachmentSource",
    "CodeRun",
    "EventEmitter",
    "Events",
    "Plugin",
    "RunOnce",
    "RunOutcome",
    "ValveError",
    "Valves",
    "attachment_dir",
    "attachment_name",
    "attachment_sources",
    "chat_id",
    "effective_valves",
    "failure_message",
    "file_url",
    "load_selftest",
    "main",
    "read_attachments",
    "reply_fields",
    "run_arguments",
    "sandbox_run",
    "session_arguments",
    "session_dir",
    "session_key",
    "session_run",
    "storage_dir",
    "storage_path_valve",
    "storage_url_valve",
    "user_id",
]
