"""Inside Open WebUI, generated files and figures go into Open WebUI's own
Files store as the caller's, linked to the chat message, and figures show in
the chat. Open WebUI itself (several GB) is not installed here: a faithful
stand-in of only the interface used (the upload handler, the users and chats
tables, as in open-webui 0.12.4) records what happens; the real one is
exercised by the live check."""

from __future__ import annotations

import json
import pathlib
import sys
import types
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import UploadFile
from owui_helpers import Events, assistant, configure, run, user


@dataclass
class FakeUser:  # the fields of Open WebUI's UserModel the upload handler reads
    id: str
    name: str
    email: str
    role: str = "user"


@dataclass
class StoredFile:
    id: str
    user_id: str
    filename: str
    content_type: str | None
    data: bytes
    meta: dict[str, Any]


@dataclass
class FakeOpenWebUI:
    users: dict[str, FakeUser] = field(default_factory=dict)
    files: dict[str, StoredFile] = field(default_factory=dict)
    chat_files: list[tuple[str, str, str, str]] = field(default_factory=list)  # chat, message, file, user

    def content(self, file_id: str, caller: FakeUser) -> bytes:
        """GET /api/v1/files/{id}/content: the owner or an admin, else 404."""
        f = self.files.get(file_id)
        if f is None or (f.user_id != caller.id and caller.role != "admin"):
            raise LookupError(404)
        return f.data

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        owui = self

        class Users:
            @staticmethod
            async def get_user_by_id(id: str, db: Any = None) -> FakeUser | None:
                return owui.users.get(id)

        class Chats:
            @staticmethod
            async def insert_chat_files(
                chat_id: str, message_id: str, file_ids: list[str], user_id: str, db: Any = None
            ) -> None:
                for file_id in file_ids:
                    owui.chat_files.append((chat_id, message_id, file_id, user_id))

        async def upload_file_handler(
            request: Any,
            file: UploadFile,
            metadata: dict[str, Any] | None = None,
            process: bool = True,
            process_in_background: bool = True,
            user: Any = None,
            background_tasks: Any = None,
            db: Any = None,
        ) -> types.SimpleNamespace:
            assert request is not None and isinstance(user, FakeUser)
            assert isinstance(file, UploadFile) and file.filename and "/" not in file.filename
            file_id = str(uuid.uuid4())
            owui.files[file_id] = StoredFile(
                file_id, user.id, file.filename, file.content_type, file.file.read(), metadata or {}
            )
            return types.SimpleNamespace(id=file_id, filename=file.filename)

        modules = {
            "open_webui": types.ModuleType("open_webui"),
            "open_webui.routers": types.ModuleType("open_webui.routers"),
            "open_webui.routers.files": types.ModuleType("open_webui.routers.files"),
            "open_webui.models": types.ModuleType("open_webui.models"),
            "open_webui.models.users": types.ModuleType("open_webui.models.users"),
            "open_webui.models.chats": types.ModuleType("open_webui.models.chats"),
        }
        modules["open_webui.routers.files"].upload_file_handler = upload_file_handler  # type: ignore[attr-defined]
        modules["open_webui.models.users"].Users = Users  # type: ignore[attr-defined]
        modules["open_webui.models.chats"].Chats = Chats  # type: ignore[attr-defined]
        for name, module in modules.items():
            monkeypatch.setitem(sys.modules, name, module)


@pytest.fixture
def owui(monkeypatch: pytest.MonkeyPatch) -> FakeOpenWebUI:
    fake = FakeOpenWebUI()
    for name in ("ann", "ben"):
        fake.users[name] = FakeUser(name, name, f"{name}@example.invalid")
    fake.users["root"] = FakeUser("root", "root", "root@example.invalid", "admin")
    fake.install(monkeypatch)
    return fake


PLOT = (
    "import matplotlib.pyplot as plt\n"
    "plt.plot([1, 4, 9]); plt.show()\n"
    "open('table.csv', 'w').write('a,b\\n1,2\\n')\n"
)
METADATA = {"chat_id": "chat-1", "message_id": "msg-1"}
REQUEST = object()  # Open WebUI's Request: only passed through to its handler


def _id(url: str) -> str:
    assert url.startswith("/api/v1/files/") and url.endswith("/content"), url
    return url.removeprefix("/api/v1/files/").removesuffix("/content")


