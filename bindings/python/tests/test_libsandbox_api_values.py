"""The typed values of the contract, checked without running a sandbox."""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import math
from pathlib import Path
from typing import Any

import pytest

import libsandbox
from libsandbox import _core

CONTRACT_STATUSES = [
    "OK",
    "ERROR",
    "TIMEOUT",
    "INTERRUPTED",
    "STORAGE_ERROR",
    "SANDBOX_ERROR",
    "INVALID_INPUT",
]


def test_status_names_are_the_contract_and_match_the_core() -> None:
    assert [s.name for s in libsandbox.Status] == CONTRACT_STATUSES
    assert sorted(_core.status_names()) == sorted(CONTRACT_STATUSES)
    assert libsandbox.Status.INVALID_INPUT.name == "INVALID_INPUT"


def test_version_is_the_installed_distribution_version() -> None:
    assert libsandbox.__version__ == _core.VERSION
    assert libsandbox.__version__ == importlib.metadata.version("libsandbox")


def test_limits_defaults_are_the_contract_and_the_core_defaults() -> None:
    limits = libsandbox.Limits()
    assert (limits.timeout_s, limits.memory_mb, limits.cpus, limits.max_pids) == (30.0, 128, 1.0, 128)
    assert (limits.max_output_bytes, limits.workspace_mb) == (1048576, 64)
    core = _core.default_limits()
    assert limits.to_dict() == {k: core[k] for k in limits.to_dict()}


def test_limits_defaults_come_from_the_core_field_by_field() -> None:
    # The dataclass's own defaults, not only what to_dict() makes of them.
    core = _core.default_limits()
    for name, spec in libsandbox.Limits.__dataclass_fields__.items():
        assert spec.default == core[name], name
        assert type(spec.default) is type(core[name]), name


def test_signature_defaults_are_the_core_defaults() -> None:
    for func in (
        libsandbox.run,
        libsandbox.run_async,
        libsandbox.Session.exec,
        libsandbox.Session.exec_async,
        libsandbox.Session.start,
    ):
        assert inspect.signature(func).parameters["language"].default == _core.DEFAULT_LANGUAGE, func
    read_file = inspect.signature(libsandbox.Session.read_file)
    assert read_file.parameters["max_bytes"].default == _core.DEFAULT_READ_BYTES


def test_zero_means_no_limit_and_is_accepted() -> None:
    limits = libsandbox.Limits(
        timeout_s=0, memory_mb=0, cpus=0, max_pids=0, max_output_bytes=0, workspace_mb=0
    )
    assert limits.memory_mb == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "needle"),
    [
        ({"memory_mb": -1}, ValueError, "memory_mb"),
        ({"memory_mb": "128"}, TypeError, "memory_mb must be an int"),
        ({"memory_mb": 1.5}, TypeError, "memory_mb"),
        ({"memory_mb": True}, TypeError, "memory_mb"),
        ({"memory_mb": 2**60}, ValueError, "memory_mb"),
        ({"timeout_s": math.nan}, ValueError, "timeout_s"),
        ({"timeout_s": -0.5}, ValueError, "timeout_s"),
        ({"timeout_s": math.inf}, ValueError, "timeout_s"),
        ({"cpus": "1"}, TypeError, "cpus"),
        ({"max_pids": -5}, ValueError, "max_pids"),
        ({"max_output_bytes": None}, TypeError, "max_output_bytes"),
        ({"workspace_mb": -1}, ValueError, "workspace_mb"),
        ({"tmp_mb": -1}, ValueError, "tmp_mb"),
        ({"memory": 128}, TypeError, "memory"),
    ],
)
def test_bad_limits_raise_clear_errors(kwargs: dict[str, Any], error: type[Exception], needle: str) -> None:
    with pytest.raises(error, match=needle):
        libsandbox.Limits(**kwargs)


