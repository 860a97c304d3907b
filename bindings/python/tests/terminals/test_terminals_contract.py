"""The Open Terminal 0.14.5 contract as Open WebUI 0.12.4 uses it, replayed
request by request (its tool calls, its file browser, its terminal panel's
polling) against a real server over real sandboxes."""

from __future__ import annotations

import io
import time
import urllib.parse
import zipfile

import httpx
from terminals_helpers import headers

# Open Terminal 0.14.5's /openapi.json: the operations Open WebUI turns into
# model tools, with their parameters (name, where).
OPEN_TERMINAL_TOOLS = {
    ("GET", "/files/list", "list_files"): [("directory", "query")],
    ("GET", "/files/read", "read_file"): [("path", "query"), ("start_line", "query"), ("end_line", "query")],
    ("GET", "/files/display", "display_file"): [("path", "query")],
    ("POST", "/files/write", "write_file"): [],
    ("POST", "/files/replace", "replace_file_content"): [],
    ("GET", "/files/grep", "grep_search"): [
        ("query", "query"),
        ("path", "query"),
        ("regex", "query"),
        ("case_insensitive", "query"),
        ("include", "query"),
        ("match_per_line", "query"),
        ("max_results", "query"),
    ],
    ("GET", "/files/matches", "match_files"): [
        ("query", "query"),
        ("path", "query"),
        ("show_hidden", "query"),
        ("offset", "query"),
        ("limit", "query"),
    ],
    ("GET", "/files/search", "search_files"): [
        ("query", "query"),
        ("path", "query"),
        ("limit", "query"),
        ("type", "query"),
        ("show_hidden", "query"),
    ],
    ("GET", "/files/glob", "glob_search"): [
        ("pattern", "query"),
        ("path", "query"),
        ("exclude", "query"),
        ("type", "query"),
        ("max_results", "query"),
    ],
    ("GET", "/execute", "list_processes"): [],
    ("POST", "/execute", "run_command"): [("wait", "query"), ("tail", "query")],
    ("GET", "/execute/{process_id}/status", "get_process_status"): [
        ("process_id", "path"),
        ("wait", "query"),
        ("offset", "query"),
        ("tail", "query"),
    ],
    ("POST", "/execute/{process_id}/input", "send_process_input"): [("process_id", "path")],
    ("DELETE", "/execute/{process_id}", "kill_process"): [("process_id", "path"), ("force", "query")],
    ("GET", "/api/terminals/user/output", "read_user_terminal"): [],
    ("POST", "/api/terminals/user/input", "send_user_terminal_input"): [],
}


