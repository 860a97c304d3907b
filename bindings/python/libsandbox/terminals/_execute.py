"""Background commands (model tools and the terminal panel's process tabs):
each runs on a terminal in the caller's sandbox, like Open Terminal's."""

from __future__ import annotations

import codecs
import signal
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

import libsandbox
from libsandbox.terminals._context import Context, context
from libsandbox.terminals._workspaces import ProcessRef, blocking, resolve

router = APIRouter()
Ctx = Annotated[Context, Depends(context)]

ROWS, COLS = 24, 200  # wide: a model reads the lines, nobody resizes them
FAR = 1 << 60  # an offset past any output: wait only for the end
KILL_GRACE_S = 5.0
# The `tail` query parameter run_command and get_process_status share.
Tail = Annotated[
    int | None,
    Query(
        ge=1,
        description="Return only the last N output entries. Useful to limit response size when only "
        "recent output matters.",
    ),
]


class ExecRequest(BaseModel):
    command: str = Field(
        ...,
        description="Shell command to execute. Supports chaining (&&, ||, ;), pipes (|), and redirections.",
        json_schema_extra={"examples": ["echo hello", "ls -la && whoami"]},
    )
    cwd: str | None = Field(
        None,
        description="Working directory for the command. Defaults to the server's current directory "
        "if not set.",
    )
    env: dict[str, str] | None = Field(
        None, description="Extra environment variables merged into the subprocess environment."
    )


class InputRequest(BaseModel):
    input: str = Field(
        ..., description="Text to send to the process's stdin. Include newline characters as needed."
    )


