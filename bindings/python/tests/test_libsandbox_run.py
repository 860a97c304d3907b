"""Real runs in gVisor through the Python API."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import libsandbox
from libsandbox import Limits, Status


def test_hello_world(config: libsandbox.Config) -> None:
    result = libsandbox.run("print('Hello from the sandbox!')", config=config)
    assert result.status is Status.OK, result.message
    assert result.stdout == "Hello from the sandbox!\n"
    assert result.exit_code == 0
    assert result.reason == ""
    assert 0 < result.duration_s < 30


def test_bash(config: libsandbox.Config) -> None:
    result = libsandbox.run("echo hi from bash; echo oops >&2", "bash", config=config)
    assert result.status is Status.OK, result.message
    assert (result.stdout, result.stderr) == ("hi from bash\n", "oops\n")


def test_syntax_error_is_error_with_the_traceback(config: libsandbox.Config) -> None:
    result = libsandbox.run("print('foo", config=config)
    assert result.status is Status.ERROR
    assert result.exit_code not in (None, 0)
    assert "SyntaxError" in result.stderr


def test_timeout_keeps_partial_output(config: libsandbox.Config) -> None:
    code = "import time\nprint('before the sleep', flush=True)\ntime.sleep(30)\nprint('after')\n"
    start = time.monotonic()
    result = libsandbox.run(code, limits=Limits(timeout_s=2), config=config)
    assert result.status is Status.TIMEOUT
    assert result.reason is libsandbox.Reason.TIMEOUT
    assert "before the sleep" in result.stdout
    assert "after" not in result.stdout
    assert time.monotonic() - start < 15


def test_memory_hog_is_interrupted_for_memory(config: libsandbox.Config) -> None:
    code = (
        "chunks = []\n"
        "for _ in range(512):\n"
        "    chunks.append(bytearray(1024 * 1024))\n"
        "print('allocated', len(chunks))\n"
    )
    result = libsandbox.run(code, limits=Limits(memory_mb=64, timeout_s=20), config=config)
    assert result.status is Status.INTERRUPTED, (result.status, result.message, result.stderr)
    # A typed reason that is also the contract's string.
    assert result.reason is libsandbox.Reason.MEMORY
    assert result.reason == "memory" and result.to_dict()["reason"] == "memory"
    assert json.loads(json.dumps(result.to_dict()))["reason"] == "memory"
    assert "allocated" not in result.stdout
    assert result.message


def test_files_in_and_out(config: libsandbox.Config) -> None:
    code = (
        "data = open('inputs/data.txt').read()\n"
        "blob = open('blob.bin', 'rb').read()\n"
        "open('out.txt', 'w').write(data.upper() + str(len(blob)))\n"
        "print('done')\n"
    )
    result = libsandbox.run(
        code,
        user="files-user",
        files={"inputs/data.txt": "hello", "blob.bin": bytes(range(256))},
        config=config,
    )
    assert result.status is Status.OK, (result.message, result.stderr)
    by_path = {f.path: f for f in result.files}
    assert "out.txt" in by_path, result.files
    out = by_path["out.txt"]
    assert out.size == len("HELLO256")
    assert Path(out.host_path).read_text() == "HELLO256"
    assert Path(out.host_path).resolve().is_relative_to(Path(config.storage_dir).resolve())


def test_files_as_a_list_of_pairs(config: libsandbox.Config) -> None:
    result = libsandbox.run(
        "print(open('a.txt').read() + open('b.txt').read())",
        files=[("a.txt", b"one"), ("b.txt", "two")],
        config=config,
    )
    assert result.status is Status.OK, (result.message, result.stderr)
    assert result.stdout == "onetwo\n"


def test_env_and_stdin(config: libsandbox.Config) -> None:
    code = "import os, sys\nprint(os.environ['GREETING'], sys.stdin.read().strip())\n"
    result = libsandbox.run(code, env={"GREETING": "hi"}, stdin="from stdin\n", config=config)
    assert result.status is Status.OK, (result.message, result.stderr)
    assert result.stdout == "hi from stdin\n"
    as_bytes = libsandbox.run("cat", "bash", stdin=b"raw bytes", config=config)
    assert as_bytes.stdout == "raw bytes"


def test_invalid_utf8_output_is_replaced(config: libsandbox.Config) -> None:
    code = "import sys\nsys.stdout.buffer.write(b'ok \\xff\\xfe end')\n"
    result = libsandbox.run(code, config=config)
    assert result.status is Status.OK, (result.message, result.stderr)
    assert result.stdout.startswith("ok ")
    assert "\ufffd" in result.stdout
    assert result.stdout.endswith(" end")


def test_output_over_the_cap_is_truncated_and_flagged(config: libsandbox.Config) -> None:
    result = libsandbox.run("print('x' * 100000)", limits=Limits(max_output_bytes=4096), config=config)
    assert result.stdout_truncated
    assert not result.stderr_truncated
    assert 0 < len(result.stdout) <= 4096


def test_invalid_input_is_a_result_not_an_exception(config: libsandbox.Config) -> None:
    unknown = libsandbox.run("print(1)", "cobol", config=config)
    assert unknown.status is Status.INVALID_INPUT
    assert unknown.message
    bad_text = libsandbox.run("print('\udcff')", config=config)
    assert bad_text.status is Status.INVALID_INPUT
    assert "UTF-8" in bad_text.message
    escaping = libsandbox.run("print(1)", files={"../escape.txt": b"x"}, config=config)
    assert escaping.status is Status.INVALID_INPUT


def test_run_releases_the_gil(config: libsandbox.Config) -> None:
    ticks = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.01)

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        time.sleep(0.05)
        before = ticks
        result = libsandbox.run("import time; time.sleep(1.5)", config=config)
        during = ticks - before
    finally:
        stop.set()
        spinner.join()
    assert result.status is Status.OK, result.message
    # 1.5 s at 10 ms per tick: ~150 if the thread ran freely, ~0 if the GIL was held.
    assert during >= 50, during


def _counter(name: str) -> int:
    value: Any = libsandbox.metrics()["counters"].get(name, 0)
    return int(value)


def test_metrics_pool_and_shutdown(sandbox_root: Path) -> None:
    # pool_size travels from the Python Config to the engine: sandboxes get
    # pre-booted, used, counted, and shutdown() stops the idle ones.
    config = libsandbox.Config(
        state_dir=str(sandbox_root / "pool-state"), storage_dir=str(sandbox_root / "pool-files"), pool_size=1
    )
    runs, boots = _counter("runs"), _counter("pool_boots")
    for i in range(2):
        result = libsandbox.run(f"print({i})", config=config)
        assert result.status is Status.OK, result.message
        assert result.stdout == f"{i}\n"
    assert _counter("runs") == runs + 2
    deadline = time.monotonic() + 20
    while _counter("pool_boots") == boots and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _counter("pool_boots") > boots
    histograms = libsandbox.metrics()["histograms"]
    assert histograms["run"]["count"] >= 2
    assert len(histograms["run"]["counts"]) == len(histograms["run"]["upper_bounds_s"]) + 1

    libsandbox.shutdown()
    assert libsandbox.metrics()["gauges"].get("pool_idle", 0) == 0
    again = libsandbox.run("print('after shutdown')", config=config)
    assert again.status is Status.OK, again.message
    libsandbox.shutdown()


@pytest.mark.skipif(
    subprocess.run(["/usr/bin/python3", "-c", "import matplotlib"], capture_output=True).returncode != 0,
    reason="the host's python3 has no matplotlib (.ci/setup installs python3-matplotlib)",
)
def test_matplotlib_draws_and_leaves_only_what_the_code_saved(config: libsandbox.Config) -> None:
    # Debian's matplotlib reads /etc/matplotlibrc and fontconfig /etc/fonts;
    # caches go to /tmp, so the run's files are the plot alone.
    r = libsandbox.run(
        "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.title('t')\nplt.savefig('plot.png')\n",
        limits=libsandbox.Limits(memory_mb=512),
        config=config,
    )
    assert r.status is Status.OK, (r.message, r.stderr)
    assert "Fontconfig error" not in r.stderr
    assert [f.path for f in r.files] == ["plot.png"]
    assert Path(r.files[0].host_path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The figure left open and the saved image come back as outputs, in order.
    assert [(o.name, o.mime_type) for o in r.outputs] == [
        ("figure-1.png", "image/png"),
        ("plot.png", "image/png"),
    ]
    assert all(o.data[:8] == b"\x89PNG\r\n\x1a\n" for o in r.outputs)
    assert r.to_dict()["outputs"][1]["name"] == "plot.png"


def test_pythonpath_is_honoured_cold_and_warm(sandbox_root: Path) -> None:
    # A pooled sandbox's interpreter started before the run's environment
    # was known; it still searches the run's PYTHONPATH like a fresh one.
    config = libsandbox.Config(
        state_dir=str(sandbox_root / "pypath-state"),
        storage_dir=str(sandbox_root / "pypath-files"),
        pool_size=1,
        pool_languages=["python"],
    )
    files = [("lib/helper_mod.py", b"VALUE = 42\n")]
    for _ in range(3):  # the first may be cold, the next ones warm
        r = libsandbox.run(
            "import helper_mod\nprint(helper_mod.VALUE)",
            files=files,
            env={"PYTHONPATH": "/home/user/lib"},
            config=config,
        )
        assert r.status is Status.OK and r.stdout == "42\n", (r.message, r.stderr)