def test_tool_files_and_figures_are_the_callers_in_open_webui(
    tool_module: types.ModuleType, libsandbox: types.ModuleType, storage: pathlib.Path, owui: FakeOpenWebUI
) -> None:
    tools = configure(tool_module.Tools(), storage, MAX_RAM_MEGABYTES=512)
    events = Events()
    reply = json.loads(
        run(
            tools.run_python_code(
                PLOT,
                __user__=user("ann"),
                __event_emitter__=events,
                __metadata__=METADATA,
                __request__=REQUEST,
            )
        )
    )
    assert reply["status"] == "OK", reply
    assert reply["figures"] == ["figure-1.png"]
    [table] = reply["files"]
    assert table["path"] == "table.csv"
    # Stored as ann's, linked to the chat message; nothing under a shared route.
    stored = owui.files[_id(table["url"])]
    assert (stored.user_id, stored.filename, stored.data) == ("ann", "table.csv", b"a,b\n1,2\n")
    [shown] = events.of_type("files")
    [image] = shown["files"]
    assert image["type"] == "image"
    figure = owui.files[_id(image["url"])]
    assert (figure.user_id, figure.content_type, figure.data[:8]) == (
        "ann",
        "image/png",
        b"\x89PNG\r\n\x1a\n",
    )
    assert sorted(owui.chat_files) == sorted(
        [("chat-1", "msg-1", _id(table["url"]), "ann"), ("chat-1", "msg-1", _id(image["url"]), "ann")]
    )
    # Only ann and admins can fetch them.
    assert owui.content(_id(table["url"]), owui.users["ann"]) == b"a,b\n1,2\n"
    assert owui.content(_id(table["url"]), owui.users["root"]) == b"a,b\n1,2\n"
    with pytest.raises(LookupError):
        owui.content(_id(table["url"]), owui.users["ben"])
    citation = events.of_type("citation")[-1]
    assert citation["result"]["files"] == [{"name": "table.csv", "url": table["url"]}]


def test_function_shows_the_figure_and_links_the_store(
    function_module: types.ModuleType,
    libsandbox: types.ModuleType,
    storage: pathlib.Path,
    owui: FakeOpenWebUI,
) -> None:
    action = configure(function_module.Action(), storage, MAX_RAM_MEGABYTES=512)
    events = Events()
    # As Open WebUI calls an action: no __metadata__, the chat and message in the body.
    body = {**assistant("```python\n" + PLOT + "```"), "chat_id": "chat-1", "id": "msg-1"}
    reply = json.loads(
        run(action.action(body, __user__=user("ben"), __event_emitter__=events, __request__=REQUEST))
    )
    assert reply["status"] == "OK", reply
    assert all(f.user_id == "ben" for f in owui.files.values()) and len(owui.files) == 2
    [url] = [f["url"] for f in reply["files"]]
    assert url in "".join(e["content"] for e in events.of_type("message"))
    assert len(events.of_type("files")[0]["files"]) == 1
    assert {(c, m, u) for c, m, _, u in owui.chat_files} == {("chat-1", "msg-1", "ben")}


def test_outside_open_webui_or_for_an_unknown_user_nothing_is_uploaded(
    tool_module: types.ModuleType, libsandbox: types.ModuleType, storage: pathlib.Path, owui: FakeOpenWebUI
) -> None:
    tools = configure(tool_module.Tools(), storage, MAX_RAM_MEGABYTES=512)
    for extra in ({}, {"__request__": REQUEST, "__user__": user("mallory")}):
        events = Events()
        arguments: dict[str, Any] = {"__user__": user("ann"), "__event_emitter__": events, **extra}
        reply = json.loads(run(tools.run_python_code(PLOT, **arguments)))
        assert reply["status"] == "OK", reply
        assert reply["files"][0]["url"].startswith("/files/")  # the retention directory's link
        assert events.of_type("files") == []
    assert owui.files == {}


def test_a_saved_image_is_stored_once_and_a_failing_store_links_nothing(
    tool_module: types.ModuleType,
    libsandbox: types.ModuleType,
    storage: pathlib.Path,
    owui: FakeOpenWebUI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tools = configure(tool_module.Tools(), storage, MAX_RAM_MEGABYTES=512)
    saved = "import matplotlib.pyplot as plt\nplt.bar([1], [2]); plt.savefig('chart.png'); plt.close()\n"
    events = Events()
    arguments: dict[str, Any] = {
        "__user__": user("ann"),
        "__event_emitter__": events,
        "__metadata__": METADATA,
        "__request__": REQUEST,
    }
    reply = json.loads(run(tools.run_python_code(saved, **arguments)))
    assert reply["status"] == "OK", reply
    assert reply["figures"] == ["chart.png"]
    [chart] = reply["files"]
    assert len(owui.files) == 1  # the file and the image shown are one upload
    assert events.of_type("files")[0]["files"] == [{"type": "image", "url": chart["url"]}]

    async def broken(id: str, db: Any = None) -> None:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(sys.modules["open_webui.models.users"].Users, "get_user_by_id", staticmethod(broken))
    reply = json.loads(run(tools.run_python_code(saved, **{**arguments, "__event_emitter__": Events()})))
    assert reply["status"] == "OK", reply
    assert reply["files"][0]["url"] is None  # never the shared retention link
    assert any("file store failed" in note for note in reply["notes"])
