"""A small, bounded load generator for the lab: HTTPS requests to the load balancer,
counting every answer, for tests that must prove "zero failed requests"."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections import Counter


def https_status(address: str, domain: str, path: str, cafile: str, timeout: float = 10) -> int:
    """Status code of GET https://domain/path, connecting to `address` (0: no answer)."""
    context = ssl.create_default_context(cafile=cafile)
    try:
        with (
            socket.create_connection((address, 443), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=domain) as tls,
        ):
            tls.sendall(
                f"GET {path} HTTP/1.1\r\nHost: {domain}\r\nConnection: close\r\n\r\n".encode()
            )
            head = tls.recv(64).decode(errors="replace")
        return int(head.split(" ", 2)[1])
    except (OSError, ValueError, IndexError):
        return 0


class Load:
    """Requests in `workers` threads until stopped (at most `limit` seconds)."""

    def __init__(self, address, domain, cafile, path="/healthz", workers=4, limit=600, pause=0.01):
        self.args = (address, domain, path, cafile)
        self.workers, self.limit, self.pause = workers, limit, pause
        self.counts: Counter = Counter()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _run(self):
        deadline = time.monotonic() + self.limit
        while not self._stop.is_set() and time.monotonic() < deadline:
            self.counts[https_status(*self.args)] += 1
            time.sleep(self.pause)  # bounded rate: the lab shares this machine's 2 cores

    def __enter__(self):
        for _ in range(self.workers):
            thread = threading.Thread(target=self._run, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)

    @property
    def failed(self) -> int:
        """Requests without an answer or with a server error (5xx)."""
        return sum(n for status, n in self.counts.items() if status == 0 or status >= 500)

    @property
    def total(self) -> int:
        return sum(self.counts.values())
