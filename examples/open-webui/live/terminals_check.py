"""A real Open WebUI pointed at libsandbox-terminals, driven through Open
WebUI's own API as its browser and backend do: an admin and two users, one
connection in key mode and one in session mode (verified as an
orchestrator), commands, files, a terminal WebSocket through Open WebUI's
proxy, a policy saved from Open WebUI, and each user's attempts on the
other's ids. Not part of CI (Open WebUI's install is ~7 GB):

    python3 -m venv /opt/owui && /opt/owui/bin/pip install open-webui==0.12.4
    python3 examples/open-webui/live/terminals_check.py --open-webui /opt/owui/bin/open-webui

Everything listens on 127.0.0.1; the data lives in a temporary directory.
Prints one line per check and exits non-zero on the first failure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import Any

import httpx
import websockets
from live_helpers import check, free_port, start_open_webui, wait_up


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--open-webui", required=True, help="the open-webui executable of its venv")
    args = parser.parse_args()

    root = tempfile.mkdtemp(prefix="owui-terminals-")
    secret, key = secrets.token_hex(32), secrets.token_hex(32)
    owui_port, term_port = free_port(), free_port()
    owui, term = f"http://127.0.0.1:{owui_port}", f"http://127.0.0.1:{term_port}"
    term_env = {
        **os.environ,
        "LIBSANDBOX_TERMINALS_API_KEY": key,
        "LIBSANDBOX_TERMINALS_OPEN_WEBUI_URL": owui,
        "LIBSANDBOX_TERMINALS_WEBUI_SECRET_KEY": secret,
    }
    servers = [
        start_open_webui(args.open_webui, root, owui_port, secret),
        subprocess.Popen(
            [sys.executable, "-m", "libsandbox.terminals", "--port", str(term_port), "--log-level", "warning",
             "--state-dir", f"{root}/state", "--storage-dir", f"{root}/files",
             "--policy-file", f"{root}/policies.textproto"],
            env=term_env,
        ),
    ]  # fmt: skip
    try:
        wait_up(f"{term}/health", servers[1], 60)
        wait_up(f"{owui}/health", servers[0], 600)
        return run_checks(owui, term, key)
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=60)
        print(f"logs: {root}/owui.log")


def run_checks(owui: str, term: str, key: str) -> int:
    api = httpx.Client(base_url=f"{owui}/api/v1", timeout=120)

    def sign_up(name: str) -> tuple[str, str]:
        body = {"name": name, "email": f"{name}@example.org", "password": "Pass-word-1234"}
        r = api.post("/auths/signup", json=body)
        check(f"sign up {name}", r.status_code == 200, r.text)
        return r.json()["id"], r.json()["token"]

    _, admin = sign_up("admin")  # the first account is the admin
    auth = {"Authorization": f"Bearer {admin}"}
    api.post("/auths/admin/config", headers=auth, json={**api.get("/auths/admin/config", headers=auth).json(),
             "ENABLE_SIGNUP": True, "DEFAULT_USER_ROLE": "user"})  # fmt: skip
    users = {name: sign_up(name) for name in ("ann", "ben")}

    verify = api.post(
        "/configs/terminal_servers/verify", headers=auth, json={"url": term, "auth_type": "session"}
    )
    check("Open WebUI detects an orchestrator", verify.json().get("type") == "orchestrator", verify.text)
    everyone = {"access_grants": [{"principal_type": "user", "principal_id": "*", "permission": "read"}]}
    saved = api.post(
        "/configs/terminal_servers/policy",
        headers=auth,
        json={"url": term, "key": key, "auth_type": "bearer", "policy_id": "team",
              "policy_data": {"cpu_limit": "1", "memory_limit": "512Mi", "env": {"MARK": "team"}}},
    )  # fmt: skip
    check("a policy saved from Open WebUI", saved.status_code == 200, saved.text)
    connections = [
        {"id": "keyed", "name": "keyed", "url": term, "key": key, "auth_type": "bearer", "config": everyone},
        {"id": "per-user", "name": "per-user", "url": term, "key": "", "auth_type": "session",
         "server_type": "orchestrator", "config": everyone},
        {"id": "team", "name": "team", "url": term, "key": key, "auth_type": "bearer",
         "server_type": "orchestrator", "policy_id": "team", "config": everyone},
    ]  # fmt: skip
    r = api.post("/configs/terminal_servers", headers=auth, json={"TERMINAL_SERVER_CONNECTIONS": connections})
    check("connections saved", r.status_code == 200, r.text)

    def as_user(name: str) -> Callable[..., httpx.Response]:
        token = users[name][1]

        def call(method: str, path: str, **kw: Any) -> httpx.Response:
            headers = {
                "Authorization": f"Bearer {token}",
                "X-Session-Id": f"chat-{name}",
                **kw.pop("headers", {}),
            }
            return api.request(method, f"/terminals/{path}", headers=headers, **kw)

        return call

    ann, ben = as_user("ann"), as_user("ben")
    listed = {t["id"] for t in ann("GET", "").json()}
    check("users see the connections", {"keyed", "per-user", "team"} <= listed, listed)
    for conn in ("keyed", "per-user"):
        r = ann("POST", f"{conn}/execute?wait=30", json={"command": "echo hi-$(id -un); pwd"})
        out = "".join(e["data"] for e in r.json().get("output", [])) if r.status_code == 200 else r.text
        check(f"[{conn}] run_command through Open WebUI's proxy", "hi-user" in out, out)
        ann("POST", f"{conn}/files/write", json={"path": "mine.txt", "content": f"ann via {conn}"})
        own = ann("GET", f"{conn}/files/read?path=mine.txt")
        check(f"[{conn}] file round trip", own.json().get("content") == f"ann via {conn}", own.text)
        other = ben("GET", f"{conn}/files/read?path=mine.txt")
        check(f"[{conn}] another user's file is not there", other.status_code == 404, other.text)
        pid = ann("POST", f"{conn}/execute", json={"command": "sleep 60"}).json()["id"]
        stolen = ben("GET", f"{conn}/execute/{pid}/status", headers={"X-Session-Id": "chat-ann"})
        check(f"[{conn}] another user's process id is NotFound", stolen.status_code == 404, stolen.text)
        killed = ann("DELETE", f"{conn}/execute/{pid}?force=true", json={})
        check(f"[{conn}] kill", killed.json() == {"status": "killed"}, killed.text)
    team = ann("POST", "team/execute?wait=30", json={"command": "echo mark=$MARK"})
    check("the policy route runs with the policy", "mark=team" in team.text, team.text)
    forged = httpx.get(f"{term}/files/cwd", headers={"Authorization": f"Bearer {users['ann'][1]}",
                                                     "X-User-Id": users["ben"][0]})  # fmt: skip
    check("ann's token with ben's id is refused", forged.status_code == 403, forged.text)

    async def terminal(conn: str) -> str:
        tid = ann("POST", f"{conn}/api/terminals").json()["id"]
        ws_url = owui.replace("http", "ws", 1) + f"/api/v1/terminals/{conn}/api/terminals/{tid}"
        async with websockets.connect(ws_url) as ws:
            await ws.send(json.dumps({"type": "auth", "token": users["ann"][1], "chat_id": "chat-ann"}))
            await ws.send(json.dumps({"type": "resize", "rows": 33, "cols": 111}))
            await ws.send(b"stty size\r")
            seen = b""
            while b"33 111" not in seen:
                frame = await asyncio.wait_for(ws.recv(), 30)
                seen += frame if isinstance(frame, bytes) else frame.encode()
            return seen.decode(errors="replace")

    for conn in ("keyed", "per-user"):
        try:
            shown = asyncio.run(terminal(conn))
            check(f"[{conn}] terminal WebSocket through Open WebUI with resize", "33 111" in shown)
        except Exception as e:  # a failed handshake or a timeout
            check(f"[{conn}] terminal WebSocket through Open WebUI with resize", False, repr(e))
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
