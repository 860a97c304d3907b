"""python -m libsandbox: doctor and --self_test."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import libsandbox
from libsandbox import __main__ as cli


def _module(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "libsandbox", *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_doctor_prints_every_check_and_exit_code_follows_them() -> None:
    checks = libsandbox.doctor()
    assert checks, "doctor returned no checks"
    for check in checks:
        assert check.name
        assert check.ok or check.remedy, f"failing check {check.name} has no remedy"
    proc = _module("doctor")
    for check in checks:
        assert check.name in proc.stdout
    assert proc.returncode == (0 if all(c.ok for c in checks) else 1), proc.stdout + proc.stderr


def test_doctor_json_and_a_missing_runsc_fails() -> None:
    proc = _module("doctor", "--json", "--runsc", "/nonexistent/runsc")
    assert proc.returncode != 0
    checks = json.loads(proc.stdout)
    assert any(not c["ok"] and c["remedy"] for c in checks), checks


def test_runsc_version_is_reported() -> None:
    assert libsandbox.runsc_version()
    with pytest.raises(FileNotFoundError):
        libsandbox.runsc_version(libsandbox.Config(runsc_path="/nonexistent/runsc"))


def test_self_test_without_catalogue_fails_clearly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "libsandbox.selftest", None)  # makes the import fail
    assert cli.main(["--self_test"]) != 0
    assert "libsandbox.selftest" in capsys.readouterr().err


def test_usage_error_is_non_zero() -> None:
    proc = _module()
    assert proc.returncode == 2


def test_self_test_runs_the_installed_catalogue() -> None:
    listed = _module("--self_test", "--list")
    assert listed.returncode == 0, listed.stderr
    assert "simple_python" in listed.stdout.split()
    proc = _module("--self_test", "--self_test_filter", "simple_python,bad_syntax_python")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "simple_python" in proc.stdout
