"""The file routes of Open Terminal (model tools, file browser), each acting
inside the caller's own sandbox as its user."""

from __future__ import annotations

import mimetypes
import posixpath
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

import libsandbox
from libsandbox.terminals._context import Context, context
from libsandbox.terminals._settings import HOME
from libsandbox.terminals._workspaces import blocking, resolve

router = APIRouter()
Ctx = Annotated[Context, Depends(context)]

TEXT_FILE_MAX = 64 << 20  # a text file read or edited whole
CHUNK = 8 << 20  # one call into the sandbox while streaming
# Served bytes run in an opaque origin: a page from a sandbox can never read
# Open WebUI's cookies or storage, even though it is served under its origin.
SAFE_HEADERS = {
    "Content-Security-Policy": "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads",
    "X-Content-Type-Options": "nosniff",
}


class PathRequest(BaseModel):
    path: str = Field(
        ..., description="Directory path to create. Parent directories are created automatically."
    )


class WriteRequest(BaseModel):
    path: str = Field(
        ...,
        description="Absolute or relative path to write to. Parent directories are created automatically.",
    )
    content: str = Field(..., description="Text content to write to the file.")


class MoveRequest(BaseModel):
    source: str = Field(..., description="Path to the file or directory to move.")
    destination: str = Field(..., description="Destination path (new location).")


class ReplacementChunk(BaseModel):
    target: str = Field(..., description="Exact string to find. Must match precisely, including whitespace.")
    replacement: str = Field(..., description="Content to replace the target with.")
    start_line: int | None = Field(
        None, ge=1, description="Narrow the search to lines at or after this (1-indexed)."
    )
    end_line: int | None = Field(
        None, ge=1, description="Narrow the search to lines at or before this (1-indexed)."
    )
    allow_multiple: bool = Field(
        False,
        description="If true, replaces all occurrences. If false, errors when multiple matches are found.",
    )


class ReplaceRequest(BaseModel):
    path: str = Field(..., description="Path to the file to modify.")
    replacements: list[ReplacementChunk] = Field(
        ..., description="List of find-and-replace operations to apply sequentially."
    )


class ArchiveRequest(BaseModel):
    paths: list[str] = Field(
        ..., description="List of file or directory paths to include in the ZIP archive."
    )


async def _stat(ctx: Context, path: str) -> libsandbox.FileStat | None:
    try:
        return await blocking(ctx.session.stat, path)
    except FileNotFoundError:
        return None


async def _text(ctx: Context, path: str) -> str:
    """A whole UTF-8 text file (404 when it is not a file, 415 binary)."""
    st = await _stat(ctx, path)
    if st is None or st.type != "file":
        raise HTTPException(404, "File not found")
    if st.size > TEXT_FILE_MAX:
        raise HTTPException(413, f"the file has {st.size} bytes; text is read whole up to {TEXT_FILE_MAX}")
    data = await blocking(ctx.session.read_file, path, TEXT_FILE_MAX)
    try:
        if b"\0" in data[:8192]:  # valid UTF-8, but not text
            raise UnicodeDecodeError("utf-8", data, 0, 1, "NUL")
        return data.decode("utf-8")
    except UnicodeDecodeError:
        mime = mimetypes.guess_type(path)[0] or "application/octet-stream"
        raise HTTPException(415, f"Unsupported binary file type: {mime} ({len(data)} bytes)") from None


def _line_span(lines: list[str], start_line: int | None, end_line: int | None) -> tuple[int, int]:
    """Character offsets of lines start_line..end_line (1-indexed)."""
    first = (start_line or 1) - 1
    last = len(lines) if end_line is None else min(end_line, len(lines))
    start = sum(len(line) for line in lines[:first])
    return start, start + sum(len(line) for line in lines[first:last])


@router.get("/files/cwd", include_in_schema=False)
async def get_cwd(ctx: Ctx) -> dict[str, Any]:
    return {"cwd": ctx.cwd(), "home": HOME, "root": {"path": HOME, "label": "Home"}}


@router.post("/files/cwd", include_in_schema=False)
async def set_cwd(ctx: Ctx, body: PathRequest) -> dict[str, Any]:
    target = resolve(body.path, ctx.cwd())
    st = await _stat(ctx, target)
    if st is None or st.type != "directory":
        raise HTTPException(404, "Directory not found")
    ctx.server.workspaces.set_cwd(ctx.key, ctx.session_id, target)
    return {"cwd": target}