def test_the_tools_open_webui_builds_and_the_unauthenticated_routes(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    tools = {
        (method.upper(), path, op["operationId"]): [(p["name"], p["in"]) for p in op.get("parameters", [])]
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
    }
    assert tools == OPEN_TERMINAL_TOOLS
    body = spec["paths"]["/execute"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("/ExecRequest")
    assert set(spec["components"]["schemas"]["ExecRequest"]["properties"]) == {"command", "cwd", "env"}
    # Discovery answers without auth; Open WebUI reads the system prompt
    # only when the feature flag says so.
    assert client.get("/api/config").json()["features"]["system"] is True
    assert "gVisor" in client.get("/system").json()["prompt"]
    assert client.get("/health").json() == {"status": "ok"}
    # Everything else needs the key or a token.
    assert client.get("/files/list").status_code == 401
    assert client.post("/execute", json={"command": "id"}).status_code == 401
    wrong = headers("alice", key="not-the-key-0123456789")
    assert client.get("/files/cwd", headers=wrong).status_code == 401
    no_user = headers("alice")
    del no_user["X-User-Id"]
    assert client.get("/files/cwd", headers=no_user).status_code == 400


def _wait_done(client: httpx.Client, h: dict[str, str], pid: str, offset: int = 0) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while True:
        status = client.get(f"/execute/{pid}/status", params={"wait": 5, "offset": offset}, headers=h).json()
        if status["status"] != "running" or time.monotonic() > deadline:
            return dict(status)


def test_model_tool_calls_as_open_webui_sends_them(client: httpx.Client) -> None:
    h = headers("ada", chat="chat-tools")
    # run_command: Open WebUI puts declared query params in the URL (Python
    # booleans as "True"), the rest of the arguments in the JSON body, and
    # may pass unknown fields.
    r = client.post(
        "/execute?wait=20",
        json={"command": "echo hello; printf 'x\\ny\\n'; pwd; id -un", "stray": 1},
        headers=h,
    )
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "done" and done["exit_code"] == 0 and done["cwd"] == "/home/user"
    text = "".join(e["data"] for e in done["output"])
    assert text.replace("\r\n", "\n") == "hello\nx\ny\n/home/user\nuser\n"
    assert {e["type"] for e in done["output"]} == {"output"} and not done["truncated"]
    assert len(done["id"]) == 32 and int(done["id"], 16) >= 0  # 128 random bits

    # A background command, read in pieces by offset, tail, and input with
    # escapes written literally (as models do).
    started = client.post(
        "/execute",
        params={"tail": "null"},
        json={"command": "for i in 1 2 3; do echo line$i; done; read a; echo got=$a; exit 3"},
        headers=h,
    ).json()
    pid = started["id"]
    assert started["status"] in ("running", "done")
    first = client.get(
        f"/execute/{pid}/status", params={"wait": 0, "offset": 0, "tail": 1000}, headers=h
    ).json()
    r = client.post(f"/execute/{pid}/input", json={"input": "typed\\n"}, headers=h)
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    end = _wait_done(client, h, pid, first["next_offset"])
    assert end["status"] == "done" and end["exit_code"] == 3
    whole = client.get(f"/execute/{pid}/status", headers=h).json()
    joined = "".join(e["data"] for e in whole["output"])
    assert "line1" in joined and "got=typed" in joined
    last = client.get(f"/execute/{pid}/status", params={"tail": 1}, headers=h).json()
    assert len(last["output"]) == 1 and "got=typed" in last["output"][0]["data"] and last["truncated"]
    again = client.get(f"/execute/{pid}/status", params={"offset": whole["next_offset"]}, headers=h).json()
    assert again["output"] == [] and again["next_offset"] == whole["next_offset"]
    assert client.post(f"/execute/{pid}/input", json={"input": "late"}, headers=h).status_code == 400

    # kill_process: a DELETE with a {} body; the list shows it as killed.
    sleeper = client.post("/execute", json={"command": "sleep 300"}, headers=h).json()["id"]
    r = client.request("DELETE", f"/execute/{sleeper}", params={"force": "False"}, json={}, headers=h)
    assert r.status_code == 200 and r.json() == {"status": "killed"}
    listed = {p["id"]: p for p in client.get("/execute", headers=h).json()}
    assert listed[sleeper]["status"] == "killed" and listed[pid]["exit_code"] == 3
    assert set(listed[pid]) == {"id", "command", "status", "exit_code", "log_path"}
    # Another chat of the same user has its own list (the panel's tabs).
    assert client.get("/execute", headers=headers("ada", chat="other")).json() == []
    assert client.get(f"/execute/{pid}/status", headers=headers("ada", chat="other")).status_code == 404

    # File tools, relative paths from the chat's cwd.
    assert client.post(
        "/files/write", json={"path": "proj/app.py", "content": "a = 1\nb = 2\na = 3\n"}, headers=h
    ).json() == {
        "path": "/home/user/proj/app.py",
        "size": 18,
    }
    read = client.get(
        "/files/read", params={"path": "proj/app.py", "start_line": 2, "end_line": 3}, headers=h
    ).json()
    assert read == {"path": "/home/user/proj/app.py", "content": "b = 2\na = 3\n", "total_lines": 3}
    r = client.post(
        "/files/replace",
        json={"path": "proj/app.py", "replacements": [{"target": "a = ", "replacement": "A = "}]},
        headers=h,
    )
    assert r.status_code == 400 and "allow_multiple" in r.json()["detail"]
    r = client.post(
        "/files/replace",
        json={
            "path": "proj/app.py",
            "replacements": [{"target": "a = ", "replacement": "A = ", "start_line": 3}],
        },
        headers=h,
    )
    assert r.json()["size"] == 18
    assert (
        client.get("/files/read", params={"path": "proj/app.py"}, headers=h).json()["content"]
        == "a = 1\nb = 2\nA = 3\n"
    )
    grep = client.get(
        "/files/grep",
        params={"query": "B =", "case_insensitive": "True", "regex": "False", "include": ["*.py"]},
        headers=h,
    ).json()
    assert grep["matches"] == [{"file": "/home/user/proj/app.py", "line": 2, "content": "b = 2"}]
    glob = client.get("/files/glob", params={"pattern": "*.py", "path": "proj"}, headers=h).json()
    assert [m["path"] for m in glob["matches"]] == ["app.py"] and glob["matches"][0]["type"] == "file"
    search = client.get("/files/search", params={"query": "app", "type": "file"}, headers=h).json()
    assert search["results"][0]["path"] == "/home/user/proj/app.py"
    matches = client.get("/files/matches", params={"query": "b = 2"}, headers=h).json()
    assert matches["results"][0]["content_matches"][0]["line"] == 2 and matches["next_offset"] is None
    assert client.get("/files/display", params={"path": "proj/app.py"}, headers=h).json() == {
        "path": "/home/user/proj/app.py",
        "exists": True,
    }
    assert client.get("/files/read", params={"path": "missing.txt"}, headers=h).status_code == 404
    listing = client.get("/files/list", params={"directory": "proj"}, headers=h).json()
    assert listing["dir"] == "/home/user/proj" and listing["writable"] is True
    entry = listing["entries"][0]
    assert entry["name"] == "app.py" and entry["type"] == "file" and entry["writable"] is True
    assert entry["modified"] > time.time() - 600

    # What Open WebUI reads every turn: the cwd, then AGENTS.md in home.
    client.post("/files/write", json={"path": "/home/user/AGENTS.md", "content": "Be brief."}, headers=h)
    home = client.get("/files/cwd", headers=h).json()["home"]
    path = urllib.parse.quote(home + "/AGENTS.md", safe="")
    assert client.get(f"/files/read?path={path}", headers=h).json()["content"] == "Be brief."
    # The chat's cwd moves commands and relative paths, for that chat only.
    assert client.post("/files/cwd", json={"path": "proj"}, headers=h).json() == {"cwd": "/home/user/proj"}
    moved = client.post("/execute?wait=20", json={"command": "pwd; cat app.py | wc -l"}, headers=h).json()
    assert "/home/user/proj" in moved["output"][0]["data"] and moved["cwd"] == "/home/user/proj"
    assert client.get("/files/cwd", headers=headers("ada", chat="other")).json()["cwd"] == "/home/user"
    assert client.post("/files/cwd", json={"path": "nowhere"}, headers=h).status_code == 404


def test_file_browser_calls(client: httpx.Client) -> None:
    h = {k: v for k, v in headers("brian", chat="chat-files").items() if k != "Content-Type"}
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64
    r = client.post(
        "/files/upload", params={"directory": "/home/user/up"}, files={"file": ("pic.png", png)}, headers=h
    )
    assert r.status_code == 200 and r.json() == {"path": "/home/user/up/pic.png", "size": len(png)}
    view = client.get("/files/view", params={"path": "/home/user/up/pic.png"}, headers=h)
    assert view.content == png and view.headers["content-type"] == "image/png"
    assert view.headers["content-security-policy"].startswith("sandbox")
    assert view.headers["x-content-type-options"] == "nosniff"
    assert client.get("/files/serve/home/user/up/pic.png", headers=h).content == png
    # read_file hands images to the model as bytes; other binaries are refused.
    assert client.get("/files/read", params={"path": "up/pic.png"}, headers=h).content == png
    client.post(
        "/files/upload", params={"directory": "up"}, files={"file": ("blob.bin", b"\0\1\2")}, headers=h
    )
    assert client.get("/files/read", params={"path": "up/blob.bin"}, headers=h).status_code == 415

    assert client.post("/files/mkdir", json={"path": "a/b/c"}, headers=h).json() == {
        "path": "/home/user/a/b/c"
    }
    assert (
        client.post(
            "/files/move", json={"source": "up/pic.png", "destination": "a/pic.png"}, headers=h
        ).status_code
        == 200
    )
    client.post("/files/write", json={"path": "up/pic.png", "content": "again"}, headers=h)
    conflict = client.post(
        "/files/move", json={"source": "up/pic.png", "destination": "a/pic.png"}, headers=h
    )
    assert conflict.status_code == 409
    assert (
        client.post("/files/move", json={"source": "nope", "destination": "x"}, headers=h).status_code == 404
    )
    assert (
        client.post("/files/move", json={"source": "up", "destination": "no/dir/x"}, headers=h).status_code
        == 400
    )

    archive = client.post("/files/archive", json={"paths": ["a", "up/blob.bin"]}, headers=h)
    assert (
        archive.status_code == 200
        and archive.headers["content-disposition"] == 'attachment; filename="download.zip"'
    )
    names = set(zipfile.ZipFile(io.BytesIO(archive.content)).namelist())
    assert {"a/pic.png", "blob.bin"} <= names
    assert client.post("/files/archive", json={"paths": []}, headers=h).status_code == 400

    gone = client.delete("/files/delete", params={"path": "a"}, headers=h)
    assert gone.json() == {"path": "/home/user/a", "type": "directory"}
    assert client.delete("/files/delete", params={"path": "a"}, headers=h).status_code == 404
    # The workspace itself is never removed.
    assert client.delete("/files/delete", params={"path": "/home/user"}, headers=h).status_code == 400
