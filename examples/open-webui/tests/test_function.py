"""The "Run code" action, called the way Open WebUI calls it, running real
sandboxes: reply, chat message, events, links into per-user storage."""

from __future__ import annotations

import json
import os
import pathlib
import types
from typing import Any

from owui_helpers import Events, assistant, configure, run, user


def action_for(module: types.ModuleType, storage: pathlib.Path, **valves: Any) -> Any:
    return configure(module.Action(), storage, **valves)


def test_runs_the_code_block_and_renders_files(
    function_module: types.ModuleType, libsandbox: types.ModuleType, storage: pathlib.Path, events: Events
) -> None:
    action = action_for(function_module, storage, WEB_ACCESSIBLE_DIRECTORY_URL="http://myhost/URL/ROOT")
    message = (
        "Here:\n```bash\necho 'Hello world!' > today.txt\nmkdir -p d && touch d/empty.txt\necho done\n```"
    )
    reply = json.loads(run(action.action(assistant(message), __user__=user("u1"), __event_emitter__=events)))
    assert reply["status"] == "OK"
    assert reply["output"] == "done"
    assert sorted(reply["generated_files"]) == ["d/empty.txt", "today.txt"]
    today = reply["generated_files"]["today.txt"]
    assert today.startswith("\U0001f4c4 [today.txt](http://myhost/URL/ROOT/u_u1/")
    assert today.endswith("/today.txt):\n```\nHello world!\n```")
    assert reply["generated_files"]["d/empty.txt"] == "\u2049 `d/empty.txt` (empty)"

    # The link is the kept file: URL root + its path below the storage root.
    url = today.split("](", 1)[1].split(")", 1)[0]
    kept = storage / url.removeprefix("http://myhost/URL/ROOT/")
    assert kept.read_text() == "Hello world!\n"

    (chat,) = events.of_type("message")
    assert chat["content"].startswith(
        "\n\n---\nI executed this Bash code and got:\n```Output\ndone\n```\n**Files**:"
    )
    assert f"\n* {reply['generated_files']['d/empty.txt']}" in chat["content"]
    assert f"\n* {today}" in chat["content"]
    execution = events.of_type("citation")[-1]
    assert execution["type"] == "code_execution" and execution["language"] == "bash"
    assert {f["name"] for f in execution["result"]["files"]} == {"d/empty.txt", "today.txt"}
    statuses = events.of_type("status")
    assert statuses[0]["done"] is False and statuses[-1]["done"] is True


def test_no_output_no_files(
    function_module: types.ModuleType, libsandbox: types.ModuleType, storage: pathlib.Path, events: Events
) -> None:
    action = action_for(function_module, storage)
    reply = json.loads(run(action.action(assistant("```python\nx = 1\n```"), __event_emitter__=events)))
    assert reply == {"status": "OK", "output": "", "generated_files": {}}
    (chat,) = events.of_type("message")
    assert chat["content"] == "\n\n---\nI executed this Python code and it ran successfully with no output."


def test_error_is_reported_in_chat(
    function_module: types.ModuleType, libsandbox: types.ModuleType, storage: pathlib.Path, events: Events
) -> None:
    action = action_for(function_module, storage)
    reply = json.loads(run(action.action(assistant("```python\nprint('foo\n```"), __event_emitter__=events)))
    assert reply["status"] == "ERROR"
    assert "SyntaxError" in reply["output"]
    assert "generated_files" not in reply
    (chat,) = events.of_type("message")
    assert "did not succeed (ERROR)" in chat["content"] and "SyntaxError" in chat["content"]


def test_two_users_two_directories(
    function_module: types.ModuleType, libsandbox: types.ModuleType, storage: pathlib.Path
) -> None:
    action = action_for(function_module, storage)
    block = assistant("```bash\necho mine > mine.txt\n```")
    first = json.loads(run(action.action(block, __user__=user("11111111-aaaa"))))
    second = json.loads(run(action.action(block, __user__=user("22222222-bbbb"))))
    assert sorted(os.listdir(storage)) == ["u_11111111-aaaa", "u_22222222-bbbb"]
    assert first["files"][0]["url"].startswith("/files/u_11111111-aaaa/")
    assert second["files"][0]["url"].startswith("/files/u_22222222-bbbb/")


def test_storage_quota_error(
    function_module: types.ModuleType, libsandbox: types.ModuleType, storage: pathlib.Path, events: Events
) -> None:
    action = action_for(function_module, storage, MAX_FILES_PER_EXECUTION=3)
    block = assistant("```bash\ntouch a b c d\necho made four\n```")
    reply = json.loads(run(action.action(block, __user__=user("u1"), __event_emitter__=events)))
    assert reply["status"] == "STORAGE_ERROR"
    assert "3 files per run" in reply["message"]
    assert "generated_files" not in reply and "files" not in reply
    assert not any(files for _, _, files in os.walk(storage / "u_u1") if files != [".lock"])
    assert events.of_type("status")[-1]["status"] == "error"


def test_tool_and_function_storage_defaults_differ(
    tool_module: types.ModuleType, function_module: types.ModuleType, monkeypatch: Any, tmp_path: pathlib.Path
) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    tool_dir = tool_module.storage_dir(tool_module.Valves())
    function_dir = function_module.storage_dir(function_module.Valves())
    assert tool_dir == str(tmp_path / "cache" / "tools" / "run_code")
    assert function_dir == str(tmp_path / "cache" / "functions" / "run_code")
