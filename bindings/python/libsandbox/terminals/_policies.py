"""The orchestrator routes Open WebUI's admin screens use, mapped onto the
policies of the libsandbox policy file (and so bounded by its caps)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request

import libsandbox
from libsandbox.terminals._context import Server, admin, bearer, server_of
from libsandbox.terminals._workspaces import blocking

router = APIRouter(prefix="/api/v1")
Admin = Annotated[Server, Depends(admin)]

_NAME = re.compile(r"[a-z0-9_-]{1,64}")
_MINUTES = re.compile(r"(\d+)m")
# Orchestrator field -> libsandbox policy field.
_FIELDS = {
    "cpu_limit": "cpus",
    "memory_limit": "memory",
    "storage": "workspace",
    "env": "env",
    "network": "network",
}
_LIFECYCLE = ("idle_timeout_minutes",)


def _check_name(policy_id: str) -> str:
    if not _NAME.fullmatch(policy_id):
        raise HTTPException(400, "a policy id is 1-64 characters of a-z, 0-9, '_' and '-'")
    return policy_id


def _to_orchestrator(policy: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for theirs, ours in _FIELDS.items():
        if policy.get(ours):
            data[theirs] = policy[ours]
    if policy.get("rootfs"):
        data["image"] = policy["rootfs"]
    minutes = _MINUTES.fullmatch(policy.get("idle_timeout") or "")
    if minutes:
        data["idle_timeout_minutes"] = int(minutes.group(1))
    return data


def _to_libsandbox(name: str, data: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    unknown = set(data) - set(_FIELDS) - {"image", "idle_timeout_minutes"}
    if unknown:
        raise HTTPException(
            400,
            f"unknown policy fields {sorted(unknown)}: this server takes "
            f"{sorted([*_FIELDS, 'image', 'idle_timeout_minutes'])}",
        )
    # Fields a form leaves out go back to the library's defaults; what Open
    # WebUI has no form for (pids, timeouts, output caps) is kept.
    policy = {k: v for k, v in current.items() if k not in (*_FIELDS.values(), "rootfs", "idle_timeout")}
    policy["name"] = name
    for theirs, ours in _FIELDS.items():
        if theirs in data and data[theirs] is not None:
            policy[ours] = data[theirs] if theirs in ("env", "network") else str(data[theirs])
    if data.get("image"):
        # A container image cannot be pulled here: an image *directory* the
        # admin allowed (caps.allowed_rootfs) can be named instead.
        policy["rootfs"] = str(data["image"])
    minutes = data.get("idle_timeout_minutes")
    if minutes is not None:
        if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 1:
            raise HTTPException(400, "idle_timeout_minutes must be a positive integer")
        policy["idle_timeout"] = f"{minutes}m"
    return policy


async def _policy_set(server: Server) -> dict[str, Any]:
    if not server.settings.config.policy_file:
        raise HTTPException(
            409, "no policy file: start the server with --policy-file to manage policies from Open WebUI"
        )
    try:
        return await blocking(libsandbox.policies, server.settings.config)
    except FileNotFoundError:
        return {"policies": [], "caps": {}, "default_policy": ""}


def _find(policy_set: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((p for p in policy_set.get("policies", []) if p.get("name") == name), None)


@router.get("/policies", include_in_schema=False)
async def list_policies(request: Request) -> list[dict[str, Any]]:
    """Open WebUI detects an orchestrator by a 2xx here, so it answers
    without the key, with the names only; the key also shows the data."""
    server = server_of(request)
    names = sorted(await server.policy_names())
    if not server.verifier.is_key(bearer(request.headers.get("authorization"))):
        return [{"id": name} for name in names]
    policy_set = await _policy_set(server)
    return [{"id": p["name"], "data": _to_orchestrator(p)} for p in policy_set.get("policies", [])]


@router.get("/policies/{policy_id}", include_in_schema=False)
async def get_policy(server: Admin, policy_id: str) -> dict[str, Any]:
    policy = _find(await _policy_set(server), _check_name(policy_id))
    if policy is None:
        raise HTTPException(404, f"Policy {policy_id!r} not found")
    return {"id": policy_id, "data": _to_orchestrator(policy)}


@router.put("/policies/{policy_id}", include_in_schema=False)
async def put_policy(
    server: Admin, policy_id: str, data: Annotated[dict[str, Any], Body(default_factory=dict)]
) -> dict[str, Any]:
    current = _find(await _policy_set(server), _check_name(policy_id)) or {}
    policy = _to_libsandbox(policy_id, data, current)
    try:
        await blocking(libsandbox.set_policy, policy, server.settings.config)
    except ValueError as e:
        # Over an admin cap, a bad quantity: the library names which.
        raise HTTPException(400, str(e)) from None
    return await get_policy(server, policy_id)


@router.delete("/policies/{policy_id}", include_in_schema=False)
async def delete_policy(server: Admin, policy_id: str) -> dict[str, Any]:
    try:
        await blocking(libsandbox.remove_policy, _check_name(policy_id), server.settings.config)
    except KeyError:
        raise HTTPException(404, f"Policy {policy_id!r} not found") from None
    except ValueError as e:
        raise HTTPException(400, str(e)) from None
    return {"id": policy_id, "deleted": True}


@router.get("/policies/{policy_id}/lifecycle", include_in_schema=False)
async def get_lifecycle(server: Admin, policy_id: str) -> dict[str, Any]:
    policy = _find(await _policy_set(server), _check_name(policy_id)) or {}
    data = _to_orchestrator(policy)
    return {"id": policy_id, "data": {k: data[k] for k in _LIFECYCLE if k in data}}


@router.put("/policies/{policy_id}/lifecycle", include_in_schema=False)
async def put_lifecycle(
    server: Admin, policy_id: str, data: Annotated[dict[str, Any], Body(default_factory=dict)]
) -> dict[str, Any]:
    unknown = set(data) - set(_LIFECYCLE)
    if unknown:
        raise HTTPException(
            400, f"unknown lifecycle fields {sorted(unknown)}: this server takes {list(_LIFECYCLE)}"
        )
    if data:
        current = _find(await _policy_set(server), _check_name(policy_id))
        if current is None:
            raise HTTPException(404, f"Policy {policy_id!r} not found")
        await put_policy(server, policy_id, {**_to_orchestrator(current), **data})
    return await get_lifecycle(server, policy_id)


@router.post("/terminals/refresh", include_in_schema=False)
async def refresh_terminals(
    server: Admin, body: Annotated[dict[str, Any], Body(default_factory=dict)]
) -> dict[str, Any]:
    """Stops the matching sessions' sandboxes (the next call boots one with
    the policy as it is now); ``reset`` also empties their workspaces;
    ``only_idle`` leaves sessions with a running process alone."""
    user, policy = body.get("user_id"), body.get("policy_id")
    only_idle, reset = bool(body.get("only_idle", True)), bool(body.get("reset", False))
    refreshed = 0
    for key in server.workspaces.keys():
        if (user and key.user != user) or (policy is not None and key.policy != policy):
            continue
        session = server.workspaces.session(key)
        if only_idle and any(p.running for p in await blocking(session.processes)):
            continue
        await blocking(session.reset if reset else session.stop)
        server.workspaces.forget_key(key)
        refreshed += 1
    return {"refreshed": refreshed}
