"""Helpers for the Open WebUI plugin tests (fixtures are in conftest.py)."""

from __future__ import annotations

import asyncio
import pathlib
import sys
import types
import uuid
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

EXAMPLES = pathlib.Path(__file__).resolve().parents[1]
TOOL_PATH = EXAMPLES / "tools" / "run_code.py"
FUNCTION_PATH = EXAMPLES / "functions" / "run_code.py"
REPO = EXAMPLES.parents[1]
OVERRIDE_PREFIX = "CODE_EVAL_VALVE_OVERRIDE_"
T = TypeVar("T")


def load_like_open_webui(path: pathlib.Path) -> types.ModuleType:
    # Open WebUI: module = types.ModuleType(name); sys.modules[name] = module;
    # exec(content, module.__dict__).
    name = f"owui_plugin_{uuid.uuid4().hex}"
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), module.__dict__)
    return module


class Events:
    """Collects what a plugin sends to __event_emitter__."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def __call__(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e["data"] for e in self.events if e["type"] == kind]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def configure(plugin: Any, storage: pathlib.Path, **valves: Any) -> Any:
    """Sets valves the way Open WebUI does (a validated Valves instance);
    returns `plugin`."""
    values = {
        "WEB_ACCESSIBLE_DIRECTORY_PATH": str(storage),
        "WEB_ACCESSIBLE_DIRECTORY_URL": "/files",
        **valves,
    }
    plugin.valves = plugin.Valves(**values)
    return plugin


def user(user_id: str) -> dict[str, str]:
    return {"id": user_id, "name": user_id, "email": f"{user_id}@example.invalid", "role": "user"}


def assistant(content: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": "run it"}, {"role": "assistant", "content": content}]}


async def call(awaitable: Awaitable[T]) -> T:
    return await awaitable
