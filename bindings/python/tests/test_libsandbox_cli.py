"""The command lines: python -m libsandbox (doctor, --self_test) and sandbox-run."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import libsandbox
from libsandbox import __main__ as cli
from libsandbox import _core


def _module(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "libsandbox", *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_doctor_prints_every_check_and_exit_code_follows_them() -> None:
    checks = libsandbox.doctor()
    assert checks, "doctor returned no checks"
    for check in checks:
        assert check.name
        assert check.ok or check.remedy, f"failing check {check.name} has no remedy"
    proc = _module("doctor")
    for check in checks:
        assert check.name in proc.stdout
    assert proc.returncode == (0 if all(c.ok for c in checks) else 1), proc.stdout + proc.stderr


def test_doctor_json_and_a_missing_runsc_fails() -> None:
    proc = _module("doctor", "--json", "--runsc", "/nonexistent/runsc")
    assert proc.returncode != 0
    checks = json.loads(proc.stdout)
    assert any(not c["ok"] and c["remedy"] for c in checks), checks


def test_runsc_version_is_reported() -> None:
    assert libsandbox.runsc_version()
    with pytest.raises(FileNotFoundError):
        libsandbox.runsc_version(libsandbox.Config(runsc_path="/nonexistent/runsc"))


def test_self_test_without_catalogue_fails_clearly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "libsandbox.selftest", None)  # makes the import fail
    assert cli.main(["--self_test"]) != 0
    assert "libsandbox.selftest" in capsys.readouterr().err


def test_usage_error_is_non_zero() -> None:
    proc = _module()
    assert proc.returncode == 2


def test_self_test_runs_the_installed_catalogue() -> None:
    listed = _module("--self_test", "--list")
    assert listed.returncode == 0, listed.stderr
    assert "simple_python" in listed.stdout.split()
    proc = _module("--self_test", "--self_test_filter", "simple_python,bad_syntax_python")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "simple_python" in proc.stdout


# ---- sandbox-run: the C++ command line ----


def _find_sandbox_run() -> str | None:
    """$LIBSANDBOX_SANDBOX_RUN, else the CMake build tree's, else the one on PATH."""
    if env := os.environ.get("LIBSANDBOX_SANDBOX_RUN"):
        return env
    built = Path(__file__).resolve().parents[3] / "build" / "libsandbox" / "sandbox-run"
    if built.is_file():
        return str(built)
    return shutil.which("sandbox-run")


@pytest.fixture(scope="module")
def sandbox_run() -> str:
    path = _find_sandbox_run()
    if path is None:
        pytest.skip("sandbox-run is not built (cmake --build build) nor on PATH")
    return path


@pytest.fixture
def dirs(sandbox_root: Path) -> list[str]:
    """Flags that keep a run's state and files inside the test root."""
    return [f"--state-dir={sandbox_root / 'state'}", f"--storage-dir={sandbox_root / 'storage'}"]


def _cli(binary: str, *args: str, stdin: str | None = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, *args], input=stdin, capture_output=True, text=True, timeout=300, check=False
    )


