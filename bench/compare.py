#!/usr/bin/env python3
"""Runs cold_bench and compares the library with a bare `runsc run`.

    bench/compare.py [--bench PATH] [--json FILE | --save FILE] [--goal 1.1] [--strict]
                     [-- extra cold_bench flags, e.g. --benchmark_repetitions=3]

Prints every benchmark, the library/raw ratios for python and bash (goal:
at most --goal), and the concurrent figures (wall time of N runs at once
against one run, peak host memory of the process tree). With repetitions,
the medians are used. --json reads a saved run instead of running the
binary. --strict exits 1 when a ratio misses the goal. Python stdlib only.
"""

import argparse
import glob
import json
import os
import subprocess
import sys

PAIRS = (
    ("python", "BM_LibraryPythonHello", "BM_RawRunscRunPython"),
    ("bash", "BM_LibraryBashEcho", "BM_RawRunscRunBash"),
)


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", help="path of the cold_bench binary")
    parser.add_argument("--json", help="read this saved --benchmark_format=json output")
    parser.add_argument("--save", help="also write the raw JSON output to this file")
    parser.add_argument("--goal", type=float, default=1.1, help="largest acceptable ratio")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a ratio misses the goal")
    parser.add_argument("extra", nargs="*", help="flags passed on to cold_bench (after --)")
    args = parser.parse_args()

    if args.json:
        with open(args.json, encoding="utf-8") as f:
            data = json.load(f)
    else:
        binary = args.bench or find_binary()
        if not binary:
            parser.error("no cold_bench found; build with -DLIBSANDBOX_BUILD_BENCH=ON or pass --bench")
        data = run_bench(binary, args.extra)
        if args.save:
            with open(args.save, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1)

    ctx = data.get("context", {})
    print("host: %s CPUs, load avg %s; runsc %s" % (
        ctx.get("num_cpus", "?"),
        " ".join("%.2f" % x for x in ctx.get("load_avg", [])) or "?",
        ctx.get("runsc_version", "?")))
    rows = pick_rows(data)
    print()
    # start = host-side preparation until runsc is launched, run = the
    # sandbox's life (boot, code, exit), teardown = cleanup; from the
    # library's own metrics, per run.
    print("%-30s %6s %11s %9s %9s %12s" % (
        "benchmark", "iters", "real ms/op", "start ms", "run ms", "teardown ms"))
    for name, row in rows.items():
        if row.get("error_occurred"):
            print("%-30s %6s %11s  %s" % (name, "-", "FAILED", row.get("error_message", "")))
            continue
        phases = ["%9.1f" % row[k] if k in row else "%9s" % "" for k in ("start_ms", "run_ms")]
        teardown = "%12.1f" % row["teardown_ms"] if "teardown_ms" in row else ""
        print("%-30s %6d %11.1f %s %s %s" % (name, row["runs_measured"], to_ms(row),
                                          phases[0], phases[1], teardown))

    missed = False
    print()
    print("%-8s %12s %12s %8s  goal <= %.2fx" % ("", "library ms", "raw ms", "ratio", args.goal))
    for label, lib, raw in PAIRS:
        a, b = rows.get(lib), rows.get(raw)
        if not a or not b or a.get("error_occurred") or b.get("error_occurred"):
            print("%-8s  (missing or failed)" % label)
            missed = True
            continue
        ratio = to_ms(a) / to_ms(b)
        ok = ratio <= args.goal
        missed |= not ok
        print("%-8s %12.1f %12.1f %7.2fx  %s" % (label, to_ms(a), to_ms(b), ratio,
                                                 "ok" if ok else "MISSED"))

    warm, cold = rows.get("BM_LibraryPythonHelloWarmPool"), rows.get("BM_LibraryPythonHello")
    if warm and cold and not warm.get("error_occurred") and not cold.get("error_occurred"):
        print("%-8s %12.1f ms with a warm sandbox waiting (%.2fx of cold)" % (
            "warm", to_ms(warm), to_ms(warm) / to_ms(cold)))

    conc = {int(n.rsplit("/", 1)[1]): r for n, r in rows.items()
            if n.startswith("BM_LibraryConcurrent/") and not r.get("error_occurred")}
    if conc:
        print()
        print("concurrent python hello (fresh sandbox each):")
        print("%5s %10s %12s %12s %12s %12s %6s" % (
            "runs", "wall ms", "slowest s", "peak RSS MiB", "peak PSS MiB", "PSS/run MiB", "procs"))
        for n in sorted(conc):
            r = conc[n]
            # The benchmark process itself is in the tree; take it out per run.
            per_run = (r.get("peak_pss_MiB", 0) - r.get("base_pss_MiB", 0)) / n
            print("%5d %10.1f %12.2f %12.1f %12.1f %12.1f %6d" % (
                n, to_ms(r), r.get("slowest_run_s", 0), r.get("peak_rss_MiB", 0),
                r.get("peak_pss_MiB", 0), per_run, r.get("peak_procs", 0)))
        if 1 in conc and len(conc) > 1:
            top = max(conc)
            print("%d at once take %.2fx the wall time of one" % (
                top, to_ms(conc[top]) / to_ms(conc[1])))

    return 1 if (missed and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
