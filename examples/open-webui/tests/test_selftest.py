"""The self-test catalogue: both files' --self_test suites pass on this host,
the one-off and filter modes behave, the library runner shares the
catalogue, and the extra cases catch a runner that does not sandbox."""

from __future__ import annotations

import asyncio
import os
import pathlib
import shutil
import subprocess
import sys
import time
import types
from typing import Any

import pytest
from owui_helpers import FUNCTION_PATH, TOOL_PATH

SUITE_TIMEOUT_S = 300


def self_test(path: pathlib.Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(path), "--self_test", *args],
        capture_output=True,
        text=True,
        timeout=SUITE_TIMEOUT_S,
    )


@pytest.mark.parametrize(
    ("path", "kind", "count"),
    [(TOOL_PATH, "tool", 18), (FUNCTION_PATH, "function", 25)],
    ids=["tool", "function"],
)
def test_full_self_test_suite_passes(
    libsandbox: types.ModuleType, path: pathlib.Path, kind: str, count: int
) -> None:
    start = time.monotonic()
    done = self_test(path)
    elapsed = time.monotonic() - start
    last = done.stdout.strip().splitlines()[-1]
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert last.startswith(f"\u2705 All {count} {kind} self-tests passed"), last
    print(f"{kind} --self_test: {elapsed:.1f} s")


def test_filter_runs_only_matching_cases(libsandbox: types.ModuleType) -> None:
    done = self_test(FUNCTION_PATH, "--self_test_filter=simple_*,bad_syntax_bash")
    assert done.returncode == 0, done.stdout
    ran = [line.split(": ", 1)[1] for line in done.stdout.splitlines() if line.startswith("\u23f3")]
    assert ran == ["simple_python", "simple_bash", "bad_syntax_bash", "simple_file_creation"]
    # Storage counts build on every earlier case: not checkable once one is skipped.
    assert "storage count not checked: earlier cases were filtered out" in done.stdout
    assert done.stdout.strip().splitlines()[-1].startswith("\u2705 All 4 function self-tests passed")


def test_filter_matching_nothing_fails() -> None:
    done = self_test(TOOL_PATH, "--self_test_filter=no_such_case")
    assert done.returncode == 2
    assert "No tool self-test matches" in done.stdout


@pytest.mark.parametrize("path", [TOOL_PATH, FUNCTION_PATH], ids=["tool", "function"])
def test_one_off_mode_with_wanted_status(
    libsandbox: types.ModuleType, path: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    env = dict(os.environ, CODE_EVAL_VALVE_OVERRIDE_WEB_ACCESSIBLE_DIRECTORY_PATH=str(tmp_path))
    argv = [sys.executable, str(path), "--language=bash"]
    good = subprocess.run(
        [*argv, "--want_status=OK"], input="echo hi", capture_output=True, text=True, env=env
    )
    assert good.returncode == 0, good.stderr
    assert "Status is OK as expected" in good.stderr
    wrong = subprocess.run(
        [*argv, "--want_status=ERROR"], input="echo hi", capture_output=True, text=True, env=env
    )
    assert wrong.returncode == 1
    assert "Status is OK, expected ERROR" in wrong.stderr


def test_library_runner_uses_the_same_catalogue(
    libsandbox: types.ModuleType, selftest_package: types.ModuleType
) -> None:
    names = [c.name for c in selftest_package.SUITES["library"]]
    function_names = [c.name for c in selftest_package.FUNCTION_CASES]
    assert names == function_names + [c.name for c in selftest_package.EXTRA_CASES]
    assert {c.name for c in selftest_package.TOOL_CASES} <= set(function_names)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "libsandbox",
            "--self_test",
            "--self_test_filter=simple_bash,bad_syntax_python",
        ],
        capture_output=True,
        text=True,
        timeout=SUITE_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("\u2705 All 2 library self-tests passed")


# ---- The extra cases must be able to fail: run them without a sandbox. ----

NOBODY = 65534
# An interpreter the unprivileged user can run (a per-user install may not be).
SYSTEM_PYTHON = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
needs_control = pytest.mark.skipif(
    os.geteuid() != 0 or SYSTEM_PYTHON is None,
    reason="the unsandboxed control runs code as another user with a system python3",
)


