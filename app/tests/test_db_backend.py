"""preau.core.db: Django's PostgreSQL backend, whose health check (CONN_HEALTH_CHECKS) is
skipped for a connection used less than a second ago, and still replaces a dropped connection
that was idle longer."""

import pytest
from django.db import connection, connections

from preau.core.db import base


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(base.time, "monotonic", lambda: now[0])
    return now


def request_starts():
    connection.health_check_done = False  # what Django does when a request starts


@pytest.mark.django_db(transaction=True)
def test_a_connection_used_a_moment_ago_is_not_checked_again(clock, monkeypatch):
    connection.close()
    connection.ensure_connection()
    checks = []
    monkeypatch.setattr(connection, "is_usable", lambda: checks.append(clock[0]) or True)
    for step in (0.3, 0.5, 0.9):  # busy: every request within a second of the one before
        clock[0] += step
        request_starts()
        connection.close_if_health_check_failed()
    assert checks == []
    clock[0] += 1.5  # quiet for longer than a second: checked
    request_starts()
    connection.close_if_health_check_failed()
    assert checks == [clock[0]]


@pytest.mark.django_db(transaction=True)
def test_a_connection_dropped_while_idle_is_replaced_before_the_next_query(clock):
    connection.close()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    killer = connections.create_connection("default")
    try:
        with killer.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        killer.close()
    clock[0] += 2
    request_starts()
    with connection.cursor() as cursor:  # no error: the check found it dead and reconnected
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != pid
