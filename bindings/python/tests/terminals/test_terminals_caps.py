"""What one request may move is bounded, and over a cap it is refused with
413 and the cap, never read whole first."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from libsandbox.terminals import Settings, create_app
from terminals_helpers import KEY, Live, headers, serving

import libsandbox


@pytest.fixture(scope="module")
def small(terminals_config: libsandbox.Config) -> Iterator[Live]:
    settings = Settings(
        api_key=KEY,
        config=terminals_config,
        max_body_bytes=4096,
        max_upload_bytes=16384,
        max_read_bytes=1000,
        max_archive_bytes=2048,
        max_terminals_per_user=1,
    )
    with serving(create_app(settings)) as live:
        yield live


def test_caps_per_request(small: Live) -> None:
    c = httpx.Client(base_url=small.url, timeout=120)
    h = headers("capped")
    assert c.post("/files/write", json={"path": "f", "content": "x" * 5000}, headers=h).status_code == 413

    def chunks() -> Iterator[bytes]:
        yield b'{"path": "g", "content": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}'

    unsized = c.post("/files/write", content=chunks(), headers=h)
    assert unsized.status_code != 200
    assert c.get("/files/read", params={"path": "g"}, headers=h).status_code == 404

    multipart = {k: v for k, v in h.items() if k != "Content-Type"}
    form = {"file": ("big.bin", b"z" * 20000)}
    big = c.post("/files/upload", params={"directory": "up"}, files=form, headers=multipart)
    assert big.status_code == 413
    form = {"file": ("ok.txt", b"o" * 10000)}
    ok = c.post("/files/upload", params={"directory": "up"}, files=form, headers=multipart)
    assert ok.status_code == 200 and ok.json()["size"] == 10000

    # A read returns at most max_read_bytes of text: ask for lines.
    c.post("/files/write", json={"path": "lines.txt", "content": "0123456789\n" * 300}, headers=h)
    whole = c.get("/files/read", params={"path": "lines.txt"}, headers=h)
    assert whole.status_code == 413 and "start_line" in whole.json()["detail"]
    part = c.get("/files/read", params={"path": "lines.txt", "start_line": 10, "end_line": 12}, headers=h)
    assert part.json()["content"] == "0123456789\n" * 3 and part.json()["total_lines"] == 300
    zipped = c.post("/files/archive", json={"paths": ["up/ok.txt", "lines.txt"]}, headers=h)
    assert zipped.status_code in (200, 413)  # deflated text may fit
    c.post("/execute?wait=20", json={"command": "head -c 100000 /dev/urandom > noise"}, headers=h)
    assert c.post("/files/archive", json={"paths": ["noise"]}, headers=h).status_code == 413

    assert c.post("/api/terminals", headers=h).status_code == 200
    assert c.post("/api/terminals", headers=h).status_code == 429
