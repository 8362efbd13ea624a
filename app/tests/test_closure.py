"""An establishment closed for good (preau.core.closure, `establishment close|closure|export|
purge`): its archive bundle written by a real worker, whole and counted as the database
counts, nothing of another establishment in it; the purge refused before the bundle and
before its date, then deleting the establishment's rows and its own accounts and nothing of
another establishment's; the audit's view (DATA-07) before and after."""

import csv
import datetime as dt
import hashlib
import io
import json
import tarfile

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from preau.attendance.models import Absence
from preau.core import closure
from preau.core.models import ClassGroup, Establishment, Membership, User
from preau.documents.models import Document
from preau.ent.apps import SERVICE_APPS
from preau.grades.models import Grade
from preau.logbook.models import Homework, LogbookEntry
from preau.timetable.models import TimetableSlot
from tests.helpers import snapshot
from tests.school import make_school

A, B = "0820021C", "0820010R"


def rows_of(est) -> dict:
    """Every tenant model's row count in `est` (the models that know their establishment)."""
    counts = {}
    for label in ("core", *SERVICE_APPS):
        for model in apps.get_app_config(label).get_models():
            if hasattr(model.objects, "of"):
                counts[model.__name__] = model.objects.of(est).count()
    counts["User"] = User.objects.filter(memberships__establishment=est).count()
    return counts


def closed_view() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT uai, memberships, classes, files FROM preau_audit.closed_establishments"
        )
        return cursor.fetchall()


def purge(*args):
    call_command("establishment", "purge", A, *args, stdout=io.StringIO())


