"""The Jupyter shim driven exactly as Open WebUI 0.12.4's Code Interpreter
client drives a Jupyter server (utils/code_interpreter.py): token or
password login, POST /api/kernels, one execute_request over a legacy JSON
WebSocket, read until its idle status, DELETE the kernel."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from libsandbox.jupyter import JupyterSettings, create_jupyter_app

import libsandbox

TOKEN = "jupyter-token-0123456789abcdef"
PASSWORD = "a long password"


@pytest.fixture(scope="module")
def shim(sandbox_root: Path) -> Iterator[str]:
    config = libsandbox.Config(
        state_dir=str(sandbox_root / "jupyter-state"),
        storage_dir=str(sandbox_root / "jupyter-files"),
        pool_size=1,
        pool_languages=["python"],
        pool_limits=libsandbox.Limits(memory_mb=512),
    )
    settings = JupyterSettings(
        token=TOKEN, password=PASSWORD, config=config, limits=libsandbox.Limits(memory_mb=512), max_figures=4
    )
    server = uvicorn.Server(
        uvicorn.Config(create_jupyter_app(settings), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def execute(base: str, code: str, token: str = TOKEN, password: str = "") -> dict[str, Any]:
    """Open WebUI's sequence; returns its result fields and the kernel id."""

    async def run() -> dict[str, Any]:
        params: dict[str, str] = {}
        ws_headers: dict[str, str] = {}
        async with httpx.AsyncClient(base_url=base + "/") as http:
            if password and not token:
                page = await http.get("login")
                page.raise_for_status()
                xsrf = page.cookies["_xsrf"]
                http.headers["X-XSRFToken"] = xsrf
                r = await http.post("login", data={"_xsrf": xsrf, "password": password})
                r.raise_for_status()
                ws_headers = {
                    "Cookie": "; ".join(f"{k}={v}" for k, v in http.cookies.items()),
                    "X-XSRFToken": xsrf,
                }
            if token:
                params["token"] = token
            r = await http.post("api/kernels", params=params)
            r.raise_for_status()
            kernel = r.json()["id"]
            query = "?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else ""
            url = base.replace("http", "ws", 1) + f"/api/kernels/{kernel}/channels{query}"
            msg_id = uuid.uuid4().hex
            stdout, stderr, result = "", "", []
            async with websockets.connect(url, additional_headers=ws_headers) as ws:
                await ws.send(
                    json.dumps(
                        {
                            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "user",
                                       "session": uuid.uuid4().hex, "date": "", "version": "5.3"},
                            "parent_header": {},
                            "metadata": {},
                            "content": {"code": code, "silent": False, "store_history": True,
                                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
                            "channel": "shell",
                        }
                    )
                )  # fmt: skip
                while True:
                    data = json.loads(await asyncio.wait_for(ws.recv(), 60))
                    if data.get("parent_header", {}).get("msg_id") != msg_id:
                        continue
                    kind = data.get("msg_type")
                    if kind == "stream":
                        if data["content"]["name"] == "stdout":
                            stdout += data["content"]["text"]
                        else:
                            stderr += data["content"]["text"]
                    elif kind in ("execute_result", "display_data"):
                        shown = data["content"]["data"]
                        if "image/png" in shown:
                            result.append(f"data:image/png;base64,{shown['image/png']}")
                        elif "text/plain" in shown:
                            result.append(shown["text/plain"])
                    elif kind == "error":
                        stderr += "\n".join(data["content"]["traceback"])
                    elif kind == "status" and data["content"]["execution_state"] == "idle":
                        break
            deleted = await http.delete(f"api/kernels/{kernel}", params=params)
            deleted.raise_for_status()
            gone = await http.get(f"api/kernels/{kernel}", params=params)
            return {
                "stdout": stdout.strip(),
                "stderr": stderr.strip(),
                "result": result,
                "gone": gone.status_code,
            }

    return asyncio.run(run())


def test_print_with_a_token(shim: str) -> None:
    out = execute(shim, "print(1 + 1)")
    assert out == {"stdout": "2", "stderr": "", "result": [], "gone": 404}


def test_plots_come_back_as_png(shim: str) -> None:
    code = (
        "import matplotlib.pyplot as plt\n"
        "plt.plot([1, 2, 3]); plt.title('shown'); plt.show()\n"
        "plt.figure(); plt.bar(['a', 'b'], [3, 4])  # left open: captured at exit\n"
        "print('drawn')\n"
    )
    out = execute(shim, code)
    assert out["stdout"] == "drawn", out
    assert len(out["result"]) == 2
    for image in out["result"]:
        assert image.startswith("data:image/png;base64,")
        assert base64.b64decode(image.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    flood = execute(
        shim, "import matplotlib.pyplot as plt\nfor i in range(40):\n    plt.figure(); plt.plot([i])\n"
    )
    assert len(flood["result"]) == 4  # max_figures


def test_errors_and_limits(shim: str) -> None:
    out = execute(shim, "x = 1\nraise ValueError('bad value')\n")
    assert "ValueError: bad value" in out["stderr"] and "line 2" in out["stderr"]
    hog = execute(shim, "b = bytearray(2 << 30)\n")
    assert "INTERRUPTED" in hog["stderr"] or "MemoryError" in hog["stderr"], hog


def test_password_login(shim: str) -> None:
    out = execute(shim, "print('via password')", token="", password=PASSWORD)
    assert out["stdout"] == "via password"


def test_callers_without_the_token_are_refused(shim: str) -> None:
    assert httpx.post(f"{shim}/api/kernels").status_code == 403
    assert httpx.post(f"{shim}/api/kernels", params={"token": "wrong-token-0000000000"}).status_code == 403
    assert httpx.get(f"{shim}/api/kernels", headers={"Authorization": f"token {TOKEN}"}).status_code == 200
    page = httpx.get(f"{shim}/login")
    bad = httpx.post(
        f"{shim}/login", data={"_xsrf": page.cookies["_xsrf"], "password": "nope"}, cookies=page.cookies
    )
    assert bad.status_code == 401
    kernel = httpx.post(f"{shim}/api/kernels", params={"token": TOKEN}).json()["id"]

    async def refused() -> None:
        url = shim.replace("http", "ws", 1) + f"/api/kernels/{kernel}/channels"
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(url):
                pass

    asyncio.run(refused())
    with pytest.raises(ValueError, match="LIBSANDBOX_JUPYTER_TOKEN"):
        JupyterSettings()
