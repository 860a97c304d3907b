"""Who is calling: the shared key (Open WebUI's backend naming the user) or
the user's own Open WebUI token. Never a fallback to a shared account."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections import OrderedDict
from dataclasses import dataclass

import httpx
import jwt
from fastapi import HTTPException

from libsandbox.terminals._settings import Settings

# Open WebUI ids are UUIDs; anything printable and short is accepted, nothing
# that could change a path or a log line.
_ID = re.compile(r"[A-Za-z0-9._:@+=-]{1,128}")
_CACHE_ENTRIES = 10000
_AUTOMATION_TYPES = ("automation", "subagent")


@dataclass(frozen=True, kw_only=True)
class Caller:
    """A verified user. ``admin``: presented the server's key (Open WebUI's
    backend or its admin), which may also manage policies."""

    user: str
    admin: bool


def check_id(name: str, value: str) -> str:
    if not _ID.fullmatch(value):
        raise HTTPException(400, f"{name} must be 1-128 characters of [A-Za-z0-9._:@+=-], got {value[:64]!r}")
    return value


class Verifier:
    """Checks bearer tokens; remembers a verified Open WebUI token briefly (a
    terminal panel polls every second)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._key = settings.api_key.encode()
        self._cache: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._client: httpx.AsyncClient | None = None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def is_key(self, token: str) -> bool:
        try:
            return bool(self._key) and hmac.compare_digest(token.encode(), self._key)
        except UnicodeEncodeError:
            return False

    async def identify(self, token: str, claimed_user: str) -> Caller:
        """The caller of a request bearing ``token`` whose ``X-User-Id`` is
        ``claimed_user`` (may be empty)."""
        if claimed_user:
            check_id("X-User-Id", claimed_user)
        if self.is_key(token):
            if not claimed_user:
                raise HTTPException(400, "X-User-Id is required with the API key (Open WebUI sends it)")
            return Caller(user=claimed_user, admin=True)
        if not token:
            raise HTTPException(401, "missing bearer token: the API key or an Open WebUI token")
        user = await self._user_of_token(token)
        if claimed_user and claimed_user != user:
            raise HTTPException(403, "the token belongs to another user than X-User-Id")
        return Caller(user=check_id("token user", user), admin=False)

    async def _user_of_token(self, token: str) -> str:
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise HTTPException(401, "invalid API key or token") from None
        kind = claims.get("typ", "session")
        if kind in _AUTOMATION_TYPES:
            return self._verify_locally(token)
        if kind != "session":
            raise HTTPException(401, f"unsupported token type {str(kind)[:32]!r}")
        return await self._verify_with_open_webui(token, claims)

    def _verify_locally(self, token: str) -> str:
        secret = self._settings.webui_secret_key
        if not secret:
            raise HTTPException(
                401,
                "automation tokens are verified with Open WebUI's secret: set "
                "LIBSANDBOX_TERMINALS_WEBUI_SECRET_KEY to its WEBUI_SECRET_KEY",
            )
        try:
            claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp"]})
        except jwt.ExpiredSignatureError:
            raise HTTPException(401, "the token has expired") from None
        except jwt.PyJWTError:
            raise HTTPException(401, "invalid token") from None
        user = claims.get("id")
        if not isinstance(user, str) or not user:
            raise HTTPException(401, "the token names no user (claim 'id')")
        return user

    async def _verify_with_open_webui(self, token: str, claims: dict[str, object]) -> str:
        url = self._settings.open_webui_url.rstrip("/")
        if not url:
            raise HTTPException(
                401,
                "user session tokens are verified by Open WebUI: set LIBSANDBOX_TERMINALS_OPEN_WEBUI_URL",
            )
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached and cached[1] > now:
            self._cache.move_to_end(digest)
            return cached[0]
        exp = claims.get("exp")
        if isinstance(exp, (int, float)) and exp <= time.time():
            raise HTTPException(401, "the token has expired")
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0), follow_redirects=False)
        try:
            response = await self._client.get(
                f"{url}/api/v1/auths/", headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as e:
            raise HTTPException(
                502, f"could not reach Open WebUI to verify the token: {type(e).__name__}"
            ) from None
        if response.status_code != 200:
            raise HTTPException(401, "Open WebUI did not accept the token")
        try:
            user = response.json().get("id")
        except ValueError:
            user = None
        if not isinstance(user, str) or not user:
            raise HTTPException(502, "Open WebUI's answer names no user")
        until = now + self._settings.verify_cache_s
        if isinstance(exp, (int, float)):
            until = min(until, now + max(0.0, exp - time.time()))
        self._cache[digest] = (user, until)
        while len(self._cache) > _CACHE_ENTRIES:
            self._cache.popitem(last=False)
        return user
