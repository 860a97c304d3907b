#!/usr/bin/env python3
"""Runs cold_bench and compares the library with bare runsc, cold and warm.

    bench/compare.py [--bench PATH] [--json FILE | --save FILE] [--goal 1.1] [--strict]
                     [-- extra cold_bench flags, e.g. --benchmark_repetitions=3]

Prints every benchmark, then one table per language of cold library run /
warm-pool run / bare `runsc run` / bare `runsc exec` into a running sandbox
(p50 of single runs) with the ratios and their goals: cold library vs raw
run at most --goal, warm vs raw run at least --warm-speedup (5x), warm
python p50 at most --warm-p50-ms (30). Then N runs at once, cold and warm
(goal: 4 and 16 warm runs at once within --concurrent-goal (1.5x) of one),
and the memory of an idle pooled sandbox (goal: at most --idle-mib, 25 MiB).
With repetitions, the medians are used. --json reads a saved run instead of
running the binary. --strict exits 1 when a goal is missed. Python stdlib only.
"""

import argparse
import glob
import json
import os
import subprocess
import sys

def find_binary():
    """The newest cold_bench in a build directory next to the sources."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    found = glob.glob(os.path.join(repo, "build*", "bench", "cold_bench"))
    return max(found, key=os.path.getmtime) if found else None


def run_bench(binary, extra):
    cmd = [binary, "--benchmark_format=json"] + extra
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    # The binary's own progress lines go to stderr; JSON comes on stdout.
    out = subprocess.run(cmd, stdout=subprocess.PIPE, check=True).stdout
    return json.loads(out)


def to_ms(row):
    scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[row.get("time_unit", "ns")]
    return row["real_time"] * scale


def short_name(name):
    """BM_X/8/iterations:3/real_time -> BM_X/8."""
    parts = name.split("/")
    return "/".join(p for p in parts if ":" not in p and p not in ("real_time", "process_time"))


def pick_rows(data):
    """One row per benchmark: the median when repeated, else the plain row."""
    rows, iterations = {}, {}
    for row in data.get("benchmarks", []):
        name = short_name(row.get("run_name", row["name"]))
        if row.get("error_occurred"):
            rows[name] = row
        elif row.get("run_type") == "aggregate":
            if row.get("aggregate_name") == "median":
                rows[name] = row
        else:
            iterations.setdefault(name, []).append(row.get("iterations", 0))
            rows.setdefault(name, row)
    for name, row in rows.items():
        # An aggregate's "iterations" counts repetitions; show runs measured.
        row["runs_measured"] = sum(iterations.get(name, [0]))
    return rows


def ok(row):
    return row is not None and not row.get("error_occurred")


def p50_ms(row):
    """The median single run when the benchmark reports it, else the mean."""
    return row["p50_ms"] if "p50_ms" in row else to_ms(row)


def loadavg():
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


class Goals:
    """Collects goal verdicts for the summary and --strict."""

    def __init__(self):
        self.missed = []

    def check(self, label, passed):
        if not passed:
            self.missed.append(label)
        return "ok" if passed else "MISSED"


def print_all(rows):
    # start = host-side preparation until runsc is launched, run = the
    # sandbox's life (boot, code, exit), teardown = cleanup; from the
    # library's own metrics, per run.
    print("%-34s %5s %10s %8s %8s %8s %8s %9s" % (
        "benchmark", "iters", "mean ms", "p50 ms", "p90 ms", "start ms", "run ms", "teardn ms"))
    for name, row in rows.items():
        if not ok(row):
            print("%-34s %5s %10s  %s" % (name, "-", "FAILED", row.get("error_message", "")))
            continue
        cols = ["%8.1f" % row[k] if k in row else "%8s" % "" for k in
                ("p50_ms", "p90_ms", "start_ms", "run_ms")]
        teardown = "%9.1f" % row["teardown_ms"] if "teardown_ms" in row else ""
        print("%-34s %5d %10.1f %s %s" % (name, row["runs_measured"], to_ms(row),
                                          " ".join(cols), teardown))


def print_latency(rows, args, goals):
    langs = (
        ("python", "BM_LibraryPythonHello", "BM_LibraryPythonHelloWarmPool",
         "BM_RawRunscRunPython", "BM_RawRunscExecPython"),
        ("bash", "BM_LibraryBashEcho", "BM_LibraryBashEchoWarmPool",
         "BM_RawRunscRunBash", "BM_RawRunscExecBash"),
    )
    print("single run, p50 ms (hello world; warm = a pooled sandbox was waiting):")
    print("%-7s %8s %8s %9s %9s   %-22s %-22s %s" % (
        "", "cold", "warm", "raw run", "raw exec",
        "cold/raw run <=%.2gx" % args.goal, "raw run/warm >=%.3gx" % args.warm_speedup,
        "warm/raw exec"))
    for label, cold, warm, raw_run, raw_exec in langs:
        r = {k: rows.get(n) for k, n in
             (("cold", cold), ("warm", warm), ("run", raw_run), ("exec", raw_exec))}
        cells = ["%8.1f" % p50_ms(r[k]) if ok(r[k]) else "%8s" % "FAILED"
                 for k in ("cold", "warm")]
        cells += ["%9.1f" % p50_ms(r[k]) if ok(r[k]) else "%9s" % "FAILED"
                  for k in ("run", "exec")]
        if ok(r["cold"]) and ok(r["run"]):
            x = p50_ms(r["cold"]) / p50_ms(r["run"])
            cold_ratio = "%5.2fx %s" % (x, goals.check("%s cold/raw run" % label, x <= args.goal))
        else:
            cold_ratio = "-"
            goals.check("%s cold/raw run (missing)" % label, False)
        if ok(r["warm"]) and ok(r["run"]):
            x = p50_ms(r["run"]) / p50_ms(r["warm"])
            speedup = "%5.1fx %s" % (x, goals.check("%s warm speedup" % label,
                                                    x >= args.warm_speedup))
        else:
            speedup = "-"
            goals.check("%s warm speedup (missing)" % label, False)
        vs_exec = ("%5.2fx" % (p50_ms(r["warm"]) / p50_ms(r["exec"]))
                   if ok(r["warm"]) and ok(r["exec"]) else "-")
        print("%-7s %s   %-22s %-22s %s" % (label, " ".join(cells), cold_ratio, speedup, vs_exec))
    warm = rows.get("BM_LibraryPythonHelloWarmPool")
    if ok(warm):
        misses = warm.get("pool_misses", 0)
        print("warm python p50 %.1f ms (p90 %.1f), goal <= %.0f ms: %s%s" % (
            p50_ms(warm), warm.get("p90_ms", float("nan")), args.warm_p50_ms,
            goals.check("warm python p50", p50_ms(warm) <= args.warm_p50_ms),
            "  (%d pool misses!)" % misses if misses else ""))


def print_concurrency(rows, args, goals):
    def by_n(prefix):
        return {int(n.rsplit("/", 1)[1]): r for n, r in rows.items()
                if n.startswith(prefix + "/") and ok(r)}

    cold, warm = by_n("BM_LibraryConcurrent"), by_n("BM_LibraryConcurrentWarm")
    if not cold and not warm:
        return
    print()
    print("python hello, N runs at once (wall ms until the last is done; x = against N=1);")
    print("goal: warm N=4 and N=16 (nearest to 8) <= %.2gx of one warm run" % args.concurrent_goal)
    print("%4s %10s %7s %10s %7s %6s %12s %12s" % (
        "N", "cold ms", "x", "warm ms", "x", "misses", "cold PSS/run", "warm pk RSS"))
    for n in sorted(set(cold) | set(warm)):
        c, w = cold.get(n), warm.get(n)
        line = "%4d" % n
        for rs, row in ((cold, c), (warm, w)):
            if row:
                base = rs.get(1)
                line += " %10.1f %7s" % (to_ms(row), "%.2fx" % (to_ms(row) / to_ms(base))
                                         if base else "-")
            else:
                line += " %10s %7s" % ("-", "-")
        line += " %6s" % (int(w.get("pool_misses", 0)) if w else "-")
        # The benchmark process itself is in the tree; take it out per run.
        line += " %12s" % ("%.1f" % ((c.get("peak_pss_MiB", 0) - c.get("base_pss_MiB", 0)) / n)
                           if c else "-")
        # Warm, the tree holds the idle pool too; PSS is not sampled there.
        line += " %12s" % ("%.1f" % w.get("peak_rss_MiB", 0) if w else "-")
        if w and n in (4, 8, 16) and 1 in warm:
            x = to_ms(w) / to_ms(warm[1])
            line += "  warm %s" % goals.check("warm concurrent N=%d" % n, x <= args.concurrent_goal)
        print(line)
    if 1 not in warm:
        goals.check("warm concurrent (missing)", False)


def print_idle_memory(rows, args, goals):
    row = rows.get("BM_PoolIdleMemory")
    if row is None:
        return
    print()
    if not ok(row):
        print("idle pooled sandbox memory: FAILED %s" % row.get("error_message", ""))
        goals.check("idle memory (failed)", False)
        return
    n = int(row.get("idle_sandboxes", 0))
    print("idle pooled python sandbox (pool of %d, pool filled in %.0f ms), per sandbox:" % (
        n, to_ms(row)))
    print("  host RSS %.1f MiB (shared pages counted per process), host PSS %.1f MiB, "
          "cgroup %.1f MiB (%d cgroups seen), %.1f processes" % (
              row.get("rss_MiB_per_idle", 0), row.get("pss_MiB_per_idle", 0),
              row.get("cgroup_MiB_per_idle", 0), int(row.get("cgroups_seen", 0)),
              row.get("procs_per_idle", 0)))
    pss, cg = row.get("pss_MiB_per_idle", 0), row.get("cgroup_MiB_per_idle", 0)
    print("  goal <= %.0f MiB: PSS %s, cgroup %s" % (
        args.idle_mib, goals.check("idle PSS", pss <= args.idle_mib),
        goals.check("idle cgroup", cg <= args.idle_mib and row.get("cgroups_seen", 0) == n)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", help="path of the cold_bench binary")
    parser.add_argument("--json", help="read this saved --benchmark_format=json output")
    parser.add_argument("--save", help="also write the raw JSON output to this file")
    parser.add_argument("--goal", type=float, default=1.1,
                        help="largest acceptable cold library/raw run ratio")
    parser.add_argument("--warm-speedup", type=float, default=5.0,
                        help="smallest acceptable raw run/warm ratio")
    parser.add_argument("--warm-p50-ms", type=float, default=30.0,
                        help="largest acceptable warm python p50")
    parser.add_argument("--concurrent-goal", type=float, default=1.5,
                        help="largest acceptable warm N-at-once/one ratio")
    parser.add_argument("--idle-mib", type=float, default=25.0,
                        help="largest acceptable memory per idle pooled sandbox")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a goal is missed")
    parser.add_argument("extra", nargs="*", help="flags passed on to cold_bench (after --)")
    args = parser.parse_args()

    if args.json:
        with open(args.json, encoding="utf-8") as f:
            data = json.load(f)
        load_after = None
    else:
        binary = args.bench or find_binary()
        if not binary:
            parser.error("no cold_bench found; build with -DLIBSANDBOX_BUILD_BENCH=ON or pass --bench")
        data = run_bench(binary, args.extra)
        load_after = loadavg()
        if args.save:
            with open(args.save, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1)

    ctx = data.get("context", {})
    print("host: %s CPUs, load avg %s at start%s; runsc %s" % (
        ctx.get("num_cpus", "?"),
        " ".join("%.2f" % x for x in ctx.get("load_avg", [])) or "?",
        ", %s at end" % load_after if load_after else "",
        ctx.get("runsc_version", "?")))
    rows = pick_rows(data)
    goals = Goals()
    print()
    print_all(rows)
    print()
    print_latency(rows, args, goals)
    print_concurrency(rows, args, goals)
    print_idle_memory(rows, args, goals)
    print()
    print("goals missed: %s" % (", ".join(goals.missed) if goals.missed else "none"))
    return 1 if (goals.missed and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
