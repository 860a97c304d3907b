"""Which code block the "Run code" button runs: the last bash/sh/shell block
wins, else the last Python block, else a guess from the last block."""

from __future__ import annotations

import json
import types

import pytest
from owui_helpers import Events, assistant, configure, run, user


@pytest.mark.parametrize(
    ("message", "want"),
    [
        ("```python\nprint(1)\n```\ntext\n```bash\necho 2\n```", ("bash", "echo 2")),
        ("```bash\necho 1\n```\n```python\nprint(2)\n```", ("bash", "echo 1")),
        ("```sh\necho a\n```\n```shell\necho b\n```\n```python\nprint(3)\n```", ("bash", "echo b")),
        ("```python\nprint(1)\n```\n```python3\nprint(2)\n```", ("python", "print(2)")),
        ("```py\nprint('x')\n```", ("python", "print('x')")),
        ("```\n#!/usr/bin/env python3\nx = 1\n```", ("python", "#!/usr/bin/env python3\nx = 1")),
        ("```\n#!/bin/sh\nls\n```", ("bash", "#!/bin/sh\nls")),
        ("```\nimport os\n```", ("python", "import os")),
        ("```\necho hi\n```", ("bash", "echo hi")),
        ("```text\nsome words\n```", None),
        ("no code here", None),
        ("```python\nprint('never closed')\n", None),
        # A longer fence may hold ``` lines; indented fences count too.
        ("````bash\ncat <<EOF\n```\nEOF\n````", ("bash", "cat <<EOF\n```\nEOF")),
        ("  ```python\n  print(1)\n  ```", ("python", "  print(1)")),
    ],
)
def test_pick_code_block(
    function_module: types.ModuleType, message: str, want: tuple[str, str] | None
) -> None:
    assert function_module.pick_code_block(message) == want


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({"messages": []}, "No messages"),
        ({"messages": [{"role": "user", "content": "```bash\necho 1\n```"}]}, "not from the AI model"),
        (assistant("Nothing to run."), "no code block"),
        (assistant("```text\nhello\n```"), "no Python or Bash"),
    ],
)
def test_nothing_to_run_is_refused_without_a_sandbox(
    function_module: types.ModuleType,
    storage: object,
    events: Events,
    body: dict[str, object],
    complaint: str,
) -> None:
    action = function_module.Action()
    reply = json.loads(run(action.action(body, __user__=user("u1"), __event_emitter__=events)))
    assert reply["status"] == "INVALID_INPUT"
    assert complaint in reply["output"]
    assert events.of_type("status")[-1] == {"status": "error", "description": reply["output"], "done": True}


def test_runs_the_block_it_picks(
    function_module: types.ModuleType, libsandbox: types.ModuleType, storage: object, events: Events
) -> None:
    action = function_module.Action()
    configure(action, storage)  # type: ignore[arg-type]
    message = "Try:\n```bash\necho from-bash $BASH_VERSION\n```\nor\n```python\nprint('from-python')\n```"
    reply = json.loads(run(action.action(assistant(message), __user__=user("u1"), __event_emitter__=events)))
    assert reply["status"] == "OK"
    assert reply["output"].startswith("from-bash 5.")
    executions = events.of_type("citation")
    assert executions[-1]["language"] == "bash"
    assert executions[-1]["code"] == "echo from-bash $BASH_VERSION"
