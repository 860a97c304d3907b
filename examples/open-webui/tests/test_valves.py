"""Valves: the names and defaults admins already use, safe defaults where the
old ones were unsafe, environment overrides validated with each valve's own
bounds, and the two files in step with each other and the library runner."""

from __future__ import annotations

import importlib
import json
import os
import pathlib
import subprocess
import sys
import time
import types
from typing import Any

import pydantic
import pytest
from owui_helpers import FUNCTION_PATH, OVERRIDE_PREFIX, TOOL_PATH, Events, assistant, configure, run, user

OLD_VALVES = {
    "NETWORKING_ALLOWED": False,  # was True: network is now opt-in
    "MAX_RUNTIME_SECONDS": 30,
    "MAX_RAM_MEGABYTES": 128,
    "REQUIRE_RESOURCE_LIMITING": True,
    "AUTO_INSTALL": True,  # kept, but it never downloads anything
    "CHECK_FOR_UPDATES": False,  # was True: never reach the network
    "DEBUG": False,
    "MAX_FILES_PER_EXECUTION": 32,
    "MAX_FILES_PER_USER": 4096,
    "MAX_MEGABYTES_PER_USER": 256,
}
NEW_VALVES = {
    "MAX_CPUS": 1.0,
    "MAX_PIDS": 128,
    "MAX_OUTPUT_BYTES": 1 << 20,
    "MAX_WORKSPACE_MEGABYTES": 256,
    "WARM_POOL_SIZE": 1,
    "WARM_POOL_MAX_SIZE": 0,
    "SESSION_MODE": "off",
    "SESSION_IDLE_TIMEOUT_MINUTES": 30,
    "SESSION_WORKSPACE_MEGABYTES": 512,
    "SESSION_DIRECTORY_PATH": "$DATA_DIR/libsandbox",
    "POLICY": "",
    "POLICY_FILE": "",
    "MAX_ATTACHMENT_MEGABYTES": 32,
    "ATTACHMENT_DIRECTORY_PATH": "$DATA_DIR/uploads",
}


@pytest.fixture(params=["tool", "function"])
def plugin_module(
    request: pytest.FixtureRequest, tool_module: types.ModuleType, function_module: types.ModuleType
) -> types.ModuleType:
    return tool_module if request.param == "tool" else function_module


def test_valve_names_and_defaults(plugin_module: types.ModuleType) -> None:
    # Old names and defaults, except where the old default was unsafe.
    valves = plugin_module.Valves()
    defaults = valves.model_dump()
    for name, default in {**OLD_VALVES, **NEW_VALVES}.items():
        assert defaults[name] == default, name
    assert set(defaults) == {
        *OLD_VALVES,
        *NEW_VALVES,
        "WEB_ACCESSIBLE_DIRECTORY_PATH",
        "WEB_ACCESSIBLE_DIRECTORY_URL",
    }
    assert defaults["WEB_ACCESSIBLE_DIRECTORY_PATH"].startswith("$DATA_DIR/cache/")
    assert defaults["WEB_ACCESSIBLE_DIRECTORY_URL"].startswith("/cache/")
    # Every valve documents its override variable.
    for name, field in type(valves).model_fields.items():
        assert f"{OVERRIDE_PREFIX}{name}" in (field.description or ""), name


def test_function_keeps_the_old_storage_location(function_module: types.ModuleType) -> None:
    valves = function_module.Valves()
    assert valves.WEB_ACCESSIBLE_DIRECTORY_PATH == "$DATA_DIR/cache/functions/run_code"
    assert valves.WEB_ACCESSIBLE_DIRECTORY_URL == "/cache/functions/run_code"


def test_tool_and_function_share_their_common_code(
    tool_module: types.ModuleType, function_module: types.ModuleType
) -> None:
    # One implementation in the package, never a copy per file.
    shared = importlib.import_module("libsandbox.openwebui")
    for name in ("ValveError", "effective_valves", "storage_dir", "run_arguments", "sandbox_run"):
        assert getattr(tool_module, name) is getattr(shared, name), name
        assert getattr(function_module, name) is getattr(shared, name), name
    for module in (tool_module, function_module):
        assert issubclass(module.Valves, shared.Valves)
        # Only where generated files are kept is each file's own.
        own = {
            name
            for name, field in module.Valves.model_fields.items()
            if repr(field) != repr(shared.Valves.model_fields[name])
        }
        assert own == {"WEB_ACCESSIBLE_DIRECTORY_PATH", "WEB_ACCESSIBLE_DIRECTORY_URL"}
    assert list(tool_module.Valves.model_fields) == list(function_module.Valves.model_fields)


