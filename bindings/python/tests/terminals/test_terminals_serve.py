"""The server as an admin runs it (``python -m libsandbox.terminals``, secrets
from the environment), a restart with sessions alive, and many users at
once."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from terminals_helpers import KEY, headers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(root: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "LIBSANDBOX_TERMINALS_API_KEY": KEY,
        "LIBSANDBOX_TERMINALS_WEBUI_SECRET_KEY": "s" * 40,
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "libsandbox.terminals", "--port", str(port), "--log-level", "warning",
         "--state-dir", str(root / "state"), "--storage-dir", str(root / "files"),
         "--policy-file", str(root / "policies.textproto")],
        env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        assert server.poll() is None, "the server exited"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                return server
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not come up"
        time.sleep(0.2)


def _stop(server: subprocess.Popen[bytes], root: Path) -> None:
    server.send_signal(signal.SIGTERM)
    # uvicorn shuts down cleanly, then exits by the signal it was sent.
    assert server.wait(timeout=60) in (0, -signal.SIGTERM)
    # No sandbox outlives it.
    left = subprocess.run(["pgrep", "-f", str(root / "state")], capture_output=True, text=True).stdout
    assert left == "", left


def test_restart_keeps_workspaces(sandbox_root: Path) -> None:
    root, port = sandbox_root / "restart", _free_port()
    url, h = f"http://127.0.0.1:{port}", headers("kim", chat="c")
    root.mkdir()
    server = _start(root, port)
    try:
        # A missing policy file starts empty, ready for Open WebUI's screens.
        assert (root / "policies.textproto").exists()
        assert httpx.get(f"{url}/api/v1/policies").json() == []
        httpx.post(f"{url}/files/write", json={"path": "kept.txt", "content": "still here"}, headers=h)
        busy = httpx.post(f"{url}/execute", json={"command": "sleep 300"}, headers=h).json()["id"]
        env = httpx.post(f"{url}/execute?wait=30", json={"command": "env"}, headers=h, timeout=60).json()
        text = "".join(e["data"] for e in env["output"])
        assert text and KEY not in text and "s" * 40 not in text and "LIBSANDBOX" not in text
    finally:
        _stop(server, root)
    server = _start(root, port)
    try:
        assert (
            httpx.get(f"{url}/files/read", params={"path": "kept.txt"}, headers=h).json()["content"]
            == "still here"
        )
        assert httpx.get(f"{url}/execute/{busy}/status", headers=h).status_code == 404
        again = httpx.post(
            f"{url}/execute?wait=30", json={"command": "cat kept.txt"}, headers=h, timeout=60
        ).json()
        assert again["output"][0]["data"].strip() == "still here"
    finally:
        _stop(server, root)
    # Without a way to identify callers it refuses to start, saying what to set.
    bare = {k: v for k, v in os.environ.items() if not k.startswith("LIBSANDBOX_TERMINALS_")}
    refused = subprocess.run(
        [sys.executable, "-m", "libsandbox.terminals"], env=bare, capture_output=True, timeout=60
    )
    assert refused.returncode == 2 and b"LIBSANDBOX_TERMINALS_API_KEY" in refused.stderr


def test_twenty_users_five_commands_each(client: httpx.Client) -> None:
    users = [f"load-{i:02d}" for i in range(20)]

    async def one(http: httpx.AsyncClient, user: str, n: int) -> str:
        r = await http.post(
            "/execute?wait=120",
            json={"command": f"sleep 0.2; echo {user}-{n}"},
            headers=headers(user, chat="load"),
        )
        assert r.status_code == 200, r.text
        done = r.json()
        assert done["status"] == "done", done
        return "".join(e["data"] for e in done["output"]).strip()

    async def everyone() -> list[str]:
        async with httpx.AsyncClient(base_url=str(client.base_url), timeout=300) as http:
            return await asyncio.gather(*(one(http, u, n) for u in users for n in range(5)))

    started = time.monotonic()
    outputs = asyncio.run(everyone())
    assert outputs == [f"{u}-{n}" for u in users for n in range(5)]
    print(f"20 users x 5 commands: {time.monotonic() - started:.1f} s")
    # Each user's list holds exactly its own five.
    for user in users[:3]:
        listed = client.get("/execute", headers=headers(user, chat="load")).json()
        assert sorted(p["command"] for p in listed) == sorted(f"sleep 0.2; echo {user}-{n}" for n in range(5))
