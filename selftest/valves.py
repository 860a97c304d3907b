"""The Open WebUI valves as the library runner sees them: their defaults and
how they become libsandbox Limits/Config. The tool and function files map
them the same way (the tests hold the two in step)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

OVERRIDE_PREFIX = "CODE_EVAL_VALVE_OVERRIDE_"

# Defaults of the valves that affect a run (paths and URLs are per case).
DEFAULTS: dict[str, Any] = {
    "NETWORKING_ALLOWED": False,
    "MAX_RUNTIME_SECONDS": 30,
    "MAX_RAM_MEGABYTES": 128,
    "REQUIRE_RESOURCE_LIMITING": True,
    "AUTO_INSTALL": True,
    "CHECK_FOR_UPDATES": False,
    "DEBUG": False,
    "MAX_FILES_PER_EXECUTION": 32,
    "MAX_FILES_PER_USER": 4096,
    "MAX_MEGABYTES_PER_USER": 256,
    "MAX_CPUS": 1.0,
    "MAX_PIDS": 128,
    "MAX_OUTPUT_BYTES": 1 << 20,
    "MAX_WORKSPACE_MEGABYTES": 256,
    "WARM_POOL_SIZE": 1,
    "WARM_POOL_MAX_SIZE": 0,
    "SESSION_MODE": "off",
    "SESSION_IDLE_TIMEOUT_MINUTES": 30,
    "SESSION_WORKSPACE_MEGABYTES": 512,
    "POLICY": "",
    "POLICY_FILE": "",
    "MAX_ATTACHMENT_MEGABYTES": 32,
}
# The languages the files keep pre-booted sandboxes for.
POOL_LANGUAGES = ["python", "bash"]


def run_kwargs(valves: Mapping[str, Any], storage_root: str) -> dict[str, Any]:
    """libsandbox.run arguments for `valves` (unset ones take DEFAULTS):
    {"limits": Limits kwargs, "config": Config kwargs, "network": bool,
    "policy": str}. Config's ``pool_limits`` is a dict of Limits kwargs (Config
    takes it as is). A named policy decides limits (None) and network."""
    v = dict(DEFAULTS)
    v.update(valves)
    limits = {
        "timeout_s": float(v["MAX_RUNTIME_SECONDS"]),
        "memory_mb": int(v["MAX_RAM_MEGABYTES"]),
        "cpus": float(v["MAX_CPUS"]),
        "max_pids": int(v["MAX_PIDS"]),
        "max_output_bytes": int(v["MAX_OUTPUT_BYTES"]),
        "workspace_mb": int(v["MAX_WORKSPACE_MEGABYTES"]),
    }
    policy = str(v["POLICY"])
    return {
        "config": {
            "storage_dir": storage_root,
            "allow_unenforced_limits": not _truthy(v["REQUIRE_RESOURCE_LIMITING"]),
            "max_files_per_execution": int(v["MAX_FILES_PER_EXECUTION"]),
            "max_files_per_user": int(v["MAX_FILES_PER_USER"]),
            "max_bytes_per_user": int(v["MAX_MEGABYTES_PER_USER"]) << 20,
            "debug": _truthy(v["DEBUG"]),
            "pool_size": int(v["WARM_POOL_SIZE"]),
            "pool_max_size": int(v["WARM_POOL_MAX_SIZE"]),
            "pool_languages": list(POOL_LANGUAGES),
            "pool_limits": dict(limits),
            "policy_file": str(v["POLICY_FILE"]),
        },
        "limits": None if policy else limits,
        "network": _truthy(v["NETWORKING_ALLOWED"]) and not policy,
        "policy": policy,
    }


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