@router.get(
    "/files/list",
    operation_id="list_files",
    summary="List directory contents",
    description="Return a structured listing of files and directories at the given path.",
)
async def list_files(
    ctx: Ctx, directory: Annotated[str, Query(description="Directory path to list.")] = "."
) -> dict[str, Any]:
    target = resolve(directory, ctx.cwd())
    st = await _stat(ctx, target)
    if st is None or st.type != "directory":
        raise HTTPException(404, "Directory not found")
    listing = await blocking(ctx.session.list_dir, target)
    entries = [
        {
            "name": e.name,
            "type": "directory" if e.type == "directory" else "file",
            "size": e.size,
            "modified": e.mtime,
            "writable": e.writable,
        }
        for e in listing.entries
    ]
    return {"dir": target, "writable": st.writable, "entries": entries, "truncated": listing.truncated}


@router.get(
    "/files/read",
    operation_id="read_file",
    summary="Read a file",
    description=(
        "Read a file and return its contents. Supports text files and images (PNG, JPEG, WebP, etc.). "
        "For text files you can optionally request a specific line range. Images are returned as binary "
        "so you can view and analyze them directly. Use display_file to show a file to the user."
    ),
)
async def read_file(
    ctx: Ctx,
    path: Annotated[str, Query(description="Path to the file to read.")],
    start_line: Annotated[
        int | None, Query(ge=1, description="First line to return (1-indexed, inclusive).")
    ] = None,
    end_line: Annotated[
        int | None, Query(ge=1, description="Last line to return (1-indexed, inclusive).")
    ] = None,
) -> Any:
    target = resolve(path, ctx.cwd())
    try:
        text = await _text(ctx, target)
    except HTTPException as e:
        mime = mimetypes.guess_type(target)[0] or ""
        if e.status_code != 415 or not mime.startswith("image/"):
            raise
        data = await blocking(ctx.session.read_file, target, ctx.server.settings.max_read_bytes)
        return Response(data, media_type=mime, headers=SAFE_HEADERS)
    lines = text.splitlines(keepends=True)
    start, end = _line_span(lines, start_line, end_line)
    if end - start > ctx.server.settings.max_read_bytes:
        raise HTTPException(
            413,
            f"the selection has {end - start} characters, more than {ctx.server.settings.max_read_bytes}: "
            "ask for fewer lines with start_line and end_line",
        )
    return {"path": target, "content": text[start:end], "total_lines": len(lines)}


@router.get(
    "/files/display",
    operation_id="display_file",
    summary="Display a file to the user",
    description=(
        "Open a file in the user's file viewer so they can see it. Use this when the user wants to view or "
        "look at a file. This does not return file content to you — use read_file if you need to read the "
        "content yourself."
    ),
)
async def display_file(
    ctx: Ctx, path: Annotated[str, Query(description="Absolute path to the file to display.")]
) -> dict[str, Any]:
    target = resolve(path, ctx.cwd())
    st = await _stat(ctx, target)
    return {"path": target, "exists": st is not None and st.type == "file"}


async def _stream(ctx: Context, target: str) -> Response:
    st = await _stat(ctx, target)
    if st is None or st.type != "file":
        raise HTTPException(404, "File not found")
    if st.size > ctx.server.settings.max_view_bytes:
        raise HTTPException(
            413, f"the file has {st.size} bytes; at most {ctx.server.settings.max_view_bytes}"
        )
    first = await blocking(ctx.session.read_file_range, target, 0, CHUNK)
    session = ctx.session

    async def chunks() -> AsyncIterator[bytes]:
        chunk, offset = first, 0
        while True:
            if chunk.data:
                yield chunk.data
            offset += len(chunk.data)
            if chunk.eof or not chunk.data:
                return
            chunk = await blocking(session.read_file_range, target, offset, CHUNK)

    mime = mimetypes.guess_type(target)[0] or "application/octet-stream"
    return StreamingResponse(chunks(), media_type=mime, headers=SAFE_HEADERS)


@router.get("/files/view", include_in_schema=False)
async def view_file(ctx: Ctx, path: str, preview: bool = False) -> Response:
    # No document rendering here: a preview of an office file is refused
    # (Open WebUI then shows the plain file).
    target = resolve(path, HOME)
    if preview and posixpath.splitext(target)[1].lower() in (".docx", ".pptx"):
        raise HTTPException(404, "no rendered preview on this server")
    return await _stream(ctx, target)


@router.get("/files/serve/{path:path}", include_in_schema=False)
async def serve_file(ctx: Ctx, path: str) -> Response:
    return await _stream(ctx, resolve("/" + path, HOME))


@router.post(
    "/files/write",
    operation_id="write_file",
    summary="Write a file",
    description=(
        "Write text content to a file. Creates parent directories automatically. Overwrites if the file "
        "already exists."
    ),
)
async def write_file(ctx: Ctx, body: WriteRequest) -> dict[str, Any]:
    target = resolve(body.path, ctx.cwd())
    data = body.content.encode()
    if len(data) > TEXT_FILE_MAX:
        raise HTTPException(413, f"at most {TEXT_FILE_MAX} bytes per write: upload larger files")
    await blocking(ctx.session.write_file, target, data)
    return {"path": target, "size": len(data)}


