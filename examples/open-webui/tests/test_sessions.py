"""Sessions and policies in the tool and function, called the way Open WebUI
calls them, with real sandboxes: state kept within a chat or per user, never
between users; generated files still kept and linked; policies applied."""

from __future__ import annotations

import json
import pathlib
import types
from collections.abc import Iterator
from typing import Any

import pytest
from owui_helpers import Events, assistant, configure, run, user

# A policy set as an admin writes it: one small policy under the caps.
POLICIES = """
caps { memory: "512Mi" timeout: "60s" }
policies { name: "small" memory: "64Mi" timeout: "20s" }
"""


@pytest.fixture
def session_root(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "sessions"


@pytest.fixture
def policy_file(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "policies.textproto"
    path.write_text(POLICIES)
    return path


@pytest.fixture(autouse=True)
def stop_sessions(
    libsandbox: types.ModuleType, session_root: pathlib.Path, tmp_path: pathlib.Path
) -> Iterator[None]:
    # Sessions outlive a call by design; a test's must not outlive the test.
    yield
    for policy_file in ("", str(tmp_path / "policies.textproto")):
        # The Config the files build from default valves (sessions are per Config).
        config = libsandbox.Config(storage_dir=str(session_root), policy_file=policy_file)
        for info in libsandbox.list_sessions(config):
            libsandbox.Session(info.user, policy=info.policy, chat=info.chat, config=config).stop()


def tools_for(module: types.ModuleType, storage: pathlib.Path, root: pathlib.Path, **valves: Any) -> Any:
    return configure(module.Tools(), storage, SESSION_DIRECTORY_PATH=str(root), **valves)


def python(tools: Any, code: str, who: str | None, chat: str | None, events: Any = None) -> dict[str, Any]:
    reply = run(
        tools.run_python_code(
            code, __user__=user(who) if who else None, __chat_id__=chat, __event_emitter__=events
        )
    )
    parsed: dict[str, Any] = json.loads(reply)
    return parsed


def bash(tools: Any, code: str, who: str, chat: str) -> dict[str, Any]:
    reply = run(tools.run_bash_command(code, __user__=user(who), __chat_id__=chat))
    parsed: dict[str, Any] = json.loads(reply)
    return parsed


def test_chat_mode_keeps_variables_within_a_chat_only(
    tool_module: types.ModuleType,
    libsandbox: types.ModuleType,
    storage: pathlib.Path,
    session_root: pathlib.Path,
) -> None:
    tools = tools_for(tool_module, storage, session_root, SESSION_MODE="chat")
    first = python(tools, "import math\nx = 41\nrows = [{'a': 1}]", "u1", "chat-1")
    assert (first["status"], first["session"]) == ("OK", "chat")
    again = python(tools, "print(x + 1, rows[0]['a'], math.floor(2.5))", "u1", "chat-1")
    assert (again["status"], again["output"]) == ("OK", "42 1 2")
    # Another chat of the same user starts empty.
    other = python(tools, "print(x)", "u1", "chat-2")
    assert other["status"] == "ERROR" and "NameError" in other["output"]
    # Another user in a chat with the same id never sees it.
    stranger = python(tools, "print(x)", "u2", "chat-1")
    assert stranger["status"] == "ERROR" and "NameError" in stranger["output"]
    # Errors keep the line of the code that failed, not of a wrapper.
    failed = python(tools, "y = 1\nraise ValueError('boom')", "u1", "chat-1")
    assert failed["status"] == "ERROR"
    assert 'File "<code>", line 2' in failed["output"] and "ValueError: boom" in failed["output"]
    assert python(tools, "print(y)", "u1", "chat-1")["output"] == "1"


def test_user_mode_keeps_state_across_chats_of_one_user(
    tool_module: types.ModuleType,
    libsandbox: types.ModuleType,
    storage: pathlib.Path,
    session_root: pathlib.Path,
) -> None:
    tools = tools_for(tool_module, storage, session_root, SESSION_MODE="user")
    assert python(tools, "total = 5", "u1", "chat-1")["status"] == "OK"
    assert python(tools, "print(total * 2)", "u1", "chat-2")["output"] == "10"
    assert "NameError" in python(tools, "print(total)", "u2", "chat-1")["output"]


def test_bash_session_keeps_files_and_directory_and_reports_new_files(
    tool_module: types.ModuleType,
    libsandbox: types.ModuleType,
    storage: pathlib.Path,
    session_root: pathlib.Path,
) -> None:
    tools = tools_for(tool_module, storage, session_root, SESSION_MODE="chat")
    made = bash(tools, "mkdir -p work && cd work && echo one > a.txt && echo made", "u1", "c")
    assert made["status"] == "OK" and made["output"] == "made"
    assert [f["path"] for f in made["files"]] == ["work/a.txt"]
    url = made["files"][0]["url"]
    assert url.startswith("/files/u_u1/")
    assert (storage / url.removeprefix("/files/")).read_text() == "one\n"
    # Same chat: the directory and the file are still there; only what
    # changed in this call is reported.
    later = bash(tools, "pwd && cat a.txt && echo two > b.txt", "u1", "c")
    assert later["output"] == "/home/user/work\none"
    assert [f["path"] for f in later["files"]] == ["work/b.txt"]
    changed = bash(tools, "echo three >> a.txt", "u1", "c")
    assert [f["path"] for f in changed["files"]] == ["work/a.txt"]
    assert "files" not in bash(tools, "true", "u1", "c")


def test_session_files_keep_their_quota(
    tool_module: types.ModuleType,
    libsandbox: types.ModuleType,
    storage: pathlib.Path,
    session_root: pathlib.Path,
) -> None:
    tools = tools_for(tool_module, storage, session_root, SESSION_MODE="chat", MAX_FILES_PER_EXECUTION=2)
    reply = bash(tools, "touch a b c && echo made", "u1", "c")
    assert reply["status"] == "STORAGE_ERROR" and "2 files per run" in reply["message"]
    assert reply["output"] == "made" and "files" not in reply


def test_session_symlinks_are_not_followed_when_files_are_kept(
    tool_module: types.ModuleType,
    libsandbox: types.ModuleType,
    storage: pathlib.Path,
    session_root: pathlib.Path,
    tmp_path: pathlib.Path,
) -> None:
    secret = tmp_path / "host-secret.txt"
    secret.write_text("host only")
    tools = tools_for(tool_module, storage, session_root, SESSION_MODE="chat")
    reply = bash(tools, f"ln -s {secret} link.txt && mkdir d && ln -s {tmp_path} d/up && echo ok", "u1", "c")
    assert reply["status"] == "OK" and "files" not in reply
    assert not [p for p in storage.rglob("*") if p.is_file() and p.read_bytes() == b"host only"]


def test_without_a_user_or_chat_runs_are_one_shot(
    tool_module: types.ModuleType,
    libsandbox: types.ModuleType,
    storage: pathlib.Path,
    session_root: pathlib.Path,
) -> None:
    tools = tools_for(tool_module, storage, session_root, SESSION_MODE="chat")
    anonymous = python(tools, "z = 1", None, "chat-1")
    assert anonymous["status"] == "OK" and "session" not in anonymous
    assert "NameError" in python(tools, "print(z)", None, "chat-1")["output"]
    no_chat = python(tools, "z = 1", "u1", None)
    assert no_chat["status"] == "OK" and "session" not in no_chat
    assert not session_root.exists() or not any(session_root.rglob("workspace"))


def test_function_runs_in_the_chat_session(
    function_module: types.ModuleType,
    libsandbox: types.ModuleType,
    storage: pathlib.Path,
    session_root: pathlib.Path,
    events: Events,
) -> None:
    action = configure(
        function_module.Action(), storage, SESSION_DIRECTORY_PATH=str(session_root), SESSION_MODE="chat"
    )
    body = dict(assistant("```python\ncount = 3\nopen('out.txt', 'w').write('x' * count)\n```"))
    body["chat_id"] = "chat-9"
    first = json.loads(run(action.action(body, __user__=user("u1"), __event_emitter__=events)))
    assert first["status"] == "OK" and list(first["generated_files"]) == ["out.txt"]
    assert first["generated_files"]["out.txt"].endswith("/out.txt):\n```\nxxx\n```")
    body = dict(assistant("```python\nprint(count)\n```"), chat_id="chat-9")
    second = json.loads(run(action.action(body, __user__=user("u1"))))
    assert (second["output"], second["generated_files"]) == ("3", {})


def test_policy_applies_to_runs_and_sessions(
    tool_module: types.ModuleType,
    libsandbox: types.ModuleType,
    storage: pathlib.Path,
    session_root: pathlib.Path,
    policy_file: pathlib.Path,
) -> None:
    hog = "b = bytearray(200 * 1024 * 1024)\nprint('allocated')"
    for mode in ("off", "chat"):
        # The valves allow 512 MiB; the policy's 64 MiB wins.
        tools = tools_for(
            tool_module,
            storage,
            session_root,
            SESSION_MODE=mode,
            POLICY="small",
            POLICY_FILE=str(policy_file),
            MAX_RAM_MEGABYTES=512,
        )
        reply = python(tools, hog, "u1", "c")
        assert reply["status"] == "INTERRUPTED", (mode, reply)
        assert "allocated" not in reply["output"]
        assert python(tools, "print('small is fine')", "u1", "c")["output"] == "small is fine"


@pytest.mark.parametrize("mode", ["off", "chat"])
def test_unknown_or_fileless_policy_is_a_clear_error(
    tool_module: types.ModuleType,
    libsandbox: types.ModuleType,
    storage: pathlib.Path,
    session_root: pathlib.Path,
    policy_file: pathlib.Path,
    mode: str,
) -> None:
    tools = tools_for(
        tool_module, storage, session_root, SESSION_MODE=mode, POLICY="huge", POLICY_FILE=str(policy_file)
    )
    reply = python(tools, "print('never')", "u1", "c")
    assert reply["status"] == "INVALID_INPUT"
    assert 'unknown policy "huge"' in reply["message"] and "never" not in reply["output"]
    tools = tools_for(tool_module, storage, session_root, SESSION_MODE=mode, POLICY="small")
    reply = python(tools, "print('never')", "u1", "c")
    assert reply["status"] == "INVALID_INPUT" and "policy_file" in reply["message"]


def test_session_workspaces_are_never_web_served(
    tool_module: types.ModuleType, libsandbox: types.ModuleType, storage: pathlib.Path
) -> None:
    tools = tools_for(tool_module, storage, storage / "sessions", SESSION_MODE="chat")
    reply = python(tools, "print('never')", "u1", "c")
    assert reply["status"] == "SANDBOX_ERROR"
    assert "SESSION_DIRECTORY_PATH must be outside WEB_ACCESSIBLE_DIRECTORY_PATH" in reply["message"]


def test_switching_sessions_off_stops_their_sandboxes(
    tool_module: types.ModuleType,
    libsandbox: types.ModuleType,
    storage: pathlib.Path,
    session_root: pathlib.Path,
) -> None:
    tools = tools_for(tool_module, storage, session_root, SESSION_MODE="chat")
    assert python(tools, "x = 1", "u-off", "chat-off")["session"] == "chat"
    config = libsandbox.Config(storage_dir=str(session_root))
    assert [i.user for i in libsandbox.list_sessions(config)] == ["u-off"]
    off = tools_for(tool_module, storage, session_root, SESSION_MODE="off")
    reply = python(off, "print(2)", "u-off", "chat-off")
    assert reply["status"] == "OK" and "session" not in reply
    assert libsandbox.list_sessions(config) == []
