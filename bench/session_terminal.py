"""What a terminal server built on a session gets, measured side by side in
one run: a keystroke's round trip through a pty shell, how soon ``wait``
wakes after output compared with a 1 s poller (Open WebUI's terminal panel)
and a 50 ms one, file upload/download throughput in chunks, and what 10
idle background processes cost (the sandbox's cgroup and this process).

``python3 bench/session_terminal.py [--keys 200] [--lines 100] [--file-mb 256]``
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time

import libsandbox


def percentiles(name: str, seconds: list[float]) -> None:
    ms = sorted(1000 * s for s in seconds)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    print(f"{name:<34} p50 {statistics.median(ms):7.2f} ms   p95 {p95:7.2f} ms   n={len(ms)}")


def keystrokes(session: libsandbox.Session, count: int) -> list[float]:
    # bash's line editor echoes each key itself: the round trip goes through
    # the sandbox, not only the host's terminal driver.
    term = session.start("exec bash --norc -i", language="bash", pty=True)
    offset = 0
    out = b""
    while b"$ " not in out:
        o = session.wait(term, offset, timeout_s=10)
        out, offset = out + o.stdout, o.stdout_offset
    times = []
    for i in range(count):
        key = b"abcdefghij"[i % 10 : i % 10 + 1]
        start = time.monotonic()
        session.write_input(term, key)
        while True:
            o = session.wait(term, offset, timeout_s=10)
            offset = o.stdout_offset
            if key in o.stdout:
                break
        times.append(time.monotonic() - start)
    session.release(term)
    return times


def wakeups(session: libsandbox.Session, lines: int, poll_every_s: float | None) -> list[float]:
    # A process that answers each input line; the time from writing a line
    # to seeing its answer, woken by wait() or found by a poller.
    echo = session.start("while read l; do echo $l; done", language="bash")
    offset, times = 0, []
    for i in range(lines):
        start = time.monotonic()
        session.write_input(echo, f"{i}\n")
        while True:
            if poll_every_s is None:
                o = session.wait(echo, offset, timeout_s=10)
            else:
                time.sleep(poll_every_s)
                o = session.poll(echo, offset)
            offset = o.stdout_offset
            if o.stdout:
                break
        times.append(time.monotonic() - start)
    session.release(echo)
    return times


def throughput(session: libsandbox.Session, megabytes: int, chunk_mb: int) -> tuple[float, float]:
    chunk = b"x" * (chunk_mb << 20)
    start = time.monotonic()
    session.upload_file("bench.bin", (chunk for _ in range(megabytes // chunk_mb)))
    up = time.monotonic() - start
    start = time.monotonic()
    got = sum(len(c) for c in session.read_file_chunks("bench.bin", chunk_mb << 20))
    down = time.monotonic() - start
    session.remove("bench.bin")
    assert got == megabytes << 20
    return megabytes / up, megabytes / down


def idle_cost(session: libsandbox.Session) -> tuple[int, int, int]:
    session.exec("true", language="bash")
    time.sleep(1)
    before_sandbox = session.info().memory_bytes
    before_host = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ids = [session.start("sleep 600", language="bash") for _ in range(10)]
    time.sleep(2)
    after_sandbox = session.info().memory_bytes
    after_host = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for pid in ids:
        session.release(pid)
    return before_sandbox, after_sandbox - before_sandbox, (after_host - before_host) << 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=200)
    parser.add_argument("--lines", type=int, default=100)
    parser.add_argument("--file-mb", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lsb-term-") as root:
        config = libsandbox.Config(state_dir=f"{root}/state", storage_dir=f"{root}/files")
        limits = libsandbox.Limits(workspace_mb=1024, memory_mb=512)
        session = libsandbox.Session("bench", limits=limits, config=config)
        base, idle, host = idle_cost(session)
        print(f"booted session (sandbox cgroup)    {base / 2**20:7.1f} MiB")
        print(
            f"10 idle background processes      +{idle / 2**20:7.1f} MiB in the sandbox, "
            f"+{host / 2**20:.1f} MiB host RSS (high-water)"
        )
        percentiles("pty keystroke round trip", keystrokes(session, args.keys))
        percentiles("output seen: wait()", wakeups(session, args.lines, None))
        percentiles("output seen: poll every 50 ms", wakeups(session, args.lines, 0.05))
        percentiles("output seen: poll every 1 s", wakeups(session, max(10, args.lines // 10), 1.0))
        for chunk_mb in (8, 32):
            up, down = throughput(session, args.file_mb, chunk_mb)
            print(
                f"{args.file_mb} MiB file, {chunk_mb:>2} MiB chunks      "
                f"upload {up:6.0f} MiB/s   download {down:6.0f} MiB/s"
            )
        session.stop()


if __name__ == "__main__":
    main()
