"""Allowlist egress through the Python API: the types, the refusals the
proxy reports back, and the run-time checks. The proxy's allowed paths (DNS,
IPv6, SNI) are exercised end to end by the C++ suite run_egress_test, which
owns test hosts in network namespaces."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import libsandbox

PROBE = """
import os, socket
from urllib.parse import urlsplit
p = urlsplit(os.environ["HTTPS_PROXY"])
for target in ["blocked.example:443", "pypi.org:22", "203.0.113.9:443"]:
    s = socket.create_connection((p.hostname, p.port), timeout=10)
    s.sendall(b"CONNECT %s HTTP/1.1\\r\\n\\r\\n" % target.encode())
    print(target, s.recv(64).split(b" ")[1].decode())
try:
    socket.create_connection(("203.0.113.9", 443), timeout=3)
    print("direct connected")
except OSError as e:
    print("direct refused", type(e).__name__)
"""


def test_allowlist_run_reports_each_refusal(config: libsandbox.Config) -> None:
    r = libsandbox.run(
        PROBE,
        network=True,
        egress=libsandbox.EgressAllowlist(domains=["pypi.org", "*.pythonhosted.org"]),
        config=config,
    )
    assert r.status is libsandbox.Status.OK, (r.message, r.stderr)
    lines = r.stdout.splitlines()
    assert lines[:3] == ["blocked.example:443 403", "pypi.org:22 403", "203.0.113.9:443 403"]
    assert lines[3].startswith("direct refused")
    assert r.egress is not None
    assert (r.egress.allowed, r.egress.denied) == (0, 3)
    assert any("not on the allowlist" in d for d in r.egress.denials)
    assert any("IP address" in d for d in r.egress.denials)
    assert r.to_dict()["egress"]["denied"] == 3


def test_runs_without_allowlist_have_no_egress_report(config: libsandbox.Config) -> None:
    assert libsandbox.run("print(1)", config=config).egress is None


def test_allowlist_needs_network_and_valid_entries(config: libsandbox.Config) -> None:
    r = libsandbox.run("print(1)", egress=libsandbox.EgressAllowlist(domains=["pypi.org"]), config=config)
    assert r.status is libsandbox.Status.INVALID_INPUT
    assert "needs network on" in r.message
    r = libsandbox.run(
        "print(1)", network=True, egress=libsandbox.EgressAllowlist(domains=["10.0.0.1"]), config=config
    )
    assert r.status is libsandbox.Status.INVALID_INPUT
    with pytest.raises(ValueError):
        libsandbox.EgressAllowlist(domains=[])
    with pytest.raises(ValueError):
        libsandbox.EgressAllowlist(domains=["pypi.org"], ports=[70000])
    with pytest.raises(TypeError):
        libsandbox.run("print(1)", egress=["pypi.org"], config=config)  # type: ignore[arg-type]


def test_policy_allowlist_applies_and_is_audited(config: libsandbox.Config, tmp_path: Path) -> None:
    policy_file = tmp_path / "policies.textproto"
    policy_file.write_text(
        "caps { allow_allowlist: true }\n"
        'policies { name: "pip" network { mode: "allowlist" domains: "pypi.org" } }\n'
    )
    cfg = dataclasses.replace(
        config, policy_file=str(policy_file), audit=True, audit_path=str(tmp_path / "audit.log")
    )
    r = libsandbox.run(PROBE, user="carol", policy="pip", config=cfg)
    assert r.status is libsandbox.Status.OK, (r.message, r.stderr)
    assert r.egress is not None and r.egress.denied == 3
    (record,) = libsandbox.query_audit(cfg, user="carol")
    assert (record.egress_allowed, record.egress_denied) == (0, 3)
    assert len(record.egress_denials) == 3
