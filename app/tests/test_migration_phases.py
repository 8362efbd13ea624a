"""Expand / contract migrations (core.migration_phases, `preau-manage migrate_phase`)."""

import json

import pytest
from django.core.management import call_command
from django.db.migrations.executor import MigrationExecutor

from preau.core import migration_phases


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
        migration_phases, "pending", lambda using="default": migration_phases.split(PLAN)
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
