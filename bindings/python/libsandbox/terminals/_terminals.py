"""Interactive terminals (Open WebUI's terminal panel): a login shell on a
pseudo-terminal inside the caller's sandbox, attached over a WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse

from libsandbox.terminals._context import POLICY_SCOPE_KEY, Context, context, resolve_context, server_of
from libsandbox.terminals._execute import FAR, InputRequest
from libsandbox.terminals._identity import check_id
from libsandbox.terminals._workspaces import ProcessRef, blocking

router = APIRouter()
Ctx = Annotated[Context, Depends(context)]

SHELL = "exec bash -i"
AUTH_TIMEOUT_S = 10.0
RECENT_OUTPUT = 64 << 10  # what read_user_terminal shows


def _public(ref: ProcessRef) -> dict[str, Any]:
    return {"id": ref.id, "created_at": ref.created_at, "pid": None}


async def _alive(ctx: Context, ref: ProcessRef) -> bool:
    try:
        return (await blocking(ctx.session.poll, ref.pid, FAR)).info.running
    except FileNotFoundError:
        return False


async def _close(ctx: Context, ref: ProcessRef) -> None:
    ctx.server.workspaces.forget(ref)
    with contextlib.suppress(FileNotFoundError):
        await blocking(ctx.session.release, ref.pid)


@router.post("/api/terminals", include_in_schema=False)
async def create_terminal(ctx: Ctx) -> Any:
    workspaces = ctx.server.workspaces
    for ref in workspaces.mine(ctx.key, ctx.session_id, "terminal"):
        if not await _alive(ctx, ref):
            await _close(ctx, ref)
    if workspaces.count_user(ctx.key.user, "terminal") >= ctx.server.settings.max_terminals_per_user:
        return JSONResponse(
            {
                "error": "Maximum number of terminal sessions "
                f"({ctx.server.settings.max_terminals_per_user}) reached"
            },
            status_code=429,
        )
    cwd = ctx.cwd()
    pid = await blocking(ctx.session.start, SHELL, "bash", cwd=cwd, pty=True)
    return _public(workspaces.add(ctx.key, ctx.session_id, pid, kind="terminal", command=SHELL, cwd=cwd))


@router.get("/api/terminals", include_in_schema=False)
async def list_terminals(ctx: Ctx) -> list[dict[str, Any]]:
    listed = []
    for ref in ctx.server.workspaces.mine(ctx.key, ctx.session_id, "terminal"):
        if await _alive(ctx, ref):
            listed.append(_public(ref))
        else:
            await _close(ctx, ref)
    return listed


def _connected(ctx: Context) -> ProcessRef:
    for ref in reversed(ctx.server.workspaces.mine(ctx.key, ctx.session_id, "terminal")):
        if ref.connected:
            return ref
    raise HTTPException(404, "No connected user shell")


@router.get("/api/terminals/user/output", operation_id="read_user_terminal")
async def read_user_terminal(ctx: Ctx) -> dict[str, Any]:
    """Read recent output from the user's connected shell. Inspect before sending input:
    a foreground program may already be running. Does not create a shell."""
    ref = _connected(ctx)
    out = await blocking(ctx.session.poll, ref.pid, max(0, ref.offset - RECENT_OUTPUT))
    return {"output": out.stdout[-RECENT_OUTPUT:].decode(errors="replace")}


@router.post("/api/terminals/user/input", operation_id="send_user_terminal_input")
async def send_user_terminal_input(ctx: Ctx, body: InputRequest) -> dict[str, Any]:
    """Send literal text to the user's connected shell or its foreground program.
    Include actual newlines to submit input. Read the shell first. Sending input
    does not wait for command completion and does not create a shell."""
    ref = _connected(ctx)
    try:
        await blocking(ctx.session.write_input, ref.pid, body.input)
    except (FileNotFoundError, RuntimeError):
        raise HTTPException(409, "User shell has disconnected") from None
    return {"status": "ok"}


@router.get("/api/terminals/{terminal_id}", include_in_schema=False)
async def get_terminal(ctx: Ctx, terminal_id: str) -> Any:
    ref = _own_terminal(ctx, terminal_id)
    if ref is not None and not await _alive(ctx, ref):
        await _close(ctx, ref)
        ref = None
    return _not_found() if ref is None else _public(ref)


@router.delete("/api/terminals/{terminal_id}", include_in_schema=False)
async def delete_terminal(ctx: Ctx, terminal_id: str) -> Any:
    ref = _own_terminal(ctx, terminal_id)
    if ref is None:
        return _not_found()
    await _close(ctx, ref)
    return {"status": "deleted"}


def _own_terminal(ctx: Context, terminal_id: str) -> ProcessRef | None:
    """The caller's terminal of that id; None for anyone else's or none."""
    try:
        return ctx.server.workspaces.get(terminal_id, ctx.key, ctx.session_id, "terminal")
    except HTTPException:
        return None


def _not_found() -> JSONResponse:
    """Open Terminal's answer for a terminal that is not the caller's (or gone)."""
    return JSONResponse({"error": "Session not found"}, status_code=404)


async def _authenticate(ws: WebSocket) -> Context | None:
    """First-frame auth: ``{"type": "auth", "token": ...}`` within 10 s."""
    try:
        payload = json.loads(await asyncio.wait_for(ws.receive_text(), AUTH_TIMEOUT_S))
        if not isinstance(payload, dict) or payload.get("type") != "auth":
            raise ValueError("not an auth frame")
        ctx = await resolve_context(
            server_of(ws), ws.scope.get(POLICY_SCOPE_KEY), ws.headers, str(payload.get("token") or "")
        )
        chat = payload.get("chat_id")
        if "x-session-id" not in ws.headers and isinstance(chat, str) and chat:
            ctx = dataclasses.replace(ctx, session_id=check_id("chat_id", chat))
        return ctx
    except (asyncio.TimeoutError, ValueError, KeyError, RuntimeError, WebSocketDisconnect, HTTPException):
        with contextlib.suppress(RuntimeError):
            await ws.close(code=4001, reason="Invalid API key or token")
        return None


async def _pump_output(ws: WebSocket, ctx: Context, ref: ProcessRef) -> None:
    while True:
        out = await ctx.session.wait_async(ref.pid, ref.offset, FAR, timeout_s=30.0)
        if out.stdout:
            await ws.send_bytes(out.stdout)
        ref.offset = out.stdout_offset
        if not out.info.running and not out.stdout:
            return


async def _pump_input(ws: WebSocket, ctx: Context, ref: ProcessRef) -> None:
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("bytes"):
            await blocking(ctx.session.write_input, ref.pid, message["bytes"])
        elif message.get("text"):
            try:
                frame = json.loads(message["text"])
            except ValueError:
                continue
            if isinstance(frame, dict) and frame.get("type") == "resize":
                rows, cols = frame.get("rows", 24), frame.get("cols", 80)
                if all(
                    isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1000 for v in (rows, cols)
                ):
                    await blocking(ctx.session.resize, ref.pid, rows, cols)
            # "ping" and anything else: nothing to do.


@router.websocket("/api/terminals/{terminal_id}")
async def ws_terminal(ws: WebSocket, terminal_id: str) -> None:
    await ws.accept()
    ctx = await _authenticate(ws)
    if ctx is None:
        return
    try:
        ref = ctx.server.workspaces.get(terminal_id, ctx.key, ctx.session_id, "terminal")
    except HTTPException:
        await ws.close(code=4004, reason="Session not found")
        return
    if ref.connected:
        await ws.close(code=4009, reason="Session already connected")
        return
    if not await _alive(ctx, ref):
        await _close(ctx, ref)
        await ws.close(code=4004, reason="Session has ended")
        return
    ref.connected = True
    tasks = [asyncio.create_task(_pump_output(ws, ctx, ref)), asyncio.create_task(_pump_input(ws, ctx, ref))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Like Open Terminal: the shell ends with its connection.
        await _close(ctx, ref)
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await ws.close()