def test_config_accepts_every_field_and_paths(tmp_path: Path) -> None:
    config = libsandbox.Config(
        runsc_path="/usr/bin/runsc",
        state_dir=tmp_path,  # type: ignore[arg-type]
        storage_dir=str(tmp_path / "files"),
        allow_unenforced_limits=True,
        platform="ptrace",
        allowed_cidrs=["10.0.0.0/8", "fd00::/8"],
        extra_ro_mounts=["/usr/share/dict", "/opt/data:/data"],
        debug=True,
        max_files_per_execution=32,
        max_files_per_user=100,
        max_bytes_per_user=1 << 20,
        min_free_bytes=0,
        pool_size=2,
        pool_languages=["python"],
        max_concurrent=8,
        max_concurrent_per_user=2,
        max_queued=16,
        queue_timeout_s=5,
        policy_file=tmp_path / "policies.textproto",  # type: ignore[arg-type]
        audit=True,
        audit_code=True,
        audit_path=str(tmp_path / "audit.log"),
        pool_limits=libsandbox.Limits(memory_mb=256, tmp_mb=16),
        keep_cgroup_processes=True,
    )
    assert config.state_dir == str(tmp_path)
    assert config.policy_file == str(tmp_path / "policies.textproto")
    assert config.allowed_cidrs == ("10.0.0.0/8", "fd00::/8")
    resolved = _core.resolved_config(config.to_dict())
    assert resolved["storage_dir"] == str(tmp_path / "files")
    assert resolved["quota"]["max_files_per_user"] == 100
    assert resolved["allowed_cidrs"] == ["10.0.0.0/8", "fd00::/8"]
    assert (resolved["pool_size"], resolved["pool_languages"], resolved["max_queued"]) == (2, ["python"], 16)
    assert (resolved["policy_file"], resolved["audit"], resolved["audit_code"]) == (
        str(tmp_path / "policies.textproto"),
        True,
        True,
    )
    assert resolved["audit_path"] == str(tmp_path / "audit.log")
    assert resolved["keep_cgroup_processes"] is True
    assert resolved["pool_limits"] == libsandbox.Limits(memory_mb=256, tmp_mb=16).to_dict()
    assert _core.resolved_config(libsandbox.Config().to_dict())["pool_limits"] is None
    # Settings read from JSON give the limits as a mapping; they become a Limits.
    assert libsandbox.Config(pool_limits={"memory_mb": 64}).pool_limits == libsandbox.Limits(memory_mb=64)  # type: ignore[arg-type]


def test_python_classes_cover_every_field_of_the_core_messages(tmp_path: Path) -> None:
    # A field added to config.proto must show up in the Python API too.
    core_config = _core.resolved_config(libsandbox.Config().to_dict())
    config_fields = {k for k in core_config if k != "quota"} | set(core_config["quota"])
    assert set(libsandbox.Config.__dataclass_fields__) == config_fields
    assert set(libsandbox.Limits.__dataclass_fields__) == set(_core.default_limits())
    config = libsandbox.Config(
        state_dir=str(tmp_path / "state"), storage_dir=str(tmp_path / "files"), audit=True
    )
    raw = _core.run({"code": "print(1)", "language": "no-such-language"}, config.to_dict())
    assert raw["status"] == "INVALID_INPUT"
    # The typed reason_code arrives as Result.reason, a libsandbox.Reason.
    assert set(libsandbox.Result.__dataclass_fields__) == set(raw) - {"reason_code"}
    assert libsandbox.Result(status=libsandbox.Status.OK).reason is libsandbox.Reason.NONE
    # A run refused for its policy (there is no policy file) is audited without
    # starting a sandbox, so the record's fields come from a real log line.
    refused = _core.run({"code": "print(1)", "policy": "no-such-policy"}, config.to_dict())
    assert refused["status"] == "INVALID_INPUT"
    records = _core.query_audit(config.to_dict(), "", 10)
    assert len(records) == 1
    assert set(libsandbox.AuditRecord.__dataclass_fields__) == set(records[0])
    assert set(libsandbox.query_audit(config)[0].to_dict()) == set(records[0])
    assert set(libsandbox.File.__dataclass_fields__) == {"path", "size", "host_path"}
    assert set(libsandbox.Check.__dataclass_fields__) == set(_core.doctor(config.to_dict())[0])


