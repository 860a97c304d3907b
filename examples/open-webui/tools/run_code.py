"""
title: Run code
author: libsandbox authors
version: 0.1.0
license: Apache-2.0
description: Lets the model run Python or Bash code in a gVisor sandbox with hard limits.
"""

# An Open WebUI *tool*: the model calls run_python_code / run_bash_command on
# its own. The companion *function* (functions/run_code.py) adds a "Run code"
# button under assistant messages instead.
#
# Outside Open WebUI:
#   echo 'print("hello")' | python3 run_code.py --language=python
#   python3 run_code.py --self_test

import json
import re
import sys
import typing
from collections.abc import Awaitable, Callable

import libsandbox.openwebui as openwebui

# Re-exported (`X as X`): callers and tests use these names from this file.
from libsandbox.openwebui import ValveError as ValveError
from libsandbox.openwebui import effective_valves as effective_valves
from libsandbox.openwebui import run_arguments as run_arguments
from libsandbox.openwebui import sandbox_run as sandbox_run
from libsandbox.openwebui import storage_dir as storage_dir


# Valves, storage, running and events are shared with the function file
# (libsandbox.openwebui); only where generated files are kept is this file's own.
class Valves(openwebui.Valves):
    WEB_ACCESSIBLE_DIRECTORY_PATH: str = openwebui.storage_path_valve("$DATA_DIR/cache/tools/run_code")
    WEB_ACCESSIBLE_DIRECTORY_URL: str = openwebui.storage_url_valve("/cache/tools/run_code")


def _strip_fences(code: str) -> str:
    """The code without the ```lang fence or single backticks models sometimes
    wrap it in."""
    code = code.strip()
    first, newline, rest = code.partition("\n")
    if newline and first.startswith("```") and re.fullmatch(r"[\w+.-]*", first[3:].strip()):
        code = rest.rstrip()
        if code.endswith("```"):
            code = code[:-3].rstrip()
    elif not newline and len(code) > 1 and code.startswith("`") and code.endswith("`"):
        code = code.strip("`").strip()
    return code


async def _run_tool(
    configured: Valves,
    language: str,
    code: str,
    user: dict[str, typing.Any] | None,
    emitter: openwebui.EventEmitter,
    chat: str = "",
    files: object = None,
    request: typing.Any = None,
    metadata: dict[str, typing.Any] | None = None,
) -> str:
    # Not a method: Open WebUI offers every public or _private method of
    # Tools to the model, which must never choose `user` itself.
    code_field = "python_code" if language == "python" else "bash_command"
    code = _strip_fences(code)
    run = openwebui.CodeRun(
        f"{language.title()} tool execution", language, code, emitter, bool(configured.DEBUG)
    )
    outcome = await run.execute(
        configured, user, chat, openwebui.attachment_sources(files), request, metadata
    )
    reply: dict[str, typing.Any] = {code_field: code, "status": outcome.status, "output": outcome.output}
    reply.update(openwebui.reply_fields(outcome))
    await run.finish(outcome)
    return json.dumps(reply, ensure_ascii=False)


class Tools(openwebui.Plugin[Valves]):
    Valves = Valves

    async def run_python_code(
        self,
        python_code: str,
        __user__: dict[str, typing.Any] | None = None,
        __event_emitter__: openwebui.EventEmitter = None,
        __id__: str | None = None,
        __chat_id__: str | None = None,
        __metadata__: dict[str, typing.Any] | None = None,
        __files__: list[typing.Any] | None = None,
        __request__: typing.Any = None,
    ) -> str:
        """
        Run Python code safely in a gVisor sandbox. Files written to the current
        directory are kept and returned as download links. Files the user attached
        are in the current directory. When the reply has "session", files and
        variables holding data or modules persist to the next call.

        :param python_code: Python code to run.

        :return: A JSON object with `status`, `output` and `python_code`. When
            `status` is "OK", the user is interested in `output`; otherwise report
            `status` and `message` first.
        """
        return await _run_tool(
            self.valves,
            "python",
            python_code,
            __user__,
            __event_emitter__,
            openwebui.chat_id(__chat_id__, __metadata__),
            __files__,
            __request__,
            __metadata__,
        )

    async def run_bash_command(
        self,
        bash_command: str,
        __user__: dict[str, typing.Any] | None = None,
        __event_emitter__: openwebui.EventEmitter = None,
        __id__: str | None = None,
        __chat_id__: str | None = None,
        __metadata__: dict[str, typing.Any] | None = None,
        __files__: list[typing.Any] | None = None,
        __request__: typing.Any = None,
    ) -> str:
        """
        Run a bash command line or script safely in a gVisor sandbox. Files
        written to the current directory are kept and returned as download links.
        Files the user attached are in the home directory. When the reply has
        "session", files and the current directory persist to the next call.

        :param bash_command: Bash command or script to run.

        :return: A JSON object with `status`, `output` and `bash_command`. When
            `status` is "OK", the user is interested in `output`; otherwise report
            `status` and `message` first.
        """
        return await _run_tool(
            self.valves,
            "bash",
            bash_command,
            __user__,
            __event_emitter__,
            openwebui.chat_id(__chat_id__, __metadata__),
            __files__,
            __request__,
            __metadata__,
        )


async def _run_once(
    language: str, code: str, user: dict[str, typing.Any] | None, emitter: openwebui.EventEmitter
) -> str:
    tools = Tools()
    method: Callable[..., Awaitable[str]] = (
        tools.run_python_code if language == "python" else tools.run_bash_command
    )
    return await method(code, __user__=user, __event_emitter__=emitter)


def main(argv: list[str] | None = None) -> int:
    """Outside Open WebUI: one run with the code on stdin, or --self_test."""
    return openwebui.main(argv, "tool", __file__, Valves, _run_once)


if __name__ == "__main__":
    sys.exit(main())
