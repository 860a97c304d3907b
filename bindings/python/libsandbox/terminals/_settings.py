"""What an admin sets for the terminal server, with bounded defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

import libsandbox

HOME = "/home/user"  # every session's workspace, as its sandbox sees it


@dataclass(frozen=True, kw_only=True)
class Settings:
    """How the server identifies callers and what it lets them move.

    Identity: ``api_key`` (key mode) is held only by Open WebUI's backend,
    which then names the user in ``X-User-Id``. Session mode verifies the
    user's own Open WebUI token: human sessions through ``open_webui_url``
    (``GET /api/v1/auths/``, cached ``verify_cache_s``), automation and
    sub-agent tokens locally with ``webui_secret_key`` (HS256). At least one
    of the three must be set; none of them ever enters a sandbox.

    ``policy``: the libsandbox policy of the root routes ("" : the policy
    file's default, or the library's defaults); ``/p/{policy}/...`` routes
    name their own. The caps bound what one request may move.
    """

    api_key: str = ""
    open_webui_url: str = ""
    webui_secret_key: str = ""
    verify_cache_s: float = 30.0
    config: libsandbox.Config = field(default_factory=libsandbox.Config)
    policy: str = ""
    max_read_bytes: int = 8 << 20  # text a read returns at most
    max_upload_bytes: int = 1 << 30  # one multipart upload (streamed into the sandbox)
    max_body_bytes: int = 64 << 20  # any other request body (a write_file's JSON)
    max_view_bytes: int = 4 << 30  # one file streamed to the browser
    max_archive_bytes: int = 64 << 20  # one zip (the library's ceiling)
    max_search_results: int = 500
    max_terminals_per_user: int = 8
    cwd_ttl_s: float = 24 * 3600.0
    system_prompt: str = ""

    def __post_init__(self) -> None:
        if not (self.api_key or self.open_webui_url or self.webui_secret_key):
            raise ValueError(
                "no way to identify callers: set LIBSANDBOX_TERMINALS_API_KEY (key mode: Open WebUI's "
                "backend holds the key and names the user) and/or LIBSANDBOX_TERMINALS_OPEN_WEBUI_URL / "
                "LIBSANDBOX_TERMINALS_WEBUI_SECRET_KEY (session mode: each user's own Open WebUI token)"
            )
        if self.api_key and len(self.api_key) < 16:
            raise ValueError("the API key must have at least 16 characters (e.g. `openssl rand -hex 32`)")
        for name in (
            "max_read_bytes",
            "max_upload_bytes",
            "max_body_bytes",
            "max_view_bytes",
            "max_archive_bytes",
            "max_search_results",
            "max_terminals_per_user",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.max_archive_bytes > 64 << 20:
            raise ValueError("max_archive_bytes is at most 64 MiB (the library's archive ceiling)")
        if self.max_search_results > 10000:
            raise ValueError("max_search_results is at most 10000")
