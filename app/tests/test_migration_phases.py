"""Expand / contract migrations (core.migration_phases, `preau-manage migrate_phase`)."""

import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection, migrations
from django.db.migrations import AddField, RemoveField
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder
from django.db.models import TextField

from preau.core import migration_locks, migration_phases
from preau.core.management.base import OpsError


def migration(app_label, name, contract=False):
    return type("Migration", (), {"app_label": app_label, "name": name, "contract": contract})()


PLAN = [
    (migration("core", "0003_add_nickname"), False),
    (migration("ent", "0002_add_index"), False),
    (migration("core", "0004_drop_old_name", contract=True), False),
    (migration("ent", "0003_add_colour"), False),
]


def test_expand_stops_before_the_first_contract_migration():
    expand, contract = migration_phases.split(PLAN)
    assert migration_phases.labels(expand) == ["core.0003_add_nickname", "ent.0002_add_index"]
    # what follows a contract migration waits too: it may depend on it
    assert migration_phases.labels(contract) == ["core.0004_drop_old_name", "ent.0003_add_colour"]
    assert migration_phases.targets(expand) == [
        ("core", "0003_add_nickname"),
        ("ent", "0002_add_index"),
    ]


def test_no_contract_migration_means_everything_is_expand():
    assert migration_phases.split(PLAN[:2]) == (PLAN[:2], [])
    assert migration_phases.split([]) == ([], [])


@pytest.mark.django_db
def test_readyz_waits_for_expand_migrations_only(client, monkeypatch):
    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: PLAN[2:])
    assert client.get("/readyz").json() == {"status": "ready"}  # contract pending: new code runs
    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: PLAN)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["pending_migrations"] == ["core.0003_add_nickname", "ent.0002_add_index"]


@pytest.mark.django_db
def test_command_plans_and_applies_the_phases_of_a_migrated_database(capsys):
    for phase in ("plan", "expand", "contract"):
        call_command("migrate_phase", phase, "--json")
        answer = json.loads(capsys.readouterr().out)
        assert answer["ok"] and answer["phase"] == phase
        assert answer["expand"] == answer["contract"] == answer["applied"] == []


@pytest.mark.django_db
def test_expand_migrates_each_app_to_its_last_expand_migration(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(
        migration_phases,
        "classified",
        lambda using="default": (PLAN, migration_phases.classify_plan(PLAN)),
    )
    monkeypatch.setattr(
        "preau.core.management.commands.migrate_phase.call_command",
        lambda *args, **kwargs: calls.append(args),
    )
    call_command("migrate_phase", "expand", "--json")
    assert calls == [("migrate", "core", "0003_add_nickname"), ("migrate", "ent", "0002_add_index")]
    assert json.loads(capsys.readouterr().out)["applied"] == [
        "core.0003_add_nickname",
        "ent.0002_add_index",
    ]
    calls.clear()
    call_command("migrate_phase", "contract", "--json")
    assert calls == [("migrate",)]


def test_the_split_of_ent_into_one_app_per_service_is_expand_only():
    """The move of the services' models out of preau.ent (state only, content types) runs while
    the old code serves: a release applies it in its expand phase, app by app, ent last
    (test_upgrade_by_domain.py runs it on a database of the old code)."""
    from django.db.migrations.loader import MigrationLoader

    from preau.ent.apps import SERVICE_APPS

    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    done = set(graph.forwards_plan(("ent", "0001_initial")))
    plan = [
        (graph.nodes[key], False)
        for key in graph.forwards_plan(("ent", "0002_services_in_their_apps"))
        if key not in done
    ]
    expand, contract = migration_phases.split(plan)
    assert contract == []
    assert migration_phases.labels(expand)[-1] == "ent.0002_services_in_their_apps"
    assert {app for app, _ in migration_phases.targets(expand)} >= set(SERVICE_APPS)


NEWS_LEAF = ("news", "0001_initial")


def news_migration(name, *operations):
    made = migrations.Migration(name, "news")
    made.operations = list(operations)
    return made


@pytest.mark.django_db
def test_plan_lists_each_pending_migration_with_its_phase_and_why(monkeypatch, capsys):
    plan = [
        (
            news_migration(
                "0099_add_summary", AddField("newsitem", "summary", TextField(null=True))
            ),
            False,
        ),
        (news_migration("0100_drop_body", RemoveField("newsitem", "body")), False),
    ]
    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: plan)
    call_command("migrate_phase", "plan", "--json")
    answer = json.loads(capsys.readouterr().out)
    assert answer["expand"] == ["news.0099_add_summary"]
    assert answer["contract"] == ["news.0100_drop_body"]
    assert answer["migrations"] == [
        {
            "migration": "news.0099_add_summary",
            "phase": "expand",
            "why": "AddField news.newsitem.summary : colonne NULL",
        },
        {
            "migration": "news.0100_drop_body",
            "phase": "contract",
            "why": "RemoveField news.newsitem.body : supprime une colonne que l'ancien code lit",
        },
    ]
    assert answer["timeouts"]["lock_timeout_ms"] == 5000


class LockRefused(Exception):
    sqlstate = migration_locks.LOCK_NOT_AVAILABLE


def lock_timeout() -> OperationalError:
    error = OperationalError("canceling statement due to lock timeout")
    error.__cause__ = LockRefused()
    return error


