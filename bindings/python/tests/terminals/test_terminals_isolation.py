"""Users never meet: every id, path and port of one user is NotFound to
another (never data), with the key or with each user's own token."""

from __future__ import annotations

import time

import httpx
from terminals_helpers import Live, headers, token

SERVER = "import http.server, socketserver\n" + (
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        body = ('secret page of %s' % self.path).encode()\n"
    "        self.send_response(200); self.send_header('Content-Type', 'text/html')\n"
    "        self.send_header('X-Seen-Auth', str(self.headers.get('Authorization')))\n"
    "        self.send_header('Content-Length', str(len(body))); self.end_headers(); self.wfile.write(body)\n"
    "socketserver.TCPServer(('127.0.0.1', 8088), H).serve_forever()\n"
)


def _as_user(user: str, chat: str, mode: str) -> dict[str, str]:
    h = headers(user, chat=chat)
    if mode == "session":
        h["Authorization"] = f"Bearer {token(user)}"
    return h


def test_three_users_cannot_reach_each_other(client: httpx.Client) -> None:
    alice = _as_user("alice", "chat-a", "key")
    bob = _as_user("bob", "chat-a", "key")  # the same chat id, another user
    carol = _as_user("carol", "chat-c", "session")
    client.post("/files/write", json={"path": "secret.txt", "content": "alice's secret"}, headers=alice)
    client.post("/files/write", json={"path": "secret.txt", "content": "carol's"}, headers=carol)
    pid = client.post("/execute", json={"command": "sleep 120"}, headers=alice).json()["id"]
    tid = client.post("/api/terminals", headers=alice).json()["id"]
    web = client.post(
        "/execute", json={"command": 'python3 -c "' + SERVER.replace('"', '\\"') + '"'}, headers=alice
    )
    assert web.status_code == 200, web.text
    deadline = time.monotonic() + 30
    while not any(p["port"] == 8088 for p in client.get("/ports", headers=alice).json()["ports"]):
        assert time.monotonic() < deadline, client.get(
            f"/execute/{web.json()['id']}/status", headers=alice
        ).text
        time.sleep(0.3)

    for other in (bob, carol):
        # Paths: each reads only its own workspace.
        mine = client.get("/files/read", params={"path": "/home/user/secret.txt"}, headers=other)
        assert "alice" not in mine.text
        # Process and terminal ids: NotFound on every call.
        assert client.get(f"/execute/{pid}/status", headers=other).status_code == 404
        assert client.post(f"/execute/{pid}/input", json={"input": "x"}, headers=other).status_code == 404
        assert client.request("DELETE", f"/execute/{pid}", json={}, headers=other).status_code == 404
        assert client.get(f"/api/terminals/{tid}", headers=other).status_code == 404
        assert client.delete(f"/api/terminals/{tid}", headers=other).status_code == 404
        assert all(p["id"] != pid for p in client.get("/execute", headers=other).json())
        # Ports: not listed, not proxied.
        assert all(p["port"] != 8088 for p in client.get("/ports", headers=other).json()["ports"])
        assert client.get("/proxy/8088/", headers=other).status_code == 404
    assert (
        client.get("/files/read", params={"path": "secret.txt"}, headers=carol).json()["content"] == "carol's"
    )
    assert client.get("/files/read", params={"path": "secret.txt"}, headers=bob).status_code == 404

    # The owner reaches the port; what a sandbox serves runs in an opaque
    # origin, and no credential of Open WebUI or of ours enters the sandbox.
    page = client.get("/proxy/8088/some/page?q=1", headers=alice)
    assert page.status_code == 200 and page.text == "secret page of /some/page?q=1"
    assert page.headers["content-security-policy"].startswith("sandbox")
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-seen-auth"] == "None"
    assert client.get("/proxy/8089/", headers=alice).status_code == 404
    # alice's process is still running and hers.
    assert client.get(f"/execute/{pid}/status", headers=alice).json()["status"] == "running"
    client.request("DELETE", f"/execute/{pid}", params={"force": "true"}, json={}, headers=alice)
    client.request("DELETE", f"/execute/{web.json()['id']}", params={"force": "true"}, json={}, headers=alice)


def test_secrets_never_enter_a_sandbox(client: httpx.Client) -> None:
    h = headers("dora", chat="chat-env")
    out = client.post(
        "/execute?wait=20", json={"command": "env; cat /proc/1/environ | tr '\\0' '\\n'"}, headers=h
    )
    text = "".join(e["data"] for e in out.json()["output"])
    assert "test-key" not in text and "webui-secret" not in text and "LIBSANDBOX" not in text
    # The model's own env for a command is passed on.
    out = client.post(
        "/execute?wait=20", json={"command": "echo $GREETING", "env": {"GREETING": "hi"}}, headers=h
    )
    assert out.json()["output"][0]["data"].strip() == "hi"


def test_a_sandbox_cannot_reach_the_server(client: httpx.Client, live: Live) -> None:
    # The server listens on the host's loopback; a sandbox's 127.0.0.1 is its
    # own (and with the network off it has nothing else).
    port = int(live.url.rsplit(":", 1)[1])
    code = (
        "import socket\ntry:\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=3)\n    print('reached')\n"
        "except OSError as e:\n    print('refused', type(e).__name__)\n"
    )
    probe = f'python3 -c "{code}"'
    out = client.post("/execute?wait=30", json={"command": probe}, headers=headers("eve", chat="net")).json()
    text = "".join(e["data"] for e in out["output"])
    assert "refused" in text and "reached" not in text, text
