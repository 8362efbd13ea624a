"""`establishment add`: the establishment and its directory in one transaction (a refused
import leaves no empty establishment behind), and refusals that name the establishment
holding the UAI, its state and what to do."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from preau.core.models import Establishment, Membership
from tests.helpers import make_establishment, small_feed, snapshot

pytestmark = pytest.mark.django_db

UAI = "0820021C"


def add(*args):
    call_command("establishment", "add", *args, stdout=io.StringIO())


def test_a_refused_import_leaves_no_establishment_behind(tmp_path):
    feed = small_feed(tmp_path, uai=UAI)
    path = feed["by_category"]["Eleve"]
    path.write_text(path.read_text(encoding="utf-8")[:-200], encoding="utf-8")  # broken XML
    before = snapshot()
    with pytest.raises(CommandError, match="import refusé") as info:
        add(UAI, "--name", "Collège Jean Moulin", "--town", "Montauban", "--aaf", *feed["files"])
    assert any(path.name in error for error in info.value.errors), info.value.errors
    assert not Establishment.objects.filter(uai=UAI).exists()
    assert snapshot() == before, "a refused add must leave the database as it was"


def test_add_creates_and_imports_then_takes_the_active_one_again(tmp_path, call_json):
    feed = small_feed(tmp_path, students=12, uai=UAI)
    first = call_json(
        "establishment", "add", UAI, "--name", "Collège J. M.", "--aaf", *feed["files"]
    )
    assert first["created"] is True and first["establishment"]["uai"] == UAI
    assert first["import"]["totals"]["created"] > 0
    est = Establishment.objects.get(uai=UAI)
    assert Membership.objects.of(est).filter(profile="ELV").count() == 12
    before = snapshot()
    again = call_json(
        "establishment", "add", UAI, "--name", "Collège J. M.", "--aaf", *feed["files"]
    )
    assert again["created"] is False and again["import"]["totals"]["created"] == 0
    assert Membership.objects.of(est).filter(profile="ELV").count() == 12
    assert before.keys() == snapshot().keys()


def test_add_dry_run_changes_nothing(tmp_path, call_json):
    feed = small_feed(tmp_path, uai=UAI)
    before = snapshot()
    report = call_json(
        "establishment", "add", UAI, "--name", "X", "--dry-run", "--aaf", *feed["files"]
    )
    assert report["dry_run"] and report["created"] and report["import"]["dry_run"]
    assert snapshot() == before


def merged_pair():
    src = make_establishment("0820010R", "Collège Absorbé", "Moissac")
    make_establishment(UAI, "Collège Jean Moulin", "Montauban")
    call_command("establishment", "merge", src.uai, UAI, stdout=io.StringIO())
    return src


def test_add_of_a_merged_uai_names_the_establishment_it_was_merged_into(tmp_path):
    src = merged_pair()
    before = snapshot()
    out = io.StringIO()
    with pytest.raises(CommandError) as info:
        call_command("establishment", "add", src.uai, "--name", "Nouveau", "--json", stdout=out)
    message = json.loads(out.getvalue())["error"]
    assert message == str(info.value)
    merged_on = Establishment.objects.get(uai=src.uai).archived_at.astimezone()
    for part in (
        "0820010R",
        "Collège Absorbé",
        f"fusionné dans {UAI} Collège Jean Moulin le {merged_on:%d/%m/%Y}",
        "rien n'a été créé",
        "autre UAI",
        "establishment list",
        f"ou importez dans {UAI}",
    ):
        assert part in message, (part, message)
    assert snapshot() == before


def test_add_of_an_archived_uai_says_since_when(tmp_path):
    make_establishment(UAI, "Collège Fermé", "Lauzerte")
    call_command("establishment", "archive", UAI, stdout=io.StringIO())
    with pytest.raises(CommandError, match=r"Collège Fermé \(Lauzerte\), archivé le \d\d/"):
        add(UAI, "--name", "Nouveau")
    assert Establishment.objects.get(uai=UAI).status == "archived"


def test_create_of_a_taken_uai_names_the_holder():
    make_establishment(UAI, "Collège Jean Moulin", "Montauban")
    with pytest.raises(
        CommandError, match=r"déjà existant : Collège Jean Moulin \(Montauban\), actif"
    ):
        call_command("establishment", "create", UAI, "--name", "Autre")


def test_the_human_report_of_add(tmp_path):
    feed = small_feed(tmp_path, students=5, uai=UAI)
    out = io.StringIO()
    call_command(
        "establishment", "add", UAI, "--name", "Collège J. M.", "--aaf", *feed["files"], stdout=out
    )
    assert f"Établissement {UAI} Collège J. M. () créé" in out.getvalue()
    assert "Import import_aaf" in out.getvalue()
