"""python -m libsandbox: host checks, the self-test catalogue, the version.

python -m libsandbox doctor [--json] [--runsc PATH]
python -m libsandbox --self_test [catalogue options]
python -m libsandbox version
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from typing import Any

import libsandbox


def _doctor(args: argparse.Namespace) -> int:
    config = libsandbox.Config(runsc_path=args.runsc)
    checks = libsandbox.doctor(config)
    if args.json:
        print(json.dumps([c.to_dict() for c in checks], indent=2))
    else:
        for c in checks:
            print(f"[{' ok ' if c.ok else 'FAIL'}] {c.name}: {c.detail}")
            if not c.ok and c.remedy:
                print(f"       fix: {c.remedy}")
    failed = [c.name for c in checks if not c.ok]
    if not checks:
        print("doctor: no checks ran", file=sys.stderr)
        return 1
    if failed and not args.json:
        print(f"{len(failed)} of {len(checks)} checks failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _self_test(argv: list[str]) -> int:
    # The catalogue lives in the repository's selftest/ directory and is
    # installed as libsandbox.selftest; its entry is main(argv) -> int, in the
    # package itself or in its runner module. Imported by name: it is not part
    # of the source package.
    entry: Any = None  # Any, not object: callable() on object makes a synthetic type
    for name in ("libsandbox.selftest", "libsandbox.selftest.runner"):
        try:
            entry = getattr(importlib.import_module(name), "main", None)
        except ImportError as e:
            return _no_catalogue(str(e))
        if entry is not None:
            break
    if not callable(entry):
        return _no_catalogue("it has no main(argv) entry point")
    code = entry(argv)
    return code if isinstance(code, int) else 1


def _no_catalogue(why: str) -> int:
    print(
        f"libsandbox: the self-test catalogue (libsandbox.selftest) is not usable: {why}. "
        "Reinstall the package from a complete source tree (pip install .).",
        file=sys.stderr,
    )
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    # --self_test hands every other argument to the catalogue untouched.
    if "--self_test" in args_in:
        args_in.remove("--self_test")
        return _self_test(args_in)

    parser = argparse.ArgumentParser(
        prog="python -m libsandbox", description="libsandbox host checks and self-tests"
    )
    parser.add_argument(
        "--self_test", action="store_true", help="run the self-test catalogue; non-zero exit on failure"
    )
    sub = parser.add_subparsers(dest="command")
    doctor = sub.add_parser("doctor", help="check what gVisor and the limits need on this host")
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")
    doctor.add_argument("--runsc", default="", help="runsc binary to check (default: from PATH)")
    sub.add_parser("version", help="print the libsandbox and runsc versions")
    args = parser.parse_args(args_in)

    if args.command == "doctor":
        return _doctor(args)
    if args.command == "version":
        print(f"libsandbox {libsandbox.__version__}")
        try:
            print(f"runsc {libsandbox.runsc_version()}")
        except (OSError, RuntimeError, ValueError) as e:
            print(f"runsc: {e}", file=sys.stderr)
            return 1
        return 0
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