@pytest.mark.django_db
def test_a_step_runs_with_the_timeouts_and_is_retried_on_lock_timeouts_only(settings):
    settings.PREAU_MIGRATIONS = {**settings.PREAU_MIGRATIONS, "lock_attempts": 3}
    seen, pauses = [], []

    def step():
        with connection.cursor() as cursor:
            cursor.execute("SHOW lock_timeout")
            seen.append(cursor.fetchone()[0])
        if len(seen) < 3:
            raise lock_timeout()

    attempts = migration_locks.with_retries(step, "news.0099_x", sleep=pauses.append)
    assert seen == ["5s", "5s", "5s"]
    assert [(a["attempt"], a["ok"], a.get("error")) for a in attempts] == [
        (1, False, "lock_timeout"),
        (2, False, "lock_timeout"),
        (3, True, None),
    ]
    assert pauses == [2.0, 4.0]  # doubled each time
    with connection.cursor() as cursor:
        cursor.execute("SHOW lock_timeout")
        assert cursor.fetchone()[0] == "0"  # reset afterwards

    def locked():
        raise lock_timeout()

    with pytest.raises(migration_locks.LockTimeout) as refused:
        migration_locks.with_retries(locked, "x", sleep=pauses.append)
    assert len(refused.value.attempts) == 3

    def broken():
        seen.append("broken")
        raise OperationalError("column already exists")

    with pytest.raises(OperationalError):
        migration_locks.with_retries(broken, "x", sleep=pauses.append)
    assert seen.count("broken") == 1  # not retried


@pytest.mark.django_db
def test_known_lists_every_migration_of_the_code(capsys):
    call_command("migrate_phase", "known", "--json")
    known = json.loads(capsys.readouterr().out)["known"]
    assert {
        "auth.0001_initial",
        "core.0004_loginattempt_prefix",
        "messaging.0002_participant_hidden_at",
    } <= set(known)
    assert set(known) >= migration_phases.applied_labels()


def known_file(tmp_path, capsys, *forgotten):
    """`migrate_phase known --json` of a release without the `forgotten` migrations."""
    call_command("migrate_phase", "known", "--json")
    answer = json.loads(capsys.readouterr().out)
    answer["known"] = [label for label in answer["known"] if label not in forgotten]
    path = tmp_path / "known.json"
    path.write_text(json.dumps(answer))
    return path


@pytest.mark.django_db
def test_rollback_check_accepts_a_target_that_only_lacks_expand_migrations(
    tmp_path, capsys, monkeypatch
):
    known = known_file(tmp_path, capsys, "messaging.0002_participant_hidden_at")
    monkeypatch.setattr("sys.stdin", io.StringIO(known.read_text()))
    for source in (str(known), "-"):
        call_command("migrate_phase", "rollback-check", "--known", source, "--json")
        answer = json.loads(capsys.readouterr().out)
        assert answer["ok"] and answer["rollback"] == "ok" and answer["contract"] == []
        [unknown] = answer["unknown"]
        assert unknown["migration"] == "messaging.0002_participant_hidden_at"
        assert unknown["phase"] == "expand" and "colonne NULL" in unknown["why"]
        assert unknown["applied_at"]  # from django_migrations


@pytest.fixture
def contracted(db, monkeypatch):
    """news.0099_drop_body (a RemoveField) in the code and applied to the database."""
    real = migration_phases.loader
    drop = news_migration("0099_drop_body", RemoveField("newsitem", "body"))

    def with_drop(using="default"):
        made = real(using)
        made.graph.add_node(("news", drop.name), drop)
        made.graph.add_dependency(drop, ("news", drop.name), NEWS_LEAF)
        return made

    monkeypatch.setattr(migration_phases, "loader", with_drop)
    MigrationRecorder(connection).record_applied("news", drop.name)
    return MigrationRecorder.Migration.objects.get(app="news", name=drop.name).applied


@pytest.mark.django_db
def test_rollback_check_refuses_when_the_schema_was_contracted_since(tmp_path, capsys, contracted):
    known = known_file(
        tmp_path, capsys, "messaging.0002_participant_hidden_at", "news.0099_drop_body"
    )
    with pytest.raises(OpsError, match="retour arrière refusé"):
        call_command("migrate_phase", "rollback-check", "--known", str(known), "--json")
    answer = json.loads(capsys.readouterr().out)
    assert not answer["ok"] and answer["rollback"] == "refused"
    assert answer["contract"] == ["news.0099_drop_body"]
    [refused] = answer["errors"]
    assert refused["migration"] == "news.0099_drop_body"
    assert "RemoveField news.newsitem.body" in refused["why"]
    assert {row["migration"] for row in answer["unknown"]} == {
        "messaging.0002_participant_hidden_at",
        "news.0099_drop_body",
    }
    restore_to = (contracted - timedelta(seconds=1)).replace(microsecond=0).isoformat()
    assert answer["restore_to"] == restore_to
    assert f"deploy.py backup restore --to {restore_to}" in answer["error"]


@pytest.mark.django_db
def test_rollback_check_refuses_a_list_that_is_not_a_release(capsys):
    with pytest.raises(OpsError, match="aucune migration appliquée"):
        call_command("migrate_phase", "rollback-check", "--known", "/nowhere/known.json", "--json")
    with pytest.raises(OpsError, match="--known est requis"):
        call_command("migrate_phase", "rollback-check", "--json")