def test_default_config_resolves_to_real_directories() -> None:
    resolved = _core.resolved_config(libsandbox.Config().to_dict())
    assert resolved["state_dir"].startswith("/")
    assert resolved["storage_dir"].startswith("/")


@pytest.mark.parametrize(
    ("kwargs", "error", "needle"),
    [
        ({"runsc_dir": "/x"}, TypeError, "runsc_dir"),
        ({"runsc_path": 5}, TypeError, "runsc_path"),
        ({"state_dir": "/tmp/a\0b"}, ValueError, "state_dir"),
        ({"allow_unenforced_limits": "yes"}, TypeError, "allow_unenforced_limits"),
        ({"allowed_cidrs": "10.0.0.0/8"}, TypeError, "allowed_cidrs"),
        ({"allowed_cidrs": ["10.0.0.1/8"]}, ValueError, "allowed_cidrs"),
        ({"allowed_cidrs": ["not-a-net"]}, ValueError, "allowed_cidrs"),
        ({"extra_ro_mounts": ["relative/path"]}, ValueError, "extra_ro_mounts"),
        ({"extra_ro_mounts": ["/a:/b:/c"]}, ValueError, "extra_ro_mounts"),
        ({"platform": "--network=host"}, ValueError, "platform"),
        ({"max_files_per_user": -1}, ValueError, "max_files_per_user"),
        ({"max_bytes_per_user": 1.0}, TypeError, "max_bytes_per_user"),
        ({"pool_size": -1}, ValueError, "pool_size"),
        ({"max_concurrent": 2**31}, ValueError, "max_concurrent"),
        ({"pool_languages": "python"}, TypeError, "pool_languages"),
        ({"queue_timeout_s": -1.0}, ValueError, "queue_timeout_s"),
        ({"policy_file": "/etc/policies.yaml"}, ValueError, "policy_file must end in"),
        ({"policy_file": 3}, TypeError, "policy_file"),
        ({"audit": 1}, TypeError, "audit must be a bool"),
        ({"audit_code": "no"}, TypeError, "audit_code"),
        ({"keep_cgroup_processes": "yes"}, TypeError, "keep_cgroup_processes"),
        ({"audit_path": "/var/log/a\0"}, ValueError, "audit_path"),
        ({"pool_limits": 128}, TypeError, "pool_limits must be a libsandbox.Limits"),
        ({"pool_limits": {"memory_mb": -1}}, ValueError, "pool_limits: .*memory_mb"),
        ({"pool_limits": {"memory": 1}}, TypeError, "pool_limits: .*memory"),
    ],
)
def test_bad_config_raises_clear_errors(kwargs: dict[str, Any], error: type[Exception], needle: str) -> None:
    with pytest.raises(error, match=needle):
        libsandbox.Config(**kwargs)


