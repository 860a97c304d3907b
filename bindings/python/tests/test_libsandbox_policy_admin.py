"""Changing the admin's policy file through the API: checked against the
caps before anything is written, and in force for the next run."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import libsandbox

POLICIES = """
caps { memory: "256Mi" timeout: "60s" allow_allowlist: true }
policies { name: "small" memory: "64Mi" }
default_policy: "small"
"""


@pytest.fixture()
def cfg(config: libsandbox.Config, tmp_path: Path) -> libsandbox.Config:
    policy_file = tmp_path / "policies.textproto"
    policy_file.write_text(POLICIES)
    return dataclasses.replace(config, policy_file=str(policy_file))


def test_policies_reads_the_file(cfg: libsandbox.Config) -> None:
    current = libsandbox.policies(cfg)
    assert current["default_policy"] == "small"
    assert [p["name"] for p in current["policies"]] == ["small"]
    assert current["caps"]["memory"] == "256Mi"


def test_set_policy_is_checked_against_the_caps_and_applies_to_the_next_run(cfg: libsandbox.Config) -> None:
    before = Path(cfg.policy_file).read_text()
    with pytest.raises(ValueError, match=r"caps\.memory"):
        libsandbox.set_policy({"name": "big", "memory": "1Gi"}, cfg)
    assert Path(cfg.policy_file).read_text() == before

    libsandbox.set_policy({"name": "quick", "timeout": "1s", "env": {"MODE": "quick"}}, cfg)
    code = "import os, time; print(os.environ['MODE'], flush=True); time.sleep(5)"
    r = libsandbox.run(code, policy="quick", config=cfg)
    assert r.status is libsandbox.Status.TIMEOUT
    assert r.stdout == "quick\n"
    libsandbox.set_policy({"name": "pip", "network": {"mode": "allowlist", "domains": ["pypi.org"]}}, cfg)
    assert {p["name"] for p in libsandbox.policies(cfg)["policies"]} == {"small", "quick", "pip"}


def test_remove_policy(cfg: libsandbox.Config) -> None:
    libsandbox.set_policy({"name": "gone", "memory": "32Mi"}, cfg)
    libsandbox.remove_policy("gone", cfg)
    assert libsandbox.run("print(1)", policy="gone", config=cfg).status is libsandbox.Status.INVALID_INPUT
    with pytest.raises(KeyError):
        libsandbox.remove_policy("gone", cfg)
    with pytest.raises(ValueError, match="default_policy"):
        libsandbox.remove_policy("small", cfg)


def test_set_policies_replaces_the_set(cfg: libsandbox.Config) -> None:
    only = {"caps": {"memory": "128Mi"}, "policies": [{"name": "only", "memory": "64Mi"}]}
    libsandbox.set_policies(only, cfg)
    current = libsandbox.policies(cfg)
    assert [p["name"] for p in current["policies"]] == ["only"]
    with pytest.raises(ValueError, match=r"caps\.memory"):
        libsandbox.set_policies({**only, "policies": [{"name": "x", "memory": "1Gi"}]}, cfg)


def test_policy_calls_need_a_policy_file(config: libsandbox.Config) -> None:
    with pytest.raises(ValueError, match="policy_file"):
        libsandbox.set_policy({"name": "x"}, config)
    with pytest.raises(TypeError):
        libsandbox.set_policy(["x"], config)  # type: ignore[arg-type]
