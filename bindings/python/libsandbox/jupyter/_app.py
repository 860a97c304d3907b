"""The Jupyter server API as Open WebUI's Code Interpreter uses it, over
libsandbox one-shot runs: each execute_request runs in a fresh gVisor
sandbox; stdout/stderr come back as ``stream``, an exception as ``error``,
matplotlib figures as ``display_data`` with ``image/png``."""

from __future__ import annotations

import asyncio
import base64
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from fastapi import FastAPI, Form, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.requests import HTTPConnection

import libsandbox

_LOGIN_COOKIE = "libsandbox-jupyter-login"
_XSRF_COOKIE = "_xsrf"
PROTOCOL = "5.3"


@dataclass(frozen=True, kw_only=True)
class JupyterSettings:
    """``token`` (``?token=`` or ``Authorization: token ...``) and/or
    ``password`` (``/login``) guard every route; one of them is required.
    Open WebUI sends no user with a Code Interpreter call, so every run is
    the same ``user`` under one ``policy``. At most ``max_kernels`` live;
    an unused one goes after ``kernel_idle_s``; at most ``max_figures``
    figures of ``max_figure_bytes`` each come back per execution."""

    token: str = ""
    password: str = ""
    config: libsandbox.Config = field(default_factory=libsandbox.Config)
    policy: str = ""
    limits: libsandbox.Limits | None = None
    user: str = "open-webui-code-interpreter"
    max_kernels: int = 256
    kernel_idle_s: float = 3600.0
    max_figures: int = 16
    max_figure_bytes: int = 8 << 20

    def __post_init__(self) -> None:
        if not (self.token or self.password):
            raise ValueError(
                "no way to check callers: set LIBSANDBOX_JUPYTER_TOKEN (Open WebUI's "
                "CODE_INTERPRETER_JUPYTER_AUTH=token) or LIBSANDBOX_JUPYTER_PASSWORD (…=password)"
            )
        if self.token and len(self.token) < 16:
            raise ValueError("the token must have at least 16 characters (e.g. `openssl rand -hex 32`)")
        if self.policy and self.limits is not None:
            raise ValueError("a policy decides the limits: give one or the other")


@dataclass
class Kernel:
    id: str
    last_activity: float = field(default_factory=time.time)
    execution_count: int = 0
    connections: int = 0

    def model(self) -> dict[str, Any]:
        when = datetime.fromtimestamp(self.last_activity, timezone.utc).isoformat().replace("+00:00", "Z")
        return {
            "id": self.id,
            "name": "python3",
            "last_activity": when,
            "execution_state": "idle",
            "connections": self.connections,
        }


class Shim:
    def __init__(self, settings: JupyterSettings) -> None:
        self.settings = settings
        self.kernels: dict[str, Kernel] = {}
        self.logins: dict[str, float] = {}  # login cookie -> expiry

    def check(self, conn: HTTPConnection) -> None:
        """Token in the query or header, or a login cookie (with its XSRF
        header on unsafe HTTP methods)."""
        token = conn.query_params.get("token", "")
        scheme, _, value = conn.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "token":
            token = value.strip()
        expected = self.settings.token
        if expected and token and hmac.compare_digest(token.encode(), expected.encode()):
            return
        login = conn.cookies.get(_LOGIN_COOKIE, "")
        if login and self.logins.get(login, 0.0) > time.time():
            method = conn.scope.get("method", "GET")
            xsrf = conn.cookies.get(_XSRF_COOKIE, "")
            if method in ("GET", "HEAD") or (
                xsrf and hmac.compare_digest(conn.headers.get("x-xsrftoken", "").encode(), xsrf.encode())
            ):
                return
        raise HTTPException(403, "Forbidden: a token (?token=) or a /login session is required")

    def kernel(self, kernel_id: str) -> Kernel:
        self.expire()
        found = self.kernels.get(kernel_id)
        if found is None:
            raise HTTPException(404, f"Kernel does not exist: {kernel_id[:64]}")
        return found

    def expire(self) -> None:
        cutoff = time.time() - self.settings.kernel_idle_s
        for kernel_id in [
            k.id for k in self.kernels.values() if k.last_activity < cutoff and not k.connections
        ]:
            del self.kernels[kernel_id]
        now = time.time()
        for cookie in [c for c, until in self.logins.items() if until < now]:
            del self.logins[cookie]

    async def execute(self, code: str) -> libsandbox.Result:
        """One fresh sandbox for ``code``; its figures are in ``outputs``."""
        return await libsandbox.run_async(
            code,
            "python",
            user=self.settings.user,
            policy=self.settings.policy,
            limits=self.settings.limits,
            config=self.settings.config,
        )

    def displays(self, result: libsandbox.Result) -> list[dict[str, str]]:
        """The ``display_data`` bundles of a run's figures and images, in
        order, within ``max_figures`` and ``max_figure_bytes``."""
        bundles: list[dict[str, str]] = []
        for output in result.outputs:
            if len(bundles) >= self.settings.max_figures or len(output.data) > self.settings.max_figure_bytes:
                continue
            if output.mime_type == "image/svg+xml":
                data = output.data.decode("utf-8", "replace")
            else:
                data = base64.b64encode(output.data).decode()
            bundles.append({output.mime_type: data, "text/plain": f"<{output.name}>"})
        return bundles


