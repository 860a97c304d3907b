"""A real libsandbox-terminals server on loopback (uvicorn in a thread),
real HTTP and WebSocket clients, and a stand-in for the one Open WebUI route
the server calls (``GET /api/v1/auths/``), which checks tokens the way Open
WebUI signs them (HS256 with its WEBUI_SECRET_KEY)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import jwt
import uvicorn
from fastapi import FastAPI, HTTPException, Request

KEY = "test-key-0123456789abcdef"
SECRET = "webui-secret-for-tests-0123456789abcdef"


@dataclass
class Live:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def ws_url(self) -> str:
        return "ws" + self.url[len("http") :]

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@contextmanager
def serving(app: FastAPI) -> Iterator[Live]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", ws="websockets-sansio")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    live = Live(url=f"http://127.0.0.1:{port}", server=server, thread=thread)
    try:
        yield live
    finally:
        live.stop()


@dataclass
class FakeOpenWebUI:
    """Answers GET /api/v1/auths/ like Open WebUI: 200 with the user for a
    valid human session token, 403 for automation tokens, 401 otherwise."""

    calls: int = 0
    revoked: set[str] = field(default_factory=set)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/api/v1/auths/")
        async def session_user(request: Request) -> dict[str, Any]:
            self.calls += 1
            token = request.headers.get("authorization", "").removeprefix("Bearer ")
            try:
                claims = jwt.decode(token, SECRET, algorithms=["HS256"])
            except jwt.PyJWTError:
                raise HTTPException(401, "Invalid token") from None
            if claims.get("typ", "session") != "session":
                raise HTTPException(403, "A human session is required.")
            if claims.get("jti") in self.revoked:
                raise HTTPException(401, "Invalid token")
            return {
                "id": claims["id"],
                "email": f"{claims['id']}@example.org",
                "name": claims["id"],
                "role": "user",
            }

        return app


def token(
    user: str, typ: str = "session", expires_s: float = 3600, secret: str = SECRET, jti: str = ""
) -> str:
    claims: dict[str, Any] = {"id": user, "typ": typ, "exp": int(time.time() + expires_s), "jti": jti or user}
    return jwt.encode(claims, secret, algorithm="HS256")


def headers(user: str, chat: str = "chat-1", key: str = KEY) -> dict[str, str]:
    """What Open WebUI's backend sends a terminal server for a tool call."""
    return {
        "Content-Type": "application/json",
        "X-User-Id": user,
        "Authorization": f"Bearer {key}",
        "X-Session-Id": chat,
    }
