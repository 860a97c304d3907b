"""Host-side instruments for the extra cases: a listener that counts who
connects, the host's own addresses, a process-count sampler, a planted
secret. Each one can see a leak the sandbox should have prevented."""

from __future__ import annotations

import os
import secrets
import socket
import threading
from dataclasses import dataclass


class Listener:
    """A TCP server on every host address that records each connection.

    Nothing in a sandbox may reach it: a single accepted connection is a
    leak of the host's own services."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("0.0.0.0", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.1)
        self.port: int = self._sock.getsockname()[1]
        self.peers: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="selftest-listener", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.peers.append(f"{peer[0]}:{peer[1]}")
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()


def host_ipv4_addresses() -> list[str]:
    """Every IPv4 address configured on this host (its loopback included)."""
    addresses = {"127.0.0.1"}
    try:
        with open("/proc/net/fib_trie", encoding="ascii", errors="replace") as f:
            last = ""
            for line in f:
                stripped = line.strip()
                if stripped.startswith("|--"):
                    last = stripped[3:].strip()
                elif "/32 host LOCAL" in stripped and last:
                    addresses.add(last)
    except OSError:
        pass
    return sorted(addresses)


class ProcessSampler:
    """Counts the host's processes every few milliseconds while running, so
    a sandbox that turns its processes into host processes shows up."""

    def __init__(self) -> None:
        self.baseline = self._count()
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="selftest-sampler", daemon=True)
        self._thread.start()

    @staticmethod
    def _count() -> int:
        try:
            return sum(1 for name in os.listdir("/proc") if name.isdigit())
        except OSError:
            return 0

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._count())

    def close(self) -> int:
        """Stops sampling; returns the peak growth over the baseline."""
        self._stop.set()
        self._thread.join()
        return self.peak - self.baseline


SECRET_ENV = "LIBSANDBOX_SELFTEST_SECRET"


@dataclass(frozen=True)
class Secret:
    """A random token planted in a host file (and the host environment)."""

    token: str
    path: str


def plant_secret(directory: str) -> Secret:
    token = "selftest-secret-" + secrets.token_hex(12)
    path = os.path.join(directory, "host-secret.txt")
    with open(path, "w", encoding="ascii") as f:
        f.write(token + "\n")
    return Secret(token=token, path=path)
