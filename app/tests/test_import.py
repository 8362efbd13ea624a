"""Directory import: good feeds, every kind of defect, idempotence, gone users, CSV."""

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from preau.core import importer
from preau.core.models import (
    ClassGroup,
    ClassMembership,
    Membership,
    ParentLink,
    TeachingAssignment,
    User,
)
from tests.helpers import edit_first_record, make_establishment, small_feed, snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def est():
    return make_establishment()


def test_good_feed_creates_directory(est, tmp_path, call_json):
    feed = small_feed(tmp_path, students=30)
    report = call_json("import_aaf", est.uai, *feed["files"])
    assert report["ok"] is True
    counts = feed["counts"]
    assert report["users"]["created"] == counts["students"] + counts["parents"] + counts["staff"]
    members = Membership.objects.of(est)
    assert members.filter(profile="ELV").count() == 30
    assert members.filter(profile="TUT").count() == counts["parents"]
    assert members.filter(profile="DIR").count() == 2
    # CPE (EDU) in vie scolaire; the secretary (SEC) and the workers (OUV) are staff (ETA).
    assert members.filter(profile="EVS").count() == 2
    assert members.filter(profile="ETA").count() == 3
    # Each student has exactly one class and at least one legal guardian.
    for student in User.objects.filter(memberships__profile="ELV"):
        assert ClassMembership.objects.filter(user=student, class_group__kind="class").count() == 1
        assert ParentLink.objects.filter(child=student, legal_guardian=True).exists()
    assert TeachingAssignment.objects.of(est).filter(subject__isnull=False).exists()
    est.refresh_from_db()
    assert est.join_key == "8200210"  # ENTStructureJointure, used in class values
    assert report["totals"]["created"] > 0


def test_reimport_changes_nothing(est, tmp_path, call_json):
    feed = small_feed(tmp_path)
    call_json("import_aaf", est.uai, *feed["files"])
    before = snapshot()
    report = call_json("import_aaf", est.uai, *feed["files"])
    assert report["totals"] == {"created": 0, "updated": 0}
    after = snapshot()
    after.pop("OperationLog"), before.pop("OperationLog")
    assert after == before


def test_dry_run_changes_nothing(est, tmp_path, call_json):
    feed = small_feed(tmp_path)
    before = snapshot()
    report = call_json("import_aaf", est.uai, *feed["files"], "--dry-run")
    assert report["dry_run"] is True and report["users"]["created"] > 0
    assert snapshot() == before


def test_absent_users_are_marked_gone_not_deleted(est, tmp_path, call_json):
    feed = small_feed(tmp_path, students=10)
    call_json("import_aaf", est.uai, *feed["files"])
    eleve = feed["by_category"]["Eleve"]
    text = eleve.read_text(encoding="utf-8")
    first = text.index("<addRequest>")
    end = text.index("</addRequest>") + len("</addRequest>\n")
    removed_key = edit_first_record(eleve, r"<id>(\d+)</id>", r"<id>\1</id>")
    eleve.write_text(text[:first] + text[end:], encoding="utf-8")
    report = call_json("import_aaf", est.uai, *feed["files"])
    assert report["memberships"]["gone"] == 1
    gone = Membership.objects.get(user__join_key=removed_key)
    assert gone.gone_since == dt.date.today()
    assert User.objects.filter(join_key=removed_key).exists()
    # Coming back in a later feed clears the mark.
    eleve.write_text(text, encoding="utf-8")
    call_json("import_aaf", est.uai, *feed["files"])
    gone.refresh_from_db()
    assert gone.gone_since is None


def _assert_rejected(est, files, file_name, record, attribute):
    before = snapshot()
    with pytest.raises(CommandError) as info:
        call_command("import_aaf", est.uai, *files)
    assert snapshot() == before, "a rejected import must leave the database unchanged"
    errors = info.value.errors
    assert any(
        e.startswith(f"{file_name} · enregistrement {record} · {attribute} :") for e in errors
    ), errors


def _json_rejected(call_json, est, files):
    with pytest.raises(CommandError):
        call_json("import_aaf", est.uai, *files)


