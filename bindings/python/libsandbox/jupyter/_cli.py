"""``libsandbox-jupyter`` (and ``python -m libsandbox.jupyter``): serve."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import libsandbox

ENV_PREFIX = "LIBSANDBOX_JUPYTER_"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="libsandbox-jupyter",
        description="Serve the Jupyter API of Open WebUI's Code Interpreter: each execution in a fresh "
        "gVisor sandbox. The token comes from LIBSANDBOX_JUPYTER_TOKEN (or a password from "
        "LIBSANDBOX_JUPYTER_PASSWORD).",
    )
    p.add_argument("--host", default=os.environ.get(ENV_PREFIX + "HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get(ENV_PREFIX + "PORT", "8888")))
    p.add_argument(
        "--policy", default=os.environ.get(ENV_PREFIX + "POLICY", ""), help="the policy of every run"
    )
    p.add_argument("--policy-file", default=os.environ.get(ENV_PREFIX + "POLICY_FILE", ""))
    p.add_argument("--memory-mb", type=int, default=512, help="without a policy: memory per run")
    p.add_argument("--timeout-s", type=float, default=60.0, help="without a policy: wall clock per run")
    p.add_argument("--storage-dir", default=os.environ.get(ENV_PREFIX + "STORAGE_DIR", ""))
    p.add_argument("--state-dir", default=os.environ.get(ENV_PREFIX + "STATE_DIR", ""))
    p.add_argument("--runsc", default=os.environ.get(ENV_PREFIX + "RUNSC", ""))
    p.add_argument("--pool-size", type=int, default=2, help="sandboxes kept booted for the next runs")
    p.add_argument("--log-level", default="info")
    args = p.parse_args(argv)

    from libsandbox.jupyter._app import JupyterSettings, create_jupyter_app

    try:
        limits = (
            None if args.policy else libsandbox.Limits(memory_mb=args.memory_mb, timeout_s=args.timeout_s)
        )
        config = libsandbox.Config(
            runsc_path=args.runsc,
            state_dir=args.state_dir,
            storage_dir=args.storage_dir,
            policy_file=args.policy_file,
            audit=True,
            pool_size=args.pool_size,
            pool_languages=["python"],
            pool_limits=limits,
            max_concurrent_per_user=32,  # one user (Open WebUI names none): the host cap rules
        )
        settings = JupyterSettings(
            token=os.environ.get(ENV_PREFIX + "TOKEN", ""),
            password=os.environ.get(ENV_PREFIX + "PASSWORD", ""),
            config=config,
            policy=args.policy,
            limits=limits,
        )
    except (ValueError, TypeError) as e:
        print(f"libsandbox-jupyter: {e}", file=sys.stderr)
        return 2
    import uvicorn

    uvicorn.run(
        create_jupyter_app(settings),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        ws="websockets-sansio",
    )
    return 0
