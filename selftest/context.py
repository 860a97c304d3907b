"""What one case may use while it runs: its storage root, a scratch
directory, host probes created on demand and closed after the case."""

from __future__ import annotations

import os
from typing import Any

from . import probes
from .targets import Request


class Context:
    def __init__(self, storage_root: str, scratch: str, debug: bool) -> None:
        self.storage_root = storage_root
        self.scratch = scratch
        self.debug = debug
        # Lines printed under the case's result (measurements, skipped parts).
        self.notes: list[str] = []
        self._listener: probes.Listener | None = None
        self._secret: probes.Secret | None = None

    def listener(self) -> probes.Listener:
        if self._listener is None:
            self._listener = probes.Listener()
        return self._listener

    def secret(self) -> probes.Secret:
        if self._secret is None:
            self._secret = probes.plant_secret(self.scratch)
        return self._secret

    def own_root(self, name: str) -> str:
        """A fresh storage root for this case only."""
        path = os.path.join(self.scratch, name)
        os.makedirs(path, exist_ok=True)
        return path

    def request(self, language: str, code: str, **kwargs: Any) -> Request:
        kwargs.setdefault("storage_root", self.storage_root)
        return Request(language=language, code=code, **kwargs)

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
