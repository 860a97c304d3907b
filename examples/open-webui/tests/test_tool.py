"""The tool, called the way Open WebUI calls it, running real sandboxes: the
JSON reply, the events, per-user storage and quotas, failure messages."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import os
import pathlib
import time
import types
from typing import Any

import pytest
from owui_helpers import Events, configure, run, user


def tools_for(module: types.ModuleType, storage: pathlib.Path, **valves: Any) -> Any:
    return configure(module.Tools(), storage, **valves)


def test_only_the_two_tools_are_offered_to_the_model(tool_module: types.ModuleType) -> None:
    # Open WebUI offers the model every callable of Tools not named __x (its
    # get_functions_from_tool); a helper there would let the model pick
    # arguments such as the user itself.
    tools = tool_module.Tools()
    offered = {
        name
        for name in dir(tools)
        if callable(getattr(tools, name))
        and not name.startswith("__")
        and not inspect.isclass(getattr(tools, name))
    }
    assert offered == {"run_python_code", "run_bash_command"}
    for name in offered:
        model_visible = [
            p for p in inspect.signature(getattr(tools, name)).parameters if not p.startswith("__")
        ]
        assert model_visible == [name.removeprefix("run_")], name


def test_python_reply_and_events(
    tool_module: types.ModuleType, libsandbox: types.ModuleType, storage: pathlib.Path, events: Events
) -> None:
    tools = tools_for(tool_module, storage)
    code = "print('hello from python')"
    reply = json.loads(
        run(tools.run_python_code(code, __user__=user("u1"), __event_emitter__=events, __id__="t"))
    )
    assert reply == {"python_code": code, "status": "OK", "output": "hello from python"}

    statuses = events.of_type("status")
    assert statuses[0] == {
        "status": "in_progress",
        "description": "Running Python code in a gVisor sandbox...",
        "done": False,
    }
    assert statuses[-1]["done"] is True and statuses[-1]["status"] == "complete"
    first, last = events.of_type("citation")[0], events.of_type("citation")[-1]
    assert first["type"] == last["type"] == "code_execution"
    assert first["id"] == last["id"]  # the same execution, updated
    assert first["code"] == last["code"] == code and last["language"] == "python"
    assert "result" not in first
    assert last["result"]["output"] == "hello from python"


def test_bash_reply_and_error_status(
    tool_module: types.ModuleType, libsandbox: types.ModuleType, storage: pathlib.Path, events: Events
) -> None:
    tools = tools_for(tool_module, storage)
    reply = json.loads(
        run(tools.run_bash_command("echo 'foo", __user__=user("u1"), __event_emitter__=events))
    )
    assert reply["bash_command"] == "echo 'foo"
    assert reply["status"] == "ERROR"
    assert "unexpected EOF" in reply["output"]
    assert reply["message"] == "Bash code exited with an error (exit code 2)."
    assert events.of_type("status")[-1] == {"status": "error", "description": reply["message"], "done": True}
    assert events.of_type("citation")[-1]["result"]["error"] == reply["message"]


def test_model_wrapped_code_is_unwrapped(
    tool_module: types.ModuleType, libsandbox: types.ModuleType, storage: pathlib.Path
) -> None:
    tools = tools_for(tool_module, storage)
    reply = json.loads(run(tools.run_python_code("```python\nprint(6 * 7)\n```")))
    assert reply["status"] == "OK" and reply["output"] == "42"
    reply = json.loads(run(tools.run_bash_command("`echo backticks`")))
    assert reply["output"] == "backticks"


def test_timeout_keeps_output_and_says_why(
    tool_module: types.ModuleType, libsandbox: types.ModuleType, storage: pathlib.Path
) -> None:
    tools = tools_for(tool_module, storage, MAX_RUNTIME_SECONDS=2)
    code = "print('before', flush=True)\nimport time\ntime.sleep(30)"
    start = time.monotonic()
    reply = json.loads(run(tools.run_python_code(code)))
    assert time.monotonic() - start < 15
    assert reply["status"] == "TIMEOUT"
    assert reply["output"] == "before"
    assert reply["message"] == "Code timed out after 2 seconds and was stopped."


def test_memory_cap(
    tool_module: types.ModuleType, libsandbox: types.ModuleType, storage: pathlib.Path
) -> None:
    tools = tools_for(tool_module, storage, MAX_RAM_MEGABYTES=64)
    reply = json.loads(
        run(tools.run_python_code("x = [b'x' * (1 << 20) for _ in range(512)]\nprint('hogged')"))
    )
    assert reply["status"] == "INTERRUPTED"
    assert "hogged" not in reply["output"]
    assert reply["message"] == "Code used more than 64 MiB of memory and was stopped."


def test_output_is_capped_and_flagged(
    tool_module: types.ModuleType, libsandbox: types.ModuleType, storage: pathlib.Path
) -> None:
    tools = tools_for(tool_module, storage, MAX_OUTPUT_BYTES=4096)
    reply = json.loads(run(tools.run_python_code("print('y' * 100000)")))
    assert reply["status"] == "OK"
    assert reply["output_truncated"] is True
    kept, note = reply["output"].split("\n")
    assert kept == "y" * 4096
    assert note == "[output truncated: only the first 4096 bytes were kept]"


def test_files_are_kept_per_user(
    tool_module: types.ModuleType, libsandbox: types.ModuleType, storage: pathlib.Path
) -> None:
    tools = tools_for(tool_module, storage)
    code = "echo {} > note.txt"
    alice = json.loads(run(tools.run_bash_command(code.format("alice"), __user__=user("alice-id"))))
    bob = json.loads(run(tools.run_bash_command(code.format("bob"), __user__=user("bob-id"))))
    assert sorted(os.listdir(storage)) == ["u_alice-id", "u_bob-id"]
    for reply, who in ((alice, "alice"), (bob, "bob")):
        (kept,) = reply["files"]
        assert kept["path"] == "note.txt" and kept["size"] == len(who) + 1
        assert kept["url"].startswith(f"/files/u_{who}-id/")
        # The link names the kept file: URL root + path below the storage root.
        host = storage / kept["url"].removeprefix("/files/")
        assert host.read_text() == f"{who}\n"


def test_quotas_are_per_user(
    tool_module: types.ModuleType, libsandbox: types.ModuleType, storage: pathlib.Path
) -> None:
    tools = tools_for(tool_module, storage, MAX_FILES_PER_USER=2)
    first = json.loads(run(tools.run_bash_command("touch a b", __user__=user("alice-id"))))
    assert first["status"] == "OK"
    # Bob's own quota has room; alice's files must stay.
    second = json.loads(run(tools.run_bash_command("touch c d", __user__=user("bob-id"))))
    assert second["status"] == "OK"
    for kept in first["files"]:
        assert (storage / kept["url"].removeprefix("/files/")).exists()
    # Alice's next run evicts alice's own older run, whole.
    third = json.loads(run(tools.run_bash_command("touch e", __user__=user("alice-id"))))
    assert third["status"] == "OK"
    assert not any((storage / k["url"].removeprefix("/files/")).exists() for k in first["files"])
    too_many = json.loads(run(tools.run_bash_command("touch 1 2 3", __user__=user("alice-id"))))
    assert too_many["status"] == "STORAGE_ERROR"
    assert "2 files" in too_many["message"]


def test_failures_hide_host_diagnostics_unless_debug(
    tool_module: types.ModuleType,
    libsandbox: types.ModuleType,
    storage: pathlib.Path,
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No runsc on PATH: the library fails with a message about this host.
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    quiet = json.loads(run(tools_for(tool_module, storage).run_python_code("print(1)")))
    assert quiet["status"] == "SANDBOX_ERROR"
    assert "runsc" not in json.dumps(quiet)
    assert "DEBUG valve" in quiet["message"]
    # DEBUG details describe the host: an admin sees them, a user never.
    loud = tools_for(tool_module, storage, DEBUG=True)
    for caller in (None, user("someone")):
        hidden = json.loads(run(loud.run_python_code("print(1)", __user__=caller)))
        assert hidden["status"] == "SANDBOX_ERROR" and "runsc" not in json.dumps(hidden)
    admin = {**user("boss"), "role": "admin"}
    shown = json.loads(run(loud.run_python_code("print(1)", __user__=admin)))
    assert shown["status"] == "SANDBOX_ERROR"
    assert "[DEBUG]" in shown["message"] and "runsc" in shown["message"]


def test_the_event_loop_keeps_running(
    tool_module: types.ModuleType, libsandbox: types.ModuleType, storage: pathlib.Path
) -> None:
    tools = tools_for(tool_module, storage)

    async def scenario() -> float:
        ticks: list[float] = []

        async def heartbeat() -> None:
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.02)

        beat = asyncio.create_task(heartbeat())
        reply = json.loads(await tools.run_python_code("import time\ntime.sleep(1.5)\nprint('slept')"))
        beat.cancel()
        assert reply["output"] == "slept"
        return max(b - a for a, b in itertools.pairwise(ticks))

    assert run(scenario()) < 0.5