def _message(msg_type: str, channel: str, parent: dict[str, Any], content: dict[str, Any]) -> dict[str, Any]:
    header = {
        "msg_id": uuid.uuid4().hex,
        "msg_type": msg_type,
        "username": "libsandbox",
        "session": parent.get("session", ""),
        "date": datetime.now(timezone.utc).isoformat(),
        "version": PROTOCOL,
    }
    return {
        "header": header,
        "msg_id": header["msg_id"],
        "msg_type": msg_type,
        "parent_header": parent,
        "metadata": {},
        "content": content,
        "buffers": [],
        "channel": channel,
    }


def _error_content(result: libsandbox.Result) -> dict[str, Any]:
    if result.status is libsandbox.Status.ERROR and result.stderr.strip():
        lines = result.stderr.rstrip("\n").splitlines()
        last = lines[-1]
        name, _, value = last.partition(": ")
        return {"ename": name or "Error", "evalue": value, "traceback": lines}
    text = result.message or result.status.name
    return {"ename": result.status.name, "evalue": text, "traceback": [f"{result.status.name}: {text}"]}


def create_jupyter_app(settings: JupyterSettings) -> FastAPI:
    """The Jupyter-engine shim as an ASGI app."""
    shim = Shim(settings)
    app = FastAPI(title="libsandbox jupyter", version=libsandbox.__version__, docs_url=None, redoc_url=None)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"message": exc.detail, "reason": None}, status_code=exc.status_code)

    @app.get("/api")
    async def version() -> dict[str, str]:
        return {"version": "2.14.0"}  # the Jupyter Server API this follows

    @app.get("/login")
    async def login_form() -> HTMLResponse:
        xsrf = secrets.token_hex(16)
        page = HTMLResponse(
            '<form method="post" action="/login"><input type="hidden" name="_xsrf" value="'
            f'{xsrf}"><input type="password" name="password"><button>Log in</button></form>'
        )
        page.set_cookie(_XSRF_COOKIE, xsrf, httponly=False, samesite="strict")
        return page

    @app.post("/login")
    async def login(
        request: Request, password: str = Form(""), xsrf: str = Form("", alias="_xsrf")
    ) -> Response:
        expected = request.cookies.get(_XSRF_COOKIE, "")
        if not expected or not hmac.compare_digest(xsrf.encode(), expected.encode()):
            raise HTTPException(403, "XSRF cookie does not match the form")
        good = settings.password and hmac.compare_digest(password.encode(), settings.password.encode())
        if not good:
            raise HTTPException(401, "Invalid password")
        cookie = secrets.token_hex(32)
        shim.expire()
        shim.logins[cookie] = time.time() + 12 * 3600
        answer = JSONResponse({"logged_in": True})
        answer.set_cookie(_LOGIN_COOKIE, cookie, httponly=True, samesite="strict")
        return answer

    @app.get("/api/kernels")
    async def list_kernels(request: Request) -> list[dict[str, Any]]:
        shim.check(request)
        shim.expire()
        return [k.model() for k in shim.kernels.values()]

    @app.post("/api/kernels", status_code=201)
    async def start_kernel(request: Request) -> dict[str, Any]:
        shim.check(request)
        shim.expire()
        if len(shim.kernels) >= settings.max_kernels:
            raise HTTPException(503, f"at most {settings.max_kernels} kernels at once")
        kernel = Kernel(id=str(uuid.uuid4()))
        shim.kernels[kernel.id] = kernel
        return kernel.model()

    @app.get("/api/kernels/{kernel_id}")
    async def get_kernel(request: Request, kernel_id: str) -> dict[str, Any]:
        shim.check(request)
        return shim.kernel(kernel_id).model()

    @app.delete("/api/kernels/{kernel_id}", status_code=204)
    async def delete_kernel(request: Request, kernel_id: str) -> Response:
        shim.check(request)
        shim.kernel(kernel_id)
        del shim.kernels[kernel_id]
        return Response(status_code=204)

    @app.websocket("/api/kernels/{kernel_id}/channels")
    async def channels(ws: WebSocket, kernel_id: str) -> None:
        try:
            shim.check(ws)
            kernel = shim.kernel(kernel_id)
        except HTTPException as e:
            await ws.close(code=1008, reason=str(e.detail)[:120])
            return
        await ws.accept()
        kernel.connections += 1
        try:
            while True:
                request = await ws.receive_json()
                if not isinstance(request, dict) or not isinstance(request.get("header"), dict):
                    continue
                await _serve(ws, shim, kernel, request)
        except (WebSocketDisconnect, ValueError, KeyError):
            pass
        finally:
            kernel.connections -= 1
            kernel.last_activity = time.time()

    return app


