"""Migrations under load: bounded waits for locks, retried when a lock is not obtained.

A migration's ALTER TABLE waits for every transaction that has the table open, and every new
query on that table waits behind it: without a limit, one long transaction of the app stops the
whole platform for as long as it lasts. So each attempt runs with `lock_timeout` and
`statement_timeout` on the migrating connection (settings PREAU_MIGRATIONS, [migrations] of
preau.toml); a lock timeout (SQLSTATE 55P03) rolls the migration's transaction back and the
attempt is made again after a pause (doubled each time), up to `lock_attempts` in all. Any other
error stops at once. Each attempt is reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError, connections

LOCK_NOT_AVAILABLE = "55P03"


class LockTimeout(Exception):
    """Every attempt of a step ended on a lock timeout."""

    def __init__(self, attempts: list[dict]):
        super().__init__(attempts[-1]["message"])
        self.attempts = attempts


def is_lock_timeout(exc: BaseException | None) -> bool:
    """Whether PostgreSQL refused a lock (lock_timeout) somewhere in the exception's causes."""
    while exc is not None:
        if getattr(exc, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def set_timeouts(using: str = "default") -> dict:
    """Session settings of the migrating connection; the values used."""
    config = settings.PREAU_MIGRATIONS
    lock_ms, statement_ms = int(config["lock_timeout_ms"]), int(config["statement_timeout_ms"])
    with connections[using].cursor() as cursor:
        cursor.execute(f"SET lock_timeout = {lock_ms}")
        cursor.execute(f"SET statement_timeout = {statement_ms}")
    return {"lock_timeout_ms": lock_ms, "statement_timeout_ms": statement_ms}


def reset_timeouts(using: str = "default") -> None:
    """Back to the server's defaults; on a connection an error left unusable, nothing to do
    (the error being reported matters more, and the connection is not reused)."""
    try:
        with connections[using].cursor() as cursor:
            cursor.execute("RESET lock_timeout")
            cursor.execute("RESET statement_timeout")
    except DatabaseError:
        pass


def with_retries(
    step: Callable[[], object],
    target: str,
    using: str = "default",
    sleep: Callable[[float], object] = time.sleep,
) -> list[dict]:
    """Run `step` with the timeouts until it passes or every attempt ended on a lock timeout
    (LockTimeout); the attempts made, each {"target", "attempt", "ok", "seconds", ...}."""
    config, attempts = settings.PREAU_MIGRATIONS, []
    for number in range(1, int(config["lock_attempts"]) + 1):
        started = time.monotonic()
        try:
            set_timeouts(using)
            step()
        except DatabaseError as exc:
            if not is_lock_timeout(exc):
                raise
            attempts.append(_attempt(target, number, started, exc))
            if number == int(config["lock_attempts"]):
                raise LockTimeout(attempts) from exc
            sleep(int(config["retry_backoff_ms"]) * 2 ** (number - 1) / 1000)
        else:
            attempts.append(_attempt(target, number, started))
            return attempts
        finally:
            reset_timeouts(using)
    return attempts  # lock_attempts >= 1 (preau.config): not reached


def _attempt(target: str, number: int, started: float, exc: BaseException | None = None) -> dict:
    attempt = {
        "target": target,
        "attempt": number,
        "ok": exc is None,
        "seconds": round(time.monotonic() - started, 3),
    }
    if exc is not None:
        attempt["error"] = "lock_timeout"
        attempt["message"] = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return attempt
