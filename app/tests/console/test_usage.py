"""Usage statistics (preau.console.usage, stats): recording a visit never blocks nor fails a
page, even with core tables locked by a migration; the aggregation job's figures on known
visits; the retention of raw rows and aggregates."""

from __future__ import annotations

import datetime as dt
import logging
import time

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from preau.console import stats, usage
from preau.console.models import PeriodVisitor, UsageStat, Visit
from preau.core.models import Membership, User
from tests.helpers import make_establishment

pytestmark = pytest.mark.django_db

UAI = "0820021C"


def other_connection():
    """A second session on the tests' database (a release's migration, say)."""
    db = settings.DATABASES["default"]
    return psycopg.connect(
        host=db["HOST"],
        port=db["PORT"],
        user=db["USER"],
        password=db["PASSWORD"],
        dbname=connection.settings_dict["NAME"],
        autocommit=False,
    )


def test_the_activity_tables_have_no_foreign_key():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text FROM pg_constraint "
            "WHERE contype = 'f' AND conrelid::regclass::text LIKE 'console_%%'"
        )
        assert cursor.fetchall() == []


def test_recording_takes_no_lock_on_core_tables():
    """Another session holds ACCESS EXCLUSIVE on the establishments, accounts and memberships
    (an expand migration's ALTER): recording a visit neither waits nor fails, and the only
    relations its transaction locked are the activity table and its indexes."""
    with other_connection() as migration:
        migration.execute("SET lock_timeout = '2s'")
        migration.execute(
            "LOCK TABLE core_establishment, core_user, core_membership IN ACCESS EXCLUSIVE MODE"
        )
        start = time.monotonic()
        assert usage.record(UAI, "ELV", "messaging", 42)
        assert time.monotonic() - start < 1
        with connection.cursor() as cursor:  # the test's transaction: its locks are still held
            cursor.execute(
                "SELECT DISTINCT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE l.pid = pg_backend_pid() AND c.relnamespace = 'public'::regnamespace"
            )
            locked = {name for (name,) in cursor.fetchall()}
        migration.rollback()
    assert locked and all(name.startswith("console_visit") for name in locked), locked
    [visit] = Visit.objects.all()
    assert visit.visitor == usage.visitor_hash(42) != "42" and len(visit.visitor) == 64


@pytest.fixture
def pupil(settings):
    """A pupil of UAI; the visits' buffer emptied (other tests' pages) and written at each
    page (PREAU_USAGE_FLUSH_SECONDS = 0)."""
    usage.buffer.rows.clear()
    settings.PREAU_USAGE_FLUSH_SECONDS = 0
    est = make_establishment(UAI)
    user = User.objects.create_user("escande.zoe", None, first_name="Zoé", last_name="ESCANDE")
    Membership.objects.create(user=user, establishment=est, profile="ELV")
    return user


def test_a_page_is_recorded_once_per_half_hour_and_service(client, pupil):
    client.force_login(pupil)
    for _ in range(2):
        assert client.get(f"/e/{UAI}/messagerie/").status_code == 200
    assert client.get(f"/e/{UAI}/").status_code == 200
    assert client.get(f"/e/{UAI}/nulle-part/").status_code == 404  # not a page: not counted
    assert sorted(Visit.objects.values_list("profile", "service")) == [
        ("ELV", "ent"),
        ("ELV", "messaging"),
    ]


def test_a_page_the_second_factor_stops_is_no_visit(pupil):
    """A local admin without the second factor is sent to it: no page was seen."""
    Membership.objects.filter(user=pupil).update(is_local_admin=True)
    plain = Client()
    plain.force_login(pupil)
    assert plain.get(f"/e/{UAI}/messagerie/").status_code == 302
    assert not Visit.objects.exists() and not usage.buffer.rows


def test_pages_are_buffered_then_written_in_one_insert(client, pupil, settings):
    """Between two flushes a page costs no query for the statistics; the flush writes the
    buffer's distinct rows in one INSERT."""
    settings.PREAU_USAGE_FLUSH_SECONDS = 3600
    client.force_login(pupil)
    for path in ("messagerie/", "notes/", "messagerie/"):
        assert client.get(f"/e/{UAI}/{path}").status_code == 200
    assert not Visit.objects.exists() and len(usage.buffer.rows) == 2
    with CaptureQueriesContext(connection) as queries:
        assert usage.buffer.flush()
    assert [q["sql"] for q in queries if "INSERT" in q["sql"]] == [
        q["sql"] for q in queries if "console_visit" in q["sql"]
    ]
    assert len([q for q in queries if "INSERT" in q["sql"]]) == 1
    assert sorted(Visit.objects.values_list("service", flat=True)) == ["grades", "messaging"]
    assert not usage.buffer.rows


def test_a_stopping_worker_writes_what_it_holds(client, pupil, settings):
    from preau import gunicorn_conf

    settings.PREAU_USAGE_FLUSH_SECONDS = 3600
    client.force_login(pupil)
    assert client.get(f"/e/{UAI}/messagerie/").status_code == 200
    assert not Visit.objects.exists()
    gunicorn_conf.worker_exit(None, None)
    assert Visit.objects.filter(service="messaging").exists() and not usage.buffer.rows