@router.post("/files/mkdir", include_in_schema=False)
async def mkdir(ctx: Ctx, body: PathRequest) -> dict[str, Any]:
    target = resolve(body.path, HOME)
    await blocking(ctx.session.make_dir, target, True)
    return {"path": target}


@router.delete("/files/delete", include_in_schema=False)
async def delete_entry(ctx: Ctx, path: str) -> dict[str, Any]:
    target = resolve(path, HOME)
    st = await _stat(ctx, target)
    if st is None:
        raise HTTPException(404, "Path not found")
    await blocking(ctx.session.remove, target, st.type == "directory")
    return {"path": target, "type": "directory" if st.type == "directory" else "file"}


@router.post("/files/move", include_in_schema=False)
async def move_entry(ctx: Ctx, body: MoveRequest) -> dict[str, Any]:
    source, destination = resolve(body.source, HOME), resolve(body.destination, HOME)
    if await _stat(ctx, source) is None:
        raise HTTPException(404, "Source path not found")
    parent = await _stat(ctx, posixpath.dirname(destination))
    if parent is None or parent.type != "directory":
        raise HTTPException(400, "Destination parent directory not found")
    try:
        await blocking(ctx.session.rename, source, destination)
    except FileExistsError:
        raise HTTPException(409, "Destination already exists") from None
    return {"source": source, "destination": destination}


@router.post(
    "/files/replace",
    operation_id="replace_file_content",
    summary="Replace content in a file",
    description=(
        "Find and replace exact strings in a file. Supports multiple replacements in one call with optional "
        "line range narrowing."
    ),
)
async def replace_file_content(ctx: Ctx, body: ReplaceRequest) -> dict[str, Any]:
    target = resolve(body.path, ctx.cwd())
    content = await _text(ctx, target)
    for chunk in body.replacements:
        start, end = 0, len(content)
        if chunk.start_line or chunk.end_line:
            start, end = _line_span(content.splitlines(keepends=True), chunk.start_line, chunk.end_line)
        region = content[start:end]
        count = region.count(chunk.target) if chunk.target else 0
        if count == 0:
            raise HTTPException(400, f"Target string not found: {chunk.target[:100]!r}")
        if count > 1 and not chunk.allow_multiple:
            raise HTTPException(
                400, f"Found {count} occurrences of target string but allow_multiple is false"
            )
        content = content[:start] + region.replace(chunk.target, chunk.replacement) + content[end:]
    data = content.encode()
    if len(data) > TEXT_FILE_MAX:
        raise HTTPException(413, f"the result would have {len(data)} bytes; at most {TEXT_FILE_MAX}")
    await blocking(ctx.session.write_file, target, data)
    return {"path": target, "size": len(data)}


def _upload_chunks(file: BinaryIO) -> Iterator[bytes]:
    while chunk := file.read(CHUNK):
        yield chunk


@router.post("/files/upload", include_in_schema=False)
async def upload_file(ctx: Ctx, request: Request, directory: str) -> dict[str, Any]:
    cap = ctx.server.settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap + (1 << 20):
        raise HTTPException(413, f"at most {cap} bytes per upload")
    async with request.form(max_files=1, max_fields=8) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPException(422, "the multipart field 'file' is required")
        if upload.size is not None and upload.size > cap:
            raise HTTPException(413, f"at most {cap} bytes per upload")
        name = posixpath.basename(upload.filename or "") or "upload"
        if name in (".", ".."):
            name = "upload"
        folder = resolve(directory, HOME)
        target = posixpath.join(folder, name)
        await blocking(ctx.session.make_dir, folder, True)
        size = await blocking(ctx.session.upload_file, target, _upload_chunks(upload.file))
    return {"path": target, "size": size}


@router.post("/files/archive", include_in_schema=False)
async def archive_paths(ctx: Ctx, body: ArchiveRequest) -> Response:
    if not body.paths:
        raise HTTPException(400, "No paths provided")
    if len(body.paths) > 1000:
        raise HTTPException(400, "at most 1000 paths per archive")
    targets = [resolve(p, HOME) for p in body.paths]
    for shown, target in zip(body.paths, targets, strict=True):
        if await _stat(ctx, target) is None:
            raise HTTPException(404, f"Path not found: {shown[:200]}")
    try:
        data = await blocking(ctx.session.archive, targets, ctx.server.settings.max_archive_bytes)
    except ValueError as e:
        raise HTTPException(413, str(e)) from None
    name = posixpath.basename(targets[0].rstrip("/")) or "archive" if len(targets) == 1 else "download"
    name = "".join(c for c in name if c.isascii() and c.isprintable() and c not in '"\\/') or "archive"
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}.zip"', **SAFE_HEADERS},
    )