def entries(data: bytes, final: bool) -> tuple[list[dict[str, str]], int]:
    """Output as Open Terminal's entries (one per line) and how many bytes
    they cover: a character cut at the end waits for the next read."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    text = decoder.decode(data, final)
    used = len(data) - len(decoder.getstate()[0])
    return [{"type": "output", "data": line} for line in text.splitlines(keepends=True)], used


def status_of(ref: ProcessRef, info: libsandbox.ProcessInfo) -> str:
    if info.running:
        return "running"
    return "killed" if ref.killed else "done"


def shaped(ref: ProcessRef, out: libsandbox.ProcessOutput, offset: int, tail: int | None) -> dict[str, Any]:
    """The JSON of a command with its output from ``offset`` (bytes)."""
    output, used = entries(out.stdout, final=not out.info.running)
    truncated = out.stdout_truncated
    if tail is not None and len(output) > tail:
        output, truncated = output[-tail:], True
    start = out.stdout_offset - len(out.stdout)
    return {
        "id": ref.id,
        "command": ref.command,
        "status": status_of(ref, out.info),
        "exit_code": out.info.exit_code,
        "log_path": None,
        "output": output,
        "next_offset": max(offset, start + used),
        "truncated": truncated,
    }


async def _wait_for_end(ctx: Context, ref: ProcessRef, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        out = await ctx.session.wait_async(ref.pid, FAR, FAR, timeout_s=min(left, 600.0))
        if not out.info.running:
            return


async def _poll(ctx: Context, ref: ProcessRef, offset: int) -> libsandbox.ProcessOutput:
    try:
        return await blocking(ctx.session.poll, ref.pid, offset)
    except FileNotFoundError:
        # The library forgot it (its record's time ran out, or the sandbox
        # was refreshed): so do we.
        ctx.server.workspaces.forget(ref)
        raise HTTPException(404, "Process not found") from None


@router.get(
    "/execute",
    operation_id="list_processes",
    summary="List running commands",
    description="Returns tracked processes for the current user and chat, including running, done, "
    "and killed.",
)
async def list_processes(ctx: Ctx) -> list[dict[str, Any]]:
    refs = ctx.server.workspaces.mine(ctx.key, ctx.session_id, "command")
    if not refs:
        return []
    infos = {p.id: p for p in await blocking(ctx.session.processes)}
    listed = []
    for ref in refs:
        info = infos.get(ref.pid)
        if info is None:
            ctx.server.workspaces.forget(ref)
            continue
        listed.append(
            {
                "id": ref.id,
                "command": ref.command,
                "status": status_of(ref, info),
                "exit_code": info.exit_code,
                "log_path": None,
            }
        )
    return listed


@router.post(
    "/execute",
    operation_id="run_command",
    summary="Execute a command",
    description=(
        "Run a shell command in the background and return a command ID.\n\n"
        "Commands run in the user's own isolated gVisor sandbox (Linux, bash, Python 3) as the user 'user' "
        "with the home directory /home/user; files there persist between commands."
    ),
)
async def execute(
    ctx: Ctx,
    body: ExecRequest,
    wait: Annotated[
        float | None,
        Query(
            ge=0,
            le=300,
            description="Seconds to wait for the command to finish before returning. If the command "
            "completes "
            "in time, output is included inline. Null to return immediately.",
        ),
    ] = None,
    tail: Tail = None,
) -> dict[str, Any]:
    cwd = resolve(body.cwd, ctx.cwd()) if body.cwd else ctx.cwd()
    pid = await blocking(
        ctx.session.start, body.command, "bash", env=body.env, cwd=cwd, pty=True, rows=ROWS, cols=COLS
    )
    ref = ctx.server.workspaces.add(
        ctx.key, ctx.session_id, pid, kind="command", command=body.command, cwd=cwd
    )
    if wait:
        await _wait_for_end(ctx, ref, wait)
    return {**shaped(ref, await _poll(ctx, ref, 0), 0, tail), "cwd": cwd}


@router.get(
    "/execute/{process_id}/status",
    operation_id="get_process_status",
    summary="Get command status and output",
    description=(
        "Returns new output since the given offset, process status, and exit code. Reads do not consume "
        "output; each reader keeps its own offset."
    ),
)
async def get_status(
    ctx: Ctx,
    process_id: str,
    wait: Annotated[
        float | None,
        Query(
            ge=0,
            le=300,
            description="Seconds to wait for the process to finish before returning. Returns early if the "
            "process exits. Null to return immediately.",
        ),
    ] = None,
    offset: Annotated[
        int,
        Query(
            ge=0,
            description="Number of output entries to skip. Use next_offset from the previous response to get "
            "only new output.",
        ),
    ] = 0,
    tail: Tail = None,
) -> dict[str, Any]:
    ref = ctx.server.workspaces.get(process_id, ctx.key, ctx.session_id, "command")
    if wait:
        await _wait_for_end(ctx, ref, wait)
    return shaped(ref, await _poll(ctx, ref, offset), offset, tail)


@router.post(
    "/execute/{process_id}/input",
    operation_id="send_process_input",
    summary="Send input to a running command",
    description="Write text to the process's stdin. Include newline characters as needed.",
)
async def send_input(ctx: Ctx, process_id: str, body: InputRequest) -> dict[str, Any]:
    ref = ctx.server.workspaces.get(process_id, ctx.key, ctx.session_id, "command")
    if not (await _poll(ctx, ref, FAR)).info.running:
        raise HTTPException(400, "Process has already exited")
    # Models often write escapes literally ("\n", "\x03" for Ctrl-C).
    try:
        text = body.input.encode("raw_unicode_escape").decode("unicode_escape")
    except UnicodeDecodeError:
        text = body.input
    try:
        await blocking(ctx.session.write_input, ref.pid, text.encode("utf-8", "surrogateescape"))
    except (FileNotFoundError, RuntimeError):
        raise HTTPException(400, "Process stdin is closed") from None
    return {"status": "ok"}


@router.delete(
    "/execute/{process_id}",
    operation_id="kill_process",
    summary="Kill a running command",
    description="Terminate the process. Sends SIGTERM by default for graceful shutdown. Use force=true "
    "to send "
    "SIGKILL.",
)
async def kill_process(
    ctx: Ctx,
    process_id: str,
    force: Annotated[bool, Query(description="Send SIGKILL instead of SIGTERM.")] = False,
) -> dict[str, Any]:
    ref = ctx.server.workspaces.get(process_id, ctx.key, ctx.session_id, "command")
    if (await _poll(ctx, ref, FAR)).info.running:
        ref.killed = True
        await blocking(ctx.session.kill, ref.pid, signal.SIGKILL if force else signal.SIGTERM)
        await _wait_for_end(ctx, ref, KILL_GRACE_S)
    return {"status": "killed"}
