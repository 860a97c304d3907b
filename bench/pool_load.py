"""The warm pool under load: bursts and sustained arrivals, side by side.

For each pool setting, python hello-world runs arrive as
  - burst16:  16 runs back to back (each submitted when the previous returns),
  - once16:   16 runs submitted at the same moment,
  - poisson R: Poisson arrivals at R runs/s (R from --rates): --warmup
            seconds in which the pool sizes itself, then --seconds measured
            (the warm-up's own figures are the "ramp" row),
  - with the demand setting, fairness: one user's Poisson runs at 1/s for
    20 s alone, then the same with another user's two bursts of 16 at once,
and the script reports p50/p95/p99 of submit-to-result latency, how runs got
their sandbox (ready in the pool, waited for one already booting, or booted
cold), the machine's CPU time per run (/proc/stat, so refill boots count)
and the peak number of idle pooled sandboxes. Pool settings:
  - fixed:  pool_size=2, pool_max_size=2 (a pool that never grows),
  - demand: pool_size=2, pool_max_size=0 (grows with demand, up to the
            host's ceiling),
  - held16: pool_size=16 (the burst goal: a pool allowed to hold 16).
Then the cold path (pool off) against a raw ``runsc run`` of an equivalent
bundle, alternating, and with --tool the Open WebUI tool at 4 runs/s.

``python3 bench/pool_load.py [--rates 2 4 8] [--seconds 30] [--warmup 30] [--tool]``;
``taskset -c 0 python3 bench/pool_load.py`` for one CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib.util
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import typing
from concurrent.futures import ThreadPoolExecutor

import libsandbox

HELLO = "print('hello')"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def busy_jiffies() -> int:
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return sum(fields) - fields[3] - fields[4]  # all but idle and iowait


def counter(name: str) -> int:
    return int(libsandbox.metrics()["counters"].get(name, 0))


def idle() -> int:
    return int(libsandbox.metrics()["gauges"].get("pool_idle", 0))


class Counters:
    """The library's pool counters and the machine's busy CPU time, at one moment."""

    def __init__(self) -> None:
        self.hits = counter("pool_hits")
        self.misses = counter("pool_misses")
        self.waits = counter("pool_waits")
        self.jiffies = busy_jiffies()

    def summary(
        self,
        latencies: list[float],
        failures: int,
        peak_idle: int,
        until: Counters | None = None,
        all_runs: int = 0,
    ) -> dict[str, float]:
        """Percentiles of `latencies` and what the pool did from this moment
        to `until` (now), CPU per run over `all_runs` (those latencies'). A
        run that found no idle sandbox but waited for one already booting
        counts as a wait, not a hit."""
        now = until or Counters()
        hits, misses, waits = now.hits - self.hits, now.misses - self.misses, now.waits - self.waits
        taken = hits + misses
        n = len(latencies)
        return {
            "runs": n,
            "failures": failures,
            "p50_ms": 1000 * percentile(latencies, 50),
            "p95_ms": 1000 * percentile(latencies, 95),
            "p99_ms": 1000 * percentile(latencies, 99),
            "hit_rate": (hits - waits) / taken if taken else 0.0,
            "waits": waits,
            "cold": misses,
            "cpu_ms_per_run": 1000
            * (now.jiffies - self.jiffies)
            / os.sysconf("SC_CLK_TCK")
            / max(all_runs or n, 1),
            "peak_idle": peak_idle,
        }


RunFn = typing.Callable[[], libsandbox.Result]
UserRunFn = typing.Callable[[str], libsandbox.Result]  # runs as the given user
Rows = list[tuple[str, dict[str, float]]]  # label suffix, figures


def drive(
    run: UserRunFn, arrivals: list[tuple[float, str]], pool: ThreadPoolExecutor, warmup: float = 0.0
) -> Rows:
    """Submits one run at each arrival (seconds from now, sorted; user) and
    reports the runs that arrived from `warmup` on (the pool sized itself on
    the ones before: their figures are a second row, "ramp"). With several
    users, a row per user (the pool's counters and CPU are the whole phase's)."""
    lock = threading.Lock()
    runs: list[tuple[float, str, float, bool]] = []  # arrival, user, latency, failed
    peak_idle = [0, 0]  # before and from `warmup`
    measuring = threading.Event()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            i = int(measuring.is_set())
            peak_idle[i] = max(peak_idle[i], idle())
            time.sleep(0.05)

    def one(at: float, user: str) -> None:
        started = time.perf_counter()
        failed = run(user).status is not libsandbox.Status.OK
        with lock:
            runs.append((at, user, time.perf_counter() - started, failed))

    watcher = threading.Thread(target=watch)
    watcher.start()
    ramp = Counters()
    measured: Counters | None = None  # from the first arrival at `warmup`
    t0 = time.perf_counter()
    futures = []
    for at, user in arrivals:
        delay = t0 + at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        if at >= warmup and measured is None:
            measured = Counters()
            measuring.set()
        futures.append(pool.submit(one, at, user))
    for f in futures:
        f.result()
    stop.set()
    watcher.join()

    def part(ramp_part: bool, user: str | None = None) -> tuple[list[float], int]:
        chosen = [r for r in runs if (r[0] < warmup) == ramp_part and user in (None, r[1])]
        return [r[2] for r in chosen], sum(r[3] for r in chosen)

    since = measured or ramp
    users = sorted({user for _, user in arrivals})
    if len(users) > 1:
        return [
            (f" user {u}", since.summary(*part(False, u), peak_idle[1], all_runs=len(runs))) for u in users
        ]
    rows: Rows = [("", since.summary(*part(False), peak_idle[1]))]
    if warmup > 0:
        # The ramp's pool counters run up to the first measured arrival.
        rows.append((" ramp", ramp.summary(*part(True), peak_idle[0], until=measured)))
    return rows


def back_to_back(run: RunFn, n: int) -> Rows:
    """n runs, each submitted when the previous returns."""
    latencies: list[float] = []
    before = Counters()
    failures = 0
    for _ in range(n):
        started = time.perf_counter()
        failures += run().status is not libsandbox.Status.OK
        latencies.append(time.perf_counter() - started)
    return [("", before.summary(latencies, failures, idle()))]


def poisson(rate: float, seconds: float, rng: random.Random, user: str = "") -> list[tuple[float, str]]:
    arrivals, t = [], rng.expovariate(rate)
    while t < seconds:
        arrivals.append((t, user))
        t += rng.expovariate(rate)
    return arrivals


def at_once(n: int, at: float = 0.0, user: str = "") -> list[tuple[float, str]]:
    return [(at, user)] * n


def settle(floor: int, timeout: float = 120) -> None:
    """Waits until the pool holds `floor` idle sandboxes and nothing runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        gauges = libsandbox.metrics()["gauges"]
        if gauges.get("pool_idle", 0) >= floor and gauges.get("running", 0) == 0:
            return
        time.sleep(0.1)


def pool_settings(args: argparse.Namespace, root: str) -> dict[str, libsandbox.Config]:
    def config(size: int, max_size: int) -> libsandbox.Config:
        return libsandbox.Config(
            state_dir=f"{root}/state",
            storage_dir=f"{root}/files",
            pool_size=size,
            pool_max_size=max_size,
            pool_languages=["python"],
            max_concurrent=64,
        )

    return {"fixed": config(2, 2), "demand": config(2, 0), "held16": config(16, 16)}


def raw_bundle(root: str, name: str, argv: list[str]) -> str:
    """A bundle that runs `argv` like a cold run does, without libsandbox:
    read-only system directories, a tmpfs home, uid 1000."""
    bundle = f"{root}/{name}"
    os.makedirs(f"{bundle}/rootfs", exist_ok=True)
    mounts: list[dict[str, typing.Any]] = [{"destination": "/proc", "type": "proc", "source": "proc"}]
    for d in ("/usr", "/bin", "/lib", "/lib64", "/sbin", "/etc"):
        if os.path.exists(d):
            mounts.append({"destination": d, "type": "bind", "source": d, "options": ["rbind", "ro"]})
    mounts.append({"destination": "/home/user", "type": "tmpfs", "source": "tmpfs", "options": ["size=64m"]})
    mounts.append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["size=64m"]})
    spec = {
        "ociVersion": "1.0.0",
        "process": {
            "user": {"uid": 1000, "gid": 1000},
            "args": argv,
            "env": ["PATH=/usr/bin:/bin", "HOME=/home/user"],
            "cwd": "/home/user",
        },
        "root": {"path": "rootfs", "readonly": True},
        "mounts": mounts,
        "linux": {"namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount", "network")]},
    }
    with open(f"{bundle}/config.json", "w") as f:
        json.dump(spec, f)
    return bundle


