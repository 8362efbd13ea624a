"""Login throttling: who is asking (the client address through declared proxies), and how long
they must wait before their next password or activation code is checked.

nginx's per-address limit on the login form is the flood guard (requests per second); this is
the guessing guard, counted in core_loginattempt so that it holds across app hosts and workers.
Only failures count, never successes, and nothing is ever locked for good:

- per account: `account_free_failures` failures since its last success (within `window_seconds`),
  then a short delay that doubles up to `account_max_delay_seconds`. The delay runs from the last
  failure on the account; from an address where the account logged in within
  `known_address_days` it runs from that address's own last failure on the account, so an
  attacker elsewhere cannot take the pupil's turn: the right password gets in at school at once.
- per address (IPv4 address, IPv6 /64): `address_free_failures` failures within
  `address_window_seconds`, plus `address_free_per_user` for each account that logged in from it
  in that window (a collège behind one NAT mistypes more than a home), then a delay that doubles
  up to `address_max_delay_seconds`. An account that logged in from that address within
  `known_address_days` is not held by it: a pupil spraying from the collège's own address slows
  the accounts never seen there, not the collège's pupils (each still has its own account delay).

A refused attempt is not checked and not recorded: the caller answers 429 with Retry-After, and
no web worker ever sleeps.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math

from django.conf import settings
from django.db.models import Count, Max, Q
from django.utils import timezone

from preau.core import addresses
from preau.core.models import LoginAttempt

# Failures of one account looked at (its window holds fewer when it is throttled).
ACCOUNT_ROWS = 200


def client_ip(request) -> str | None:
    """The client's address: REMOTE_ADDR, or, when REMOTE_ADDR is a trusted proxy
    (settings.PREAU_TRUSTED_PROXIES), X-Forwarded-For walked from the right past the trusted
    hops. What an untrusted peer writes in the header is never read."""
    hop = addresses.parse(request.META.get("REMOTE_ADDR"))
    if hop is None:
        return None
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    for value in reversed([part for part in forwarded.split(",") if part.strip()]):
        if not addresses.within(hop, settings.PREAU_TRUSTED_PROXIES):
            break
        # Written by `hop`, a trusted proxy: it is the peer that proxy saw.
        previous = addresses.parse(value)
        if previous is None:
            break
        hop = previous
    return str(hop)


def address_prefix(ip: str | None) -> str:
    """What the address throttle counts: the IPv4 address, the IPv6 /64, '' for none."""
    address = addresses.parse(ip)
    if address is None:
        return ""
    if address.version == 4:
        return str(address)
    return str(ipaddress.ip_network(f"{address}/64", strict=False))


def _delay(failures: int, free: int, first: float, cap: float) -> float:
    """Seconds to wait after the last of `failures`: none while free, then doubling, capped."""
    if failures < free:
        return 0.0
    return min(cap, first * 2 ** min(failures - free, 32))


def _account_wait(username: str, prefix: str, known: bool, now, conf: dict) -> float:
    since = now - dt.timedelta(seconds=conf["window_seconds"])
    rows = list(
        LoginAttempt.objects.filter(username=username, at__gte=since)
        .order_by("-at", "-id")  # newest first; the later insert first on a tied time
        .values_list("at", "success", "prefix")[:ACCOUNT_ROWS]
    )
    failures = []
    for at, success, row_prefix in rows:
        if success:
            break  # failures before the account's last success do not count
        failures.append((at, row_prefix))
    delay = _delay(
        len(failures),
        conf["account_free_failures"],
        conf["account_delay_seconds"],
        conf["account_max_delay_seconds"],
    )
    if not delay:
        return 0.0
    last = failures[0][0]
    if known:
        mine = [at for at, row_prefix in failures if row_prefix == prefix]
        if not mine:
            return 0.0
        last = mine[0]
    return (last + dt.timedelta(seconds=delay) - now).total_seconds()


def _known_address(username: str, prefix: str, now, conf: dict) -> bool:
    since = now - dt.timedelta(days=conf["known_address_days"])
    return LoginAttempt.objects.filter(
        username=username, prefix=prefix, success=True, at__gte=since
    ).exists()


def _address_seen(prefix: str, now, conf: dict) -> dict:
    """The address's failures within its window, the last one, and its free failures."""
    since = now - dt.timedelta(seconds=conf["address_window_seconds"])
    seen = LoginAttempt.objects.filter(prefix=prefix, at__gte=since).aggregate(
        failures=Count("id", filter=Q(success=False)),
        last=Max("at", filter=Q(success=False)),
        users=Count("username", filter=Q(success=True), distinct=True),
    )
    seen["free"] = conf["address_free_failures"] + conf["address_free_per_user"] * seen["users"]
    return seen


