"""The preau_audit views (core migrations 0006, 0008) on test data: each returns the aggregates the
audit's DATA controls read, and a member of pg_monitor (the auditor's database role) reads
them, read-only, and nothing of the tables behind them."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from preau.core.models import Establishment, LoginAttempt, Membership, OperationLog, User
from tests.helpers import make_establishment

pytestmark = pytest.mark.django_db


def rows(sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return list(cursor.fetchall())


def member(est, username, *, gone_days=None, admin=False, **user):
    account = User.objects.create_user(username, **user)
    gone = timezone.localdate() - dt.timedelta(days=gone_days) if gone_days is not None else None
    Membership.objects.create(
        user=account, establishment=est, profile="DIR", gone_since=gone, is_local_admin=admin
    )
    return account


def test_gone_accounts_count_only_those_gone_everywhere_with_the_oldest_departure():
    est, other = make_establishment(), make_establishment("0820010R")
    member(est, "left.long.ago", gone_days=100)
    member(est, "left.lately", gone_days=3, is_active=False)
    still = member(est, "gone.here.only", gone_days=200)
    Membership.objects.create(user=still, establishment=other, profile="ENS")
    member(est, "here")
    [(accounts, active, oldest, _)] = rows("SELECT * FROM preau_audit.gone_accounts")
    assert (accounts, active) == (2, 1)
    assert oldest == timezone.localdate() - dt.timedelta(days=100)


def test_connection_logs_give_their_oldest_entry():
    assert rows("SELECT entries, oldest FROM preau_audit.connection_logs") == [(0, None)]
    old = timezone.now() - dt.timedelta(days=400)
    LoginAttempt.objects.create(username="x", success=True, at=old)
    LoginAttempt.objects.create(username="y", success=False)
    [(entries, oldest)] = rows("SELECT entries, oldest FROM preau_audit.connection_logs")
    assert entries == 2 and oldest == old


def test_messages_give_their_count_and_the_oldest_sending_and_pg_monitor_reads_them():
    """core.0008: the messages' retention (DATA-06) without reading a message."""
    from preau.messaging.models import Conversation, Message

    assert rows("SELECT messages, oldest FROM preau_audit.messages") == [(0, None)]
    conversation = Conversation.objects.create(establishment=make_establishment(), subject="s")
    old = timezone.now() - dt.timedelta(days=400)
    Message.objects.create(conversation=conversation, body="ancien", sent_at=old)
    Message.objects.create(conversation=conversation, body="récent")
    assert rows("SELECT messages, oldest FROM preau_audit.messages") == [(2, old)]
    assert rows(
        "SELECT has_table_privilege('pg_monitor', 'preau_audit.messages', 'SELECT'), "
        "has_table_privilege('pg_monitor', 'ent_message', 'SELECT')"
    ) == [(True, False)]


def test_establishments_count_current_local_admins_and_give_the_last_import():
    est, other = make_establishment(), make_establishment("0820010R")
    closed = make_establishment("0820030M")
    Establishment.objects.filter(pk=closed.pk).update(status="archived")
    member(est, "adml", admin=True)
    member(est, "adml.gone", admin=True, gone_days=5)
    member(est, "adml.disabled", admin=True, is_active=False)
    member(est, "prof")
    imported = timezone.now() - dt.timedelta(days=2)
    OperationLog.objects.create(establishment=est, kind="import_aaf", at=imported)
    OperationLog.objects.create(establishment=est, kind="merge")
    found = {
        uai: (admins, last)
        for uai, admins, last in rows("SELECT * FROM preau_audit.establishments")
    }
    assert found == {est.uai: (1, imported), other.uai: (0, None)}
    assert rows("SELECT * FROM preau_audit.local_admins") == [(est.uai, "adml", False)]


def test_never_activated_counts_current_members_without_a_login_by_day_of_creation():
    est = make_establishment()
    old = member(est, "never.came")
    User.objects.filter(pk=old.pk).update(date_joined=timezone.now() - dt.timedelta(days=40))
    member(est, "new.pupil")
    came = member(est, "came")
    User.objects.filter(pk=came.pk).update(last_login=timezone.now())
    member(est, "left", gone_days=1)
    today = timezone.localdate()
    found = rows("SELECT uai, joined_on, accounts FROM preau_audit.never_activated ORDER BY 2")
    assert found == [(est.uai, today - dt.timedelta(days=40), 1), (est.uai, today, 1)]


def test_the_platform_view_gives_the_school_year_the_app_uses():
    from preau.core.models import Platform

    [(year, today)] = rows("SELECT school_year, today FROM preau_audit.platform")
    assert year == Platform.current_school_year() and today == timezone.localdate()


class _Undo(Exception):
    """Raised to roll the auditor's savepoint back (its SET LOCAL ROLE with it)."""


def test_a_member_of_pg_monitor_reads_the_views_only_and_cannot_write():
    member(make_establishment(), "adml", admin=True)
    with connection.cursor() as cursor:  # undone with the test's transaction
        cursor.execute("CREATE ROLE preau_test_auditor IN ROLE pg_monitor")
    with pytest.raises(_Undo), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL ROLE preau_test_auditor")
        cursor.execute("SELECT local_admins FROM preau_audit.establishments")
        assert cursor.fetchall() == [(1,)]
        for refused in (
            "SELECT count(*) FROM core_user",
            "INSERT INTO core_loginattempt (username, at, success, prefix) "
            "VALUES ('x', now(), true, '')",
            "CREATE VIEW preau_audit.mine AS SELECT 1",
        ):
            with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
                cursor.execute(refused)
        raise _Undo
