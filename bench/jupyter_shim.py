"""The Jupyter shim as Open WebUI's Code Interpreter uses it (a kernel per
execution: POST /api/kernels, one execute_request over the WebSocket, read
until idle, DELETE), side by side in one run with the same code through
``libsandbox.run`` directly: ``print(1)`` and a matplotlib plot.

``python3 bench/jupyter_shim.py [--runs 20] [--pool 2]`` (root, runsc,
python3-matplotlib on the host)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid

import httpx
import uvicorn
import websockets

import libsandbox
from libsandbox.jupyter import JupyterSettings, create_jupyter_app

TOKEN = "bench-token-0123456789abcdef"
PLOT = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()\n"


def percentiles(name: str, seconds: list[float]) -> None:
    ms = sorted(1000 * s for s in seconds)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    print(f"{name:<40} p50 {statistics.median(ms):8.1f} ms   p95 {p95:8.1f} ms   n={len(ms)}")


async def through_shim(base: str, code: str) -> tuple[float, int]:
    start = time.monotonic()
    images = 0
    async with httpx.AsyncClient(base_url=base, params={"token": TOKEN}) as http:
        kernel = (await http.post("/api/kernels")).json()["id"]
        url = base.replace("http", "ws", 1) + f"/api/kernels/{kernel}/channels?token={TOKEN}"
        msg_id = uuid.uuid4().hex
        async with websockets.connect(url) as ws:
            header = {"msg_id": msg_id, "msg_type": "execute_request", "session": "b", "version": "5.3"}
            await ws.send(json.dumps({"header": header, "parent_header": {}, "metadata": {},
                                      "content": {"code": code}, "channel": "shell"}))  # fmt: skip
            while True:
                data = json.loads(await ws.recv())
                if data["parent_header"].get("msg_id") != msg_id:
                    continue
                images += data["msg_type"] == "display_data"
                if data["msg_type"] == "status" and data["content"]["execution_state"] == "idle":
                    break
        await http.delete(f"/api/kernels/{kernel}")
    return time.monotonic() - start, images


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--pool", type=int, default=2)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="lsb-bench-jupyter-")
    limits = libsandbox.Limits(memory_mb=512, timeout_s=60)
    config = libsandbox.Config(
        state_dir=f"{root}/state",
        storage_dir=f"{root}/files",
        pool_size=args.pool,
        pool_languages=["python"],
        pool_limits=limits,
    )
    app = create_jupyter_app(JupyterSettings(token=TOKEN, config=config, limits=limits))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    print(f"libsandbox {libsandbox.__version__}, runsc {libsandbox.runsc_version()}, pool {args.pool}")
    for name, code in (("print(1)", "print(1)"), ("plot (plt.show)", PLOT)):
        shim, direct = [], []
        for _ in range(args.runs):
            took, images = asyncio.run(through_shim(base, code))
            assert images == (code == PLOT), images
            shim.append(took)
            time.sleep(0.3)  # let the pool refill: spaced calls, as a chat makes them
            start = time.monotonic()
            r = libsandbox.run(code, limits=limits, config=config)
            direct.append(time.monotonic() - start)
            assert r.status is libsandbox.Status.OK, r.message
            time.sleep(0.3)
        percentiles(f"shim, {name}", shim)
        percentiles(f"libsandbox.run, {name}", direct)
    server.should_exit = True
    libsandbox.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