def _result(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def test_sandbox_run_code_from_stdin_with_default_limits(sandbox_run: str, dirs: list[str]) -> None:
    proc = _cli(sandbox_run, *dirs, stdin="print(6 * 7)")
    result = _result(proc)
    assert (result["status"], result["stdout"], result["exit_code"]) == ("OK", "42\n", 0)
    assert isinstance(result["files"], list)


def test_sandbox_run_prints_figures_as_base64_outputs(sandbox_run: str, dirs: list[str]) -> None:
    plot = "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()\n"
    result = _result(_cli(sandbox_run, *dirs, "--memory-mb=512", stdin=plot))
    assert result["status"] == "OK", result["message"]
    [figure] = result["outputs"]
    assert (figure["name"], figure["mime_type"]) == ("figure-1.png", "image/png")
    assert base64.b64decode(figure["data"])[:8] == b"\x89PNG\r\n\x1a\n"
    assert result["files"] == []


def test_sandbox_run_request_textproto_needs_no_stdin(
    sandbox_run: str, dirs: list[str], tmp_path: Path
) -> None:
    request = tmp_path / "job.textproto"
    request.write_text(
        "code: \"import os; print(os.environ['GREETING'], 6 * 7)\"\n"
        'language: "python"\n'
        'env { key: "GREETING" value: "hello" }\n'
    )
    # stdin stays open and empty: the request's code must not wait for it.
    read_end, write_end = os.pipe()
    try:
        proc = subprocess.run(
            [sandbox_run, f"--request={request}", *dirs],
            stdin=read_end,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(read_end)
        os.close(write_end)
    result = _result(proc)
    assert (result["status"], result["stdout"]) == ("OK", "hello 42\n")


def test_sandbox_run_request_json_with_input_files(sandbox_run: str, dirs: list[str], tmp_path: Path) -> None:
    request = tmp_path / "job.json"
    request.write_text(
        json.dumps(
            {
                "code": 'cat data.txt; echo " $((6 * 7))"',
                "language": "bash",
                "files": [{"path": "data.txt", "content": base64.b64encode(b"from json").decode()}],
            }
        )
    )
    result = _result(_cli(sandbox_run, "--request", str(request), *dirs))
    assert (result["status"], result["stdout"]) == ("OK", "from json 42\n")


def test_sandbox_run_flags_and_code_file_override_the_request(
    sandbox_run: str, dirs: list[str], tmp_path: Path
) -> None:
    request = tmp_path / "slow.pbtxt"
    request.write_text("code: \"import time; time.sleep(3); print('done')\"\nlimits { timeout_s: 1 }\n")
    timed_out = _result(_cli(sandbox_run, f"--request={request}", *dirs))
    assert timed_out["status"] == "TIMEOUT", timed_out
    # An explicit flag replaces that one cap of the file.
    done = _result(_cli(sandbox_run, f"--request={request}", "--timeout-s=60", *dirs))
    assert (done["status"], done["stdout"]) == ("OK", "done\n")
    # CODE_FILE replaces the request's code; "-" reads it from stdin.
    code = tmp_path / "other.py"
    code.write_text("print('from the code file')")
    other = _result(_cli(sandbox_run, f"--request={request}", *dirs, str(code)))
    assert (other["status"], other["stdout"]) == ("OK", "from the code file\n")
    piped = _result(_cli(sandbox_run, f"--request={request}", *dirs, "-", stdin="print('piped')"))
    assert (piped["status"], piped["stdout"]) == ("OK", "piped\n")
    # --language over the request's language.
    bash = tmp_path / "bash.txtpb"
    bash.write_text('code: "echo bash ok"\nlanguage: "python"\n')
    result = _result(_cli(sandbox_run, f"--request={bash}", "--language=bash", *dirs))
    assert (result["status"], result["stdout"]) == ("OK", "bash ok\n")


def test_sandbox_run_config_file_sets_storage_dir_and_flags_override_it(
    sandbox_run: str, sandbox_root: Path, tmp_path: Path
) -> None:
    kept = sandbox_root / "kept-by-config"
    config = tmp_path / "host.textproto"
    config.write_text(f'state_dir: "{sandbox_root / "state"}"\nstorage_dir: "{kept}"\n')
    code = "open('out.txt', 'w').write('x' * 10)"
    result = _result(_cli(sandbox_run, f"--config={config}", "--user=cli-config", stdin=code))
    assert result["status"] == "OK", result
    [kept_file] = [f for f in result["files"] if f["path"] == "out.txt"]
    assert kept_file["size"] == 10
    assert Path(kept_file["host_path"]).resolve().is_relative_to(kept.resolve())
    assert Path(kept_file["host_path"]).read_text() == "x" * 10

    # The same in JSON, with --storage-dir over the file's storage_dir.
    flag_dir = sandbox_root / "kept-by-flag"
    json_config = tmp_path / "host.json"
    json_config.write_text(json.dumps({"state_dir": str(sandbox_root / "state"), "storage_dir": str(kept)}))
    result = _result(
        _cli(
            sandbox_run,
            f"--config={json_config}",
            f"--storage-dir={flag_dir}",
            "--user=cli-config",
            stdin=code,
        )
    )
    [kept_file] = [f for f in result["files"] if f["path"] == "out.txt"]
    assert Path(kept_file["host_path"]).resolve().is_relative_to(flag_dir.resolve())


@pytest.mark.parametrize("flag", ["--request", "--config"])
@pytest.mark.parametrize(
    ("name", "text", "needles"),
    [
        ("broken.textproto", 'code: "unterminated\n', ["line 1"]),
        ("broken.json", '{"code": ', ["JSON"]),
        ("typo.textproto", 'colour: "red"\n', ["colour"]),
        ("typo.json", '{"colour": "red"}', ["colour"]),
        ("wrong-type.json", '{"language": 7, "storage_dir": 7}', ["JSON"]),
        ("job.yaml", "code: print(1)\n", [".textproto", ".json"]),
        ("missing.json", None, ["missing.json"]),
    ],
)
def test_sandbox_run_refuses_a_bad_file_without_running(
    sandbox_run: str,
    dirs: list[str],
    tmp_path: Path,
    flag: str,
    name: str,
    text: str | None,
    needles: list[str],
) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    proc = _cli(sandbox_run, f"{flag}={path}", *dirs, stdin="print('must not run')")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""  # nothing ran, no result
    assert str(path) in proc.stderr
    assert ("request file" if flag == "--request" else "config file") in proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


def test_sandbox_run_usage_errors_exit_2(sandbox_run: str, dirs: list[str]) -> None:
    for args in (["--network=maybe"], ["--no-such-flag"], ["--timeout-s=soon"], ["a.py", "b.py"]):
        proc = _cli(sandbox_run, *dirs, *args, stdin="print(1)")
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stdout == ""
        assert "usage: sandbox-run" in proc.stderr


def test_sandbox_run_help_documents_the_files_and_the_core_defaults(sandbox_run: str) -> None:
    proc = _cli(sandbox_run, "--help")
    assert proc.returncode == 0
    text = proc.stdout + proc.stderr
    for flag in ("--request", "--config", "--timeout-s", "--memory-mb", "--storage-dir", "--file"):
        assert flag in text
    core = _core.default_limits()
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip().startswith("--")}
    assert f"(default: {core['timeout_s']:g})" in lines["--timeout-s"]
    assert f"(default: {core['memory_mb']})" in lines["--memory-mb"]
    assert f"(default: {core['max_output_bytes']})" in lines["--max-output-bytes"]
    assert f"(default: {_core.DEFAULT_LANGUAGE})" in lines["--language"]
    default_storage = _core.resolved_config({})["storage_dir"]
    assert f"(default: {default_storage})" in lines["--storage-dir"]