def test_bad_xml_rejected(est, tmp_path):
    feed = small_feed(tmp_path)
    path = feed["by_category"]["PersRelEleve"]
    path.write_text(path.read_text(encoding="utf-8")[:-200], encoding="utf-8")
    _assert_rejected(est, feed["files"], path.name, "-", "-")


def test_missing_join_key_rejected(est, tmp_path):
    feed = small_feed(tmp_path)
    path = feed["by_category"]["Eleve"]
    rid = edit_first_record(path, r'<attr name="ENTPersonJointure">.*?</attr>', "")
    _assert_rejected(est, feed["files"], path.name, rid, "ENTPersonJointure")


def test_two_classes_rejected(est, tmp_path):
    feed = small_feed(tmp_path)
    path = feed["by_category"]["Eleve"]
    rid = edit_first_record(
        path,
        r'(<attr name="ENTEleveClasses"><value>8200210\$\w+</value>)',
        r"\1<value>8200210$4Z</value>",
    )
    _assert_rejected(est, feed["files"], path.name, rid, "ENTEleveClasses")


def test_unknown_parent_rejected(est, tmp_path):
    feed = small_feed(tmp_path)
    path = feed["by_category"]["Eleve"]
    rid = edit_first_record(
        path, r'(<attr name="ENTEleveAutoriteParentale"><value>)\d+', r"\g<1>9999999"
    )
    _assert_rejected(est, feed["files"], path.name, rid, "ENTEleveAutoriteParentale")


def test_impossible_date_rejected(est, tmp_path):
    feed = small_feed(tmp_path)
    path = feed["by_category"]["Eleve"]
    rid = edit_first_record(
        path, r'(<attr name="ENTPersonDateNaissance"><value>)[^<]+', r"\g<1>31/02/2013"
    )
    _assert_rejected(est, feed["files"], path.name, rid, "ENTPersonDateNaissance")


def test_wrong_uai_check_letter_rejected(est, tmp_path):
    feed = small_feed(tmp_path)
    path = feed["by_category"]["EtabEducNat"]
    rid = edit_first_record(path, r"0820021C", "0820021D")
    _assert_rejected(est, feed["files"], path.name, rid, "ENTStructureUAI")
    staff = feed["by_category"]["PersEducNat"]
    path.write_text(
        path.read_text(encoding="utf-8").replace("0820021D", "0820021C"), encoding="utf-8"
    )
    rid = edit_first_record(
        staff, r'(<attr name="ENTPersonStructRattach"><value>)0820021C', r"\g<1>0820021E"
    )
    _assert_rejected(est, feed["files"], staff.name, rid, "ENTPersonStructRattach")


def test_defects_in_json_output(est, tmp_path, capsys):
    import io
    import json

    feed = small_feed(tmp_path)
    path = feed["by_category"]["Eleve"]
    rid = edit_first_record(
        path, r'(<attr name="ENTPersonDateNaissance"><value>)[^<]+', r"\g<1>00/13/2013"
    )
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_aaf", est.uai, *feed["files"], "--json", stdout=out)
    doc = json.loads(out.getvalue())
    assert doc["ok"] is False
    assert {"file": path.name, "record": rid, "attribute": "ENTPersonDateNaissance"}.items() <= doc[
        "errors"
    ][0].items()


def test_unknown_establishment_and_bad_uai(tmp_path):
    with pytest.raises(CommandError, match="lettre de contrôle"):
        call_command("import_aaf", "0820021D", "x.xml")
    with pytest.raises(CommandError, match="inconnu"):
        call_command("import_aaf", "0820021C", "x.xml")


