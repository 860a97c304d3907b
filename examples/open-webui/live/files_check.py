"""A real Open WebUI running the "Run code" function: a plot and a generated
file land in Open WebUI's own Files store as the caller's, linked to the
chat message; the figure shows in the message; the other user gets nothing.
Driven through Open WebUI's own API as its browser does (the action button
is POST /api/chat/actions/run_code). A pipe function stands in for the LLM.
Not part of CI (Open WebUI's install is ~7 GB); libsandbox must be
importable by Open WebUI (installed in its venv):

    python3 -m venv /opt/owui && /opt/owui/bin/pip install open-webui==0.12.4 /path/to/libsandbox
    python3 examples/open-webui/live/files_check.py --open-webui /opt/owui/bin/open-webui

Everything listens on 127.0.0.1; the data lives in a temporary directory.
Prints one line per check and exits non-zero on the first failure.
"""

from __future__ import annotations

import argparse
import pathlib
import secrets
import sys
import tempfile
import uuid

import httpx
from live_helpers import check, free_port, start_open_webui, wait_up

FUNCTION = pathlib.Path(__file__).resolve().parents[1] / "functions" / "run_code.py"
ECHO_MODEL = """
class Pipe:
    def pipe(self, body: dict) -> str:
        return "ok"
"""
CODE = (
    "import matplotlib.pyplot as plt\n"
    "plt.plot([1, 4, 9]); plt.title('squares'); plt.show()\n"
    "open('table.csv', 'w').write('n,square\\n3,9\\n')\n"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--open-webui", required=True, help="the open-webui executable of its venv")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="owui-files-")
    port = free_port()
    owui = f"http://127.0.0.1:{port}"
    server = start_open_webui(args.open_webui, root, port, secrets.token_hex(32))
    try:
        wait_up(f"{owui}/health", server, 600)
        return run_checks(owui)
    finally:
        server.terminate()
        server.wait(timeout=60)
        print(f"logs: {root}/owui.log")


def run_checks(owui: str) -> int:
    api = httpx.Client(base_url=owui, timeout=300)

    def sign_up(name: str) -> dict[str, str]:
        body = {"name": name, "email": f"{name}@example.org", "password": "Pass-word-1234"}
        r = api.post("/api/v1/auths/signup", json=body)
        check(f"sign up {name}", r.status_code == 200, r.text)
        return {"Authorization": f"Bearer {r.json()['token']}"}

    admin = sign_up("admin")  # the first account is the admin
    config = api.get("/api/v1/auths/admin/config", headers=admin).json()
    api.post(
        "/api/v1/auths/admin/config",
        headers=admin,
        json={**config, "ENABLE_SIGNUP": True, "DEFAULT_USER_ROLE": "user"},
    )
    ann, ben = sign_up("ann"), sign_up("ben")

    for fid, name, content in (("echo", "Echo", ECHO_MODEL), ("run_code", "Run code", FUNCTION.read_text())):
        form = {"id": fid, "name": name, "content": content, "meta": {"description": name}}
        r = api.post("/api/v1/functions/create", headers=admin, json=form)
        check(f"import the {fid} function", r.status_code == 200, r.text)
        r = api.post(f"/api/v1/functions/id/{fid}/toggle", headers=admin)
        check(f"enable {fid}", r.status_code == 200 and r.json()["is_active"], r.text)
    r = api.post("/api/v1/functions/id/run_code/toggle/global", headers=admin)
    check("make Run code global", r.status_code == 200 and r.json()["is_global"], r.text)
    valves = api.get("/api/v1/functions/id/run_code/valves", headers=admin).json() or {}
    r = api.post(
        "/api/v1/functions/id/run_code/valves/update",
        headers=admin,
        json={**valves, "MAX_RAM_MEGABYTES": 512},
    )
    check("valves saved", r.status_code == 200, r.text)

    # Users reach a model only through its registered entry giving them access (README step 4).
    everyone = [{"principal_type": "user", "principal_id": "*", "permission": "read"}]
    model: dict[str, object] = {
        "id": "echo",
        "base_model_id": None,
        "name": "Echo",
        "meta": {},
        "params": {},
        "access_grants": everyone,
    }
    r = api.post("/api/v1/models/create", headers=admin, json=model)
    check("the model is shared with every user", r.status_code == 200, r.text)
    models = api.get("/api/models", headers=ann).json()  # also refreshes Open WebUI's model list
    ids = [m["id"] for m in models.get("data", [])]
    check("the stand-in model is listed", "echo" in ids, ids)

    user_msg, reply_msg = str(uuid.uuid4()), str(uuid.uuid4())
    answer = f"Here it is:\n\n```python\n{CODE}```\n"
    messages = {
        user_msg: {"id": user_msg, "parentId": None, "childrenIds": [reply_msg], "role": "user",
                   "content": "plot squares"},
        reply_msg: {"id": reply_msg, "parentId": user_msg, "childrenIds": [], "role": "assistant",
                    "content": answer, "model": "echo"},
    }  # fmt: skip
    chat = {"title": "squares", "models": ["echo"], "history": {"messages": messages, "currentId": reply_msg},
            "messages": list(messages.values())}  # fmt: skip
    r = api.post("/api/v1/chats/new", headers=ann, json={"chat": chat})
    check("ann's chat", r.status_code == 200, r.text)
    chat_id = r.json()["id"]

    body = {
        "model": "echo",
        "messages": [{"role": "user", "content": "plot squares"}, {"role": "assistant", "content": answer}],
        "chat_id": chat_id,
        "id": reply_msg,
        "session_id": "live-check",
    }
    r = api.post("/api/chat/actions/run_code", headers=ann, json=body)
    check("ann presses Run code", r.status_code == 200, r.text)
    r = api.post("/api/chat/actions/run_code", headers=ben, json=body)
    check("ben cannot run it on ann's chat", r.status_code in (401, 403, 404), r.status_code)

    saved = api.get(f"/api/v1/chats/{chat_id}", headers=ann).json()["chat"]["history"]["messages"][reply_msg]
    images = [f for f in saved.get("files", []) if f.get("type") == "image"]
    check("the figure shows in ann's message", len(images) == 1, saved.get("files"))
    figure_url = images[0]["url"]
    check(
        "it is a Files-store link",
        figure_url.startswith("/api/v1/files/") and figure_url.endswith("/content"),
        figure_url,
    )
    links = [part.split(")")[0] for part in saved["content"].split("](")[1:]]
    table_url = next((u for u in links if u.startswith("/api/v1/files/")), "")
    check("the CSV is linked from the Files store in the message", bool(table_url), saved["content"][-600:])

    figure = api.get(figure_url, headers=ann)
    check(
        "ann fetches the figure",
        figure.status_code == 200 and figure.content[:8] == b"\x89PNG\r\n\x1a\n",
        figure.status_code,
    )
    table = api.get(table_url, headers=ann)
    check(
        "ann fetches the CSV",
        table.status_code == 200 and table.content == b"n,square\n3,9\n",
        table.text[:200],
    )
    check("the admin fetches it", api.get(table_url, headers=admin).status_code == 200)
    for url in (figure_url, table_url):
        r = api.get(url, headers=ben)
        check(
            f"ben gets nothing from {url.split('/')[4][:8]}…", r.status_code in (401, 403, 404), r.status_code
        )
    r = api.get(table_url)
    check("nobody logged out gets it", r.status_code in (401, 403, 404), r.status_code)

    def file_names(headers: dict[str, str]) -> list[str]:
        listed = api.get("/api/v1/files/", headers=headers).json()
        items = listed.get("items", []) if isinstance(listed, dict) else listed  # a page, or a list
        return sorted(f.get("filename") or f.get("meta", {}).get("name") for f in items)

    check(
        "both are ann's files in Open WebUI",
        file_names(ann) == ["figure-1.png", "table.csv"],
        file_names(ann),
    )
    check("ben's file list has neither", file_names(ben) == [], file_names(ben))
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
