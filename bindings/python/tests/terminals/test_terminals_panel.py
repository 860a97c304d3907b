"""The terminal panel: a shell over a WebSocket with first-frame auth,
binary keystrokes, JSON resize; the model's view of the user's shell."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import websockets
from terminals_helpers import KEY, Live, headers, token


async def _read_until(ws: websockets.ClientConnection, needle: bytes, seen: bytes = b"") -> bytes:
    while needle not in seen:
        frame = await asyncio.wait_for(ws.recv(), 20)
        assert isinstance(frame, bytes), frame
        seen += frame
    return seen


def _open(live: Live, tid: str, user: str, chat: str, path: str = "") -> websockets.connect:
    # What Open WebUI's proxy sends upstream: the ids as headers, the user
    # also as a query parameter, then the auth frame.
    return websockets.connect(
        f"{live.ws_url}{path}/api/terminals/{tid}?user_id={user}",
        additional_headers={"X-User-Id": user, "X-Session-Id": chat},
    )


def test_a_shell_over_a_websocket_with_resize(live: Live, client: httpx.Client) -> None:
    h = headers("tess", chat="chat-term")
    created = client.post("/api/terminals", headers=h)
    assert created.status_code == 200, created.text
    tid = created.json()["id"]
    assert len(tid) == 32 and set(created.json()) == {"id", "created_at", "pid"}
    assert [t["id"] for t in client.get("/api/terminals", headers=h).json()] == [tid]
    # The model cannot reach a shell nobody has open.
    assert client.get("/api/terminals/user/output", headers=h).status_code == 404

    async def session() -> None:
        async with _open(live, tid, "tess", "chat-term") as ws:
            await ws.send(json.dumps({"type": "auth", "token": KEY, "chat_id": "chat-term"}))
            await ws.send(json.dumps({"type": "resize", "cols": 132, "rows": 50}))
            await ws.send(json.dumps({"type": "ping"}))
            await ws.send(b"stty size; echo $TERM; cd /tmp\r")
            seen = await _read_until(ws, b"xterm-256color")
            assert b"50 132" in seen
            # While it is connected the model sees and types into it.
            output = client.get("/api/terminals/user/output", headers=h).json()["output"]
            assert "50 132" in output
            r = client.post(
                "/api/terminals/user/input", json={"input": "echo from-model-$((6*7))\r"}, headers=h
            )
            assert r.json() == {"status": "ok"}
            await _read_until(ws, b"from-model-42")
            # Ctrl-C ends a foreground program; the shell stays.
            await ws.send(b"sleep 100\r")
            await asyncio.sleep(0.5)
            await ws.send(b"\x03echo $?\r")
            await _read_until(ws, b"130")
            # One connection per shell.
            async with _open(live, tid, "tess", "chat-term") as second:
                await second.send(json.dumps({"type": "auth", "token": KEY}))
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(second.recv(), 10)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 4009

    asyncio.run(session())
    # The shell ends with its connection, as in Open Terminal (the server
    # notices the close a moment after the client).
    deadline = time.monotonic() + 15
    while client.get(f"/api/terminals/{tid}", headers=h).status_code != 404:
        assert time.monotonic() < deadline, "the shell outlived its connection"
        time.sleep(0.1)
    assert client.get("/api/terminals", headers=h).json() == []


def test_websocket_auth_and_ownership(live: Live, client: httpx.Client) -> None:
    h = headers("uma", chat="chat-ws")
    tid = client.post("/api/terminals", headers=h).json()["id"]

    async def close_code(user: str, chat: str, frame: str | None, target: str = tid) -> int:
        async with _open(live, target, user, chat) as ws:
            if frame is not None:
                await ws.send(frame)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 15)
            assert closed.value.rcvd is not None
            return closed.value.rcvd.code

    async def checks() -> None:
        assert (
            await close_code("uma", "chat-ws", json.dumps({"type": "auth", "token": "wrong-key-0000000000"}))
            == 4001
        )
        assert await close_code("uma", "chat-ws", json.dumps({"type": "hello"})) == 4001
        assert await close_code("uma", "chat-ws", "not json") == 4001
        # Another user with the right key, another chat, another id: the
        # same answer as an id that never existed.
        assert await close_code("vic", "chat-ws", json.dumps({"type": "auth", "token": KEY})) == 4004
        assert await close_code("uma", "other", json.dumps({"type": "auth", "token": KEY})) == 4004
        assert (
            await close_code("uma", "chat-ws", json.dumps({"type": "auth", "token": KEY}), "0" * 32) == 4004
        )
        # A user's own Open WebUI token works (session mode); another
        # user's token for this user does not.
        assert await close_code("uma", "chat-ws", json.dumps({"type": "auth", "token": token("vic")})) == 4001
        async with _open(live, tid, "uma", "chat-ws") as ws:
            await ws.send(json.dumps({"type": "auth", "token": token("uma")}))
            await ws.send(b"echo ok-$((1+1))\r")
            await _read_until(ws, b"ok-2")

    asyncio.run(checks())
    assert client.delete(f"/api/terminals/{tid}", headers=headers("vic", chat="chat-ws")).status_code == 404