def cold_against_raw(root: str, runs: int) -> dict[str, dict[str, float]]:
    """Alternating: libsandbox's cold path, `runsc run` of the same hello
    world, and of /bin/true (runsc alone, without Python starting)."""
    runsc = shutil.which("runsc") or "runsc"
    bundles = {
        "raw": raw_bundle(root, "raw", ["/usr/bin/python3", "-c", HELLO]),
        "true": raw_bundle(root, "true", ["/bin/true"]),
    }
    cold = libsandbox.Config(state_dir=f"{root}/cold-state", storage_dir=f"{root}/cold-files")
    libsandbox.run(HELLO, config=cold)  # the engine, once
    times: dict[str, list[float]] = {"cold": [], "raw": [], "true": []}
    for i in range(runs):  # alternating: the machine's noise hits all
        started = time.perf_counter()
        r = libsandbox.run(HELLO, config=cold)
        times["cold"].append(time.perf_counter() - started)
        assert r.ok, r.message
        for name, bundle in bundles.items():
            started = time.perf_counter()
            subprocess.run(
                [
                    runsc,
                    "--root",
                    f"{root}/raw-root",
                    "--network=none",
                    "run",
                    "--bundle",
                    bundle,
                    f"{name}-{i}",
                ],
                check=True,
                capture_output=True,
            )
            times[name].append(time.perf_counter() - started)
    return {
        name: {"p50_ms": 1000 * statistics.median(v), "p95_ms": 1000 * percentile(v, 95)}
        for name, v in times.items()
    }