def test_console_script_exit_code(tmp_path):
    env = {**os.environ, "PREAU_CONFIG": str(Path(__file__).with_name("preau-test.toml"))}
    proc = subprocess.run(
        [sys.executable, "-m", "preau.manage", "import_aaf", "0820021X", "f.xml"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode != 0
    assert "lettre de contrôle invalide" in proc.stderr


CSV_HEADER = "profil;identifiant;nom;prenom;date_naissance;classe;groupes;responsables;email;ine\n"


def test_csv_import_and_defects(est, tmp_path, call_json):
    good = tmp_path / "annuaire.csv"
    good.write_text(
        CSV_HEADER
        + "TUT;P1;DURAND;Sophie;;;;;sophie@example.fr;\n"
        + "ELV;E1;DURAND;Léo;03/04/2013;5A;5-LATIN;P1;;123456789AB\n"
        + "ENS;T1;FABRE;Julien;;5A|4B;;;;\n",
        encoding="utf-8",
    )
    report = call_json("import_csv", est.uai, str(good))
    assert report["users"]["created"] == 3
    assert ParentLink.objects.of(est).count() == 1
    assert ClassGroup.objects.of(est).filter(kind="class").count() == 2
    assert call_json("import_csv", est.uai, str(good))["totals"] == {"created": 0, "updated": 0}
    bad = tmp_path / "bad.csv"
    bad.write_text(CSV_HEADER + "ELV;E2;PETIT;Ana;30/02/2012;5A;;P9;;\n", encoding="utf-8")
    before = snapshot()
    with pytest.raises(CommandError) as info:
        call_command("import_csv", est.uai, str(bad))
    assert any(
        "bad.csv · enregistrement ligne 2 (E2) · date_naissance" in e for e in info.value.errors
    )
    assert snapshot() == before


def test_import_of_1000_users_is_bulk(est, tmp_path, django_assert_max_num_queries):
    """Not a timed test (see scripts/benchmark_import.py): the query count must not grow per user."""
    feed = small_feed(tmp_path, students=400)
    with django_assert_max_num_queries(80):
        report = importer.import_aaf(est, feed["files"])
    assert report["users"]["created"] >= 1000


def test_duplicate_join_key_and_delta_and_foreign_feed_rejected(est, tmp_path):
    feed = small_feed(tmp_path)
    path = feed["by_category"]["PersRelEleve"]
    text = path.read_text(encoding="utf-8")
    first = text[text.index("<addRequest>") : text.index("</addRequest>") + len("</addRequest>")]
    path.write_text(text.replace(first, first + "\n" + first, 1), encoding="utf-8")
    import re

    rid = re.search(r"<id>(.*?)</id>", first).group(1)
    _assert_rejected(est, feed["files"], path.name, rid, "ENTPersonJointure")
    path.write_text(
        text.replace("<addRequest>", "<modifyRequest>", 1).replace(
            "</addRequest>", "</modifyRequest>", 1
        ),
        encoding="utf-8",
    )
    _assert_rejected(est, feed["files"], path.name, rid, "modifyRequest")
    path.write_text(text, encoding="utf-8")
    other = small_feed(tmp_path / "other", uai="0820010R")  # a valid feed, for another collège
    _assert_rejected(
        est, other["files"], other["by_category"]["EtabEducNat"].name, "-", "ENTStructureUAI"
    )


def test_metrics_count_imports(est, tmp_path, client):
    feed = small_feed(tmp_path, students=5)
    importer.import_aaf(est, feed["files"])
    text = client.get("/metrics").content.decode()
    assert 'preau_imports_total{kind="import_aaf",result="ok"}' in text


def test_returning_user_reactivated_but_admin_disable_is_sticky(est, tmp_path, call_json):
    from preau.core import accounts

    feed = small_feed(tmp_path, students=5)
    call_json("import_aaf", est.uai, *feed["files"])
    students = list(User.objects.filter(memberships__profile="ELV").order_by("pk")[:3])
    retired, blocked, legacy = students
    # Retention disabled one (it had left); a local admin disabled the other (its membership
    # only); a release before that one disabled the whole account along with its membership.
    long_ago = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    User.objects.filter(pk__in=[retired.pk, legacy.pk]).update(
        is_active=False, disabled_at=long_ago
    )
    accounts.disable_in_establishment(blocked, est, by="anne.delpech", via="annuaire")
    Membership.objects.filter(user=legacy).update(disabled=True)
    report = call_json("import_aaf", est.uai, *feed["files"])
    assert report["users"]["updated"] == 2
    for user in students:
        user.refresh_from_db()
        assert user.is_active and user.disabled_at is None
    assert (
        Membership.objects.get(user=blocked).disabled
        and Membership.objects.get(user=legacy).disabled
    )
    assert not Membership.objects.get(user=retired).disabled
