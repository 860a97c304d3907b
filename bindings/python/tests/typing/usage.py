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


def checks() -> list[str]:
    version: str = libsandbox.runsc_version()
    return [version] + [f"{c.name}: {c.ok} {c.detail} {c.remedy}" for c in libsandbox.doctor()]


print(libsandbox.__version__, libsandbox.languages())