def test_library_runner_maps_valves_like_the_files(
    plugin_module: types.ModuleType, selftest_package: types.ModuleType
) -> None:
    valves_module = sys.modules[selftest_package.__name__ + ".valves"]
    plugin_defaults = plugin_module.Valves().model_dump()
    for name, default in valves_module.DEFAULTS.items():
        assert plugin_defaults[name] == default, name
    custom: dict[str, Any] = {
        "MAX_RUNTIME_SECONDS": 7,
        "MAX_RAM_MEGABYTES": 0,
        "NETWORKING_ALLOWED": True,
        "MAX_CPUS": 0.5,
        "POLICY_FILE": "/srv/policies.textproto",
    }
    valves = plugin_module.Valves(**custom)
    assert plugin_module.run_arguments(valves, "/srv/x") == valves_module.run_kwargs(custom, "/srv/x")
    # A named policy decides limits and network.
    custom["POLICY"] = "small"
    valves = plugin_module.Valves(**custom)
    mapped = plugin_module.run_arguments(valves, "/srv/x")
    assert mapped == valves_module.run_kwargs(custom, "/srv/x")
    assert (mapped["limits"], mapped["network"], mapped["policy"]) == (None, False, "small")
    assert mapped["config"]["policy_file"] == "/srv/policies.textproto"


def test_front_matter(plugin_module: types.ModuleType) -> None:
    docstring = plugin_module.__doc__ or ""
    fields = dict(
        (key.strip(), value.strip())
        for key, _, value in (line.partition(":") for line in docstring.strip().splitlines())
    )
    for key in ("title", "author", "version", "license", "description"):
        assert fields.get(key), key
    # Open WebUI pip-installs front-matter requirements from the package index,
    # where no libsandbox of ours is: the README's install step does it.
    assert "requirements" not in fields


@pytest.mark.parametrize(
    ("name", "raw", "want"),
    [
        ("MAX_RUNTIME_SECONDS", "7", 7),
        ("MAX_RAM_MEGABYTES", "0", 0),
        ("NETWORKING_ALLOWED", "true", True),
        ("DEBUG", "False", False),
        ("MAX_CPUS", "0.5", 0.5),
        ("WEB_ACCESSIBLE_DIRECTORY_URL", "https://files.example/x", "https://files.example/x"),
        ("SESSION_MODE", "chat", "chat"),
        ("POLICY", "small", "small"),
        ("POLICY_FILE", "/srv/p.json", "/srv/p.json"),
    ],
)
def test_environment_override_applies(
    plugin_module: types.ModuleType, monkeypatch: pytest.MonkeyPatch, name: str, raw: str, want: Any
) -> None:
    monkeypatch.setenv(OVERRIDE_PREFIX + name, raw)
    assert getattr(plugin_module.effective_valves(plugin_module.Valves()), name) == want


