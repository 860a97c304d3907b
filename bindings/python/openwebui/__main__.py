"""``python3 -m libsandbox.openwebui --self_test``: the tool's and the
function's self-test suites, with the copies of both files installed with
libsandbox, so a container that only has the library (the files themselves
live in Open WebUI's database) can check its setup."""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

from ._cli import load_selftest
from ._valves import OVERRIDE_PREFIX

_FILES = {"tool": "tools/run_code.py", "function": "functions/run_code.py"}


def plugin_file(kind: str) -> pathlib.Path:
    """The installed copy (libsandbox/openwebui/plugins/), or the checkout's
    examples/open-webui/ when running from the source tree."""
    here = pathlib.Path(__file__).resolve().parent
    installed = here / "plugins" / _FILES[kind].replace("/", "_")
    if installed.is_file():
        return installed
    checkout = here.parents[2] / "examples" / "open-webui" / _FILES[kind]
    if checkout.is_file():
        return checkout
    raise FileNotFoundError(f"the {kind} file is not installed with libsandbox ({installed})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m libsandbox.openwebui", description=__doc__)
    parser.add_argument("--self_test", action="store_true", required=True)
    parser.add_argument("--self_test_filter", default="", help="comma-separated case names or globs")
    parser.add_argument("--only", choices=sorted(_FILES), help="one of the two files")
    parser.add_argument("--debug", action="store_true", help="turn on the DEBUG valve")
    args = parser.parse_args(argv)
    if args.debug:
        os.environ[OVERRIDE_PREFIX + "DEBUG"] = "true"
    selftest = load_selftest()
    failed = 0
    for kind in [args.only] if args.only else sorted(_FILES):
        try:
            path = plugin_file(kind)
        except FileNotFoundError as e:
            print(e, file=sys.stderr)
            return 2
        print(f"== {kind}: {path}", flush=True)
        failed |= int(
            selftest.run_file_suite(str(path), kind, name_filter=args.self_test_filter, debug=args.debug)
        )
    return failed


if __name__ == "__main__":
    sys.exit(main())
