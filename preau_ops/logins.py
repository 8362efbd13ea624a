"""Logins through the load balancer as a browser makes them: the login page (its CSRF cookie and
token), then the form posted; or through an identity provider (federated_login: Préau's
redirection, the IdP's form, its signed answer posted back). Used by `deploy.py bench`
(login_class, login_college, spray, login_federated, login_rates) and the lab test of login
throttling (tests/lab/test_34_login.py)."""

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
FEDERATED_LOGIN_PATH = "/federation/connexion/{idp}/"
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
FORM_ACTION = re.compile(r'<form method="post" action="([^"]+)"')
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

    def __init__(
        self,
        address: str,
        domain: str,
        cafile: str | None = None,
        timeout: float = 15,
        port: int = 443,
    ):
        context = ssl.create_default_context(cafile=cafile)
        if cafile is None:
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        self.domain = domain
        self.connection = http.client.HTTPSConnection(
            domain, port, timeout=timeout, context=context
        )
        self.connection.sock = context.wrap_socket(
            socket.create_connection((address, port), timeout), server_hostname=domain
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
        by = _refused_by(answer.status, text)
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


def _cookies(answer: http.client.HTTPResponse) -> str:
    """The Cookie header a browser sends back after this answer (its Set-Cookie values)."""
    return "; ".join(v.split(";", 1)[0] for v in answer.headers.get_all("Set-Cookie") or [])


def _refused_by(status: int, text: str) -> str | None:
    """Who refused a 429: the lb (its waiting page) or the app (its form)."""
    return ("lb" if "Trop de connexions" in text else "app") if status == 429 else None


def _throttled(status: int, text: str, started: float) -> Attempt:
    return Attempt(status, time.monotonic() - started, by=_refused_by(status, text))


def federated_login(
    address: str,
    domain: str,
    idp: str,
    login: str,
    password: str,
    idp_cafile: str,
    timeout: float = 15,
    port: int = 443,
) -> Attempt:
    """Log in as a browser does through an IdP whose login form is a plain HTML form (the
    lab's stand-ins, tests/lab/partners/idp.py): Préau's /federation/connexion/IDP/ through the
    lb (a redirection to the IdP, Préau's session cookie), the IdP's page and form (its TLS
    checked against `idp_cafile`), then its signed answer posted to Préau's ACS. Its status is
    Préau's answer to that post (302: in), or the first step's that was not as expected."""
    import html
    from urllib.parse import urlsplit

    started = time.monotonic()
    preau: Browser | None = None
    other: http.client.HTTPSConnection | None = None
    try:
        preau = Browser(address, domain, None, timeout, port)
        headers = {"Host": domain}
        preau.connection.request("GET", FEDERATED_LOGIN_PATH.format(idp=idp), headers=headers)
        answer = preau.connection.getresponse()
        text = answer.read().decode(errors="replace")
        location = answer.getheader("Location") or ""
        if answer.status != 302 or not location.startswith("https://"):
            return _throttled(answer.status, text, started)
        session = _cookies(answer)
        target = urlsplit(location)
        context = ssl.create_default_context(cafile=idp_cafile)
        other = http.client.HTTPSConnection(
            target.hostname or "", target.port or 443, timeout=timeout, context=context
        )
        other.request("GET", f"{target.path}?{target.query}")
        page = other.getresponse()
        fields = dict(HIDDEN.findall(page.read().decode(errors="replace")))
        form = urlencode({**fields, "identifiant": login, "mot_de_passe": password})
        kind = {"Content-Type": "application/x-www-form-urlencoded"}
        other.request("POST", "/login", body=form, headers=kind)
        page = other.getresponse()
        text = page.read().decode(errors="replace")
        action, fields = FORM_ACTION.search(text), dict(HIDDEN.findall(text))
        if page.status != 200 or action is None or "SAMLResponse" not in fields:
            return Attempt(page.status or 0, time.monotonic() - started)
        acs = urlsplit(html.unescape(action.group(1)))
        body = urlencode({name: html.unescape(value) for name, value in fields.items()})
        origin = f"https://{target.netloc}"
        preau.connection.request(
            "POST",
            acs.path,
            body=body,
            headers={"Host": domain, "Cookie": session, "Origin": origin, **kind},
        )
        answer = preau.connection.getresponse()
        return _throttled(answer.status, answer.read().decode(errors="replace"), started)
    except (OSError, http.client.HTTPException):
        return Attempt(0, time.monotonic() - started)
    finally:
        for connection in (preau, other):
            if connection is not None:
                connection.close()


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


def back_to_back(
    names: list[str], seconds: float, workers: int, run: Callable[[str], T]
) -> list[T]:
    """`workers` threads calling `run(name)` one after the other for `seconds`, `names` in
    turn: the rate a kind of login reaches; every result."""
    results: list[T] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    counter = iter(range(10**9))

    def loop() -> None:
        while time.monotonic() < deadline:
            with lock:
                name = names[next(counter) % len(names)]
            result = run(name)
            with lock:
                results.append(result)

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def hammer(
    names: list[str], seconds: float, workers: int, browser: Callable[[], Browser]
) -> list[Attempt]:
    """A sprayer: `workers` threads, each with one kept-alive connection (`browser()`, a new
    Browser) and one CSRF token, posting `names` in turn with a wrong password for `seconds`,
    never waiting for Retry-After; every attempt."""
    mine = threading.local()
    opened: list[Browser] = []

    def spray(name: str) -> Attempt:
        try:
            if getattr(mine, "session", None) is None:
                mine.session = browser()
                opened.append(mine.session)
                mine.session.open_form()
            return cast(Attempt, mine.session.post(name, "mauvais-mot-de-passe"))
        except (OSError, http.client.HTTPException):
            mine.session = None
            return Attempt(0, 0.0)

    try:
        return back_to_back(names, seconds, workers, spray)
    finally:
        for session in opened:
            session.close()


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
