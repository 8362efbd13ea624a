"""The login rows (issue #16 item 5): login_class, login_college and spray. Pupils of the
benchmark data set log in through the lb from this machine, one client address for the lb, as
a collège behind its NAT; preau_ops.logins is the browser-like client they use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import core
from .core import Bench, Measure
from .dataset import BENCH_PASSWORD, bench_pupils

if TYPE_CHECKING:
    from ..inventory import Inventory
    from ..logins import Attempt

CLASS_LOGINS, CLASS_SECONDS = 30, 60
COLLEGE_LOGINS, COLLEGE_SECONDS = 600, 300
SPRAY_SECONDS, SPRAY_CONNECTIONS, SPRAY_ACCOUNTS = 60, 4, 200
APP_CPU_SECONDS = "ps -eo times=,comm= | awk '$2 ~ /^gunicorn/ { s += $1 } END { print s + 0 }'"


def _throttle(bench: Bench, forgive: bool = False) -> dict[str, Any]:
    """The app's login throttle of this machine's address (`login_throttle`), forgiven first
    when asked: an earlier spray must not count against the logins measured."""
    from ..logins import source_address
    from ..procedures import app_manage

    here = source_address(core.lb(bench.inv)[0])
    return dict(app_manage(bench.inv, f"login_throttle {here}" + (" --forgive" if forgive else "")))


def _app_cpu(inv: Inventory) -> float:
    """CPU seconds used so far by gunicorn on every app host."""
    return sum(
        float(core.remote(inv, host, APP_CPU_SECONDS).stdout.strip() or 0)
        for host in inv.hosts_in("app")
    )


def _login_summary(attempts: list[Attempt], seconds: int) -> str:
    """'N refused (…) of M logins in S s, F other failures, p95 X s' of login attempts."""
    refused = [a for a in attempts if a.status == 429]
    other = len([a for a in attempts if a.status not in (302, 429)])
    by = {who: len([a for a in refused if a.by == who]) for who in ("lb", "app")}
    latency = core.percentile([(a.seconds, 1) for a in attempts], 0.95)
    return (
        f"{len(refused)} refused (lb {by['lb']}, app {by['app']}) of {len(attempts)} logins "
        f"from one address in {seconds} s, {other} other failures, p95 "
        + (f"{latency:.2f} s" if latency is not None else "—")
    )


def _logins(bench: Bench, count: int, seconds: int) -> list[Attempt]:
    from .. import logins

    address, domain = core.lb(bench.inv)
    pupils = bench_pupils(bench.inv, count)
    _throttle(bench, forgive=True)
    bench.status(f"{count} pupils logging in over {seconds} s")
    return logins.arrivals(
        [(name, BENCH_PASSWORD) for name in pupils],
        seconds,
        lambda name, password: logins.login(address, domain, name, password),
    )


def _login_class(bench: Bench) -> str:
    return _login_summary(_logins(bench, CLASS_LOGINS, CLASS_SECONDS), CLASS_SECONDS)


def _login_college(bench: Bench) -> str:
    before = _app_cpu(bench.inv)
    attempts = _logins(bench, COLLEGE_LOGINS, COLLEGE_SECONDS)
    cpu = _app_cpu(bench.inv) - before
    return _login_summary(attempts, COLLEGE_SECONDS) + (
        f", app hosts' CPU {cpu:.1f} s "
        f"({1000 * cpu / max(len(attempts), 1):.0f} ms a login, page included)"
    )


def _spray_summary(attempts: list[Attempt], seconds: int, free: int) -> str:
    """Password checks (401) a minute, the attempts refused and by whom, the app's longest
    Retry-After."""
    checks = len([a for a in attempts if a.status == 401])
    refused = [a for a in attempts if a.status == 429]
    lb = len([a for a in refused if a.by == "lb"])
    waits = [a.retry_after or 0 for a in refused if a.by == "app"]
    return (
        f"{checks * 60 / seconds:.0f} password checks a minute ({checks} in {seconds} s, "
        f"{SPRAY_CONNECTIONS} connections, wrong passwords on {SPRAY_ACCOUNTS} accounts) of "
        f"{len(attempts)} attempts: {lb} refused by the lb, {len(waits)} by the app "
        f"(Retry-After up to {max(waits, default=0)} s); the address started with {free} "
        "free failures (20 + 1 per account that logged in from it within the hour)"
    )


def _spray(bench: Bench) -> str:
    from .. import logins

    address, domain = core.lb(bench.inv)
    names = bench_pupils(bench.inv, SPRAY_ACCOUNTS)
    free = _throttle(bench, forgive=True)["free_failures"]
    bench.status(f"spraying for {SPRAY_SECONDS} s")
    try:
        attempts = logins.hammer(
            names, SPRAY_SECONDS, SPRAY_CONNECTIONS, lambda: logins.Browser(address, domain)
        )
    finally:
        _throttle(bench, forgive=True)  # what runs after this logs in from here
    return _spray_summary(attempts, SPRAY_SECONDS, free)


def measures(inv: Inventory) -> list[Measure]:
    return [
        Measure(
            "login_class",
            f"a class of {CLASS_LOGINS} pupils logging in (page + form) from one address "
            f"through the lb, arrivals spread over {CLASS_SECONDS} s",
            "0 refused, p95 < 1 s",
            probe=_login_class,
            needs=("bench_data",),
        ),
        Measure(
            "login_college",
            f"a collège of {COLLEGE_LOGINS} pupils logging in from one address through the lb, "
            f"arrivals spread over {COLLEGE_SECONDS} s, with the app hosts' CPU",
            "0 refused",
            probe=_login_college,
            needs=("bench_data",),
        ),
        Measure(
            "spray",
            f"password spraying from one address through the lb: {SPRAY_CONNECTIONS} "
            f"kept-alive connections posting wrong passwords for {SPRAY_SECONDS} s, never "
            "waiting for Retry-After: the password checks it achieves (the address forgiven "
            "before and after)",
            "reported",
            probe=_spray,
            needs=("bench_data",),
        ),
    ]
