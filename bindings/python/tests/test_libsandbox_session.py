"""Persistent sessions through the Python API, in real gVisor sandboxes."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import resource
import signal
import time
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
    # (/usr is the host's read-only system tree: large, and slow to walk.)
    probe = bob.exec(
        "find / -path /usr -prune -o -path /proc -prune -o -name secret.txt -print 2>/dev/null"
        " | head -n 5; echo done",
        "bash",
    )
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


# ---- Background processes and files (what a terminal server calls) ----


def _poll_to_end(
    session: libsandbox.Session, pid: str, out_off: int = 0, err_off: int = 0
) -> tuple[bytes, bytes, libsandbox.ProcessOutput]:
    out, err = b"", b""
    deadline = time.monotonic() + 20
    while True:
        o = session.poll(pid, out_off, err_off)
        out += o.stdout
        err += o.stderr
        out_off, err_off = o.stdout_offset, o.stderr_offset
        if not o.info.running or time.monotonic() > deadline:
            return out, err, o
        time.sleep(0.05)


def test_background_output_arrives_across_polls(session_config: libsandbox.Config) -> None:
    session = libsandbox.Session("bg", config=session_config)
    pid = session.start("for i in 1 2 3; do echo $i; sleep 0.4; done; echo oops >&2; exit 5", "bash")
    seen, off = b"", 0
    deadline = time.monotonic() + 10
    while b"1\n" not in seen and time.monotonic() < deadline:
        o = session.poll(pid, off)
        seen += o.stdout
        off = o.stdout_offset
        time.sleep(0.02)
    assert seen == b"1\n" and o.info.running  # partial output while it runs
    assert [p.id for p in session.processes()] == [pid]
    out, err, last = _poll_to_end(session, pid, off)
    assert seen + out == b"1\n2\n3\n"
    assert err == b"oops\n"
    assert last.info.exit_code == 5 and not last.info.running
    # Reading consumed nothing: a second reader gets it all, until released.
    assert session.poll(pid).stdout == b"1\n2\n3\n"
    session.release(pid)
    with pytest.raises(FileNotFoundError):
        session.poll(pid)


def test_input_kill_and_process_limit(session_config: libsandbox.Config) -> None:
    session = libsandbox.Session("bg-input", max_processes=16, config=session_config)
    cat = session.start("cat", "bash", stdin="first\n")
    session.write_input(cat, b"\x00\xffbin\n")
    session.close_input(cat)
    out, _, last = _poll_to_end(session, cat)
    assert out == b"first\n\x00\xffbin\n"
    assert last.info.exit_code == 0

    sleeper = session.start("sleep 1000 & sleep 1001; wait", "bash")
    session.kill(sleeper, signal.SIGKILL)
    _, _, last = _poll_to_end(session, sleeper)
    assert last.info.reason == "killed" and last.info.exit_code == 128 + signal.SIGKILL
    assert last.info.signal == signal.SIGKILL
    assert "sleep 100" not in session.exec("ps -eo args", "bash").stdout

    ids = [session.start("sleep 1000", "bash") for _ in range(16)]
    time.sleep(0.3)
    assert [p.id for p in session.processes() if p.running] == ids  # the ended ones are records
    with pytest.raises(RuntimeError, match="max_processes"):
        session.start("sleep 1000", "bash")
    assert {p.id for p in session.processes() if p.running} == set(ids)
    with pytest.raises(ValueError):
        session.kill(ids[0], 0)
    session.stop()  # everything stops with the session
    assert session.processes() == []


def test_a_full_set_of_idle_background_processes(session_config: libsandbox.Config) -> None:
    session = libsandbox.Session("bg-idle", config=session_config)
    ids = [session.start("sleep 300", language="bash") for _ in range(16)]  # the default max_processes
    with pytest.raises(RuntimeError, match="max_processes"):
        session.start("sleep 300", language="bash")
    # Each starts on its own: wait until all of them run `sleep`.
    wait = "until [ $(pgrep -xc sleep) -ge 16 ]; do sleep 0.1; done; pgrep -xc sleep"
    result = session.exec(wait, language="bash")
    assert result.status is Status.OK, result.message + result.stderr
    assert result.stdout == "16\n"
    processes = session.processes()
    assert [p.id for p in processes] == ids
    assert all(p.running for p in processes), [(p.id, p.reason) for p in processes]
    session.stop()


def test_fork_bomb_is_held_at_max_pids(session_config: libsandbox.Config) -> None:
    limits = libsandbox.Limits(workspace_mb=0, max_pids=32, memory_mb=512)
    session = libsandbox.Session("fork-bomb", limits=limits, config=session_config)
    code = (
        "import os, signal, time\n"
        "kids = []\n"
        "try:\n"
        "    while True:\n"
        "        pid = os.fork()\n"
        "        if pid == 0:\n"
        "            time.sleep(30); os._exit(0)\n"
        "        kids.append(pid)\n"
        "except OSError:\n"
        "    print(len(kids), flush=True)\n"
        "for pid in kids:\n"
        "    os.kill(pid, signal.SIGKILL); os.waitpid(pid, 0)\n"
    )
    result = session.exec(code)
    assert result.status is Status.OK, result.message + result.stderr
    assert 0 < int(result.stdout) < 32  # the interpreter counts too
    assert session.exec("echo alive", "bash").stdout == "alive\n"
    session.stop()


def test_background_output_is_capped(session_config: libsandbox.Config) -> None:
    session = libsandbox.Session("bg-cap", config=session_config)
    pid = session.start("head -c 300000 /dev/zero | tr '\\0' a; echo END", "bash", max_output_bytes=4096)
    deadline = time.monotonic() + 15
    while any(p.running for p in session.processes()) and time.monotonic() < deadline:
        time.sleep(0.05)
    o = session.poll(pid)
    assert len(o.stdout) <= 4096 and o.stdout.endswith(b"aEND\n")
    assert o.stdout_truncated and o.stdout_offset == 300004
    assert not o.info.running


def test_files_roundtrip_inside_the_sandbox(session_config: libsandbox.Config) -> None:
    session = libsandbox.Session("files", config=session_config)
    data = bytes(range(256)) * 300
    session.write_file("d/sub/blob.bin", data)
    assert session.read_file("d/sub/blob.bin") == data
    session.write_file("/home/user/d/note.txt", "héllo")
    assert session.read_file("d/note.txt") == "héllo".encode()
    assert session.exec("wc -c < d/sub/blob.bin", "bash").stdout == f"{len(data)}\n"
    listing = session.list_dir("d")
    assert [(e.name, e.type) for e in listing.entries] == [("note.txt", "file"), ("sub", "directory")]
    assert listing.entries[0].size == len("héllo".encode()) and not listing.truncated
    with pytest.raises(FileNotFoundError):
        session.read_file("nope")
    with pytest.raises(ValueError):
        session.read_file("d")  # a directory
    with pytest.raises(ValueError):
        session.read_file("d/sub/blob.bin", max_bytes=10)
    with pytest.raises(PermissionError):
        session.write_file("/usr/evil", b"x")
    # Escapes reach only the sandbox's own files, never the host's.
    passwd = session.read_file("../../etc/passwd")
    assert passwd != Path("/etc/passwd").read_bytes()
    with pytest.raises(FileNotFoundError):
        session.read_file(str(Path(session_config.storage_dir).resolve()))
    assert "root" not in {e.name for e in session.list_dir("/").entries}


def test_max_sessions_config_is_checked() -> None:
    with pytest.raises(ValueError, match="max_sessions"):
        libsandbox.Config(max_sessions=-1)
    assert libsandbox.Config(max_sessions=3).to_dict()["max_sessions"] == 3
    with pytest.raises(ValueError, match="max_sessions_per_user"):
        libsandbox.Config(max_sessions_per_user=-1)


def test_an_empty_user_is_refused(session_config: libsandbox.Config) -> None:
    with pytest.raises(ValueError, match="user id"):
        libsandbox.Session("", config=session_config)
    with pytest.raises(ValueError, match="user id"):
        libsandbox.Session("", chat="c", config=session_config)


def test_one_users_busy_sessions_never_refuse_another_user(tmp_path: Path) -> None:
    config = libsandbox.Config(
        state_dir=str(tmp_path / "state"),
        storage_dir=str(tmp_path / "files"),
        max_sessions=2,
        max_sessions_per_user=1,
    )
    sessions = [
        libsandbox.Session("fair-mallory", chat="1", config=config),
        libsandbox.Session("fair-mallory", chat="2", config=config),
        libsandbox.Session("fair-bob", config=config),
    ]
    try:
        sessions[0].start("sleep 1000", language="bash")
        second = sessions[1].exec("print(1)")
        assert second.status is not Status.OK
        assert "max_sessions_per_user" in second.message
        other = sessions[2].exec("print('bob')")
        assert other.status is Status.OK, other.message
        assert other.stdout == "bob\n"
    finally:
        for session in sessions:
            session.stop()


def test_exec_takes_input_files_and_keeps_what_it_changed(
    session_config: libsandbox.Config, tmp_path: Path
) -> None:
    session = libsandbox.Session("exec-files", config=session_config)
    r = session.exec(
        "cat in.txt; echo out > out.txt; echo s > state",
        "bash",
        files={"in.txt": b"in\n"},
        keep_files=True,
        keep_exclude=["state"],
    )
    assert r.status is Status.OK, r.message
    assert r.stdout == "in\n"
    assert [f.path for f in r.files] == ["out.txt"]  # not the unchanged input, not the excluded
    assert r.files[0].host_path.startswith(session_config.storage_dir + "/")
    assert Path(r.files[0].host_path).read_text() == "out\n"
    elsewhere = libsandbox.Config(storage_dir=str(tmp_path), max_files_per_execution=1)
    over = session.exec("echo a > a; echo b > b", "bash", keep_files=True, keep_config=elsewhere)
    assert over.status is Status.STORAGE_ERROR, over.message
    one = session.exec("echo c > c", "bash", keep_files=True, keep_config=elsewhere)
    assert one.status is Status.OK, one.message
    assert [f.path for f in one.files] == ["c"] and one.files[0].host_path.startswith(str(tmp_path) + "/")
    with pytest.raises(TypeError):
        session.exec("true", "bash", keep_exclude="state")
    with pytest.raises(TypeError):
        session.exec("true", "bash", keep_files=1)  # type: ignore[arg-type]


def test_every_session_call_is_audited(tmp_path: Path) -> None:
    config = libsandbox.Config(
        state_dir=str(tmp_path / "state"), storage_dir=str(tmp_path / "files"), audit=True, audit_code=True
    )
    session = libsandbox.Session("audited", chat="c7", config=config)
    try:
        assert session.exec("print('hi')").status is Status.OK
        pid = session.start("cat", language="bash")
        session.write_input(pid, b"abc")
        session.kill(pid)
        session.write_file("a.txt", b"12345")
        assert session.read_file("a.txt") == b"12345"
        session.list_dir(".")
        with pytest.raises(FileNotFoundError):
            session.read_file("missing.txt")
    finally:
        session.stop()
    records = list(reversed(libsandbox.query_audit(config, "audited")))
    assert [r.call for r in records] == [
        "exec",
        "start",
        "input",
        "kill",
        "write_file",
        "read_file",
        "list_dir",
        "read_file",
        "stop",
    ]
    assert {(r.user, r.chat) for r in records} == {("audited", "c7")}
    assert records[0].code == "print('hi')" and records[0].stdout_bytes == 3
    assert records[1].process == pid and records[2].bytes == 3
    assert (records[4].path, records[4].bytes) == ("a.txt", 5)
    assert records[7].status is Status.SANDBOX_ERROR and "NOT_FOUND" in records[7].error

    quiet = dataclasses.replace(config, audit_skip_file_reads=True)
    other = libsandbox.Session("audited", chat="c8", config=quiet)
    try:
        other.write_file("b.txt", b"x")
        other.read_file("b.txt")
        other.list_dir(".")
    finally:
        other.stop()
    newest = libsandbox.query_audit(quiet, "audited", limit=2)
    assert [r.call for r in newest] == ["stop", "write_file"]


def test_a_terminal_session_with_resize(session_config: libsandbox.Config) -> None:
    session = libsandbox.Session("pty", config=session_config)
    shell = session.start("exec bash --norc -i", "bash", pty=True, rows=30, cols=100)

    def read_until(needle: bytes, offset: int) -> tuple[bytes, int]:
        seen = b""
        deadline = time.monotonic() + 20
        while needle not in seen and time.monotonic() < deadline:
            o = session.wait(shell, offset, timeout_s=5)
            seen, offset = seen + o.stdout, o.stdout_offset
            if not o.info.running:
                break
        assert needle in seen, seen
        return seen, offset

    _, off = read_until(b"$ ", 0)
    session.write_input(shell, "stty size\r")
    _, off = read_until(b"30 100", off)
    session.resize(shell, 45, 120)
    session.write_input(shell, "stty size\r")
    _, off = read_until(b"45 120", off)
    session.write_input(shell, "exit 4\r")
    end = session.wait(shell, 1 << 40, 1 << 40, timeout_s=20)
    assert not end.info.running and end.info.exit_code == 4 and end.info.pty
    with pytest.raises(ValueError):
        session.start("true", "bash", rows=10)
    with pytest.raises(ValueError):
        session.resize(shell, 0, 80)


def test_wait_async_leaves_the_loop_free(session_config: libsandbox.Config) -> None:
    session = libsandbox.Session("waiters", config=session_config)
    pid = session.start('read line; echo "got $line"', "bash", cwd="/tmp")

    async def main() -> tuple[list[libsandbox.ProcessOutput], int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        tick = asyncio.create_task(ticker())
        waiters = [asyncio.create_task(session.wait_async(pid, timeout_s=60)) for _ in range(3)]
        await asyncio.sleep(0.3)
        session.write_input(pid, "x\n")
        outs = await asyncio.gather(*waiters)
        tick.cancel()
        return outs, ticks

    outs, ticks = asyncio.run(main())
    assert [o.stdout for o in outs] == [b"got x\n"] * 3
    assert ticks > 10  # the loop ran while three waits blocked
    assert session.exec("pwd", "bash", cwd="/tmp").stdout == "/tmp\n"
    assert session.exec("pwd", "bash").stdout == "/home/user\n"  # a named cwd is a one-off


def test_a_server_inside_is_reached_through_a_port_stream(session_config: libsandbox.Config) -> None:
    session = libsandbox.Session("ports", config=session_config)
    other = libsandbox.Session("ports-other", config=session_config)
    session.write_file("hi.txt", b"hi from inside\n")
    server = (
        "import http.server as h\n"
        "h.ThreadingHTTPServer(('127.0.0.1', 8080), h.SimpleHTTPRequestHandler).serve_forever()"
    )
    session.start(server)
    deadline = time.monotonic() + 20
    while not session.list_ports() and time.monotonic() < deadline:
        time.sleep(0.1)
    [port] = session.list_ports()
    assert (port.port, port.address) == (8080, "127.0.0.1")
    assert port.pid > 1 and "python3" in port.command

    async def fetch() -> bytes:
        reader, writer = await asyncio.open_connection(sock=session.connect_port(8080))
        writer.write(b"GET /hi.txt HTTP/1.0\r\n\r\n")
        answer = await reader.read()
        writer.close()
        return answer

    answer = asyncio.run(fetch())
    assert b"200 OK" in answer and answer.endswith(b"hi from inside\n")
    assert other.list_ports() == []
    with pytest.raises(RuntimeError, match="8080"):
        other.connect_port(8080)
    with pytest.raises(ValueError):
        session.connect_port(0)
    session.stop()
    other.stop()


def test_file_calls_of_a_file_browser(session_config: libsandbox.Config) -> None:
    session = libsandbox.Session("browser", config=session_config)
    session.make_dir("proj/src")
    session.write_file("proj/src/app.py", "print('needle')\n")
    st = session.stat("proj/src/app.py")
    assert (st.type, st.size, st.mode, st.writable) == ("file", 16, 0o644, True)
    [entry] = session.list_dir("proj/src").entries
    assert entry.mtime == st.mtime and entry.writable
    with pytest.raises(FileExistsError):
        session.make_dir("proj", parents=False)
    session.write_file("other.py", "x")
    with pytest.raises(FileExistsError):
        session.rename("other.py", "proj/src/app.py")
    session.rename("other.py", "proj/other.py")
    found = session.find("proj", "*.py", "needle")
    assert [(m.path, m.line, m.text) for m in found.matches] == [
        ("/home/user/proj/src/app.py", 1, "print('needle')")
    ]
    assert sorted(m.path for m in session.find("proj", "*.py").matches) == [
        "/home/user/proj/other.py",
        "/home/user/proj/src/app.py",
    ]
    archive = session.archive(["proj"])
    assert archive.startswith(b"PK")
    with pytest.raises(ValueError):
        session.remove("proj")  # not empty: a PreconditionError, a ValueError
    session.remove("proj", recursive=True)
    with pytest.raises(FileNotFoundError):
        session.stat("proj")
    session.append_file("log.txt", "a\n")
    session.append_file("log.txt", b"b\n")
    session.write_file_at("log.txt", "B", 2)
    assert session.read_file("log.txt") == b"a\nB\n"
    chunk = session.read_file_range("log.txt", 2, 100)
    assert (chunk.data, chunk.offset, chunk.size, chunk.eof) == (b"B\n", 2, 4, True)
    session.stop()


def test_a_large_file_streams_in_and_out_in_bounded_memory(session_config: libsandbox.Config) -> None:
    session = libsandbox.Session("big-file", config=session_config)
    chunk_bytes, count = 8 << 20, 26  # 208 MiB
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    written = session.upload_file("big.bin", (bytes([i]) * chunk_bytes for i in range(count)))
    assert written == session.stat("big.bin").size == chunk_bytes * count
    seen = [(c[0], c[-1], len(c)) for c in session.read_file_chunks("big.bin", chunk_bytes)]
    assert seen == [(i, i, chunk_bytes) for i in range(count)]
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    # A few copies of a chunk on their way (Python, C++, the pipe), never the file.
    assert grown_kib < 10 * (chunk_bytes >> 10) < count * (chunk_bytes >> 10)
    session.stop()