def test_environment_override_beats_the_admin_setting(
    plugin_module: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(OVERRIDE_PREFIX + "MAX_RUNTIME_SECONDS", "5")
    assert (
        plugin_module.effective_valves(plugin_module.Valves(MAX_RUNTIME_SECONDS=60)).MAX_RUNTIME_SECONDS == 5
    )


@pytest.mark.parametrize(
    ("name", "raw", "complaint"),
    [
        ("MAX_RUNTIME_SECONDS", "0", "greater than or equal to 1"),
        ("MAX_RAM_MEGABYTES", "-1", "greater than or equal to 0"),
        ("MAX_RAM_MEGABYTES", "lots", "valid integer"),
        ("NETWORKING_ALLOWED", "maybe", "valid boolean"),
        ("MAX_OUTPUT_BYTES", "100", "greater than or equal to 1024"),
        ("MAX_FILES_PER_USER", "0", "greater than or equal to 1"),
        ("MAX_CPUS", "2000", "less than or equal to 1024"),
        ("SESSION_MODE", "forever", "'off', 'chat' or 'user'"),
        ("SESSION_IDLE_TIMEOUT_MINUTES", "0", "greater than or equal to 1"),
        ("POLICY", "../x", "should match pattern"),
        ("POLICY_FILE", "policies.textproto", "should match pattern"),
        ("POLICY_FILE", "/etc/policies.yaml", "should match pattern"),
        ("MAX_ATTACHMENT_MEGABYTES", "-1", "greater than or equal to 0"),
    ],
)
def test_environment_override_outside_bounds_is_a_clear_error(
    plugin_module: types.ModuleType, monkeypatch: pytest.MonkeyPatch, name: str, raw: str, complaint: str
) -> None:
    monkeypatch.setenv(OVERRIDE_PREFIX + name, raw)
    with pytest.raises(plugin_module.ValveError) as error:
        plugin_module.effective_valves(plugin_module.Valves())
    assert f"{OVERRIDE_PREFIX}{name}={raw!r}" in str(error.value)
    assert complaint in str(error.value)


def test_admin_values_are_validated_too(plugin_module: types.ModuleType) -> None:
    with pytest.raises(pydantic.ValidationError):
        plugin_module.Valves(MAX_RUNTIME_SECONDS=0)
    valves = plugin_module.Valves()
    with pytest.raises(pydantic.ValidationError):
        valves.MAX_PIDS = -5


def test_bad_override_fails_the_call_without_running(
    tool_module: types.ModuleType, monkeypatch: pytest.MonkeyPatch, storage: Any, events: Events
) -> None:
    tools = tool_module.Tools()
    configure(tools, storage)
    monkeypatch.setenv(OVERRIDE_PREFIX + "MAX_RUNTIME_SECONDS", "-3")
    reply = json.loads(
        run(tools.run_python_code("print('never runs')", __user__=user("u1"), __event_emitter__=events))
    )
    assert reply["status"] == "SANDBOX_ERROR"
    assert f"{OVERRIDE_PREFIX}MAX_RUNTIME_SECONDS='-3'" in reply["message"]
    assert events.of_type("status")[-1]["done"] is True
    assert os.listdir(storage) == []


@pytest.mark.parametrize("path", [TOOL_PATH, FUNCTION_PATH], ids=["tool", "function"])
def test_bad_override_stops_the_command_line(path: Any) -> None:
    env = dict(os.environ, **{OVERRIDE_PREFIX + "MAX_RAM_MEGABYTES": "a lot"})
    done = subprocess.run(
        [sys.executable, str(path), "--language=python"],
        input="print(1)",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2
    assert f"{OVERRIDE_PREFIX}MAX_RAM_MEGABYTES='a lot'" in done.stderr


def test_warm_pool_valve_boots_sandboxes_with_the_runs_limits(plugin_module: types.ModuleType) -> None:
    arguments = plugin_module.run_arguments(plugin_module.Valves(WARM_POOL_SIZE=3), "/srv/x")
    config = arguments["config"]
    assert (config["pool_size"], config["pool_languages"]) == (3, ["python", "bash"])
    # Pooled sandboxes boot with the run's own caps, so every run can take one.
    assert config["pool_limits"] == arguments["limits"]
    assert (
        plugin_module.run_arguments(plugin_module.Valves(WARM_POOL_SIZE=0), "/x")["config"]["pool_size"] == 0
    )
    for bad in (-1, 17):
        with pytest.raises(pydantic.ValidationError):
            plugin_module.Valves(WARM_POOL_SIZE=bad)
    assert (
        plugin_module.run_arguments(plugin_module.Valves(WARM_POOL_MAX_SIZE=5), "/x")["config"][
            "pool_max_size"
        ]
        == 5
    )


def test_one_pool_for_the_tool_the_function_and_every_valve_edit(
    tool_module: types.ModuleType,
    function_module: types.ModuleType,
    libsandbox: types.ModuleType,
    storage: pathlib.Path,
) -> None:
    # Before: each valve set kept its own pool (12 idle sandboxes after three
    # edits); now the newest valves size the one pool, and 0 drains it.
    def idle() -> int:
        return int(libsandbox.metrics()["gauges"].get("pool_idle", 0))

    def settles_at(n: int) -> bool:
        deadline = time.monotonic() + 60
        while idle() != n and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # and stays there
        return idle() == n

    libsandbox.shutdown()
    valves = {"WARM_POOL_SIZE": 1, "WARM_POOL_MAX_SIZE": 1}
    for ram in (128, 256, 512):
        tools = configure(tool_module.Tools(), storage, MAX_RAM_MEGABYTES=ram, **valves)
        assert json.loads(run(tools.run_python_code("print(1)", __user__=user("u"))))["status"] == "OK"
        action = configure(function_module.Action(), storage, MAX_RAM_MEGABYTES=ram + 1, **valves)
        body = assistant("```bash\necho 2\n```")
        assert json.loads(run(action.action(body, __user__=user("u"))))["status"] == "OK"
    assert settles_at(2), f"{idle()} idle pooled sandboxes after 6 valve sets (python + bash: 2)"
    tools = configure(tool_module.Tools(), storage, WARM_POOL_SIZE=0)
    assert json.loads(run(tools.run_python_code("print(3)", __user__=user("u"))))["status"] == "OK"
    assert settles_at(0), f"{idle()} idle pooled sandboxes after WARM_POOL_SIZE=0"