def test_a_failing_record_does_not_fail_the_page(client, pupil, caplog):
    """The activity table itself locked by another session: the INSERT gives up after its
    lock_timeout, the page answers anyway (and quickly); an unexpected error too."""
    client.force_login(pupil)
    with other_connection() as other:
        other.execute("LOCK TABLE console_visit IN ACCESS EXCLUSIVE MODE")
        start = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="preau.console"):
            assert client.get(f"/e/{UAI}/messagerie/").status_code == 200
        assert time.monotonic() - start < 2
        other.rollback()
    assert "visit not recorded: OperationalError" in caplog.text
    assert not Visit.objects.exists()
    # The page's own queries after it still run (the savepoint was rolled back).
    assert client.get(f"/e/{UAI}/messagerie/").status_code == 200 and Visit.objects.exists()


def test_an_unexpected_error_does_not_fail_the_page(client, pupil, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("en panne")

    monkeypatch.setattr(usage, "record", broken)
    client.force_login(pupil)
    assert client.get(f"/e/{UAI}/messagerie/").status_code == 200


DAY = dt.date(2026, 12, 2)  # a Wednesday: its week starts on Monday 30 November


def at(day, hour, minute):
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))


def known_visits():
    """Pupil 1: messaging 08:05, 08:20, 08:40 and grades 08:45 (one visit: gaps < 30 min),
    messaging again at 14:00 (a second visit), and the next day messaging at 10:00; pupil 2:
    logbook at 10:00; a teacher: messaging at 09:00. Another establishment: one pupil."""
    for when, profile, service, user in [
        (at(DAY, 8, 5), "ELV", "messaging", 1),
        (at(DAY, 8, 20), "ELV", "messaging", 1),
        (at(DAY, 8, 40), "ELV", "messaging", 1),
        (at(DAY, 8, 45), "ELV", "grades", 1),
        (at(DAY, 14, 0), "ELV", "messaging", 1),
        (at(DAY, 10, 0), "ELV", "logbook", 2),
        (at(DAY, 9, 0), "ENS", "messaging", 3),
        (at(DAY + dt.timedelta(1), 10, 0), "ELV", "messaging", 1),
    ]:
        assert usage.record(UAI, profile, service, user, at=when)
    assert usage.record("0820010R", "ELV", "news", 4, at=at(DAY, 12, 0))


def figures(period, start, uai=UAI):
    return {
        (s.profile, s.service): (s.visitors, s.visits)
        for s in UsageStat.objects.filter(period=period, start=start, uai=uai)
    }


def test_aggregation_on_known_visits():
    known_visits()
    assert Visit.objects.count() == 8  # 08:05 and 08:20 on messaging: one half-hour's row
    result = stats.aggregate(today=DAY + dt.timedelta(2))
    assert result["days"] == ["2026-12-02", "2026-12-03"]
    assert figures("jour", DAY) == {
        ("ELV", ""): (2, 3),
        ("ELV", "messaging"): (1, 2),
        ("ELV", "grades"): (1, 1),
        ("ELV", "logbook"): (1, 1),
        ("ENS", ""): (1, 1),
        ("ENS", "messaging"): (1, 1),
    }
    # Pupil 1 came both days: one visitor of the week, two days' visits summed.
    week = {
        ("ELV", ""): (2, 4),
        ("ELV", "messaging"): (None, 3),
        ("ELV", "grades"): (None, 1),
        ("ELV", "logbook"): (None, 1),
        ("ENS", ""): (1, 1),
        ("ENS", "messaging"): (None, 1),
    }
    assert figures("semaine", dt.date(2026, 11, 30)) == week
    assert figures("mois", dt.date(2026, 12, 1)) == week
    assert figures("jour", DAY, uai="0820010R") == {("ELV", ""): (1, 1), ("ELV", "news"): (1, 1)}
    # Run again: the same rows.
    stats.aggregate(today=DAY + dt.timedelta(2))
    assert figures("semaine", dt.date(2026, 11, 30)) == week
    assert UsageStat.objects.filter(period="jour", start=DAY).count() == 6 + 2


def test_retention_purges_raw_rows_then_aggregates():
    known_visits()
    # 8 days later (raw rows kept 7 days): the first day's raw rows go, its figures stay, and
    # the week's visitors are still counted from what was remembered of it.
    result = stats.aggregate(today=DAY + dt.timedelta(8))
    assert result["purged_raw"] == 7
    assert set(Visit.objects.values_list("day", flat=True)) == {DAY + dt.timedelta(1)}
    stats.aggregate(today=DAY + dt.timedelta(8))
    assert figures("semaine", dt.date(2026, 11, 30))[("ELV", "")] == (2, 4)
    assert figures("jour", DAY)[("ELV", "")] == (2, 3)
    # 40 days later: no raw row left, nor the visitors of the ended week and month.
    stats.aggregate(today=DAY + dt.timedelta(40))
    assert not Visit.objects.exists() and not PeriodVisitor.objects.exists()
    assert figures("mois", dt.date(2026, 12, 1))[("ELV", "")] == (2, 4)
    # 13 months after the last day: its aggregates go too.
    result = stats.aggregate(today=dt.date(2028, 1, 4))
    assert result["purged_stats"] > 0 and not UsageStat.objects.exists()
