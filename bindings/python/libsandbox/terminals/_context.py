"""The server's state and the verified context every route works in."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from fastapi import HTTPException, Request
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection

import libsandbox
from libsandbox.terminals._identity import Caller, Verifier, check_id
from libsandbox.terminals._settings import Settings
from libsandbox.terminals._workspaces import WorkspaceKey, Workspaces, blocking

POLICY_SCOPE_KEY = "libsandbox.policy"  # set by the /p/{policy} routing
CONTEXT_HEADER = "x-terminal-context-id"
_POLICY = re.compile(r"[a-z0-9_-]{1,64}")
_CONTEXT = re.compile(r"(chat|automation):[A-Za-z0-9._:@+=-]{1,128}")
_POLICIES_TTL_S = 2.0


class Server:
    """What the app holds: settings, the verifier and the workspaces."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.verifier = Verifier(settings)
        self.workspaces = Workspaces(settings)
        self._policies: tuple[float, frozenset[str]] = (0.0, frozenset())

    async def policy_names(self) -> frozenset[str]:
        """The policies of the policy file (re-read at most every 2 s)."""
        at, names = self._policies
        if time.monotonic() - at < _POLICIES_TTL_S:
            return names
        if not self.settings.config.policy_file:
            names = frozenset()
        else:
            try:
                policy_set = await blocking(libsandbox.policies, self.settings.config)
                names = frozenset(p["name"] for p in policy_set.get("policies", []))
            except (OSError, ValueError):
                names = frozenset()
        self._policies = (time.monotonic(), names)
        return names


@dataclass(frozen=True, kw_only=True)
class Context:
    """A verified caller and the workspace its request acts on."""

    server: Server
    caller: Caller
    key: WorkspaceKey
    session_id: str  # X-Session-Id: the Open WebUI chat, for its cwd and processes

    @property
    def session(self) -> libsandbox.Session:
        return self.server.workspaces.session(self.key)

    def cwd(self) -> str:
        return self.server.workspaces.cwd(self.key, self.session_id)


def bearer(value: str | None) -> str:
    if not value:
        return ""
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def resolve_context(server: Server, scope_policy: str | None, headers: Headers, token: str) -> Context:
    """Verifies the caller, then names its workspace: (user, policy, context)."""
    caller = await server.verifier.identify(token, headers.get("x-user-id", ""))
    policy = server.settings.policy if scope_policy is None else scope_policy
    if scope_policy is not None and (
        not _POLICY.fullmatch(scope_policy) or scope_policy not in await server.policy_names()
    ):
        raise HTTPException(404, f"Policy {scope_policy[:64]!r} not found")
    context = headers.get(CONTEXT_HEADER, "")
    if context and not _CONTEXT.fullmatch(context):
        raise HTTPException(400, "X-Terminal-Context-Id must be chat:<id> or automation:<id>")
    session_id = headers.get("x-session-id", "")
    if session_id:
        check_id("X-Session-Id", session_id)
    return Context(
        server=server,
        caller=caller,
        key=WorkspaceKey(caller.user, policy, context),
        session_id=session_id,
    )


def server_of(request: HTTPConnection) -> Server:
    server: Server = request.app.state.server
    return server


async def context(request: Request) -> Context:
    """FastAPI dependency: the verified context of an HTTP request."""
    return await resolve_context(
        server_of(request),
        request.scope.get(POLICY_SCOPE_KEY),
        request.headers,
        bearer(request.headers.get("authorization")),
    )


async def admin(request: Request) -> Server:
    """FastAPI dependency: only the holder of the server's key."""
    server = server_of(request)
    if not server.settings.api_key:
        raise HTTPException(
            403, "policy administration needs the key: set LIBSANDBOX_TERMINALS_API_KEY (key mode)"
        )
    if not server.verifier.is_key(bearer(request.headers.get("authorization"))):
        raise HTTPException(401, "Invalid API key")
    return server
