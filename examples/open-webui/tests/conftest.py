"""Fixtures: the tool and function loaded the way Open WebUI loads them, an
event collector, a private storage root, the real libsandbox, the catalogue."""

from __future__ import annotations

import importlib
import os
import pathlib
import types

import pytest
from owui_helpers import FUNCTION_PATH, OVERRIDE_PREFIX, TOOL_PATH, Events, load_like_open_webui


@pytest.fixture
def tool_module() -> types.ModuleType:
    return load_like_open_webui(TOOL_PATH)


@pytest.fixture
def function_module() -> types.ModuleType:
    return load_like_open_webui(FUNCTION_PATH)


@pytest.fixture(autouse=True)
def no_inherited_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    # Overrides in the developer's environment must not change what is tested.
    for name in list(os.environ):
        if name.startswith(OVERRIDE_PREFIX):
            monkeypatch.delenv(name)


@pytest.fixture
def libsandbox() -> types.ModuleType:
    try:
        return importlib.import_module("libsandbox")
    except ImportError as e:
        pytest.fail(f"these tests run the real sandbox: install libsandbox first ({e})")


@pytest.fixture
def storage(tmp_path: pathlib.Path) -> pathlib.Path:
    root = tmp_path / "storage"
    root.mkdir()
    return root


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def selftest_package() -> types.ModuleType:
    """The catalogue, installed with libsandbox or from this checkout."""
    openwebui = importlib.import_module("libsandbox.openwebui")
    package: types.ModuleType = openwebui.load_selftest()
    return package
