"""The stubs and annotations: mypy --strict on the package and on host code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "typing"


def _mypy(*args: str) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("mypy")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--python-executable",
            sys.executable,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=HERE,  # keep the source tree's package dir off the path: check the installed one
    )


def test_stubs_match_the_compiled_module() -> None:
    pytest.importorskip("mypy")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy.stubtest",
            "libsandbox",
            "--concise",
            "--allowlist",
            str(HERE / "stubtest_allowlist.txt"),
            "--ignore-unused-allowlist",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=HERE,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_installed_package_passes_mypy_strict() -> None:
    proc = _mypy("-p", "libsandbox")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_host_code_passes_mypy_strict() -> None:
    proc = _mypy("usage.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_rejects_misuse() -> None:
    proc = _mypy("misuse.py")
    assert proc.returncode != 0
    assert proc.stdout.count("error:") >= 5, proc.stdout  # one per line of misuse.py