def boot_breakdown() -> dict[str, float] | None:
    """Mean pooled boot time and its part before runsc starts, from the
    library's histograms (every boot of this process)."""
    histograms = libsandbox.metrics()["histograms"]
    total, prepare = histograms.get("pool_boot"), histograms.get("pool_boot_prepare")
    if not total or not prepare or not total["count"]:
        return None
    return {
        "count": total["count"],
        "total_ms": 1000 * total["sum_s"] / total["count"],
        "prepare_ms": 1000 * prepare["sum_s"] / prepare["count"],
    }


def tool_runner(root: str) -> UserRunFn:
    """The Open WebUI tool's run_python_code, as Open WebUI calls it."""
    path = os.path.join(os.path.dirname(__file__), "..", "examples", "open-webui", "tools", "run_code.py")
    spec = importlib.util.spec_from_file_location("bench_tool", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tools = module.Tools()
    tools.valves = module.Valves(
        WEB_ACCESSIBLE_DIRECTORY_PATH=f"{root}/tool-files", WARM_POOL_SIZE=2, MAX_WORKSPACE_MEGABYTES=64
    )

    def run(user: str) -> libsandbox.Result:
        caller = {"id": user or "bench", "name": user or "bench", "role": "user"}
        reply = json.loads(asyncio.run(tools.run_python_code(HELLO, __user__=caller)))
        status = getattr(libsandbox.Status, reply["status"])
        return libsandbox.Result(status=status)

    return run


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", type=float, nargs="*", default=[2, 4, 8])
    parser.add_argument("--seconds", type=float, default=30, help="measured, after --warmup")
    parser.add_argument("--warmup", type=float, default=30, help="Poisson arrivals before measuring")
    parser.add_argument("--settings", nargs="*", default=["fixed", "demand", "held16"])
    parser.add_argument("--raw-runs", type=int, default=10)
    parser.add_argument("--tool", action="store_true", help="also the Open WebUI tool at 4 runs/s")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(f"cpus allowed: {len(os.sched_getaffinity(0))}, runsc: {libsandbox.runsc_version()}")
    rows: list[tuple[str, str, dict[str, float]]] = []

    def record(name: str, label: str, phase_rows: Rows) -> None:
        for suffix, figures in phase_rows:
            rows.append((name, label + suffix, figures))
            print(name, label + suffix, json.dumps({k: round(v, 2) for k, v in figures.items()}), flush=True)

    with tempfile.TemporaryDirectory(prefix="pool-load-") as root, ThreadPoolExecutor(64) as pool:
        settings = pool_settings(args, root)
        for name in args.settings:
            config = settings[name]

            def run(user: str, config: libsandbox.Config = config) -> libsandbox.Result:
                return libsandbox.run(HELLO, config=config, user=user)

            phases: list[tuple[str, typing.Callable[[], Rows]]] = [
                ("burst16", functools.partial(back_to_back, functools.partial(run, ""), 16)),
                ("once16", functools.partial(drive, run, at_once(16), pool)),
            ]
            if name != "held16":
                for rate in args.rates:
                    # The pool sizes itself on the first --warmup seconds.
                    arrivals = poisson(rate, args.warmup + args.seconds, rng)
                    phases.append(
                        (f"poisson {rate:g}/s", functools.partial(drive, run, arrivals, pool, args.warmup))
                    )
            if name == "demand":
                # Fairness: one user's runs at 1/s alone, then with another
                # user's two bursts of 16 at once in the middle.
                steady = poisson(1, 20, rng, user="steady")
                bursts = at_once(16, 5, "burst") + at_once(16, 12, "burst")
                phases.append(("steady 1/s alone", functools.partial(drive, run, steady, pool)))
                phases.append(
                    ("steady 1/s + bursts", functools.partial(drive, run, sorted(steady + bursts), pool))
                )
            for label, phase in phases:
                libsandbox.shutdown()  # every phase starts from the floor, settled
                libsandbox.run(HELLO, config=config)
                settle(config.pool_size)
                record(name, label, phase())
        if args.tool:
            libsandbox.shutdown()
            tool = tool_runner(root)
            tool("")
            settle(2)
            arrivals = poisson(4, args.warmup + args.seconds, rng)
            record("tool", "poisson 4/s", drive(tool, arrivals, pool, args.warmup))
        libsandbox.shutdown()
        boot = boot_breakdown()
        raw = cold_against_raw(root, args.raw_runs)
        libsandbox.shutdown()

    print()
    print(
        "| setting | arrivals | runs | p50 ms | p95 ms | p99 ms | ready | waited | cold "
        "| CPU ms/run | peak idle |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, label, r in rows:
        print(
            f"| {name} | {label} | {r['runs']:.0f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} "
            f"| {r['p99_ms']:.1f} | {100 * r['hit_rate']:.0f} % | {r['waits']:.0f} | {r['cold']:.0f} "
            f"| {r['cpu_ms_per_run']:.0f} "
            f"| {r['peak_idle']:.0f} |"
        )
    ratio = raw["cold"]["p50_ms"] / raw["raw"]["p50_ms"]
    print(
        f"\ncold path p50 {raw['cold']['p50_ms']:.0f} ms (p95 {raw['cold']['p95_ms']:.0f}) vs raw runsc run "
        f"p50 {raw['raw']['p50_ms']:.0f} ms (p95 {raw['raw']['p95_ms']:.0f}): {ratio:.2f}x"
    )
    print(f"runsc run of /bin/true: p50 {raw['true']['p50_ms']:.0f} ms (runsc alone, no Python)")
    if boot is not None:
        print(
            f"pooled boot: mean {boot['total_ms']:.0f} ms over {boot['count']:.0f} boots, of which "
            f"{boot['prepare_ms']:.0f} ms ours before runsc starts (run dir, cgroup, bundle); the rest "
            "is runsc and the executor's interpreter starting"
        )
    failures = sum(r["failures"] for _, _, r in rows)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
