"""/readyz: its status for everyone, what is wrong only for the monitoring networks (matched on
the peer's address, never on a forwarded header); demo and benchmark data are refused on a
production platform (issue #16, item 8)."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from preau.core.models import Establishment
from tests.test_web import database_down

MONITORING = ["10.20.0.0/24", "2001:db8:5::/64"]


def pending_migration(monkeypatch):
    monkeypatch.setattr(
        MigrationExecutor,
        "migration_plan",
        lambda self, targets: [
            (type("M", (), {"app_label": "core", "name": "0099_future"})(), False)
        ],
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "peer, forwarded, sees",
    [
        ("10.20.0.7", "", True),
        ("::ffff:10.20.0.7", "", True),
        ("2001:db8:5::9", "", True),
        ("10.20.1.7", "", False),
        ("10.20.1.7", "10.20.0.7", False),
        ("127.0.0.1", "", False),
        ("2001:db8:6::9", "", False),
    ],
)
def test_pending_migrations_shown_to_the_monitoring_networks_only(
    settings, monkeypatch, peer, forwarded, sees
):
    settings.PREAU_MONITORING_NETWORKS = MONITORING
    pending_migration(monkeypatch)
    response = Client(REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded).get("/readyz")
    assert response.status_code == 503
    assert response.json() == (
        {"status": "unavailable", "pending_migrations": ["core.0099_future"]}
        if sees
        else {"status": "unavailable"}
    )


def test_database_error_class_shown_to_the_monitoring_networks_only(settings, django_db_blocker):
    settings.PREAU_MONITORING_NETWORKS = MONITORING
    with django_db_blocker.unblock(), database_down():
        public = Client(REMOTE_ADDR="192.0.2.1", raise_request_exception=False).get("/readyz")
        monitoring = Client(REMOTE_ADDR="10.20.0.7", raise_request_exception=False).get("/readyz")
    assert public.status_code == monitoring.status_code == 503
    assert public.json() == {"status": "unavailable"}
    assert monitoring.json() == {"status": "unavailable", "database": "OperationalError"}


@pytest.mark.django_db
def test_ready_is_public(settings):
    settings.PREAU_MONITORING_NETWORKS = MONITORING
    response = Client(REMOTE_ADDR="192.0.2.1").get("/readyz")
    assert response.status_code == 200 and response.json() == {"status": "ready"}


@pytest.mark.django_db
@pytest.mark.parametrize("command", ["seed_demo", "seed_bench"])
def test_seed_commands_refuse_a_production_platform(settings, command):
    settings.PREAU_ENVIRONMENT = "production"
    with pytest.raises(
        CommandError, match=r"refusé sur une plateforme de production.*PREAU_ENVIRONMENT"
    ):
        call_command(command)
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command(command, "--json", stdout=out)
    assert json.loads(out.getvalue())["ok"] is False
    assert not Establishment.objects.exists()


@pytest.mark.django_db
def test_seed_demo_runs_outside_production(settings):
    settings.PREAU_ENVIRONMENT = "lab"
    call_command("seed_demo", "--students", "0", stdout=io.StringIO())
    assert Establishment.objects.count() == 2
