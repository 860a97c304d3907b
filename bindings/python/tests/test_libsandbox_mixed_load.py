"""20 users x 10 runs at once, two of them hostile (fork bomb, disk filler,
output flood, connection flood, memory hog): every honest run finishes OK
with its own output and files, and the hostile ones end in a status that says
what stopped them (the scenario: bench/mixed_load.py)."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import libsandbox


def _scenario() -> ModuleType:
    path = Path(__file__).resolve().parents[3] / "bench" / "mixed_load.py"
    spec = importlib.util.spec_from_file_location("mixed_load", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["mixed_load"] = module
    spec.loader.exec_module(module)
    return module


def test_honest_users_finish_ok_beside_hostile_ones(tmp_path: Path) -> None:
    load = _scenario()
    report = asyncio.run(load.mixed_load(load.host_config(str(tmp_path)), users=20, runs=10, hostile=2))
    print(report.table())
    honest = report.honest()
    assert len(honest) == 180
    for o in honest:
        r = o.result
        assert r.status == libsandbox.Status.OK, (o.user, r.status, r.reason, r.message, r.stderr)
        assert r.stdout == o.expected_stdout, (o.user, r.stdout)
        if o.expected_file is None:
            assert r.files == []
            continue
        path, content = o.expected_file
        assert [f.path for f in r.files] == [path]
        assert Path(r.files[0].host_path).read_text() == content

    expected = {
        # A bomb held under max_pids may fizzle out (forks fail, the shell exits 0).
        "fork bomb": {
            libsandbox.Status.OK,
            libsandbox.Status.INTERRUPTED,
            libsandbox.Status.ERROR,
            libsandbox.Status.TIMEOUT,
        },
        # Its tmpfs pages count as its memory: filling both may stop it there.
        "disk filler": {
            libsandbox.Status.STORAGE_ERROR,
            libsandbox.Status.ERROR,
            libsandbox.Status.OK,
            libsandbox.Status.INTERRUPTED,
        },
        "output flood": {libsandbox.Status.TIMEOUT},
        "connection flood": {
            libsandbox.Status.ERROR,
            libsandbox.Status.TIMEOUT,
            libsandbox.Status.INTERRUPTED,
        },
        "memory hog": {libsandbox.Status.INTERRUPTED},
    }
    hostile = [o for o in report.outcomes if o.kind != "honest"]
    assert len(hostile) == 20
    for o in hostile:
        r = o.result
        assert r.status in expected[o.kind], (o.kind, r.status, r.reason, r.message)
        assert r.status != libsandbox.Status.SANDBOX_ERROR
    floods = [o.result for o in hostile if o.kind == "output flood"]
    assert all(r.stdout_truncated for r in floods)
    hogs = [o.result for o in hostile if o.kind == "memory hog"]
    assert all(r.reason == "memory" for r in hogs)
