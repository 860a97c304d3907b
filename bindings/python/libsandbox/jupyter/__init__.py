"""libsandbox-jupyter: the Jupyter server API Open WebUI's Code Interpreter
speaks, over libsandbox: every execution runs in a fresh gVisor sandbox.

    LIBSANDBOX_JUPYTER_TOKEN=... libsandbox-jupyter --port 8888 --policy code

See ``create_jupyter_app`` and ``JupyterSettings`` to embed it.
"""

from libsandbox.jupyter._app import JupyterSettings, create_jupyter_app
from libsandbox.jupyter._cli import main

__all__ = ["JupyterSettings", "create_jupyter_app", "main"]
