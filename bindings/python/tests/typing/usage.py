"""Typical host code; must pass mypy --strict against the installed stubs."""

from __future__ import annotations

import asyncio
import json

import libsandbox


def run_one(code: str) -> str:
    config = libsandbox.Config(state_dir="/tmp/state", storage_dir="/tmp/files", allowed_cidrs=["10.0.0.0/8"])
    limits = libsandbox.Limits(timeout_s=5, memory_mb=256)
    result: libsandbox.Result = libsandbox.run(
        code,
        "python",
        user="alice",
        limits=limits,
        network=False,
        files={"data.csv": b"a,b\n1,2\n", "notes.txt": "text"},
        env={"LANG": "C.UTF-8"},
        stdin="input",
        config=config,
    )
    if result.status is libsandbox.Status.TIMEOUT:
        return "timed out: " + result.stdout
    exit_code: int | None = result.exit_code
    sizes: list[int] = [f.size for f in result.files]
    return json.dumps({**result.to_dict(), "code": exit_code, "sizes": sizes})


async def run_many(codes: list[str]) -> list[str]:
    results = await asyncio.gather(*(libsandbox.run_async(c, "bash") for c in codes))
    return [r.status.name for r in results]


def audited(policy_file: str) -> list[dict[str, object]]:
    config = libsandbox.Config(policy_file=policy_file, audit=True, audit_code=False)
    result = libsandbox.run("print(1)", user="alice", policy="small", config=config)
    records: list[libsandbox.AuditRecord] = libsandbox.query_audit(config, user="alice", limit=10)
    failed = [r for r in records if r.status is not libsandbox.Status.OK and r.code is None]
    return [result.to_dict()] + [r.to_dict() for r in failed]


def in_session(user: str) -> list[str]:
    config = libsandbox.Config(pool_limits=libsandbox.Limits(memory_mb=256), pool_size=1)
    session = libsandbox.Session(
        user,
        chat="c1",
        limits=libsandbox.Limits(workspace_mb=0),
        env={"A": "b"},
        idle_timeout_s=60,
        config=config,
    )
    result: libsandbox.Result = session.exec("ls", "bash", stdin=b"", timeout_s=5, max_output_bytes=None)
    info: libsandbox.SessionInfo = session.info()
    pid: str = session.start("cat", "bash", stdin="x", timeout_s=10, max_output_bytes=4096)
    session.write_input(pid, b"more")
    session.close_input(pid)
    out: libsandbox.ProcessOutput = session.poll(pid, 0, 0)
    polled: bytes = out.stdout + out.stderr
    session.kill(pid, 15)
    procs: list[libsandbox.ProcessInfo] = session.processes()
    session.write_file("a.txt", "text")
    data: bytes = session.read_file("a.txt", max_bytes=100)
    listing: libsandbox.DirListing = session.list_dir(".")
    entries: list[libsandbox.DirEntry] = listing.entries
    _ = (polled, procs, data, [e.name for e in entries if e.type == "file" and e.size > 0])
    session.stop()
    session.reset()
    running: list[libsandbox.SessionInfo] = libsandbox.list_sessions(config)
    return [result.stdout, info.workspace] + [i.user for i in running if i.running and i.memory_bytes > 0]


async def in_session_async(session: libsandbox.Session) -> float:
    result = await session.exec_async("print(1)", env={"X": "1"})
    return result.duration_s


def checks() -> list[str]:
    version: str = libsandbox.runsc_version()
    return [version] + [f"{c.name}: {c.ok} {c.detail} {c.remedy}" for c in libsandbox.doctor()]


print(libsandbox.__version__, libsandbox.languages())
