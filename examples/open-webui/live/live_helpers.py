"""What the live checks share: free loopback ports, a real Open WebUI
started offline in a temporary directory, waiting for a server, and one
printed line per check (the first failure exits)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            sys.exit(f"{url}: the server exited ({process.returncode})")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            sys.exit(f"{url}: not up after {seconds} s")
        time.sleep(0.5)


def check(name: str, condition: bool, detail: object = "") -> None:
    print(f"{'ok  ' if condition else 'FAIL'} {name}" + (f": {detail}" if not condition else ""))
    if not condition:
        sys.exit(1)


def start_open_webui(executable: str, root: str, port: int, secret: str) -> subprocess.Popen[bytes]:
    """`open-webui serve` on 127.0.0.1:`port`, its data and log
    (`root`/owui.log) under `root`, offline, with no model backends."""
    env = {
        **os.environ,
        "WEBUI_SECRET_KEY": secret,
        "DATA_DIR": f"{root}/owui",
        "OFFLINE_MODE": "true",
        "HF_HUB_OFFLINE": "1",
        "ENABLE_OLLAMA_API": "false",
        "ENABLE_OPENAI_API": "false",
        "BYPASS_EMBEDDING_AND_RETRIEVAL": "true",
    }
    os.makedirs(f"{root}/owui", exist_ok=True)
    return subprocess.Popen(
        [executable, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=open(f"{root}/owui.log", "wb"),
        stderr=subprocess.STDOUT,
    )
