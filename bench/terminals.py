"""libsandbox-terminals as Open WebUI uses it, measured side by side in one
run over real HTTP and WebSocket on loopback: a new user's first command
(boots the user's sandbox), the run_command round trip of a booted user, a
keystroke's echo through the terminal WebSocket, the idle memory each user
costs, and what that means for users per 24 GiB machine.

``python3 bench/terminals.py [--users 10] [--commands 30] [--keys 100]
[--open-terminal URL --open-terminal-key KEY]`` (root, runsc; the server runs
in this process on 127.0.0.1). With ``--open-terminal`` the same round trips
are measured, in the same run, against a running Open Terminal (which runs
commands on its host, unisolated) for a side-by-side ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import tempfile
import threading
import time

import httpx
import uvicorn
import websockets

import libsandbox
from libsandbox.terminals import Settings, create_app

KEY = "bench-key-0123456789abcdef"


def percentiles(name: str, seconds: list[float]) -> None:
    ms = sorted(1000 * s for s in seconds)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    print(f"{name:<44} p50 {statistics.median(ms):8.1f} ms   p95 {p95:8.1f} ms   n={len(ms)}")


def headers(user: str, key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "X-User-Id": user, "X-Session-Id": "bench"}


def run_command(http: httpx.Client, user: str, command: str, key: str = KEY) -> float:
    start = time.monotonic()
    r = http.post("/execute?wait=60", json={"command": command}, headers=headers(user, key))
    took = time.monotonic() - start
    assert r.status_code == 200 and r.json()["status"] == "done", r.text
    return took


async def keystrokes(url: str, http: httpx.Client, user: str, count: int, key: str = KEY) -> list[float]:
    tid = http.post("/api/terminals", headers=headers(user, key)).json()["id"]
    ws_url = "ws" + url[len("http") :] + f"/api/terminals/{tid}"
    times = []
    async with websockets.connect(ws_url, additional_headers={"X-User-Id": user, "X-Session-Id": "bench"}) as ws:
        await ws.send(json.dumps({"type": "auth", "token": key}))
        await asyncio.wait_for(ws.recv(), 20)  # the prompt, then quiet
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 0.5)
        except asyncio.TimeoutError:
            pass
        for i in range(count):
            key = b"abcdefghij"[i % 10 : i % 10 + 1]
            start = time.monotonic()
            await ws.send(key)
            while key not in await asyncio.wait_for(ws.recv(), 20):  # type: ignore[operator]
                pass
            times.append(time.monotonic() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--commands", type=int, default=30)
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--open-terminal", default="", help="URL of a running Open Terminal to compare with")
    parser.add_argument("--open-terminal-key", default="")
    args = parser.parse_args()

    root = tempfile.mkdtemp(prefix="lsb-bench-terminals-")
    config = libsandbox.Config(state_dir=f"{root}/state", storage_dir=f"{root}/files", max_sessions=256)
    app = create_app(Settings(api_key=KEY, config=config))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    print(f"libsandbox {libsandbox.__version__}, runsc {libsandbox.runsc_version()}")

    with httpx.Client(base_url=url, timeout=120) as http:
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        users = [f"bench-{i:03d}" for i in range(args.users)]
        percentiles("first command of a new user (boots)", [run_command(http, u, "echo hi") for u in users])
        hot = users[0]
        percentiles(
            "run_command round trip (echo, booted user)",
            [run_command(http, hot, "echo hi") for _ in range(args.commands)],
        )
        percentiles(
            "run_command round trip (python3 -c 1)",
            [run_command(http, hot, "python3 -c 1") for _ in range(args.commands)],
        )
        percentiles("WebSocket keystroke echo (bash)", asyncio.run(keystrokes(url, http, hot, args.keys)))
        if args.open_terminal:
            with httpx.Client(base_url=args.open_terminal, timeout=120) as other:
                key = args.open_terminal_key
                percentiles(
                    "Open Terminal: run_command (echo, unisolated)",
                    [run_command(other, hot, "echo hi", key) for _ in range(args.commands)],
                )
                percentiles(
                    "Open Terminal: run_command (python3 -c 1)",
                    [run_command(other, hot, "python3 -c 1", key) for _ in range(args.commands)],
                )
                percentiles(
                    "Open Terminal: WebSocket keystroke echo",
                    asyncio.run(keystrokes(args.open_terminal, other, hot, args.keys, key)),
                )

        time.sleep(2)  # let the sandboxes settle
        workspaces = app.state.server.workspaces
        per_user = [workspaces.session(k).info().memory_bytes for k in workspaces.keys()]
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        idle = statistics.mean(per_user)
        host = (rss_after - rss_before) / max(1, len(users))
        print(
            f"idle memory per user (sandbox cgroup)        mean {idle / 2**20:6.1f} MiB, "
            f"max {max(per_user) / 2**20:.1f} MiB; server +{host / 2**20:.2f} MiB per user (RSS high-water)"
        )
        budget = 24 * 2**30 - 2 * 2**30  # leave 2 GiB to the host and Open WebUI
        print(
            f"users per 24 GiB machine                     {budget / (idle + host):6.0f} idle, "
            f"{budget / (128 * 2**20):.0f} each at the default 128 MiB session cap"
        )
    server.should_exit = True
    thread.join(timeout=60)
    libsandbox.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
