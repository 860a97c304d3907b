"""What capturing matplotlib figures costs a run: the same plot with the
capture (the default: the figure comes back in Result.outputs) and without it
(the caller's MPLBACKEND=Agg: nothing captured), alternating, from a warm pool.

``python3 bench/plot_capture.py [--runs 15]`` prints p50/p95 of each and the
difference; also runs without matplotlib, to show what the capture costs runs
that plot nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time

import libsandbox

PLOT = "import matplotlib.pyplot as plt\nplt.plot([1, 4, 9]); plt.title('squares'); plt.show()\n"
HELLO = "print('hello')"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="plot-capture-") as root:
        config = libsandbox.Config(
            state_dir=f"{root}/state", storage_dir=f"{root}/files", pool_size=2, pool_max_size=2
        )
        limits = libsandbox.Limits(memory_mb=512)
        cases = {
            "plot, captured": (PLOT, None),
            "plot, MPLBACKEND=Agg": (PLOT, {"MPLBACKEND": "Agg"}),
            "no plot (hello)": (HELLO, None),
            "no plot, MPLBACKEND=Agg": (HELLO, {"MPLBACKEND": "Agg"}),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        libsandbox.run(HELLO, config=config, limits=limits)
        for _ in range(args.runs):
            for name, (code, env) in cases.items():
                time.sleep(0.8)  # the pool refills: every run is a pool hit
                started = time.perf_counter()
                r = libsandbox.run(code, config=config, limits=limits, env=env)
                times[name].append(time.perf_counter() - started)
                assert r.ok, (r.message, r.stderr)
                assert len(r.outputs) == (1 if name == "plot, captured" else 0), name
        libsandbox.shutdown()
    for name, values in times.items():
        p50 = 1000 * statistics.median(values)
        p95 = 1000 * sorted(values)[round(0.95 * (len(values) - 1))]
        print(f"{name:26s} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms")
    for a, b in (("plot, captured", "plot, MPLBACKEND=Agg"), ("no plot (hello)", "no plot, MPLBACKEND=Agg")):
        diff = 1000 * (statistics.median(times[a]) - statistics.median(times[b]))
        print(f"capture cost ({a} - {b}): {diff:+.1f} ms at p50")
    return 0


if __name__ == "__main__":
    sys.exit(main())