async def _serve(ws: WebSocket, shim: Shim, kernel: Kernel, request: dict[str, Any]) -> None:
    parent = request["header"]
    kind = parent.get("msg_type")
    kernel.last_activity = time.time()

    async def send(msg_type: str, channel: str, content: dict[str, Any]) -> None:
        await ws.send_json(_message(msg_type, channel, parent, content))

    if kind == "kernel_info_request":
        await send("status", "iopub", {"execution_state": "busy"})
        await send(
            "kernel_info_reply",
            "shell",
            {
                "status": "ok",
                "protocol_version": PROTOCOL,
                "implementation": "libsandbox",
                "implementation_version": libsandbox.__version__,
                "language_info": {"name": "python", "file_extension": ".py", "mimetype": "text/x-python"},
                "banner": "Python in a gVisor sandbox (libsandbox); each execution starts fresh",
            },
        )
        await send("status", "iopub", {"execution_state": "idle"})
        return
    if kind != "execute_request":
        return
    content = request.get("content") or {}
    code = content.get("code", "")
    if not isinstance(code, str):
        code = ""
    kernel.execution_count += 1
    count = kernel.execution_count
    await send("status", "iopub", {"execution_state": "busy"})
    await send("execute_input", "iopub", {"code": code, "execution_count": count})
    result = await shim.execute(code)
    for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        if text and not (name == "stderr" and result.status is libsandbox.Status.ERROR):
            await send("stream", "iopub", {"name": name, "text": text})
    for data in shim.displays(result):
        await send("display_data", "iopub", {"data": data, "metadata": {}, "transient": {}})
    if result.status is libsandbox.Status.OK:
        reply: dict[str, Any] = {
            "status": "ok",
            "execution_count": count,
            "user_expressions": {},
            "payload": [],
        }
    else:
        error = _error_content(result)
        await send("error", "iopub", error)
        reply = {"status": "error", "execution_count": count, **error}
    await send("execute_reply", "shell", reply)
    await send("status", "iopub", {"execution_state": "idle"})
    await asyncio.sleep(0)
