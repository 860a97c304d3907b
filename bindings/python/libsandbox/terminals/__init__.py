"""libsandbox-terminals: an Open Terminal-compatible server that gives each
Open WebUI user an isolated gVisor terminal, files and processes.

    libsandbox-terminals --port 8000 --policy-file /etc/libsandbox/policies.textproto

See ``create_app`` and ``Settings`` to embed it in another ASGI server.
"""

from libsandbox.terminals._app import create_app
from libsandbox.terminals._cli import main
from libsandbox.terminals._settings import Settings

__all__ = ["Settings", "create_app", "main"]
