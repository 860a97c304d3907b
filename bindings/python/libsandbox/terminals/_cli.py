"""``libsandbox-terminals`` (and ``python -m libsandbox.terminals``): serve."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import libsandbox
from libsandbox.terminals._settings import Settings

ENV_PREFIX = "LIBSANDBOX_TERMINALS_"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="libsandbox-terminals",
        description="Serve an Open Terminal-compatible API: each Open WebUI user gets an isolated gVisor "
        "terminal. Secrets come from the environment: LIBSANDBOX_TERMINALS_API_KEY (key mode), "
        "LIBSANDBOX_TERMINALS_OPEN_WEBUI_URL and LIBSANDBOX_TERMINALS_WEBUI_SECRET_KEY (session mode).",
    )
    p.add_argument("--host", default=os.environ.get(ENV_PREFIX + "HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get(ENV_PREFIX + "PORT", "8000")))
    p.add_argument(
        "--policy-file",
        default=os.environ.get(ENV_PREFIX + "POLICY_FILE", ""),
        help="the admin's libsandbox policy file (textproto or JSON): the policies of /p/{policy} routes",
    )
    p.add_argument(
        "--policy", default=os.environ.get(ENV_PREFIX + "POLICY", ""), help="the policy of the root routes"
    )
    p.add_argument("--storage-dir", default=os.environ.get(ENV_PREFIX + "STORAGE_DIR", ""))
    p.add_argument("--state-dir", default=os.environ.get(ENV_PREFIX + "STATE_DIR", ""))
    p.add_argument("--runsc", default=os.environ.get(ENV_PREFIX + "RUNSC", ""), help="runsc binary")
    p.add_argument("--no-audit", action="store_true", help="do not append an audit record per call")
    p.add_argument("--log-level", default="info")
    return p


def _ensure_policy_file(path: str) -> None:
    """A policy file that does not exist yet starts empty (the library's
    default caps), so the policies can be made from Open WebUI's screens."""
    if path and not os.path.exists(path):
        with open(path, "x") as f:
            f.write("# libsandbox-terminals: an empty policy set (edits from Open WebUI rewrite this file)\n")
        print(f"libsandbox-terminals: created the empty policy file {path}", file=sys.stderr)


def settings_from(args: argparse.Namespace) -> Settings:
    config = libsandbox.Config(
        runsc_path=args.runsc,
        state_dir=args.state_dir,
        storage_dir=args.storage_dir,
        policy_file=args.policy_file,
        audit=not args.no_audit,
    )
    return Settings(
        api_key=os.environ.get(ENV_PREFIX + "API_KEY", ""),
        open_webui_url=os.environ.get(ENV_PREFIX + "OPEN_WEBUI_URL", ""),
        webui_secret_key=os.environ.get(ENV_PREFIX + "WEBUI_SECRET_KEY", ""),
        config=config,
        policy=args.policy,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = settings_from(args)
        _ensure_policy_file(args.policy_file)
    except (ValueError, TypeError, OSError) as e:
        print(f"libsandbox-terminals: {e}", file=sys.stderr)
        return 2
    import uvicorn

    from libsandbox.terminals._app import create_app

    uvicorn.run(
        create_app(settings), host=args.host, port=args.port, log_level=args.log_level, ws="websockets-sansio"
    )
    return 0
