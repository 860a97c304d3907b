"""Many users at once, some hostile: every honest run must still finish OK.

Each of `users` users submits `runs` runs at the same moment through
``libsandbox.run_async``. The first `hostile` users send, in turn, a fork bomb,
a disk filler (thousands of files to keep, then a full workspace), an output
flood, a connection flood and a memory hog; the others send small python and
bash programs, every third one leaving a file to keep. The host decides the
caps, as Open WebUI's valves do: the users only choose the code.

``python3 bench/mixed_load.py [--users 20] [--runs 10] [--hostile 2]`` prints
the statuses per kind, the honest runs' latency percentiles (submit to
result, queueing included) and the host process's peak RSS.
``bindings/python/tests/test_libsandbox_mixed_load.py`` asserts on the same
scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import resource
import statistics
import sys
import tempfile
import time
import typing

import libsandbox

# What a hostile user sends, in turn: (kind, language, code).
HOSTILE_RUNS: tuple[tuple[str, str, str], ...] = (
    ("fork bomb", "bash", ":(){ :|:& };:; wait"),
    (
        "disk filler",
        "bash",
        "for i in $(seq 3000); do echo x > f$i; done; head -c 1G /dev/zero > big; exit 0",
    ),
    ("output flood", "bash", "yes flood; yes flood >&2"),
    (
        "connection flood",
        "python",
        "import socket, threading\n"
        "srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(4096)\n"
        "threading.Thread(target=lambda: [srv.accept() for _ in iter(int, 1)], daemon=True).start()\n"
        "held = []\n"
        "while True:\n"
        "    held.append(socket.create_connection(srv.getsockname()))\n",
    ),
    ("memory hog", "python", "blocks = []\nwhile True:\n    blocks.append(bytearray(16 << 20))\n"),
)


@dataclasses.dataclass
class Outcome:
    user: str
    kind: str  # "honest" or a HOSTILE_RUNS kind
    expected_stdout: str | None  # honest runs only
    expected_file: tuple[str, str] | None  # (path, content) it leaves to keep
    result: libsandbox.Result
    latency_s: float


@dataclasses.dataclass
class LoadReport:
    outcomes: list[Outcome]
    wall_s: float
    peak_rss_mib: float

    def honest(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.kind == "honest"]

    def table(self) -> str:
        by_kind: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        for o in self.outcomes:
            label = o.result.status.name + (f"/{o.result.reason}" if o.result.reason else "")
            by_kind[o.kind][label] += 1
        lines = [f"{'kind':<18} statuses"]
        for kind, counts in sorted(by_kind.items()):
            lines.append(f"{kind:<18} " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        latencies = sorted(o.latency_s for o in self.honest())
        if latencies:
            q = statistics.quantiles(latencies, n=100, method="inclusive")
            lines.append(
                f"honest latency (submit to result, queueing included): p50 {q[49]:.2f} s, "
                f"p95 {q[94]:.2f} s, p99 {q[98]:.2f} s, max {latencies[-1]:.2f} s"
            )
        runs = len(self.outcomes)
        lines.append(f"wall {self.wall_s:.1f} s for {runs} runs; host peak RSS {self.peak_rss_mib:.0f} MiB")
        return "\n".join(lines)


def honest_run(user: int, i: int) -> tuple[str, str, str, tuple[str, str] | None]:
    """(language, code, expected stdout, the file it leaves) of honest run `i`."""
    file = (f"out-{i}.txt", f"{user}-{i}\n") if i % 3 == 2 else None
    if i % 2 == 0:
        code = f"print(sum(range({user * 100 + i})))"
        if file:
            code += f"\nopen({file[0]!r}, 'w').write({file[1]!r})"
        return "python", code, f"{sum(range(user * 100 + i))}\n", file
    code = f"echo $(( {user} * {i} ))"
    if file:
        code += f"; echo {user}-{i} > {file[0]}"
    return "bash", code, f"{user * i}\n", file


async def mixed_load(
    config: libsandbox.Config, users: int = 20, runs: int = 10, hostile: int = 2, timeout_s: float = 10.0
) -> LoadReport:
    limits = libsandbox.Limits(timeout_s=timeout_s)

    async def one(
        user: str, kind: str, language: str, code: str, expected: str | None, file: tuple[str, str] | None
    ) -> Outcome:
        start = time.monotonic()
        result = await libsandbox.run_async(code, language, user=user, limits=limits, config=config)
        return Outcome(user, kind, expected, file, result, time.monotonic() - start)

    jobs: list[typing.Coroutine[typing.Any, typing.Any, Outcome]] = []
    for u in range(users):
        user = f"{'mallory' if u < hostile else 'user'}-{u}"
        for i in range(runs):
            if u < hostile:
                kind, language, code = HOSTILE_RUNS[(u + i) % len(HOSTILE_RUNS)]
                jobs.append(one(user, kind, language, code, None, None))
            else:
                language, code, expected, file = honest_run(u, i)
                jobs.append(one(user, "honest", language, code, expected, file))
    start = time.monotonic()
    outcomes = list(await asyncio.gather(*jobs))
    wall = time.monotonic() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return LoadReport(outcomes, wall, peak_kib / 1024)


def host_config(root: str) -> libsandbox.Config:
    """The host's settings for the scenario: 8 sandboxes at once, 2 per user
    (so the hostile users hold at most half), and a queue long enough for
    everyone to wait their turn."""
    return libsandbox.Config(
        state_dir=f"{root}/state",
        storage_dir=f"{root}/storage",
        max_concurrent=8,
        max_concurrent_per_user=2,
        queue_timeout_s=600,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--hostile", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lsb-load-") as root:
        report = asyncio.run(mixed_load(host_config(root), args.users, args.runs, args.hostile))
    print(report.table())
    failed = [o for o in report.honest() if o.result.status != libsandbox.Status.OK]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
