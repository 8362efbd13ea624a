"""A small, bounded load generator for the lab: HTTPS requests to the load balancer,
counting every answer, for tests that must prove "zero failed requests"."""

from __future__ import annotations

import functools
import re
import socket
import ssl
import threading
import time
from collections import Counter

import urllib3

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@functools.cache
def _context(cafile: str) -> ssl.SSLContext:
    """One TLS context per CA file, made once instead of for every request (each loaded the
    CA file again)."""
    return ssl.create_default_context(cafile=cafile)


def https_status(
    address: str, domain: str, path: str, cafile: str, timeout: float = 10, cookie: str = ""
) -> int:
    """Status code of GET https://domain/path, connecting to `address` (0: no answer); with
    `cookie`, as the user whose session it carries."""
    context = _context(cafile)
    try:
        with (
            socket.create_connection((address, 443), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=domain) as tls,
        ):
            cookie_line = f"Cookie: {cookie}\r\n" if cookie else ""
            tls.sendall(
                f"GET {path} HTTP/1.1\r\nHost: {domain}\r\n{cookie_line}"
                "Connection: close\r\n\r\n".encode()
            )
            head = tls.recv(64).decode(errors="replace")
        return int(head.split(" ", 2)[1])
    except (OSError, ValueError, IndexError):
        return 0


# Each worker waits PAUSE between its requests: 4 workers make ~35 requests a second, every
# one a new TLS connection to the lb, so that a restart's window still meets requests in
# flight. Without waiting (0.01 s) they made ~260 a second and the lab used 1.13 cores of the
# machine's two instead of 0.36 (measured on the lab), for the same proof, beside the suites
# that CI times.
PAUSE = 0.1


class Load:
    """Requests in `workers` threads until stopped (at most `limit` seconds); with `cookie`,
    a logged-in user's page (Client.cookie_header) that reads the database."""

    def __init__(
        self, address, domain, cafile, path="/healthz", workers=4, limit=600, pause=PAUSE, cookie=""
    ):
        self.args = (address, domain, path, cafile, 10, cookie)
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


class Client:
    """A browser's session through the lb: cookies kept, the form's CSRF token sent back."""

    def __init__(self, lb, cafile):
        self.domain = lb.vars["preau_domain"]
        self.pool = urllib3.HTTPSConnectionPool(
            lb.address,
            443,
            server_hostname=self.domain,
            assert_hostname=self.domain,
            ca_certs=cafile,
            timeout=30,
            retries=False,
        )
        self.cookies: dict[str, str] = {}

    def request(self, method, path, fields=None):
        if fields is not None:  # the form's page first: its token and CSRF cookie
            fields = {"csrfmiddlewaretoken": self.token(path), **fields}
        headers = {
            "Host": self.domain,
            "Referer": f"https://{self.domain}{path}",
            "Cookie": self.cookie_header(),
        }
        answer = self.pool.request(method, path, fields=fields, headers=headers, redirect=False)
        for cookie in answer.headers.getlist("Set-Cookie"):
            name, _, value = cookie.split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value
        return answer

    def token(self, path) -> str:
        return TOKEN.search(self.request("GET", path).data.decode())[1]

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def login(self, username: str, password: str) -> None:
        answer = self.request("POST", "/connexion/", {"username": username, "password": password})
        assert answer.status == 302, answer.data.decode()[-2000:]
