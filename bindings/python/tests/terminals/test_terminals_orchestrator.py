"""Orchestrator mode: Open WebUI's policy screens over libsandbox policies
(bounded by the file's caps), /p/{policy} routes, X-Terminal-Context-Id."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from libsandbox.terminals import Settings, create_app
from terminals_helpers import KEY, Live, headers, serving

import libsandbox

ADMIN = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def orchestrator(sandbox_root: Path) -> Iterator[Live]:
    policy_file = sandbox_root / "terminals-policies.textproto"
    policy_file.write_text(
        'caps { memory: "1Gi" }\n'
        'policies { name: "team" memory: "256Mi" env { key: "MARK" value: "team" } }\n'
    )
    config = libsandbox.Config(
        state_dir=str(sandbox_root / "orch-state"),
        storage_dir=str(sandbox_root / "orch-files"),
        policy_file=str(policy_file),
    )
    with serving(create_app(Settings(api_key=KEY, config=config))) as live:
        yield live


def test_policies_as_open_webuis_admin_screens_edit_them(orchestrator: Live) -> None:
    c = httpx.Client(base_url=orchestrator.url, timeout=120)
    # Detection: a 2xx without the key (names only) makes Open WebUI treat
    # the server as an orchestrator.
    assert c.get("/api/v1/policies").json() == [{"id": "team"}]
    assert c.get("/api/v1/policies", headers=ADMIN).json() == [
        {"id": "team", "data": {"memory_limit": "256Mi", "env": {"MARK": "team"}}}
    ]
    assert c.get("/api/v1/policies/new", headers=ADMIN).status_code == 404
    # The form's fields; over a cap → refused naming it, nothing written.
    form = {"cpu_limit": "1", "memory_limit": "512Mi", "idle_timeout_minutes": 15, "env": {"MARK": "small"}}
    over = c.put("/api/v1/policies/small", json={**form, "memory_limit": "4Gi"}, headers=ADMIN)
    assert over.status_code == 400 and "caps.memory" in over.json()["detail"]
    assert c.put("/api/v1/policies/small", json={**form, "gpu": 1}, headers=ADMIN).status_code == 400
    assert c.put("/api/v1/policies/small", json=form).status_code == 401
    saved = c.put("/api/v1/policies/small", json=form, headers=ADMIN)
    assert saved.status_code == 200, saved.text
    assert saved.json() == {"id": "small", "data": form}
    assert c.get("/api/v1/policies/small/lifecycle", headers=ADMIN).json() == {
        "id": "small",
        "data": {"idle_timeout_minutes": 15},
    }
    assert c.put("/api/v1/policies/small/lifecycle", json={}, headers=ADMIN).status_code == 200
    lifecycle = c.put("/api/v1/policies/small/lifecycle", json={"idle_timeout_minutes": 5}, headers=ADMIN)
    assert lifecycle.json()["data"] == {"idle_timeout_minutes": 5}
    assert c.put("/api/v1/policies/small/lifecycle", json={"x": 1}, headers=ADMIN).status_code == 400
    assert c.get("/api/v1/policies/small", headers=ADMIN).json()["data"]["idle_timeout_minutes"] == 5
    assert c.get("/api/v1/policies/Bad!", headers=ADMIN).status_code == 400
    # Saving a new connection with the modal's defaults: GET (404: new), PUT
    # the form, PUT the lifecycle JSON "{}".
    assert c.get("/api/v1/policies/my-terminals", headers=ADMIN).status_code == 404
    defaults = {"cpu_limit": "1", "memory_limit": "1Gi", "idle_timeout_minutes": 30}
    assert c.put("/api/v1/policies/my-terminals", json=defaults, headers=ADMIN).json()["data"] == defaults
    assert c.put("/api/v1/policies/my-terminals/lifecycle", json={}, headers=ADMIN).status_code == 200


def test_policy_routes_and_contexts(orchestrator: Live) -> None:
    c = httpx.Client(base_url=orchestrator.url, timeout=120)
    h = headers("ivy", chat="c1")
    chat1 = {**h, "X-Terminal-Context-Id": "chat:c1"}
    chat2 = {**h, "X-Terminal-Context-Id": "chat:c2"}
    out = c.post("/p/team/execute?wait=30", json={"command": "echo mark=$MARK"}, headers=chat1).json()
    assert out["output"][0]["data"].strip() == "mark=team", out
    assert c.get("/p/nope/files/cwd", headers=h).status_code == 404
    assert c.get("/p/team/files/cwd", headers={**h, "X-Terminal-Context-Id": "bogus"}).status_code == 400
    # Open WebUI reads the policy route's own spec.
    assert "/execute" in c.get("/p/team/openapi.json").json()["paths"]
    # Each chat context is its own workspace; the root routes another.
    c.post("/p/team/files/write", json={"path": "note", "content": "c1"}, headers=chat1)
    assert c.get("/p/team/files/read", params={"path": "note"}, headers=chat1).json()["content"] == "c1"
    assert c.get("/p/team/files/read", params={"path": "note"}, headers=chat2).status_code == 404
    assert c.get("/files/read", params={"path": "note"}, headers=h).status_code == 404

    # A terminal through the policy route.
    tid = c.post("/p/team/api/terminals", headers=chat1).json()["id"]

    async def shell() -> None:
        async with websockets.connect(
            f"{orchestrator.ws_url}/p/team/api/terminals/{tid}",
            additional_headers={"X-User-Id": "ivy", "X-Session-Id": "c1", "X-Terminal-Context-Id": "chat:c1"},
        ) as ws:
            await ws.send(json.dumps({"type": "auth", "token": KEY}))
            await ws.send(b"cat note; echo\r")
            seen = b""
            while b"c1\r\n" not in seen:
                seen += await asyncio.wait_for(ws.recv(), 20)  # type: ignore[operator]

    asyncio.run(shell())

    # Refresh: idle sessions only by default; the workspace stays.
    busy = c.post("/p/team/execute", json={"command": "sleep 200"}, headers=chat1).json()["id"]
    c.post("/p/team/execute?wait=20", json={"command": "true"}, headers=chat2)
    refresh = c.post(
        "/api/v1/terminals/refresh", json={"policy_id": "team", "only_idle": True}, headers=ADMIN
    )
    assert refresh.json() == {"refreshed": 1}
    assert c.get(f"/p/team/execute/{busy}/status", headers=chat1).json()["status"] == "running"
    body = {"policy_id": "team", "user_id": "ivy", "only_idle": False, "reset": False}
    assert c.post("/api/v1/terminals/refresh", json=body, headers=ADMIN).json()["refreshed"] >= 1
    assert c.get(f"/p/team/execute/{busy}/status", headers=chat1).status_code == 404
    assert c.get("/p/team/files/read", params={"path": "note"}, headers=chat1).json()["content"] == "c1"

    assert c.delete("/api/v1/policies/team", headers=ADMIN).status_code == 200
    assert c.delete("/api/v1/policies/team", headers=ADMIN).status_code == 404
