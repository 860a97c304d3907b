"""Runs a suite of the catalogue against a target and reports each case:
a progress line, a verdict, and at the end an all-passed line or the names
of the failed cases (and a non-zero exit)."""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from . import checks
from .cases import SUITES, Case
from .context import Context
from .targets import FileTarget, LibraryTarget, Outcome, Target, TargetError

# Every case gets this long, whatever it runs (the plugin we replace gave 20 s).
CASE_BUDGET_S = 20.0
_EXCERPT_CHARS = 1500


@dataclass
class Verdict:
    name: str
    failure: str | None
    elapsed_s: float
    notes: list[str]
    details: str = ""


def _excerpt(text: str) -> str:
    text = text.strip()
    if len(text) <= _EXCERPT_CHARS:
        return text
    return text[: _EXCERPT_CHARS // 2] + "\n[...]\n" + text[-_EXCERPT_CHARS // 2 :]


def _describe(out: Outcome) -> str:
    lines = [f"status: {out.status}"]
    message = out.reply.get("message")
    if message:
        lines.append(f"message: {message}")
    if out.output:
        lines.append("output:\n" + _excerpt(out.output))
    if out.log:
        lines.append("host log:\n" + _excerpt(out.log))
    return "\n".join(lines)


async def _run_code_case(
    case: Case, target: Target, ctx: Context, check_storage: bool
) -> tuple[str | None, str]:
    code = case.code(ctx) if callable(case.code) else case.code
    env = case.env(ctx) if case.env else {}
    out = await target.run(ctx.request(case.language, code, valves=dict(case.valves), env=dict(env)))
    failure = checks.status(out, case.want_status)
    if failure is None and case.files is not None:
        failure = checks.files(out, case.files, target.kind)
    if failure is None and case.stored_files is not None:
        if check_storage:
            failure = checks.stored_count(ctx.storage_root, case.stored_files)
        else:
            ctx.notes.append("storage count not checked: earlier cases were filtered out")
    if failure is None and case.check is not None:
        failure = case.check(out, ctx)
    return failure, _describe(out)


async def run_case(case: Case, target: Target, ctx: Context, check_storage: bool) -> Verdict:
    start = time.monotonic()
    details = ""
    try:
        if case.scenario is not None:
            failure = await asyncio.wait_for(case.scenario(target, ctx), CASE_BUDGET_S)
        else:
            failure, details = await asyncio.wait_for(
                _run_code_case(case, target, ctx, check_storage), CASE_BUDGET_S
            )
    except (asyncio.TimeoutError, TimeoutError):
        failure = f"took longer than the {CASE_BUDGET_S:.0f} s budget"
    except TargetError as e:
        failure = f"no result: {e}"
    except Exception as e:  # A broken case must not hide the others.
        failure = f"{type(e).__name__}: {e}"
        details = traceback.format_exc()
    finally:
        ctx.close()
    return Verdict(case.name, failure, time.monotonic() - start, ctx.notes, details)


def select(cases: Sequence[Case], name_filter: str) -> list[Case]:
    """The cases whose names match one of the comma-separated globs."""
    patterns = [p.strip() for p in name_filter.split(",") if p.strip()]
    if not patterns:
        return list(cases)
    return [c for c in cases if any(fnmatch.fnmatchcase(c.name, p) for p in patterns)]


async def run_suite(
    suite: str, target: Target, name_filter: str = "", debug: bool = False, out: TextIO = sys.stdout
) -> int:
    """Runs the suite's cases in order; 0 when all passed."""
    cases = SUITES[suite]
    chosen = select(cases, name_filter)
    if not chosen:
        print(f"No {suite} self-test matches {name_filter!r}.", file=out)
        return 2
    inherited = sorted(n for n in os.environ if n.startswith("CODE_EVAL_VALVE_OVERRIDE_"))
    if inherited:
        print(f"Note: these valve overrides apply to every case: {', '.join(inherited)}", file=out)
    shared_chain = [c for c in cases if c.shared_storage]
    # Storage counts carry over from earlier cases: check them only when the
    # whole chain up to that case runs.
    chain_intact = True
    verdicts: list[Verdict] = []
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="libsandbox-selftest-") as scratch:
        shared_root = os.path.join(scratch, "shared-storage")
        os.makedirs(shared_root)
        for index, case in enumerate(chosen):
            if case.shared_storage:
                position = shared_chain.index(case)
                chain_intact = chain_intact and all(c in chosen for c in shared_chain[:position])
            case_dir = os.path.join(scratch, f"case-{index}")
            os.makedirs(case_dir)
            root = shared_root if case.shared_storage else os.path.join(case_dir, "storage")
            os.makedirs(root, exist_ok=True)
            print(f"\u23f3 Running self-test: {case.name}", file=out, flush=True)
            ctx = Context(root, case_dir, debug)
            verdict = await run_case(case, target, ctx, check_storage=chain_intact)
            verdicts.append(verdict)
            if verdict.failure is None:
                print(f"\u2714 Self-test {case.name} passed ({verdict.elapsed_s:.1f} s).", file=out)
            else:
                print(f"\u274c Self-test {case.name} failed: {verdict.failure}", file=out)
            for note in verdict.notes:
                print(f"    {note}", file=out)
            if verdict.details and (debug or verdict.failure is not None):
                for line in verdict.details.splitlines():
                    print(f"    | {line}", file=out)
            out.flush()
            if not case.shared_storage:
                shutil.rmtree(case_dir, ignore_errors=True)
    failed = [v.name for v in verdicts if v.failure is not None]
    elapsed = time.monotonic() - start
    if failed:
        print(
            f"\u2620 {len(failed)} of {len(verdicts)} {suite} self-tests failed ({elapsed:.1f} s): "
            + ", ".join(failed),
            file=out,
        )
        return 1
    print(f"\u2705 All {len(verdicts)} {suite} self-tests passed ({elapsed:.1f} s).", file=out)
    return 0


def run_file_suite(path: str, kind: str, name_filter: str = "", debug: bool = False) -> int:
    """`--self_test` of an Open WebUI tool ("tool") or function ("function") file."""
    return asyncio.run(run_suite(kind, FileTarget(path, kind, debug), name_filter, debug))


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m libsandbox --self_test`: the catalogue through libsandbox.run."""
    parser = argparse.ArgumentParser(
        prog="python -m libsandbox --self_test",
        description="Run the self-test catalogue straight through libsandbox.",
    )
    parser.add_argument("--self_test", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--self_test_filter", default="", help="comma-separated case names or globs")
    parser.add_argument("--debug", action="store_true", help="debug mode: show every case's details")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.list:
        for case in select(SUITES["library"], args.self_test_filter):
            print(case.name)
        return 0
    return asyncio.run(run_suite("library", LibraryTarget(args.debug), args.self_test_filter, args.debug))
