"""Open WebUI's own Files store, when the tool or function runs inside Open
WebUI: generated files and figures are uploaded as the calling user's files
(Open WebUI's upload handler, the same one its image generation uses) and
linked to the chat message, so only that user and admins can fetch them
(``/api/v1/files/{id}/content`` checks ownership), and images show in the
chat. Outside Open WebUI (no request, or no ``open_webui`` package) there is
no store and the retention directory's links stay."""

from __future__ import annotations

import importlib
import io
import mimetypes
import typing


class OpenWebUIStore:
    """Uploads into Open WebUI's Files store for one verified user."""

    def __init__(self, request: typing.Any, user: typing.Any, metadata: dict[str, typing.Any]) -> None:
        self._request = request
        self._user = user  # Open WebUI's UserModel, looked up by id
        self._metadata = metadata
        self._files = importlib.import_module("open_webui.routers.files")
        self._chats = importlib.import_module("open_webui.models.chats").Chats
        self._upload_file = importlib.import_module("fastapi").UploadFile

    @classmethod
    async def of(
        cls, request: typing.Any, user: dict[str, typing.Any] | None, metadata: dict[str, typing.Any] | None
    ) -> OpenWebUIStore | None:
        """The store for Open WebUI's caller (``__request__``, ``__user__``,
        ``__metadata__``), or None outside Open WebUI. The user is looked up
        by id in Open WebUI's own users table, never taken from the dict."""
        if request is None or not isinstance(user, dict) or not user.get("id"):
            return None
        try:
            users = importlib.import_module("open_webui.models.users").Users
        except ImportError:
            return None
        model = await users.get_user_by_id(str(user["id"]))
        if model is None:
            return None
        return cls(request, model, metadata if isinstance(metadata, dict) else {})

    async def put(self, name: str, data: bytes, content_type: str | None = None) -> str:
        """Stores ``data`` as the user's file ``name``, linked to the chat
        message; returns its URL. Raises what Open WebUI raises (e.g. over
        its file size limit)."""
        kind = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        upload = self._upload_file(
            file=io.BytesIO(data), filename=name.rsplit("/", 1)[-1], headers={"content-type": kind}
        )
        item = await self._files.upload_file_handler(
            self._request,
            file=upload,
            metadata={"source": "libsandbox", "path": name},
            process=False,
            user=self._user,
        )
        chat, message = self._metadata.get("chat_id"), self._metadata.get("message_id")
        if chat and message:
            await self._chats.insert_chat_files(
                chat_id=chat, message_id=message, file_ids=[item.id], user_id=self._user.id
            )
        return f"/api/v1/files/{item.id}/content"