def test_config_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        libsandbox.Config("/usr/bin/runsc")  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"code": b"print(1)"}, "code"),
        ({"code": "x", "language": None}, "language"),
        ({"code": "x", "limits": {"timeout_s": 1}}, "limits"),
        ({"code": "x", "config": {"state_dir": "/x"}}, "config"),
        ({"code": "x", "network": "off"}, "network"),
        ({"code": "x", "env": {"A": 1}}, "env"),
        ({"code": "x", "env": [("A", "b")]}, "env"),
        ({"code": "x", "files": {"a.txt": 3}}, "files"),
        ({"code": "x", "files": "a.txt"}, "files"),
        ({"code": "x", "stdin": 5}, "stdin"),
        ({"code": "x", "policy": None}, "policy"),
    ],
)
def test_wrong_argument_types_raise_type_error(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(TypeError, match=needle):
        libsandbox.run(**kwargs)


def test_core_rejects_unknown_fields_and_wrong_types() -> None:
    # The compiled layer checks too, so a bug in the Python layer cannot slip
    # a malformed request through.
    with pytest.raises(TypeError, match="unknown field 'nope'"):
        _core.run({"nope": 1}, {})
    with pytest.raises(TypeError, match="code"):
        _core.run({"code": 1}, {})
    with pytest.raises(ValueError, match="memory_mb"):
        _core.run({"limits": {"memory_mb": 2**70}}, {})
    with pytest.raises(TypeError, match="network"):
        _core.run({"network": 1}, {})


def test_result_to_dict_is_json_ready() -> None:
    result = libsandbox.Result(
        status=libsandbox.Status.TIMEOUT,
        exit_code=None,
        stdout="partial",
        files=[libsandbox.File(path="a.txt", size=3, host_path="/x/a.txt")],
        message="the code ran past its 5 s limit",
        outputs=[libsandbox.Output(mime_type="image/png", data=b"\x89PNG", name="figure-1.png")],
    )
    data = json.loads(json.dumps(result.to_dict()))
    assert data["outputs"] == [{"mime_type": "image/png", "data": "iVBORw==", "name": "figure-1.png"}]
    assert data["status"] == "TIMEOUT"
    assert data["exit_code"] is None
    assert data["files"] == [{"path": "a.txt", "size": 3, "host_path": "/x/a.txt"}]
    assert set(data) == {
        "status",
        "reason",
        "exit_code",
        "stdout",
        "stderr",
        "stdout_truncated",
        "stderr_truncated",
        "duration_s",
        "files",
        "message",
        "egress",
        "outputs",
    }
    assert data["egress"] is None
    with_egress = libsandbox.Result(
        status=libsandbox.Status.OK, egress=libsandbox.Egress(allowed=1, denied=2, denials=["a:443: x"])
    )
    assert json.loads(json.dumps(with_egress.to_dict()))["egress"] == {
        "allowed": 1,
        "denied": 2,
        "denials": ["a:443: x"],
    }


def test_languages_include_python_and_bash() -> None:
    assert {"python", "bash"} <= set(libsandbox.languages())


@pytest.mark.parametrize(
    ("kwargs", "error", "needle"),
    [
        ({"config": {"audit": True}}, TypeError, "config"),
        ({"user": 7}, TypeError, "user"),
        ({"user": "\udc80"}, ValueError, "user"),
        ({"limit": "10"}, TypeError, "limit"),
        ({"limit": True}, TypeError, "limit"),
        ({"limit": 0}, ValueError, "limit"),
        ({"limit": _core.MAX_AUDIT_QUERY_LIMIT + 1}, ValueError, "limit"),
    ],
)
def test_bad_query_audit_arguments_raise(kwargs: dict[str, Any], error: type[Exception], needle: str) -> None:
    with pytest.raises(error, match=needle):
        libsandbox.query_audit(**kwargs)


def test_query_audit_of_a_missing_log_is_empty(tmp_path: Path) -> None:
    config = libsandbox.Config(state_dir=str(tmp_path / "state"), audit=True)
    assert libsandbox.query_audit(config) == []


def test_query_audit_refuses_a_symlinked_log(tmp_path: Path) -> None:
    # The log is never read through a link someone planted in its place.
    secret = tmp_path / "secret.log"
    secret.write_text('{"time": "2024-01-01T00:00:00Z", "user": "mallory", "status": "OK"}\n')
    (tmp_path / "audit.log").symlink_to(secret)
    config = libsandbox.Config(audit=True, audit_path=str(tmp_path / "audit.log"))
    with pytest.raises(OSError, match=r"audit\.log"):
        libsandbox.query_audit(config)


def test_audit_record_to_dict_is_json_ready() -> None:
    record = libsandbox.AuditRecord(
        time="2024-05-01T12:00:00Z",
        user="alice",
        policy="small",
        language="python",
        status=libsandbox.Status.INTERRUPTED,
        reason="memory",
        exit_code=None,
    )
    data = json.loads(json.dumps(record.to_dict()))
    assert data["status"] == "INTERRUPTED"
    assert (data["exit_code"], data["code"], data["code_truncated"]) == (None, None, False)
    assert set(data) == set(libsandbox.AuditRecord.__dataclass_fields__)
