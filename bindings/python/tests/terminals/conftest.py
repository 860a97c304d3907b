"""Fixtures: one real server (key and session mode at once) for the suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from libsandbox.terminals import Settings, create_app
from terminals_helpers import KEY, SECRET, FakeOpenWebUI, Live, serving

import libsandbox


@pytest.fixture(scope="session")
def terminals_config(sandbox_root: Path) -> Iterator[libsandbox.Config]:
    config = libsandbox.Config(
        state_dir=str(sandbox_root / "terminals-state"),
        storage_dir=str(sandbox_root / "terminals-files"),
        audit=True,
    )
    try:
        yield config
    finally:
        libsandbox.shutdown()


@pytest.fixture(scope="session")
def owui() -> Iterator[tuple[FakeOpenWebUI, str]]:
    fake = FakeOpenWebUI()
    with serving(fake.app()) as live:
        yield fake, live.url


@pytest.fixture(scope="session")
def live(terminals_config: libsandbox.Config, owui: tuple[FakeOpenWebUI, str]) -> Iterator[Live]:
    """One server in key mode and session mode at once."""
    settings = Settings(api_key=KEY, open_webui_url=owui[1], webui_secret_key=SECRET, config=terminals_config)
    with serving(create_app(settings)) as server:
        yield server


@pytest.fixture
def client(live: Live) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=120) as c:
        yield c
