"""Recording the visits (raw rows of preau.console.models.Visit).

The critical constraint: recording never blocks nor fails a user's request, including while a
release's migration holds or waits for an ACCESS EXCLUSIVE lock on core tables. Hence:
- the table has no foreign key (models.py): the INSERT locks only `console_visit`;
- visits are buffered per worker process and written by one multi-row INSERT every few
  seconds (_Buffer): a page costs no query for them;
- the INSERT runs in its own savepoint with `SET LOCAL lock_timeout` (LOCK_TIMEOUT_MS) and a
  short `statement_timeout`: should `console_visit` itself be locked, it gives up quickly;
- any database error is logged and swallowed (the savepoint rolled back, the page unharmed);
- `ON CONFLICT DO NOTHING` on the row's unique key: a visitor's pages of the same half-hour on
  one service are one row, and a repeat costs an index lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

log = logging.getLogger("preau.console")

LOCK_TIMEOUT_MS = 100
STATEMENT_TIMEOUT_MS = 500

# The services of the ministry's audience measures, by the app of the page's view; the pages of
# preau.ent (dashboard, files, notifications) are the "accueil", preau.core's the directory.
SERVICES = {
    "ent": "Accueil",
    "timetable": "Emploi du temps",
    "attendance": "Vie scolaire",
    "grades": "Notes",
    "logbook": "Cahier de textes",
    "documents": "Documents",
    "messaging": "Messagerie",
    "news": "Actualités",
    "spaces": "Espaces",
    "core": "Administration",
}

INSERT = "INSERT INTO console_visit (day, slot, uai, profile, service, visitor) VALUES "
CONFLICT = " ON CONFLICT DO NOTHING"


# Local to the transaction (set_config(…, true) is SET LOCAL), the previous values returned.
SET_TIMEOUTS = (
    "SELECT current_setting('lock_timeout'), current_setting('statement_timeout'), "
    "set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true)"
)


def visitor_hash(user_id: int) -> str:
    """The visitor as the statistics know them: an HMAC-SHA256 of the account's id keyed with
    the app's secret, so that the rows cannot be joined back to accounts without the key."""
    key = ("preau.console.visitor:" + settings.SECRET_KEY).encode()
    return hmac.new(key, str(user_id).encode(), hashlib.sha256).hexdigest()


def service_of(request) -> str | None:
    """The service of the page (a key of SERVICES), or None for a page that is not counted."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return None
    parts = match.func.__module__.split(".")
    app = parts[1] if len(parts) > 1 and parts[0] == "preau" else ""
    return app if app in SERVICES else None


def visit_row(uai: str, profile: str, service: str, user_id: int, at=None) -> tuple:
    """The raw row of a page seen at `at` (now by default): its day and half-hour slot."""
    at = timezone.localtime(at)
    return (at.date(), at.hour * 2 + at.minute // 30, uai, profile, service, visitor_hash(user_id))


def insert(rows) -> bool:
    """Insert raw rows in one statement; False (logged) when the database refused or took
    too long, the caller's transaction (if any) unharmed."""
    rows = list(rows)
    if not rows:
        return True
    values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(rows))
    outer = connection.in_atomic_block
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(SET_TIMEOUTS, [f"{LOCK_TIMEOUT_MS}ms", f"{STATEMENT_TIMEOUT_MS}ms"])
            before = cursor.fetchone()
            cursor.execute(INSERT + values + CONFLICT, [v for row in rows for v in row])
            if outer:  # a caller's transaction goes on: give it back its own timeouts
                cursor.execute(SET_TIMEOUTS, list(before[:2]))
    except DatabaseError as exc:
        log.warning(
            "visit not recorded: %s",
            type(exc).__name__,
            extra={"error": str(exc)[:200], "rows": len(rows)},
        )
        return False
    return True


def record(uai: str, profile: str, service: str, user_id: int, at=None) -> bool:
    """Insert one raw row now (the buffer aside): commands, tests."""
    return insert([visit_row(uai, profile, service, user_id, at)])


class _Buffer:
    """The visits a worker process saw since its last flush, deduplicated: written in one
    INSERT every PREAU_USAGE_FLUSH_SECONDS (10 s), or sooner past PREAU_USAGE_BUFFER_MAX
    rows, by the request that finds it due, after its response is made. So a page costs no
    query for the statistics, and a flush a few milliseconds every ten seconds. A stopping
    worker writes them (gunicorn_conf.worker_exit); one that dies loses its last seconds
    (statistics, not records). A flush refused by the database drops its rows (logged)
    rather than piling them up while a lock lasts."""

    def __init__(self) -> None:
        self.rows: set[tuple] = set()
        self.since = time.monotonic()
        self.lock = threading.Lock()

    def add(self, row: tuple) -> None:
        with self.lock:
            self.rows.add(row)

    def due(self) -> bool:
        return bool(self.rows) and (
            time.monotonic() - self.since >= settings.PREAU_USAGE_FLUSH_SECONDS
            or len(self.rows) >= settings.PREAU_USAGE_BUFFER_MAX
        )

    def flush(self) -> bool:
        with self.lock:
            rows, self.rows, self.since = self.rows, set(), time.monotonic()
        return insert(sorted(rows))


buffer = _Buffer()


class UsageMiddleware:
    """Notes a visit for each successful page of an establishment seen by one of its members
    (after TenantMiddleware: the membership is read) and flushes the buffer when due.
    Platform operators browsing an establishment are not its users: not counted."""

    def __init__(self, get_response):
        self.get_response = get_response

    def process_view(self, request, view_func, view_args, view_kwargs):
        """Reached only when every earlier middleware let the view run (not when the second
        factor, say, sent the user elsewhere): only then is the page a visit."""
        request.usage_view_ran = True

    def __call__(self, request):
        response = self.get_response(request)
        try:
            membership = getattr(request, "membership", None)
            ran = getattr(request, "usage_view_ran", False)
            service = service_of(request) if membership is not None and ran else None
            if service is not None and response.status_code < 400:
                buffer.add(
                    visit_row(
                        membership.establishment.uai,
                        membership.profile,
                        service,
                        membership.user_id,
                    )
                )
            if buffer.due():
                buffer.flush()
        except Exception:  # recording must never fail the page, whatever happens
            log.exception("visit not recorded")
        return response
