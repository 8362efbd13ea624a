"""Logins through the load balancer as a browser makes them: the login page (its CSRF cookie and
token), then the form posted. Used by `deploy.py bench` (login_class, login_college, spray) and
the lab test of login throttling (tests/lab/test_34_login.py)."""

from __future__ import annotations

import http.client
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar, cast
from urllib.parse import urlencode

LOGIN_PATH = "/connexion/"
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CSRF_COOKIE = re.compile(r"csrftoken=([^;]+)")

T = TypeVar("T")


@dataclass(frozen=True)
class Attempt:
    """One login: the form's answer (302 in, 401 refused credentials, 429 throttled, 0 no
    answer), who throttled it (the lb's page or the app's form), Retry-After, seconds taken
    (page and form)."""

    status: int
    seconds: float
    retry_after: int | None = None
    by: str | None = None  # "lb" or "app" for a 429


class Browser:
    """One connection to the lb (kept alive) with the login form's CSRF cookie and token."""

    def __init__(self, address: str, domain: str, cafile: str | None = None, timeout: float = 15):
        context = ssl.create_default_context(cafile=cafile)
        if cafile is None:
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        self.domain = domain
        self.connection = http.client.HTTPSConnection(domain, 443, timeout=timeout, context=context)
        self.connection.sock = context.wrap_socket(
            socket.create_connection((address, 443), timeout), server_hostname=domain
        )
        self.token: str | None = None
        self.cookie: str | None = None

    def open_form(self) -> int:
        """GET the login page; its status (the token and cookie kept when 200)."""
        self.connection.request("GET", LOGIN_PATH, headers={"Host": self.domain})
        page = self.connection.getresponse()
        body = page.read().decode(errors="replace")
        token, cookie = (
            CSRF_FIELD.search(body),
            CSRF_COOKIE.search(page.getheader("Set-Cookie") or ""),
        )
        if page.status == 200 and token and cookie:
            self.token, self.cookie = token.group(1), cookie.group(1)
        return page.status

    def post(self, username: str, password: str, started: float | None = None) -> Attempt:
        """POST the form (open_form first)."""
        started = time.monotonic() if started is None else started
        form = urlencode(
            {"csrfmiddlewaretoken": self.token, "username": username, "password": password}
        )
        self.connection.request(
            "POST",
            LOGIN_PATH,
            body=form,
            headers={
                "Host": self.domain,
                "Cookie": f"csrftoken={self.cookie}",
                "Referer": f"https://{self.domain}{LOGIN_PATH}",
                "Origin": f"https://{self.domain}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        answer = self.connection.getresponse()
        text = answer.read().decode(errors="replace")
        retry = answer.getheader("Retry-After")
        by = ("lb" if "Trop de connexions" in text else "app") if answer.status == 429 else None
        return Attempt(
            answer.status,
            time.monotonic() - started,
            int(retry) if retry and retry.isdigit() else None,
            by,
        )

    def close(self) -> None:
        self.connection.close()


def login(
    address: str,
    domain: str,
    username: str,
    password: str,
    cafile: str | None = None,
    timeout: float = 15,
) -> Attempt:
    """Log in as `username` through the lb at `address` (Host and SNI `domain`; the lab CA
    checked when `cafile` is given): the page, then the form, on a new connection."""
    started = time.monotonic()
    try:
        browser = Browser(address, domain, cafile, timeout)
        try:
            status = browser.open_form()
            if browser.token is None:
                return Attempt(status or 0, time.monotonic() - started)
            return browser.post(username, password, started)
        finally:
            browser.close()
    except (OSError, http.client.HTTPException):
        return Attempt(0, time.monotonic() - started)


def arrivals(
    logins: list[tuple[str, str]], seconds: float, run: Callable[[str, str], T]
) -> list[T]:
    """`run(username, password)` for each pair in its own thread, their starts spread evenly
    over `seconds` (pupils arriving); what each returned, in order."""
    results: list[T | None] = [None] * len(logins)
    step = seconds / max(len(logins), 1)
    started = time.monotonic()

    def one(index: int, username: str, password: str) -> None:
        time.sleep(max(0.0, started + index * step - time.monotonic()))
        results[index] = run(username, password)

    threads = [
        threading.Thread(target=one, args=(i, *pair), daemon=True) for i, pair in enumerate(logins)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Every slot is filled once the threads are joined (`run` is expected not to raise: login
    # answers a failed connection with an Attempt of status 0).
    return cast(list[T], results)


def hammer(
    names: list[str], seconds: float, workers: int, browser: Callable[[], Browser]
) -> list[Attempt]:
    """A sprayer: `workers` threads, each with one kept-alive connection (`browser()`, a new
    Browser) and one CSRF token, posting `names` in turn with a wrong password for `seconds`,
    never waiting for Retry-After; every attempt."""
    results: list[Attempt] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    counter = iter(range(10**9))

    def loop() -> None:
        session: Browser | None = None
        while time.monotonic() < deadline:
            with lock:
                name = names[next(counter) % len(names)]
            try:
                if session is None:
                    session = browser()
                    session.open_form()
                attempt = session.post(name, "mauvais-mot-de-passe")
            except (OSError, http.client.HTTPException):
                attempt, session = Attempt(0, 0.0), None
            with lock:
                results.append(attempt)
        if session is not None:
            session.close()

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def source_address(address: str) -> str:
    """This machine's address as `address` sees it (the client address of these logins)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((address, 443))
        host: str = probe.getsockname()[0]
        return host


def p95(attempts: list[Attempt]) -> float | None:
    """95th percentile (nearest rank) of the attempts' durations, in seconds."""
    times = sorted(a.seconds for a in attempts)
    return times[max(0, -(-95 * len(times) // 100) - 1)] if times else None
