"""Discovery and status: health, feature flags, the system prompt, the
skills in the caller's workspace, metrics."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

import libsandbox
from libsandbox.terminals._context import Context, Server, admin, context, server_of
from libsandbox.terminals._search import search_inside
from libsandbox.terminals._workspaces import blocking

router = APIRouter()
Ctx = Annotated[Context, Depends(context)]

SYSTEM_PROMPT = (
    "You have access to a Linux computer of your own: an isolated gVisor sandbox with bash and Python 3, "
    "where you are the user 'user' with the home directory /home/user. Files there persist between "
    "commands and conversations; the sandbox has hard limits on memory, CPU and processes, and no network "
    "unless the administrator allowed it.\n\n"
    "Use your tools to directly interact with the system — run commands, read and write files, and search "
    "the filesystem. Prefer verifying the current state before making changes. When running commands, check "
    "the output to confirm success. If a command produces no output, that typically means it succeeded."
)


@router.get("/health", include_in_schema=False)
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/api/config", include_in_schema=False)
async def get_config() -> dict[str, Any]:
    return {"features": {"terminal": True, "notebooks": False, "system": True}}


@router.get("/system", include_in_schema=False)
async def get_system(server: Annotated[Server, Depends(server_of)]) -> dict[str, str]:
    return {"prompt": server.settings.system_prompt or SYSTEM_PROMPT}


@router.get("/skills", include_in_schema=False)
async def list_skills(ctx: Ctx) -> list[dict[str, Any]]:
    answer = await blocking(search_inside, ctx, {"op": "skills"})
    skills: list[dict[str, Any]] = answer["skills"]
    return skills


@router.get("/skills/read", include_in_schema=False)
async def read_skill(
    ctx: Ctx, name: Annotated[str, Query(description="Skill name from /skills.")]
) -> dict[str, Any]:
    return await blocking(search_inside, ctx, {"op": "skill", "name": name})


@router.get("/metrics", include_in_schema=False)
async def metrics(server: Annotated[Server, Depends(admin)]) -> dict[str, Any]:
    return {"server": server.workspaces.counts(), "library": libsandbox.metrics()}