def _address_wait(seen: dict, conf: dict, now) -> float:
    delay = _delay(
        seen["failures"],
        seen["free"],
        conf["address_delay_seconds"],
        conf["address_max_delay_seconds"],
    )
    if not delay:
        return 0.0
    return (seen["last"] + dt.timedelta(seconds=delay) - now).total_seconds()


def retry_after(username: str, ip: str | None) -> int:
    """0 when this login (lower-cased) may be checked now from `ip`; else the whole seconds
    to wait (for the account, or for the address, whichever is longer)."""
    conf, now = settings.LOGIN_THROTTLE, timezone.now()
    username = username.lower()[:150]
    prefix = address_prefix(ip)
    known = bool(prefix) and _known_address(username, prefix, now, conf)
    wait = _account_wait(username, prefix, known, now, conf)
    if prefix and not known:
        wait = max(wait, _address_wait(_address_seen(prefix, now, conf), conf, now))
    return math.ceil(wait) if wait > 0 else 0


def record_attempt(username: str, ip: str | None, success: bool) -> None:
    """One password or activation code checked for `username` from `ip`, at the time the
    decisions read (one clock: timezone.now, as read here)."""
    LoginAttempt.objects.create(
        at=timezone.now(),
        username=username.lower()[:150],
        ip=str(addresses.parse(ip) or "") or None,
        prefix=address_prefix(ip),
        success=success,
    )


def wait_message(seconds: int) -> str:
    """The French message of a refused attempt."""
    if seconds < 60:
        when = f"{seconds} seconde{'s' if seconds > 1 else ''}"
    else:
        minutes = math.ceil(seconds / 60)
        when = f"{minutes} minute{'s' if minutes > 1 else ''}"
    return f"Trop de tentatives échouées. Réessayez dans {when}."


def forgive(ip: str) -> int:
    """Forget the recent failures of an address's prefix (a collège slowed by one pupil's
    spraying, once dealt with): the address throttle starts afresh. The number forgotten."""
    prefix = address_prefix(ip)
    if not prefix:
        raise ValueError(f"{ip!r} n'est pas une adresse IP")
    since = timezone.now() - dt.timedelta(seconds=settings.LOGIN_THROTTLE["address_window_seconds"])
    deleted, _ = LoginAttempt.objects.filter(prefix=prefix, success=False, at__gte=since).delete()
    return deleted


def state(ip: str) -> dict:
    """What the address throttle sees of an address: its prefix, failures and wait."""
    prefix = address_prefix(ip)
    if not prefix:
        raise ValueError(f"{ip!r} n'est pas une adresse IP")
    conf, now = settings.LOGIN_THROTTLE, timezone.now()
    seen = _address_seen(prefix, now, conf)
    return {
        "address": ip,
        "prefix": prefix,
        "failures": seen["failures"],
        "free_failures": seen["free"],
        "retry_after": math.ceil(max(_address_wait(seen, conf, now), 0)),
    }


# --- requests that send an e-mail ("Mot de passe oublié", address confirmation) ---------------
# Counted in the same table as logins, under keys of their own ("<kind>:<key>", prefix
# "<kind>:<address prefix>") that never meet a login's (usernames have no colon): a request is
# a row with success=False. Fixed windows, no doubling: these guard a mailbox and the mail
# server, not a secret.


def request_wait(kind: str, key: str, ip: str | None) -> int:
    """0 when one more `kind` request for `key` (an address or login typed, an account) from
    `ip` may go now; else the whole seconds until the oldest counted one leaves its window."""
    conf, now = settings.REQUEST_THROTTLE, timezone.now()
    since = now - dt.timedelta(seconds=conf["window_seconds"])
    checks = [(f"{kind}:{key.lower()}"[:150], "username", conf["per_key"])]
    prefix = address_prefix(ip)
    if prefix:
        checks.append((f"{kind}:{prefix}", "prefix", conf["per_address"]))
    wait = 0.0
    for value, column, limit in checks:
        times = list(
            LoginAttempt.objects.filter(at__gte=since, success=False, **{column: value})
            .order_by("-at")
            .values_list("at", flat=True)[:limit]
        )
        if len(times) >= limit:
            wait = max(wait, (times[-1] - since).total_seconds())
    return math.ceil(wait) if wait > 0 else 0


def record_request(kind: str, key: str, ip: str | None) -> None:
    LoginAttempt.objects.create(
        username=f"{kind}:{key.lower()}"[:150],
        ip=str(addresses.parse(ip) or "") or None,
        prefix=f"{kind}:{address_prefix(ip)}" if address_prefix(ip) else "",
        success=False,
    )
