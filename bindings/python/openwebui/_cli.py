"""The command line of the tool and function files, and the self-test
catalogue it runs."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import json
import os
import pathlib
import sys
import types
import typing
from collections.abc import Callable, Coroutine

from ._valves import LANGUAGES, OVERRIDE_PREFIX, EventEmitter, ValveError, Valves, effective_valves


def load_selftest() -> types.ModuleType:
    """The self-test catalogue: installed with libsandbox, or the source
    checkout's selftest/ when this package runs from the checkout."""
    try:
        return importlib.import_module("libsandbox.selftest")
    except ImportError:
        pass
    if "libsandbox_selftest" in sys.modules:
        return sys.modules["libsandbox_selftest"]
    # <checkout>/bindings/python/openwebui/_cli.py (a build tree links here).
    package_dir = pathlib.Path(__file__).resolve().parents[3] / "selftest"
    spec = importlib.util.spec_from_file_location(
        "libsandbox_selftest",
        package_dir / "__init__.py",
        submodule_search_locations=[str(package_dir)],
    )
    if spec is None or spec.loader is None or not package_dir.is_dir():
        raise ImportError("libsandbox.selftest is not installed (pip install libsandbox)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# Runs `code` once through a file's Tools/Action: (language, code, __user__,
# __event_emitter__) -> the JSON reply.
RunOnce: typing.TypeAlias = Callable[
    [str, str, dict[str, typing.Any] | None, EventEmitter], Coroutine[typing.Any, typing.Any, str]
]


# What each file's command line says it does, by kind.
_CLI_DESCRIPTIONS = {
    "tool": "Run code in a gVisor sandbox, as Open WebUI would.",
    "function": "Run a code block in a gVisor sandbox, as the Open WebUI button would.",
}


def main(argv: list[str] | None, kind: str, path: str, valves: type[Valves], run_once: RunOnce) -> int:
    """The command line of a tool/function file (`kind`, at `path`): one run
    with the code from stdin, or its self-test suite."""
    parser = argparse.ArgumentParser(description=_CLI_DESCRIPTIONS[kind])
    parser.add_argument("--language", choices=LANGUAGES, default="python")
    parser.add_argument("--use_sample_code", action="store_true", help="run the sample code")
    parser.add_argument("--user", default="", help="Open WebUI user id to run as")
    parser.add_argument("--want_status", default="", help="exit non-zero unless the status is this")
    parser.add_argument("--self_test", action="store_true", help="run the self-test catalogue")
    parser.add_argument("--self_test_filter", default="", help="comma-separated case names or globs")
    parser.add_argument("--debug", action="store_true", help="turn on the DEBUG valve")
    args = parser.parse_args(argv)
    if args.debug:
        os.environ[OVERRIDE_PREFIX + "DEBUG"] = "true"
    if args.self_test:
        selftest = load_selftest()
        return int(
            selftest.run_file_suite(
                os.path.abspath(path), kind, name_filter=args.self_test_filter, debug=args.debug
            )
        )
    # One run per process: pre-booting sandboxes for later runs only costs time.
    os.environ.setdefault(OVERRIDE_PREFIX + "WARM_POOL_SIZE", "0")
    try:
        effective_valves(valves())
    except ValveError as e:
        print(f"Bad valve override: {e}", file=sys.stderr)
        return 2
    if args.use_sample_code:
        code = load_selftest().SAMPLE_CODE[args.language]
    else:
        code = sys.stdin.read()
    quiet = bool(args.want_status)

    def show(event: dict[str, typing.Any]) -> None:
        if not quiet:
            print(f"Event: {json.dumps(event, ensure_ascii=False)}", file=sys.stderr)

    user = {"id": args.user} if args.user else None
    reply = asyncio.run(run_once(args.language, code, user, show))
    print(reply)
    if args.want_status:
        got = json.loads(reply)["status"]
        if got != args.want_status:
            print(f"\u274c Status is {got}, expected {args.want_status}.", file=sys.stderr)
            return 1
        print(f"\u2705 Status is {got} as expected.", file=sys.stderr)
    return 0
