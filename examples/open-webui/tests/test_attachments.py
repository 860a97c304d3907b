"""The chat's attached files in the run's home directory, with real
sandboxes: only regular files below the uploads directory, names made safe,
sizes capped, in one-shot runs and in sessions."""

from __future__ import annotations

import importlib
import json
import os
import pathlib
import types
from collections.abc import Iterator
from typing import Any

import pytest
from owui_helpers import Events, assistant, configure, run, user

LIST_AND_READ = (
    "```python\nimport os\nprint(sorted(f for f in os.listdir('.') if not f.startswith('.')))\n"
    "print(open('data.csv').read().strip())\n```"
)


@pytest.fixture
def uploads(tmp_path: pathlib.Path) -> pathlib.Path:
    root = tmp_path / "uploads"
    root.mkdir()
    return root


@pytest.fixture
def session_root(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "sessions"


@pytest.fixture(autouse=True)
def stop_sessions(libsandbox: types.ModuleType, session_root: pathlib.Path) -> Iterator[None]:
    yield
    config = libsandbox.Config(storage_dir=str(session_root))
    for info in libsandbox.list_sessions(config):
        libsandbox.Session(info.user, policy=info.policy, chat=info.chat, config=config).stop()


def upload(uploads: pathlib.Path, file_id: str, name: str, content: bytes) -> dict[str, Any]:
    """A file as Open WebUI lists it in a message's "files"."""
    path = uploads / f"{file_id}_{os.path.basename(name) or 'x'}"
    path.write_bytes(content)
    return {
        "type": "file",
        "id": file_id,
        "name": name,
        "file": {"id": file_id, "filename": name, "path": str(path), "meta": {"name": name}},
    }


def with_files(files: list[dict[str, Any]], content: str = LIST_AND_READ) -> dict[str, Any]:
    body = assistant(content)
    body["messages"][0]["files"] = files
    body["chat_id"] = "chat-1"
    return body


def action_for(module: types.ModuleType, storage: pathlib.Path, uploads: pathlib.Path, **valves: Any) -> Any:
    return configure(module.Action(), storage, ATTACHMENT_DIRECTORY_PATH=str(uploads), **valves)


@pytest.mark.parametrize("mode", ["off", "chat"])
def test_attached_file_is_in_the_workspace_and_not_reported_as_generated(
    function_module: types.ModuleType,
    libsandbox: types.ModuleType,
    storage: pathlib.Path,
    uploads: pathlib.Path,
    session_root: pathlib.Path,
    mode: str,
) -> None:
    action = action_for(
        function_module, storage, uploads, SESSION_MODE=mode, SESSION_DIRECTORY_PATH=str(session_root)
    )
    body = with_files([upload(uploads, "f1", "data.csv", b"a,b\n1,2\n")])
    reply = json.loads(run(action.action(body, __user__=user("u1"))))
    assert reply["status"] == "OK", reply
    assert reply["output"] == "['data.csv']\na,b\n1,2"
    assert reply["generated_files"] == {} and "notes" not in reply


def test_hostile_names_are_made_safe(
    function_module: types.ModuleType,
    libsandbox: types.ModuleType,
    storage: pathlib.Path,
    uploads: pathlib.Path,
) -> None:
    action = action_for(function_module, storage, uploads)
    files = [
        upload(uploads, "f1", "data.csv", b"1"),
        upload(uploads, "f2", "../../etc/x", b"2"),
        upload(uploads, "f3", "..", b"3"),
        upload(uploads, "f4", "data.csv", b"4"),
        upload(uploads, "f5", ".bashrc\n\x1b[31m", b"5"),
    ]
    code = (
        "```python\nimport json, os\n"
        "print(json.dumps({f: open(f).read() for f in os.listdir('.') if not f.startswith('.')}))\n"
        "print(json.dumps(sorted(os.listdir('..'))))\n```"
    )
    reply = json.loads(run(action.action(with_files(files, code), __user__=user("u1"))))
    assert reply["status"] == "OK", reply
    listed, parent = (json.loads(line) for line in reply["output"].split("\n"))
    assert listed == {"attachment": "3", "bashrc[31m": "5", "data (2).csv": "4", "data.csv": "1", "x": "2"}
    assert parent == ["user"]


def test_symlinks_and_paths_outside_the_uploads_are_refused(
    function_module: types.ModuleType,
    libsandbox: types.ModuleType,
    storage: pathlib.Path,
    uploads: pathlib.Path,
    tmp_path: pathlib.Path,
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("host only")
    (uploads / "f1_link.txt").symlink_to(secret)
    (uploads / "inner").mkdir()
    (uploads / "inner" / "f2_ok.txt").write_text("fine")
    (uploads / "f3_dir").symlink_to(uploads / "inner")
    files = [
        {"id": "f1", "name": "link.txt", "path": str(uploads / "f1_link.txt")},
        {"name": "secret.txt", "path": str(secret)},
        {"name": "sneaky.txt", "path": str(uploads / ".." / "secret.txt")},
        {"name": "through.txt", "path": str(uploads / "f3_dir" / "f2_ok.txt")},
        {"name": "dir", "path": str(uploads / "inner")},
        {"name": "ok.txt", "path": str(uploads / "inner" / "f2_ok.txt")},
    ]
    action = action_for(function_module, storage, uploads)
    code = "```bash\ngrep -r . . || true\n```"
    reply = json.loads(run(action.action(with_files(files, code), __user__=user("u1"))))
    assert reply["status"] == "OK", reply
    assert reply["output"] == "./ok.txt:fine"
    notes = reply["notes"]
    assert len(notes) == 5, notes
    assert "`link.txt` was not copied: its path goes through a symbolic link." in notes
    assert "`through.txt` was not copied: its path goes through a symbolic link." in notes
    assert "`secret.txt` was not copied: it is not below ATTACHMENT_DIRECTORY_PATH." in notes
    assert "`sneaky.txt` was not copied: it is not below ATTACHMENT_DIRECTORY_PATH." in notes
    assert any(n.startswith("`dir` was not copied: not a regular file") for n in notes)


def test_attachments_over_the_cap_are_left_out_and_named(
    function_module: types.ModuleType,
    libsandbox: types.ModuleType,
    storage: pathlib.Path,
    uploads: pathlib.Path,
    events: Events,
) -> None:
    action = action_for(function_module, storage, uploads, MAX_ATTACHMENT_MEGABYTES=1)
    files = [
        upload(uploads, "f1", "data.csv", b"small"),
        upload(uploads, "f2", "big.bin", b"\0" * (1 << 20)),
    ]
    reply = json.loads(run(action.action(with_files(files), __user__=user("u1"), __event_emitter__=events)))
    assert reply["status"] == "OK" and reply["output"] == "['data.csv']\nsmall"
    (note,) = reply["notes"]
    assert note.startswith("`big.bin` was not copied") and "MAX_ATTACHMENT_MEGABYTES" in note
    (chat,) = events.of_type("message")
    assert chat["content"].endswith(f"\n\n_{note}_")
    # 0 turns copying off.
    action = action_for(function_module, storage, uploads, MAX_ATTACHMENT_MEGABYTES=0)
    reply = json.loads(run(action.action(with_files(files), __user__=user("u1"))))
    assert reply["status"] == "ERROR" and "FileNotFoundError" in reply["output"]
    assert reply["notes"] == ["Attached files were not copied (MAX_ATTACHMENT_MEGABYTES is 0)."]


def test_tool_gets_the_files_open_webui_passes(
    tool_module: types.ModuleType,
    libsandbox: types.ModuleType,
    storage: pathlib.Path,
    uploads: pathlib.Path,
) -> None:
    tools = configure(tool_module.Tools(), storage, ATTACHMENT_DIRECTORY_PATH=str(uploads))
    files = [upload(uploads, "f1", "notes.txt", b"remember")]
    reply = json.loads(
        run(tools.run_bash_command("cat notes.txt", __user__=user("u1"), __files__=files, __chat_id__="c"))
    )
    assert (reply["status"], reply["output"]) == ("OK", "remember")


def test_attachment_sources_accept_the_shapes_open_webui_uses() -> None:
    openwebui = importlib.import_module("libsandbox.openwebui")
    nested = {"type": "file", "id": "1", "file": {"id": "1", "path": "/u/1_a", "meta": {"name": "a.txt"}}}
    flat = {"path": "/u/2_b", "name": "b.txt"}
    web = {"type": "web_search", "urls": ["https://example.invalid"]}
    assert openwebui.attachment_sources([nested, flat], None, [[web, nested], "junk"]) == [
        ("a.txt", "/u/1_a", "1"),
        ("b.txt", "/u/2_b", ""),
    ]
