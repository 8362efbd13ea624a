"""The login rows (issue #16 item 5): login_class, login_college and spray; the département's
8:00 peak (issue #26 item 3): login_peak; and through ÉduConnect (issue #20): login_federated,
login_rates. Pupils of the benchmark data set log in through the lb from this machine, one
client address for the lb, as a collège behind its NAT; preau_ops.logins is the browser-like
client they use. The federated rows go through the lab's
stand-in IdP (preau_ops/lab/partners.py), given those pupils' INEs as its accounts."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import core
from .core import Bench, Measure
from .cpu import part_seconds
from .dataset import BENCH_PASSWORD, bench_pupil_ines, bench_pupils

if TYPE_CHECKING:
    from ..inventory import Inventory
    from ..logins import Attempt

CLASS_LOGINS, CLASS_SECONDS = 30, 60
COLLEGE_LOGINS, COLLEGE_SECONDS = 600, 300
# The département's peak: 4,000 logins between 7:45 and 8:00 (issue #26 item 3).
PEAK_LOGINS, PEAK_SECONDS = 4000, 900
SPRAY_SECONDS, SPRAY_CONNECTIONS, SPRAY_ACCOUNTS = 60, 4, 200
RATE_CLIENTS, RATE_SECONDS = 4, 30
PARTNERS_CPU_SECONDS = "ps -eo times=,comm= | awk '$2 ~ /^python3/ { s += $1 } END { print s + 0 }'"


def _throttle(bench: Bench, forgive: bool = False) -> dict[str, Any]:
    """The app's login throttle of this machine's address (`login_throttle`), forgiven first
    when asked: an earlier spray must not count against the logins measured."""
    from ..logins import source_address
    from ..procedures import app_manage

    here = source_address(core.lb(bench.inv)[0])
    return dict(app_manage(bench.inv, f"login_throttle {here}" + (" --forgive" if forgive else "")))


def _app_cpu(inv: Inventory) -> float:
    """CPU seconds used so far by gunicorn on every app host (cpu.py's count)."""
    return part_seconds(inv, "app hosts")


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


def _logins(bench: Bench, count: int, seconds: int, colleges: str = "first") -> list[Attempt]:
    from .. import logins

    address, domain = core.lb(bench.inv)
    pupils = bench_pupils(bench.inv, count, colleges)
    _throttle(bench, forgive=True)
    bench.status(f"{count} pupils logging in over {seconds} s")
    return logins.arrivals(
        [(name, BENCH_PASSWORD) for name in pupils],
        seconds,
        lambda name, password: logins.login(address, domain, name, password),
    )


def _login_class(bench: Bench) -> str:
    return _login_summary(_logins(bench, CLASS_LOGINS, CLASS_SECONDS), CLASS_SECONDS)


def _login_wave(bench: Bench, count: int, seconds: int, colleges: str = "first") -> str:
    """`count` logins spread over `seconds`, with the app hosts' CPU they cost."""
    before = _app_cpu(bench.inv)
    attempts = _logins(bench, count, seconds, colleges)
    cpu = _app_cpu(bench.inv) - before
    return _login_summary(attempts, seconds) + (
        f", app hosts' CPU {cpu:.1f} s "
        f"({1000 * cpu / max(len(attempts), 1):.0f} ms a login, page included; "
        f"{cpu / seconds:.2f} of a core on average)"
    )


def _login_college(bench: Bench) -> str:
    return _login_wave(bench, COLLEGE_LOGINS, COLLEGE_SECONDS)


def _login_peak(bench: Bench) -> str:
    return _login_wave(bench, PEAK_LOGINS, PEAK_SECONDS, colleges="all")


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


def _partners(bench: Bench, count: int) -> list[str]:
    """The lab's IdPs (re)started with `count` benchmark pupils as ÉduConnect accounts; their
    usernames."""
    from ..lab import partners

    pupils = bench_pupil_ines(bench.inv, count)
    bench.status("the lab's IdPs given the pupils' accounts")
    partners.up(bench.inv, {}, pupils)
    return [username for username, _ in pupils]


def _federated(bench: Bench) -> Callable[[str], Attempt]:
    from .. import logins
    from ..lab import partners

    address, domain = core.lb(bench.inv)
    word, cafile = partners.password(), partners.ca_file()
    return lambda name: logins.federated_login(address, domain, "educonnect", name, word, cafile)


def _login_federated(bench: Bench) -> str:
    from .. import logins

    names = _partners(bench, CLASS_LOGINS)
    _throttle(bench, forgive=True)
    login = _federated(bench)
    bench.status(f"{CLASS_LOGINS} pupils logging in through ÉduConnect over {CLASS_SECONDS} s")
    before = _app_cpu(bench.inv)
    attempts = logins.arrivals(
        [(name, "") for name in names], CLASS_SECONDS, lambda name, _: login(name)
    )
    cpu = _app_cpu(bench.inv) - before
    return _login_summary(attempts, CLASS_SECONDS) + (
        f", app hosts' CPU {1000 * cpu / max(len(attempts), 1):.0f} ms a login"
    )


def _partners_cpu() -> float:
    from ..lab import standin

    out = standin.docker("exec", "preau-partners", "sh", "-c", PARTNERS_CPU_SECONDS).stdout
    return float(out.strip() or 0)


def _burst(
    bench: Bench, names: list[str], login: Callable[[str], Attempt]
) -> tuple[float, int, float, float]:
    """RATE_CLIENTS clients logging in back to back for RATE_SECONDS: (logins in per second,
    failures, app hosts' CPU ms a login, the IdP's CPU ms a login)."""
    from .. import logins

    cpu, idp = _app_cpu(bench.inv), _partners_cpu()
    attempts = logins.back_to_back(names, RATE_SECONDS, RATE_CLIENTS, login)
    cpu, idp = _app_cpu(bench.inv) - cpu, _partners_cpu() - idp
    done = [a for a in attempts if a.status == 302]
    per = 1000 / max(len(done), 1)
    return len(done) / RATE_SECONDS, len(attempts) - len(done), cpu * per, idp * per


def _login_rates(bench: Bench) -> str:
    from .. import logins

    names = _partners(bench, RATE_CLIENTS * 50)
    address, domain = core.lb(bench.inv)
    _throttle(bench, forgive=True)
    bench.status(f"local logins, {RATE_CLIENTS} clients back to back for {RATE_SECONDS} s")
    local = _burst(bench, names, lambda name: logins.login(address, domain, name, BENCH_PASSWORD))
    _throttle(bench, forgive=True)
    bench.status(f"federated logins, {RATE_CLIENTS} clients back to back for {RATE_SECONDS} s")
    federated = _burst(bench, names, _federated(bench))
    _throttle(bench, forgive=True)
    return (
        f"{federated[0]:.1f} federated logins/s ({federated[1]} failed; app hosts' CPU "
        f"{federated[2]:.0f} ms a login, the lab IdP's {federated[3]:.0f} ms), "
        f"{local[0]:.1f} local logins/s ({local[1]} failed or refused; app hosts' CPU "
        f"{local[2]:.0f} ms a login)"
    )


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
            "login_peak",
            f"the département's 8:00 peak: {PEAK_LOGINS} pupils of the benchmark collèges "
            "logging in through the lb, "
            f"arrivals spread over {PEAK_SECONDS} s, all from this machine's one address "
            "(harsher than the peak's many collèges: the lb's login limit is per address), "
            "with the app hosts' CPU",
            "0 refused, p95 < 1 s",
            probe=_login_peak,
            needs=("bench_data",),
        ),
        Measure(
            "login_federated",
            f"a class of {CLASS_LOGINS} pupils logging in through ÉduConnect (the lab's "
            "stand-in IdP: Préau's redirection, its form, its signed answer to Préau) from one "
            f"address through the lb, arrivals spread over {CLASS_SECONDS} s, with the app "
            "hosts' CPU",
            "0 refused, p95 < 1 s",
            probe=_login_federated,
            needs=("bench_data",),
        ),
        Measure(
            "login_rates",
            f"logins per second through the lb, {RATE_CLIENTS} clients back to back for "
            f"{RATE_SECONDS} s each way: through ÉduConnect (the lab's IdP, on the same 2 "
            "cores) and local (page + form, Argon2id; the lb's login limit applies to it), "
            "with the CPU a login costs",
            "federated ≥ local",
            probe=_login_rates,
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
