"""Ports listening inside the caller's sandbox, and an HTTP proxy to them
(Open WebUI's port list and preview). The bytes travel over a stream the
library opens into the sandbox: the sandbox itself stays off any network."""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
from collections.abc import AsyncIterator
from typing import Annotated, Any

import h11
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import StreamingResponse

from libsandbox.terminals._context import Context, context
from libsandbox.terminals._files import SAFE_HEADERS
from libsandbox.terminals._workspaces import blocking

router = APIRouter()
Ctx = Annotated[Context, Depends(context)]

# Never forwarded into a sandbox: credentials of the caller or of Open WebUI,
# and what only concerns the hop to us.
_DROPPED_REQUEST = frozenset(
    {
        "host",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "proxy-authorization",
        "authorization",
        "cookie",
        "x-user-id",
        "x-session-id",
        "x-terminal-context-id",
    }
)
_DROPPED_RESPONSE = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "set-cookie"}
)
_READ = 1 << 16


async def _listening(ctx: Context) -> list[dict[str, Any]]:
    if not (await blocking(ctx.session.info)).running:
        return []  # never boot a sandbox only to list its ports
    seen: dict[int, dict[str, Any]] = {}
    for port in await blocking(ctx.session.list_ports):
        program = posixpath.basename(port.command.split(" ", 1)[0]) if port.command else None
        seen.setdefault(port.port, {"port": port.port, "pid": port.pid or None, "process": program})
    return sorted(seen.values(), key=lambda p: int(p["port"]))


@router.get("/ports", include_in_schema=False)
async def list_ports(ctx: Ctx) -> dict[str, Any]:
    return {"ports": await _listening(ctx)}


async def _next_event(conn: h11.Connection, reader: asyncio.StreamReader) -> Any:
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(_READ))
            continue
        return event


@router.api_route(
    "/proxy/{port}/{path:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
    include_in_schema=False,
)
async def port_proxy(ctx: Ctx, port: int, path: str, request: Request) -> StreamingResponse:
    if not 1 <= port <= 65535:
        raise HTTPException(422, "Port must be between 1 and 65535")
    if not any(p["port"] == port for p in await _listening(ctx)):
        raise HTTPException(404, "Port not found")
    try:
        sock = await blocking(ctx.session.connect_port, port)
    except RuntimeError as e:
        raise HTTPException(502, f"Connection refused: port {port} ({e})") from None
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        conn = h11.Connection(h11.CLIENT)
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _DROPPED_REQUEST]
        headers += [("host", f"localhost:{port}"), ("connection", "close")]
        target = "/" + path + (f"?{request.url.query}" if request.url.query else "")
        writer.write(conn.send(h11.Request(method=request.method, target=target, headers=headers)) or b"")
        async for chunk in request.stream():
            if chunk:
                writer.write(conn.send(h11.Data(data=chunk)) or b"")
                await writer.drain()
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()
        head = await _next_event(conn, reader)
        while isinstance(head, h11.InformationalResponse):
            head = await _next_event(conn, reader)
        if not isinstance(head, h11.Response):
            raise HTTPException(502, f"no HTTP answer from port {port}")
    except (OSError, h11.ProtocolError, ValueError) as e:
        writer.close()
        raise HTTPException(502, f"bad HTTP exchange with port {port}: {type(e).__name__}") from None
    except BaseException:
        writer.close()
        raise

    async def body() -> AsyncIterator[bytes]:
        try:
            while True:
                event = await _next_event(conn, reader)
                if isinstance(event, h11.Data):
                    yield bytes(event.data)
                elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                    return
        except (OSError, h11.ProtocolError):
            return
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    response_headers = {
        k.decode("latin-1"): v.decode("latin-1")
        for k, v in head.headers
        if k.decode("latin-1") not in _DROPPED_RESPONSE
    }
    response_headers.update(SAFE_HEADERS)
    return StreamingResponse(body(), status_code=head.status_code, headers=response_headers)