def test_close_export_by_a_worker_then_purge_only_this_establishment(
    run_jobs, call_json, settings, tmp_path
):
    settings.PREAU_ARCHIVE_ROOT = str(tmp_path)
    a, b = make_school("A", A), make_school("B", B)
    shared = User.objects.create_user("partage", first_name="Zoé", last_name="MARTY")
    for est in (a["est"], b["est"]):
        Membership.objects.create(user=shared, establishment=est, profile="ENS")
    est = a["est"]
    b_before = rows_of(b["est"])

    closed = call_json("establishment", "close", A)
    assert closed["status"] == "closed" and closed["export_job"]["status"] == "todo"
    assert closed_view() == [(A, 10, 3, 6)]  # a document, a hand-in, letters, 2 bulletins, LSU
    with pytest.raises(CommandError, match=f"déjà fermé.*establishment closure {A}"):
        call_json("establishment", "close", A)
    with pytest.raises(CommandError, match=f"{A} déjà existant.*, fermé le"):
        call_json("establishment", "create", A, "--name", "Nouveau collège")
    a_before = rows_of(est)
    with pytest.raises(CommandError, match=f"aucune exportation réussie de {A}.*export {A}"):
        purge()
    assert rows_of(est) == a_before

    run_jobs()
    a_before = rows_of(est)  # and the export's record
    state = call_json("establishment", "closure", A)
    assert state["export_job"]["status"] == "succeeded"
    bundle = state["bundle"]
    with open(bundle["path"], "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == bundle["sha256"]
    with tarfile.open(bundle["path"]) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        contents = {e["chemin"]: tar.extractfile(e["chemin"]).read() for e in manifest["fichiers"]}
    for entry in manifest["fichiers"]:
        assert hashlib.sha256(contents[entry["chemin"]]).hexdigest() == entry["sha256"]
    tables = {
        name: list(csv.reader(io.StringIO(data.decode("utf-8")), delimiter=";"))
        for name, data in contents.items()
        if name.endswith(".csv")
    }
    expected = {
        "comptes.csv": Membership.objects.of(est).count(),
        "classes.csv": ClassGroup.objects.of(est).count(),
        "notes.csv": Grade.objects.of(est).count(),
        "absences.csv": Absence.objects.of(est).count(),
        "emploi_du_temps.csv": TimetableSlot.objects.of(est).count(),
        "cahier_de_textes.csv": LogbookEntry.objects.of(est).count(),
        "devoirs.csv": Homework.objects.of(est).count(),
        "documents.csv": Document.objects.of(est).count(),
    }
    for name, count in expected.items():
        assert len(tables[name]) - 1 == count == bundle["rows"][name], name
    assert tables["comptes.csv"][0][:3] == ["identifiant", "nom", "prénom"]
    [document] = tables["documents.csv"][1:]
    assert contents[document[6]] == b"%PDF-1.4 cours de mathematiques\n"
    # each pupil's bulletin of each period, as the family downloads it (the latest made)
    [bulletin] = tables["bulletins.csv"][1:]
    assert bulletin[2:5] == ["5A", "studenta", "MARTIN Léa"] and bulletin[6].endswith(".pdf")
    assert contents[bulletin[6]] == b"%PDF-1.4 bulletin"
    assert hashlib.sha256(contents[bulletin[6]]).hexdigest() == bulletin[7]
    assert bundle["rows"]["bulletins.csv"] == 1
    text = "\n".join(data.decode("utf-8", "replace") for data in contents.values())
    assert "studenta" in text and "partage" in text
    for foreign in ("studentb", "5B", "Sortie B", b["est"].name):
        assert foreign not in text, foreign
    assert "LISEZMOI.txt" in contents and "messagerie" in contents["LISEZMOI.txt"].decode()

    possible = (timezone.localdate() + dt.timedelta(days=30)).strftime("%d/%m/%Y")
    out = io.StringIO()
    call_command("establishment", "closure", A, stdout=out)
    assert f"tâche {state['export_job']['id']}, terminée" in out.getvalue()
    assert f"purge possible à partir du {possible}" in out.getvalue()
    with pytest.raises(CommandError, match=f"possible à partir du {possible}"):
        purge()
    # 91 days after the closing: the audit's limit passed with data left (DATA-07's finding).
    Establishment.objects.filter(pk=est.pk).update(
        archived_at=timezone.now() - dt.timedelta(days=91)
    )
    # Its GAR exports on disk go with it; B's stay.
    gar_dir = tmp_path / "gar"
    settings.PREAU_FEDERATION = {**settings.PREAU_FEDERATION, "gar_export_dir": str(gar_dir)}
    for uai in (A, B):
        (gar_dir / uai / "20261206-010000-1").mkdir(parents=True)
        (gar_dir / uai / "20261206-010000-1" / "export.xml").write_text("<x/>")
    purge("--dry-run")
    assert rows_of(est) == a_before
    assert (gar_dir / A).is_dir()
    report = call_json("establishment", "purge", A)
    assert report["gar_exports_removed"] is True
    assert sorted(p.name for p in gar_dir.iterdir()) == [B]
    assert report["accounts_deleted"] == 9  # the shared teacher stays: a member of B
    left = {name: n for name, n in rows_of(est).items() if n}
    assert left == {"OperationLog": 1}  # the purge's own record
    assert rows_of(b["est"]) == b_before
    assert User.objects.filter(pk=shared.pk).exists()
    assert not User.objects.filter(username="studenta").exists()
    assert closed_view() == [(A, 0, 0, 0)]
    assert Establishment.objects.get(uai=A).status == "closed"
    with pytest.raises(CommandError, match=f"{A} déjà purgé"):
        purge()


@pytest.mark.django_db
def test_bad_input_is_refused_and_changes_nothing(client, call_json, settings, tmp_path):
    settings.PREAU_ARCHIVE_ROOT = str(tmp_path)
    school = make_school("A", A)
    client.force_login(school["teacher"])
    assert client.get(f"/e/{A}/").status_code == 200
    before = snapshot()
    for args, message in [
        (("close", "0820030M"), "établissement 0820030M inconnu"),
        (("close", "123"), "UAI"),
        (("purge", A), f"{A} non fermé"),
        (("export", A), f"{A} non fermé"),
    ]:
        with pytest.raises(CommandError, match=message):
            call_json("establishment", *args)
    assert snapshot() == before

    call_json("establishment", "close", A)
    assert client.get(f"/e/{A}/").status_code == 404  # its members reach nothing
    with pytest.raises(CommandError, match=f"{A} : statut closed, opération refusée"):
        call_json("import_aaf", A, str(tmp_path / "feed.xml"))  # nor do imports
    est = Establishment.objects.get(uai=A)
    Establishment.objects.filter(pk=est.pk).update(
        archived_at=timezone.now() - dt.timedelta(days=40)
    )
    bundle = closure.export(Establishment.objects.get(uai=A))  # as the job does
    before = snapshot()
    with open(bundle["path"], "r+b") as f:  # one byte changed
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 1]))
    with pytest.raises(CommandError, match="altérée"):
        purge()
    (tmp_path / bundle["path"]).unlink()
    with pytest.raises(CommandError, match="introuvable.*relancez"):
        purge()
    assert snapshot() == before
