"""Persistent sessions through the Python API, in real gVisor sandboxes."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import libsandbox
from libsandbox import Status


@pytest.fixture(scope="module")
def session_config(sandbox_root: Path) -> Iterator[libsandbox.Config]:
    config = libsandbox.Config(
        state_dir=str(sandbox_root / "session-state"), storage_dir=str(sandbox_root / "session-files")
    )
    try:
        yield config
    finally:
        libsandbox.shutdown()  # stops every session's sandbox
        assert libsandbox.list_sessions(config) == []


def test_state_carries_over_between_execs(session_config: libsandbox.Config) -> None:
    session = libsandbox.Session("carry", config=session_config)
    first = session.exec(
        "import os\nos.makedirs('work', exist_ok=True)\nos.chdir('work')\n"
        "open('note.txt', 'w').write('kept')\nprint(os.getcwd())\n"
    )
    assert first.status is Status.OK, first.message
    assert first.stdout == "/home/user/work\n"
    # A new Session object of the same key is the same session.
    again = libsandbox.Session("carry", config=session_config).exec("cat note.txt; echo; pwd", "bash")
    assert again.status is Status.OK, again.message
    assert again.stdout == "kept\n/home/user/work\n"
    info = session.info()
    assert (info.user, info.running, info.execs) == ("carry", True, 2)
    assert Path(info.workspace, "work", "note.txt").read_text() == "kept"
    listed = {i.workspace: i for i in libsandbox.list_sessions(session_config)}
    assert listed[info.workspace].running and listed[info.workspace].user == "carry"
    # The core's SessionInfo fields are all there (the key flattened).
    raw = libsandbox._core.list_sessions(session_config.to_dict())[0]
    key_fields = set(raw["key"] or {})
    assert set(libsandbox.SessionInfo.__dataclass_fields__) == (set(raw) - {"key"}) | key_fields


def test_two_users_are_isolated(session_config: libsandbox.Config) -> None:
    alice = libsandbox.Session("iso-alice", config=session_config)
    bob = libsandbox.Session("iso-bob", config=session_config)
    assert alice.exec("open('secret.txt', 'w').write('alice only')").status is Status.OK
    seen = bob.exec(
        "import os\nprint(sorted(os.listdir('.')))\nprint(os.path.exists('/home/user/secret.txt'))"
    )
    assert seen.status is Status.OK, seen.message
    assert seen.stdout == "[]\nFalse\n"
    assert alice.info().workspace != bob.info().workspace
    # Nor can bob find alice's workspace from inside his sandbox.
    probe = bob.exec("find / -name secret.txt 2>/dev/null | head -n 5; echo done", "bash")
    assert probe.stdout.strip() == "done", probe.stdout


def test_chat_and_options_keep_sessions_apart_and_apply(session_config: libsandbox.Config) -> None:
    one = libsandbox.Session("chats", chat="c1", env={"GREETING": "hi"}, config=session_config)
    two = libsandbox.Session("chats", chat="c2", config=session_config)
    assert one.exec("echo -n $GREETING > mine.txt", "bash").status is Status.OK
    r = two.exec("ls; echo ${GREETING:-unset}", "bash", env={"X": "1"})
    assert r.stdout == "unset\n", r.stdout
    r = one.exec(
        "import os, sys\nprint(open('mine.txt').read(), os.environ['X'], sys.stdin.read())",
        env={"X": "2"},
        stdin="from stdin",
    )
    assert r.stdout == "hi 2 from stdin\n", (r.stdout, r.stderr)


def test_stop_keeps_the_workspace_and_reset_wipes_it(session_config: libsandbox.Config) -> None:
    session = libsandbox.Session("stop-reset", config=session_config)
    assert session.exec("open('keep.txt', 'w').write('still here')\nimport os\nos.chdir('/tmp')").ok
    session.stop()
    info = session.info()
    assert not info.running
    assert info.workspace not in {i.workspace for i in libsandbox.list_sessions(session_config)}
    after_stop = session.exec("print(open('/home/user/keep.txt').read())")
    assert after_stop.status is Status.OK, after_stop.message
    assert after_stop.stdout == "still here\n"
    assert session.info().execs == 1  # a new sandbox
    session.reset()
    assert not os.listdir(info.workspace)
    after_reset = session.exec("import os\nprint(os.listdir('/home/user'))")
    assert after_reset.status is Status.OK, after_reset.message
    assert after_reset.stdout == "[]\n"


def test_timeout_stops_the_exec_and_keeps_the_session_usable(session_config: libsandbox.Config) -> None:
    session = libsandbox.Session(
        "timeouts", limits=libsandbox.Limits(timeout_s=10, workspace_mb=0), config=session_config
    )
    assert session.exec("open('before.txt', 'w').write('1')").ok
    r = session.exec("import time\nprint('started', flush=True)\ntime.sleep(60)\nprint('never')", timeout_s=1)
    assert r.status is Status.TIMEOUT
    assert r.stdout == "started\n"
    after = session.exec("print(open('before.txt').read())")
    assert after.status is Status.OK, after.message
    assert after.stdout == "1\n"
    assert session.info().running


def test_exec_async_and_output_cap(session_config: libsandbox.Config) -> None:
    session = libsandbox.Session("async", config=session_config)

    async def main() -> list[libsandbox.Result]:
        return await asyncio.gather(
            session.exec_async("print('x' * 5000)", max_output_bytes=100),
            session.exec_async("echo second", "bash"),
        )

    capped, second = asyncio.run(main())
    assert capped.status is Status.OK, capped.message
    assert capped.stdout_truncated and len(capped.stdout) == 100
    assert second.stdout == "second\n"


def test_bad_arguments(session_config: libsandbox.Config) -> None:
    with pytest.raises(TypeError, match="limits"):
        libsandbox.Session("u", limits={"timeout_s": 1}, config=session_config)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="network"):
        libsandbox.Session("u", network="on", config=session_config)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="idle_timeout_s"):
        libsandbox.Session("u", idle_timeout_s=-1, config=session_config)
    with pytest.raises(TypeError, match="user"):
        libsandbox.Session(5, config=session_config)  # type: ignore[arg-type]
    session = libsandbox.Session("u", config=session_config)
    with pytest.raises(TypeError, match="max_output_bytes"):
        session.exec("print(1)", max_output_bytes=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout_s"):
        session.exec("print(1)", timeout_s=-2)
    assert session.exec("print(1)", "cobol").status is Status.INVALID_INPUT
    assert session.exec("\ud800").status is Status.INVALID_INPUT
    # A key the store cannot name safely is refused, never a path escape.
    bad = libsandbox.Session("../../etc", config=session_config)
    result = bad.exec("print(1)")
    assert result.status is Status.INVALID_INPUT or result.ok, result.message
    if result.ok:
        assert Path(bad.info().workspace).resolve().is_relative_to(Path(session_config.storage_dir).resolve())
    with pytest.raises(ValueError, match="NUL"):
        libsandbox.Session("x\0y", config=session_config).reset()
    too_long = libsandbox.Session("a" * 5000, config=session_config)
    with pytest.raises(ValueError, match="at most"):
        too_long.info()
    assert too_long.exec("print(1)").status is Status.INVALID_INPUT
