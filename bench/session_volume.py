"""What the default session workspace volume costs: a new session's first
exec (which boots its sandbox and, when capped, makes and mounts its ext4
volume) with an uncapped workspace and with the default 512 MiB volume,
alternating so both see the same machine.

``python3 bench/session_volume.py [--runs 8]`` prints p50 and max per kind.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import libsandbox


def first_exec_s(workspace_mb: int | None, user: str) -> float:
    with tempfile.TemporaryDirectory(prefix="lsb-vol-") as root:
        config = libsandbox.Config(state_dir=f"{root}/state", storage_dir=f"{root}/files")
        # None: the session defaults (the 512 MiB volume); 0: a plain directory.
        limits = None if workspace_mb is None else libsandbox.Limits(workspace_mb=workspace_mb, tmp_mb=64)
        session = libsandbox.Session(user, limits=limits, config=config)
        start = time.monotonic()
        result = session.exec("print(1)")
        elapsed = time.monotonic() - start
        session.reset()
        if result.status is not libsandbox.Status.OK:
            raise SystemExit(f"exec failed: {result.message}")
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=8)
    args = parser.parse_args()
    kinds: dict[str, list[float]] = {"uncapped directory": [], "default volume": []}
    for i in range(args.runs):
        kinds["uncapped directory"].append(first_exec_s(0, f"plain-{i}"))
        kinds["default volume"].append(first_exec_s(None, f"volume-{i}"))
    for kind, times in kinds.items():
        ms = sorted(1000 * t for t in times)
        print(f"{kind:<20} first exec p50 {statistics.median(ms):.0f} ms, max {ms[-1]:.0f} ms")


if __name__ == "__main__":
    main()
