"""Shared fixtures: a private state and storage root per test session."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import libsandbox


@pytest.fixture(scope="session")
def sandbox_root() -> Iterator[Path]:
    # Short path: runsc keeps its state (and sockets) below state_dir.
    root = Path(tempfile.mkdtemp(prefix="lsb-py-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def config(sandbox_root: Path) -> libsandbox.Config:
    """A Config that keeps every run's state and files inside the test root."""
    return libsandbox.Config(state_dir=str(sandbox_root / "state"), storage_dir=str(sandbox_root / "storage"))
