"""The FastAPI application: routing by policy, error mapping, the routes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import libsandbox
from libsandbox.terminals import _execute, _files, _meta, _policies, _ports, _search, _terminals
from libsandbox.terminals._context import POLICY_SCOPE_KEY, Server
from libsandbox.terminals._settings import Settings

_POLICY_PREFIX = re.compile(r"^/p/([^/]+)(/.*)?$")


class PolicyRouting:
    """``/p/{policy}/<route>`` (an orchestrator's policy routes, HTTP and
    WebSocket) is ``/<route>`` acting in that policy's sessions. Also drops
    ``null`` query values, as Open WebUI may send them, and bounds request
    bodies before anything reads them."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            match = _POLICY_PREFIX.match(scope["path"])
            if match:
                rest = match.group(2) or "/"
                scope = {**scope, "path": rest, "raw_path": rest.encode(), POLICY_SCOPE_KEY: match.group(1)}
            query = scope.get("query_string", b"").decode("latin-1")
            if "null" in query.lower():
                pairs = parse_qsl(query, keep_blank_values=True)
                kept = [(k, v) for k, v in pairs if v.lower() != "null"]
                if len(kept) != len(pairs):
                    scope = {**scope, "query_string": urlencode(kept).encode()}
        if scope["type"] == "http":
            streamed = scope["path"].startswith(("/files/upload", "/proxy/"))
            cap = self.settings.max_upload_bytes if streamed else self.settings.max_body_bytes
            declared = dict(scope["headers"]).get(b"content-length", b"")
            if declared.isdigit() and int(declared) > cap:
                response = JSONResponse({"detail": f"the request body is over {cap} bytes"}, status_code=413)
                await response(scope, receive, send)
                return
            receive = _capped(receive, cap)
        await self.app(scope, receive, send)


def _capped(receive: Receive, cap: int) -> Receive:
    """A body sent without a length ends (as a disconnect) past the cap."""
    seen = 0

    async def capped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > cap:
                return {"type": "http.disconnect"}
        return message

    return capped


def _error(status: int) -> Any:
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc) or type(exc).__name__}, status_code=status)

    return handler


def create_app(settings: Settings) -> FastAPI:
    """The Open Terminal-compatible server over libsandbox sessions."""
    server = Server(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await server.verifier.close()
        # Stop our sandboxes (workspaces stay): nothing outlives the server.
        await server.workspaces.stop_all()

    app = FastAPI(
        title="libsandbox terminals",
        description="Each user's own terminal, files and processes in an isolated gVisor sandbox.",
        version=libsandbox.__version__,
        lifespan=lifespan,
    )
    app.state.server = server
    # What the library raises for what a caller asked: never a 500.
    app.add_exception_handler(FileNotFoundError, _error(404))
    app.add_exception_handler(NotADirectoryError, _error(400))
    app.add_exception_handler(PermissionError, _error(403))
    app.add_exception_handler(FileExistsError, _error(409))
    app.add_exception_handler(ValueError, _error(400))
    app.add_exception_handler(RuntimeError, _error(503))
    for module in (_meta, _files, _search, _execute, _terminals, _ports, _policies):
        app.include_router(module.router)
    app.add_middleware(PolicyRouting, settings=settings)
    return app
