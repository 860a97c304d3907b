"""Named policies and the audit log through the Python API, with real runs."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import libsandbox
from libsandbox import Limits, Status

# Admin caps over three policies, as an admin would write them.
POLICIES = """
caps { memory: "512Mi" timeout: "60s" }
policies { name: "small" memory: "64Mi" }
policies { name: "roomy" memory: "256Mi" }
policies { name: "quick" timeout: "10s" }
"""


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    # Short path: runsc keeps its state (and sockets) below state_dir.
    root = Path(tempfile.mkdtemp(prefix="lsb-pol-"))
    try:
        yield root
    finally:
        libsandbox.shutdown()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def policy_config(short_tmp: Path) -> libsandbox.Config:
    """Policies from a file, every run audited (code not logged) to the state dir."""
    policy_file = short_tmp / "policies.textproto"
    policy_file.write_text(POLICIES)
    return libsandbox.Config(
        state_dir=str(short_tmp / "state"),
        storage_dir=str(short_tmp / "files"),
        policy_file=str(policy_file),
        audit=True,
    )


def test_a_request_over_its_policy_is_refused_naming_the_cap(policy_config: libsandbox.Config) -> None:
    result = libsandbox.run(
        "print('hi')", user="alice", policy="small", limits=Limits(memory_mb=512), config=policy_config
    )
    assert result.status is Status.INVALID_INPUT
    assert 'memory_mb=512 is over the policy "small" memory' in result.message
    assert result.stdout == ""


def test_limits_defaults_over_the_policy_are_refused_not_lowered(policy_config: libsandbox.Config) -> None:
    # Limits() means 30 s; "quick" allows 10 s. Never silently cut down.
    refused = libsandbox.run("print('hi')", policy="quick", limits=Limits(memory_mb=32), config=policy_config)
    assert refused.status is Status.INVALID_INPUT
    assert 'timeout_s=30 is over the policy "quick" timeout' in refused.message
    # limits=None takes the policy's own limits.
    ok = libsandbox.run("print('hi')", policy="quick", config=policy_config)
    assert ok.status is Status.OK, (ok.message, ok.stderr)


def test_an_unknown_policy_is_refused_naming_the_known_ones(policy_config: libsandbox.Config) -> None:
    result = libsandbox.run("print('hi')", policy="huge", config=policy_config)
    assert result.status is Status.INVALID_INPUT
    assert 'unknown policy "huge"; known: quick, roomy, small' in result.message


def test_a_policy_without_a_policy_file_is_refused(config: libsandbox.Config) -> None:
    result = libsandbox.run("print('hi')", policy="small", config=config)
    assert result.status is Status.INVALID_INPUT
    assert "no policy_file" in result.message


def test_runs_within_the_policy_and_the_policy_cap_is_enforced(policy_config: libsandbox.Config) -> None:
    ok = libsandbox.run("print('hi')", policy="small", config=policy_config)
    assert ok.status is Status.OK, (ok.message, ok.stderr)
    assert ok.stdout == "hi\n"
    # Asking for less than the policy gives is fine (the other defaults of
    # Limits() are within "small").
    less = libsandbox.run("print('less')", policy="small", limits=Limits(memory_mb=48), config=policy_config)
    assert less.status is Status.OK, (less.message, less.stderr)
    # ~100 MiB: under the 128 MiB library default, over "small"'s 64Mi.
    hog = (
        "chunks = []\n"
        "for _ in range(100):\n"
        "    chunks.append(bytearray(1 << 20))\n"
        "print('survived', len(chunks))\n"
    )
    small = libsandbox.run(hog, policy="small", config=policy_config)
    assert small.status is Status.INTERRUPTED, (small.status, small.message, small.stderr)
    assert small.reason == "memory"
    assert "survived" not in small.stdout


def test_run_async_takes_the_policy_too(policy_config: libsandbox.Config) -> None:
    result = asyncio.run(
        libsandbox.run_async("print('x')", policy="small", limits=Limits(memory_mb=512), config=policy_config)
    )
    assert result.status is Status.INVALID_INPUT
    assert '"small"' in result.message


def test_runs_are_audited_per_user_without_code(policy_config: libsandbox.Config) -> None:
    over = libsandbox.run(
        "print('hi')", user="alice", policy="small", limits=Limits(memory_mb=512), config=policy_config
    )
    assert over.status is Status.INVALID_INPUT
    ok = libsandbox.run("print('secret code')", user="alice", policy="roomy", config=policy_config)
    assert ok.status is Status.OK, (ok.message, ok.stderr)
    libsandbox.run("print('bob')", user="bob", policy="small", config=policy_config)

    records = libsandbox.query_audit(policy_config, user="alice")
    assert [(r.user, r.policy, r.status) for r in records] == [
        ("alice", "roomy", Status.OK),  # newest first
        ("alice", "small", Status.INVALID_INPUT),
    ]
    newest = records[0]
    assert (newest.language, newest.exit_code, newest.stdout_bytes) == ("python", 0, len("secret code\n"))
    assert newest.duration_s > 0
    assert newest.time.endswith("Z")
    assert newest.code is None and not newest.code_truncated  # audit_code is off
    assert "secret code" not in Path(policy_config.state_dir, "audit.log").read_text()
    assert len(libsandbox.query_audit(policy_config)) == 3
    assert len(libsandbox.query_audit(policy_config, limit=1)) == 1
    assert [r.user for r in libsandbox.query_audit(policy_config, user="bob")] == ["bob"]
    assert libsandbox.query_audit(policy_config, user="carol") == []


def test_audit_code_logs_the_code_at_the_configured_path(short_tmp: Path) -> None:
    config = libsandbox.Config(
        state_dir=str(short_tmp / "state"),
        storage_dir=str(short_tmp / "files"),
        audit=True,
        audit_code=True,
        audit_path=str(short_tmp / "log" / "runs.log"),
    )
    code = "print('audited')"
    result = libsandbox.run(code, "python", user="dave", config=config)
    assert result.status is Status.OK, (result.message, result.stderr)
    (record,) = libsandbox.query_audit(config, user="dave")
    assert (record.code, record.code_truncated, record.policy) == (code, False, "")
    assert (short_tmp / "log" / "runs.log").is_file()
    assert not (short_tmp / "state" / "audit.log").exists()
