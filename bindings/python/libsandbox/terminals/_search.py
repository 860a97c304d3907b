"""The search routes (grep, glob, ranked name and content matches): one
bounded Python walk inside the caller's sandbox per request."""

from __future__ import annotations

import json
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query

from libsandbox.terminals._context import Context, context
from libsandbox.terminals._workspaces import blocking, resolve

router = APIRouter()
Ctx = Annotated[Context, Depends(context)]

_SCRIPT = resources.files("libsandbox.terminals").joinpath("sandbox_search.py").read_text()
_ANSWER_BYTES = 16 << 20
_TIMEOUT_S = 60.0
MATCH_PAGE = 100
# Query parameters two searches share.
TypeFilter = Annotated[
    str, Query(pattern="^(file|directory|any)$", description="Type filter: 'file', 'directory', or 'any'.")
]
MaxResults = Annotated[int, Query(ge=1, le=500, description="Maximum number of matches to return.")]


def search_inside(ctx: Context, request: dict[str, Any]) -> dict[str, Any]:
    session = ctx.session
    code = f"REQUEST = {json.dumps(json.dumps(request))}\n{_SCRIPT}"
    pid = session.start(code, "python", timeout_s=_TIMEOUT_S, max_output_bytes=_ANSWER_BYTES)
    try:
        end = session.wait(pid, 1 << 60, 1 << 60, timeout_s=_TIMEOUT_S + 5)
        out = session.poll(pid)
    finally:
        session.release(pid)
    if end.info.running or out.info.exit_code != 0 or out.stdout_truncated:
        reason = out.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no answer"]
        raise HTTPException(500, f"the search failed inside the sandbox: {reason[0][:300]}")
    try:
        answer: dict[str, Any] = json.loads(out.stdout)
    except ValueError:
        raise HTTPException(500, "the search gave no valid answer") from None
    if "error" in answer:
        raise HTTPException(int(answer.get("status", 400)), str(answer["error"]))
    return answer


async def _search(ctx: Context, request: dict[str, Any]) -> dict[str, Any]:
    return await blocking(search_inside, ctx, request)


@router.get(
    "/files/grep",
    operation_id="grep_search",
    summary="Search file contents",
    description=(
        "Search for a text pattern across files in a directory. Returns structured matches with file paths, "
        "line numbers, and matching lines. Skips binary files."
    ),
)
async def grep_search(
    ctx: Ctx,
    query: Annotated[str, Query(description="Text or regex pattern to search for.")],
    path: Annotated[str, Query(description="Directory or file to search in.")] = ".",
    regex: Annotated[bool, Query(description="Use regex. Set false for literal search.")] = True,
    case_insensitive: Annotated[bool, Query(description="Perform case-insensitive matching.")] = False,
    include: Annotated[
        list[str] | None,
        Query(
            description="Glob patterns to filter files (e.g. '*.py'). Files must match at least one pattern."
        ),
    ] = None,
    match_per_line: Annotated[
        bool,
        Query(
            description="If true, return each matching line with line numbers. If false, return only the "
            "names of matching files."
        ),
    ] = True,
    max_results: MaxResults = 50,
) -> dict[str, Any]:
    return await _search(
        ctx,
        {
            "op": "grep",
            "query": query,
            "path": resolve(path, ctx.cwd()),
            "regex": regex,
            "case_insensitive": case_insensitive,
            "include": include,
            "match_per_line": match_per_line,
            "max_results": min(max_results, ctx.server.settings.max_search_results),
        },
    )


@router.get(
    "/files/matches",
    operation_id="match_files",
    summary="Search files by name and contents",
    description="Search files and directories by ranked name, path, and content matches.",
)
async def match_files(
    ctx: Ctx,
    query: Annotated[str, Query(description="Literal text to match.")],
    path: Annotated[str, Query(description="Directory to search within.")] = ".",
    show_hidden: Annotated[bool, Query(description="Include hidden dotfiles and dot-directories.")] = False,
    offset: Annotated[int, Query(ge=0, description="Result offset.")] = 0,
    limit: Annotated[
        int, Query(ge=1, le=MATCH_PAGE, description="Maximum number of results to return.")
    ] = MATCH_PAGE,
) -> dict[str, Any]:
    if not query.strip():
        raise HTTPException(400, "Query must not be blank")
    return await _search(
        ctx,
        {
            "op": "matches",
            "query": query,
            "path": resolve(path, ctx.cwd()),
            "show_hidden": show_hidden,
            "offset": offset,
            "limit": limit,
        },
    )


@router.get(
    "/files/search",
    operation_id="search_files",
    summary="Search files by name",
    description="Search for files and subdirectories by ranked filename match.",
)
async def search_files(
    ctx: Ctx,
    query: Annotated[str, Query(description="Filename search term.")] = "",
    path: Annotated[str, Query(description="Directory to search within.")] = ".",
    limit: Annotated[int, Query(ge=1, le=100, description="Maximum number of matches to return.")] = 20,
    type: TypeFilter = "any",
    show_hidden: Annotated[bool, Query(description="Include hidden dotfiles and dot-directories.")] = False,
) -> dict[str, Any]:
    return await _search(
        ctx,
        {
            "op": "search",
            "query": query,
            "path": resolve(path, ctx.cwd()),
            "limit": limit,
            "type": type,
            "show_hidden": show_hidden,
        },
    )


@router.get(
    "/files/glob",
    operation_id="glob_search",
    summary="Search files by name",
    description=(
        "Search for files and subdirectories by name within a specified directory using glob patterns. "
        "Results will include the relative path, type, size, and modification time."
    ),
)
async def glob_search(
    ctx: Ctx,
    pattern: Annotated[str, Query(description="Glob pattern to search for (e.g. '*.py').")],
    path: Annotated[str, Query(description="Directory to search within.")] = ".",
    exclude: Annotated[
        list[str] | None, Query(description="Glob patterns to exclude from search results.")
    ] = None,
    type: TypeFilter = "any",
    max_results: MaxResults = 50,
) -> dict[str, Any]:
    return await _search(
        ctx,
        {
            "op": "glob",
            "pattern": pattern,
            "path": resolve(path, ctx.cwd()),
            "exclude": exclude,
            "type": type,
            "max_results": min(max_results, ctx.server.settings.max_search_results),
        },
    )
