"""`migrate_phase expand` on a real PostgreSQL while another connection (the app, a long
transaction) holds the table the migration alters: each attempt gives up after lock_timeout,
the migration is retried, and it passes once the lock is gone; held throughout, the command
fails naming the lock timeout, and nothing of that migration is applied.

A database of its own, migrated by today's code, then messaging.0002 (ADD COLUMN on
ent_participant) and the ones after it unapplied so that `expand` has it to apply."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import psycopg
import pytest

from tests.test_upgrade_by_domain import APP, _run, django_env

MIGRATION = "messaging.0002_participant_hidden_at"
TABLE = "ent_participant"  # the services keep their ent_* tables
# Unapplied with it by ONE_PENDING (messaging migrated back to 0001), applied after it; `migrate
# messaging LAST` reaches them all in one step (migration_phases.targets): the attempts name it.
LATER = ["messaging.0003_groups_and_reports", "messaging.0004_conversation_broadcast_index"]
TARGET = LATER[-1]


def connect(target: dict, **options) -> psycopg.Connection:
    return psycopg.connect(
        host=target["HOST"],
        port=target["PORT"],
        user=target["USER"],
        password=target["PASSWORD"],
        dbname=target["NAME"],
        **options,
    )


def expand(target: dict, attempts: int, backoff_ms: int) -> subprocess.Popen:
    env = django_env(
        APP,
        target,
        PREAU_MIGRATIONS_LOCK_TIMEOUT_MS="300",
        PREAU_MIGRATIONS_LOCK_ATTEMPTS=str(attempts),
        PREAU_MIGRATIONS_RETRY_BACKOFF_MS=str(backoff_ms),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "django", "migrate_phase", "expand", "--json"],
        cwd=APP,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def waiting(watcher: psycopg.Connection) -> bool:
    """Whether a session waits for a lock on TABLE."""
    row = watcher.execute(
        "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = %s::regclass", [TABLE]
    ).fetchone()
    return bool(row and row[0])


def until(condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def schema(watcher: psycopg.Connection) -> tuple[bool, bool]:
    """(the column exists, the migration is recorded)."""
    column = watcher.execute(
        "SELECT count(*) FROM information_schema.columns "
        "WHERE table_name = %s AND column_name = 'hidden_at'",
        [TABLE],
    ).fetchone()
    recorded = watcher.execute(
        "SELECT count(*) FROM django_migrations WHERE app = 'messaging' AND name = %s",
        [MIGRATION.split(".")[1]],
    ).fetchone()
    return bool(column and column[0]), bool(recorded and recorded[0])


# Both migrates in one process (a Django set-up is ~0.5 s).
ONE_PENDING = """
import django
django.setup()
from django.core.management import call_command
call_command("migrate", interactive=False)
call_command("migrate", "messaging", "0001", interactive=False)
"""


@pytest.fixture
def one_pending(database):
    _run(APP, database, "-c", ONE_PENDING)
    return database


def test_a_migration_waits_at_most_lock_timeout_and_is_retried_until_the_lock_is_released(
    one_pending,
):
    with connect(one_pending, autocommit=True) as watcher, connect(one_pending) as app:
        app.execute(f"SELECT count(*) FROM {TABLE}")  # a transaction left open: ACCESS SHARE

        held = expand(one_pending, attempts=2, backoff_ms=100)
        out, err = held.communicate(timeout=120)
        assert held.returncode != 0, out
        answer = json.loads(out)
        assert not answer["ok"] and answer["failed"] == MIGRATION
        assert "lock_timeout" in answer["error"] and "2 tentatives" in answer["error"]
        assert [(a["target"], a["ok"], a["error"]) for a in answer["errors"]] == [
            (TARGET, False, "lock_timeout"),
            (TARGET, False, "lock_timeout"),
        ]
        assert answer["applied"] == []
        assert schema(watcher) == (False, False)  # nothing half-applied

        retried = expand(one_pending, attempts=4, backoff_ms=1500)
        until(lambda: waiting(watcher))  # the first attempt waits for the lock...
        until(lambda: not waiting(watcher))  # ...and gives up after lock_timeout
        app.rollback()  # the app's transaction ends during the pause
        out, err = retried.communicate(timeout=120)
        assert retried.returncode == 0, err
    answer = json.loads(out)
    assert answer["applied"] == [MIGRATION, *LATER]
    assert [(a["attempt"], a["ok"]) for a in answer["attempts"]] == [(1, False), (2, True)]
    assert answer["attempts"][0]["error"] == "lock_timeout"
    with connect(one_pending) as watcher:
        assert schema(watcher) == (True, True)
