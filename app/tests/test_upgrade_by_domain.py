"""A running platform's database, made by the code before the split of preau.ent into one app per
service, upgraded in place by today's code the way a release does it (migrate_phase expand, then
contract): every row still there, read through the new models; the content types moved to the
new apps with their ids, so permissions (and a group holding them) follow; nothing pending and
no model change without its migration afterwards.

The old code comes from git history (`git archive` of BASE); CI runs on a full clone of main."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[1]
REPO = APP.parent
# main just before the split (issue #24): preau.ent still held every service's models. Pinned:
# the commit that carried the first renames of the split (5bc5fee) did not move the models.
BASE = "f80c3ad"
MOVED = {
    "timetableslot": "timetable",
    "absence": "attendance",
    "assessment": "grades",
    "grade": "grades",
    "logbookentry": "logbook",
    "homework": "logbook",
    "submission": "logbook",
    "document": "documents",
    "conversation": "messaging",
    "participant": "messaging",
    "message": "messaging",
    "newsitem": "news",
    "resourcelink": "news",
    "spacepost": "spaces",
}
KEPT = {"storedfile", "filechunk", "notification"}

# Run by both codes: every row of every service model (by model name), the content types of the
# services with their permissions, and what the group made by SEED holds.
DUMP = """
import json, django
django.setup()
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
services = [c for c in apps.get_app_configs()
            if c.name.startswith("preau.") and c.label not in ("core", "twofactor")]
# Columns added since BASE (issues #17, #18, #19) are left out: the old code's rows lack them.
added = {("Notification", "topic"), ("Absence", "refusal_reason"), ("Participant", "hidden_at"),
         ("Notification", "emailed_at"), ("NewsItem", "class_ids"),
         ("TimetableSlot", "week_parity"), ("Grade", "status"),
         ("StoredFile", "jpeg"), ("StoredFile", "preview"), ("StoredFile", "renditions"),
         ("Conversation", "broadcast"), ("Message", "hidden_at"), ("Message", "hidden_by")}
rows = {m.__name__: sorted(map(repr, m.objects.values_list(
            *[f.attname for f in m._meta.concrete_fields if (m.__name__, f.name) not in added])))
        for c in services for m in c.get_models()}
types = {ct.model: [ct.app_label, ct.pk,
                    sorted(Permission.objects.filter(content_type=ct).values_list("codename", "pk"))]
         for ct in ContentType.objects.filter(app_label__in=[c.label for c in services])}
group = sorted(Group.objects.get(name="upgrade").permissions.values_list(
    "content_type__app_label", "codename", "pk"))
print(json.dumps({"rows": rows, "types": types, "group": group}))
"""
# Run by the old code, in the process of its migrate: its test factories' school (a row of
# every service model, files included), and a group holding every permission of the services'
# models. The commands' own output goes to stderr: stdout is DUMP's JSON.
SEED = """
import sys, django
django.setup()
from django.core.management import call_command
call_command("migrate", interactive=False, stdout=sys.stderr)
from django.contrib.auth.models import Group, Permission
from tests.school import make_school
make_school("A", "0820021C")
make_school("B", "0820010R")
Group.objects.create(name="upgrade").permissions.set(Permission.objects.filter(content_type__app_label="ent"))
"""

# Run by today's code after the contract phase, before DUMP.
CHECKS = """
import sys, django
django.setup()
from django.core.management import call_command
call_command("migrate", check_unapplied=True, stdout=sys.stderr)
call_command("makemigrations", check_changes=True, dry_run=True, stdout=sys.stderr)
"""


def _git(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, check=False, **kwargs
    )


@pytest.fixture
def old_code(tmp_path) -> Path:
    """app/ (src and tests) as it was at BASE, extracted from git history."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed: the old code comes from the repository's history")
    if _git("cat-file", "-e", f"{BASE}^{{commit}}").returncode != 0:
        pytest.skip(f"commit {BASE} is not in this clone (a shallow clone?): fetch main's history")
    archive = _git("archive", BASE, "app/src", "app/tests")
    assert archive.returncode == 0, archive.stderr.decode()
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(tmp_path, filter="data")
    return tmp_path / "app"


def django_env(app: Path, database: dict, **extra: str) -> dict:
    """The environment of a `python -m django` run with the code of `app` on `database`."""
    env = {k: v for k, v in os.environ.items() if k != "PREAU_CONFIG"}
    env.update(
        PYTHONPATH=f"{app / 'src'}{os.pathsep}{app}",
        DJANGO_SETTINGS_MODULE="tests.settings",
        PREAU_DATABASE_HOST=str(database["HOST"]),
        PREAU_DATABASE_PORT=str(database["PORT"]),
        PREAU_DATABASE_NAME=database["NAME"],
        PREAU_DATABASE_USER=database["USER"],
        PREAU_DATABASE_PASSWORD=database["PASSWORD"],
        PREAU_DATABASE_SSLMODE="disable",
        **extra,
    )
    return env


def _run(app: Path, database: dict, *args: str) -> str:
    """`python -m django ARGS` (or `-c CODE`) with the code of `app` on the given database."""
    command = [sys.executable, *(args if args[0] == "-c" else ("-m", "django", *args))]
    done = subprocess.run(
        command, cwd=app, env=django_env(app, database), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"{' '.join(args)[:80]}: {done.stdout}\n{done.stderr}"
    return done.stdout


def test_a_database_of_the_old_code_upgrades_in_place(old_code, database):
    before = json.loads(_run(old_code, database, "-c", SEED + DUMP))  # one process: ~0.5 s each
    assert {model for model, rows in before["rows"].items() if rows} >= {
        "Absence",
        "Grade",
        "Message",
        "FileChunk",
    }
    assert set(before["types"]) == set(MOVED) | KEPT  # all under "ent"

    plan = json.loads(_run(APP, database, "migrate_phase", "plan", "--json"))
    assert plan["contract"] == [] and "ent.0002_services_in_their_apps" in plan["expand"]
    # classified from their operations (core.migration_classify), each with its reason
    assert [m["migration"] for m in plan["migrations"]] == plan["expand"]
    assert {m["phase"] for m in plan["migrations"]} == {"expand"}
    assert all(m["why"] for m in plan["migrations"])
    _run(APP, database, "migrate_phase", "expand")  # app by app, as a release does
    _run(APP, database, "migrate_phase", "contract")
    # nothing pending, no model change without its migration (each exits 1 otherwise)
    after = json.loads(_run(APP, database, "-c", CHECKS + DUMP))

    assert {model: after["rows"][model] for model in before["rows"]} == before["rows"]
    assert not any(after["rows"][model] for model in set(after["rows"]) - set(before["rows"]))
    for model, (label, pk, permissions) in before["types"].items():
        assert after["types"][model] == [MOVED.get(model, label), pk, permissions], model
    assert sorted((pk, codename) for _, codename, pk in after["group"]) == sorted(
        (pk, codename) for _, codename, pk in before["group"]
    )
    assert {label for label, _, _ in after["group"]} == set(MOVED.values()) | {"ent"}
