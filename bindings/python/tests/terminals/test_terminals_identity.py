"""Identity: the key names the user; otherwise the bearer is the user's own
Open WebUI token, verified (humans through Open WebUI, automations locally)
and required to match X-User-Id. Never a shared fallback account."""

from __future__ import annotations

import httpx
import pytest
from libsandbox.terminals import Settings, create_app
from terminals_helpers import KEY, SECRET, FakeOpenWebUI, headers, serving, token

import libsandbox


def _bearer(user: str, value: str, chat: str = "chat-id") -> dict[str, str]:
    return {"X-User-Id": user, "X-Session-Id": chat, "Authorization": f"Bearer {value}"}


def test_user_tokens_are_verified(client: httpx.Client, owui: tuple[FakeOpenWebUI, str]) -> None:
    fake, _ = owui
    # A human session token, checked by Open WebUI once, then cached briefly.
    human = token("erin", jti="erin-1")
    before = fake.calls
    for _ in range(3):
        r = client.get("/files/cwd", headers=_bearer("erin", human))
        assert r.status_code == 200, r.text
    assert fake.calls == before + 1
    # Without X-User-Id the token's user is the caller.
    no_header = {"Authorization": f"Bearer {human}"}
    client.post("/files/write", json={"path": "who", "content": "erin"}, headers=no_header)
    assert (
        client.get("/files/read", params={"path": "who"}, headers=headers("erin")).json()["content"] == "erin"
    )
    # An automation token is verified locally with the shared secret.
    calls = fake.calls
    auto = token("erin", typ="automation")
    assert client.get("/files/cwd", headers=_bearer("erin", auto)).status_code == 200
    assert fake.calls == calls

    refused = {
        "another user's token": (_bearer("frank", human), 403),
        "expired": (_bearer("erin", token("erin", expires_s=-10)), 401),
        "expired automation": (_bearer("erin", token("erin", typ="automation", expires_s=-10)), 401),
        "wrong signature": (_bearer("erin", token("erin", secret="x" * 40, jti="forged")), 401),
        "forged automation": (_bearer("erin", token("erin", typ="automation", secret="y" * 40)), 401),
        "unknown type": (_bearer("erin", token("erin", typ="api")), 401),
        "garbage": (_bearer("erin", "not-a-jwt"), 401),
        "no token": ({"X-User-Id": "erin"}, 401),
        "bad user id": (headers("../etc"), 400),
    }
    for name, (h, code) in refused.items():
        r = client.get("/files/cwd", headers=h)
        assert r.status_code == code, (name, r.status_code, r.text)
    # A token Open WebUI revoked stops working once the cache lapses (here:
    # a token never seen before).
    fake.revoked.add("erin-2")
    assert client.get("/files/cwd", headers=_bearer("erin", token("erin", jti="erin-2"))).status_code == 401
    # Users' tokens never administer.
    assert client.put("/api/v1/policies/x", json={}, headers=_bearer("erin", human)).status_code in (401, 403)
    assert client.get("/metrics", headers=_bearer("erin", human)).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {KEY}"}).json()["server"]["users"] >= 1


def test_a_server_needs_a_way_to_identify_callers(terminals_config: libsandbox.Config) -> None:
    with pytest.raises(ValueError, match="LIBSANDBOX_TERMINALS_API_KEY"):
        Settings(config=terminals_config)
    with pytest.raises(ValueError, match="16 characters"):
        Settings(api_key="short", config=terminals_config)
    # Key only: user tokens are refused with what to set.
    with serving(create_app(Settings(api_key=KEY, config=terminals_config))) as live:
        r = httpx.get(f"{live.url}/files/cwd", headers=_bearer("gus", token("gus")))
        assert r.status_code == 401 and "OPEN_WEBUI_URL" in r.json()["detail"]
        r = httpx.get(f"{live.url}/files/cwd", headers=_bearer("gus", token("gus", typ="automation")))
        assert r.status_code == 401 and "WEBUI_SECRET_KEY" in r.json()["detail"]
    # Session mode only: the key of another server means nothing.
    with serving(create_app(Settings(webui_secret_key=SECRET, config=terminals_config))) as live:
        assert httpx.get(f"{live.url}/files/cwd", headers=headers("gus")).status_code == 401
        auto = _bearer("gus", token("gus", typ="automation"))
        assert httpx.get(f"{live.url}/files/cwd", headers=auto).status_code == 200