class HostTarget:
    """Runs code straight on the host as an unprivileged user, keeps files
    by copying them (following symlinks) into one bucket for everybody and
    caps nothing: what the extra cases exist to catch."""

    kind = "library"
    debug = False

    def __init__(self, selftest: types.ModuleType) -> None:
        self.selftest = selftest
        self.runs = 0

    async def run(self, req: Any) -> Any:
        self.runs += 1
        workspace = pathlib.Path(req.storage_root).parent / f"workspace-{self.runs}"
        workspace.mkdir()
        workspace.chmod(0o777)
        interpreter = [str(SYSTEM_PYTHON), "-c"] if req.language == "python" else ["/bin/bash", "-c"]
        env = dict(os.environ, **req.env)

        def drop_privileges() -> None:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)

        proc = await asyncio.create_subprocess_exec(
            *interpreter,
            req.code,
            cwd=workspace,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=drop_privileges,
        )
        out, err = await proc.communicate()
        bucket = pathlib.Path(req.storage_root) / "everyone" / f"run-{self.runs}"
        limit = int(req.valves.get("MAX_FILES_PER_USER", 4096))
        bucket.mkdir(parents=True)
        files = {}
        for path in sorted(workspace.rglob("*")):
            if path.is_file():  # follows symlinks
                relative = str(path.relative_to(workspace))
                kept = bucket / relative
                kept.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, kept)
                files[relative] = self.selftest.OutFile(relative, kept.stat().st_size, str(kept))
        runs = sorted((pathlib.Path(req.storage_root) / "everyone").iterdir())
        while sum(1 for r in runs for p in r.rglob("*") if p.is_file()) > limit and len(runs) > 1:
            shutil.rmtree(runs.pop(0))
        return self.selftest.Outcome(
            status="OK" if proc.returncode == 0 else "ERROR",
            output=(out + err).decode(errors="replace"),
            truncated=False,
            files=files,
            reply={},
            log="",
            elapsed_s=0.0,
        )


@needs_control
@pytest.mark.parametrize(
    ("case_name", "complaint"),
    [
        ("read_only_root_and_no_host_secrets", "secret"),
        ("symlink_not_exported", "leak.txt"),
        ("output_flood", "not flagged as truncated"),
        ("two_users", ""),
    ],
)
def test_extra_cases_catch_an_unsandboxed_runner(
    selftest_package: types.ModuleType, tmp_path: pathlib.Path, case_name: str, complaint: str
) -> None:
    (case,) = [c for c in selftest_package.EXTRA_CASES if c.name == case_name]
    storage = tmp_path / "storage"
    storage.mkdir()
    (tmp_path / "scratch").mkdir()
    ctx = selftest_package.Context(str(storage), str(tmp_path / "scratch"), False)
    verdict = asyncio.run(selftest_package.run_case(case, HostTarget(selftest_package), ctx, True))
    assert verdict.failure is not None, f"{case_name} passed without a sandbox"
    assert complaint in verdict.failure


@needs_control
def test_network_check_catches_a_reachable_host_service(
    selftest_package: types.ModuleType, tmp_path: pathlib.Path
) -> None:
    cases = sys.modules[selftest_package.__name__ + ".cases"]
    ctx = selftest_package.Context(str(tmp_path), str(tmp_path), False)
    try:
        # Only our own listener on loopback: the probe as the sandbox runs it.
        code = cases._NET_PROBE.replace("__TARGETS__", repr([("127.0.0.1", ctx.listener().port)]))
        out = asyncio.run(
            HostTarget(selftest_package).run(selftest_package.Request("python", code, str(tmp_path)))
        )
        failure = cases._check_network(network_on=False)(out, ctx)
    finally:
        ctx.close()
    assert failure is not None and "connected to 127.0.0.1" in failure


def test_self_test_from_the_installed_library(libsandbox: types.ModuleType, tmp_path: pathlib.Path) -> None:
    # In a container where the files live only in Open WebUI's database.
    done = subprocess.run(
        [sys.executable, "-m", "libsandbox.openwebui", "--self_test", "--self_test_filter=simple_python"],
        capture_output=True,
        text=True,
        timeout=SUITE_TIMEOUT_S,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "All 1 tool self-tests passed" in done.stdout
    assert "All 1 function self-tests passed" in done.stdout
