"""The rentrée rehearsed (issue #27 item 2, core/rentree.py, `year_change --aaf-dir`): the
year change with the new year's complete AAF files of each establishment, its report's exact
numbers on small collèges whose files are written here, the rehearsal (--dry-run) changing
nothing and reporting what the real run then does, a refused file refusing everything."""

import datetime as dt
import io
import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from preau.core import importer
from preau.core.generator import _attr, _record, _write
from preau.core.models import ClassGroup, Membership, Platform, User
from tests.helpers import make_establishment, snapshot

pytestmark = pytest.mark.django_db

A, B, C = "0820021C", "0820010R", "0820003H"


def person(category: str, key: str, name: str, *attrs: str) -> str:
    """An AAF record: its join key, "LAST First", then `attrs`."""
    last, first = name.split()
    identity = [_attr("ENTPersonJointure", key), _attr("sn", last), _attr("givenName", first)]
    return _record(category, key, identity + list(attrs))


def pupil(uai: str, key: str, name: str, klass: str, *guardians: str) -> str:
    return person(
        "Eleve",
        key,
        name,
        _attr("ENTEleveClasses", f"{uai}${klass}"),
        _attr("ENTEleveAutoriteParentale", *guardians),
    )


def parent(key: str, name: str) -> str:
    return person("PersRelEleve", key, name)


def teacher(uai: str, key: str, name: str, klass: str) -> str:
    return person(
        "PersEducNat",
        key,
        name,
        _attr("ENTPersonFonctions", f"{uai}$ENS$ENSEIGNEMENT$L0201$MATHS"),
        _attr("ENTAuxEnsClasses", f"{uai}${klass}"),
    )


def files(directory: Path, day: str, **records: list[str]) -> list[str]:
    """The complete files of one establishment (a category each) in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for category, recs in records.items():
        path = directory / f"ENT2D.{day}_Complet_{day}_{category}_0000.xml"
        _write(path, recs)
        paths.append(str(path))
    return paths


@pytest.fixture
def platform(tmp_path):
    """This year: collège A (5 pupils in 6A and 3A, 4 parents, 2 teachers), collège B (1 pupil
    in 4B, 1 teacher), collège C (1 pupil in 6C, no new-year file). The new year's files of A and B in `new`/<UAI>/: in
    A, three pupils move up, two leave (3A goes to the lycée), a sibling arrives in 6A, a parent
    keeps no child, a teacher leaves A for B; in B, the pupil moves up and Inès DURAND (still in
    A's 5B) is listed in 4B too."""
    a, b = make_establishment(A), make_establishment(B, "Collège B", "Moissac")
    c = make_establishment(C, "Collège C", "Caussade")
    # A's parents, in both years' files.
    parents = [
        parent("R1", "MARTIN Sophie"),
        parent("R2", "BOUSQUET Karim"),
        parent("R3", "PETIT Anne"),
        parent("R4", "DURAND Paul"),
    ]
    importer.import_aaf(
        c, files(tmp_path / "old" / C, "20260901", Eleve=[pupil(C, "E7", "MOULIS Rémi", "6C")])
    )
    importer.import_aaf(
        a,
        files(
            tmp_path / "old" / A,
            "20260901",
            PersRelEleve=parents,
            Eleve=[
                pupil(A, "E1", "MARTIN Léa", "6A", "R1"),
                pupil(A, "E2", "BOUSQUET Hugo", "6A", "R2"),
                pupil(A, "E3", "DURAND Inès", "6A", "R4"),
                pupil(A, "E4", "PETIT Tom", "3A", "R3"),
                pupil(A, "E5", "ROUX Zoé", "3A", "R4"),
            ],
            PersEducNat=[
                teacher(A, "P1", "LAFON Cédric", "6A"),
                teacher(A, "P2", "SOULIÉ Claire", "3A"),
            ],
        ),
    )
    importer.import_aaf(
        b,
        files(
            tmp_path / "old" / B,
            "20260901",
            Eleve=[pupil(B, "E9", "ESCANDE Noah", "4B")],
            PersEducNat=[teacher(B, "P9", "CAZALS Anaïs", "4B")],
        ),
    )
    new = tmp_path / "new"
    files(
        new / A,
        "20270901",
        PersRelEleve=parents,
        Eleve=[
            pupil(A, "E1", "MARTIN Léa", "5A", "R1"),
            pupil(A, "E2", "BOUSQUET Hugo", "5A", "R2"),
            pupil(A, "E3", "DURAND Inès", "5B", "R4"),
            pupil(A, "E6", "MARTIN Jules", "6A", "R1"),
        ],
        PersEducNat=[teacher(A, "P1", "LAFON Cédric", "5A")],
    )
    files(
        new / B,
        "20270901",
        Eleve=[pupil(B, "E9", "ESCANDE Noah", "3B"), pupil(B, "E3", "DURAND Inès", "4B")],
        PersEducNat=[
            teacher(B, "P9", "CAZALS Anaïs", "3B"),
            teacher(B, "P2", "SOULIÉ Claire", "3B"),
        ],
    )
    return new


def login(key: str) -> str:
    return User.objects.get(join_key=key).username


def year_change(new: Path, *args: str, as_json: bool = True):
    """The command with the new year's files of `new`: its JSON (less "ok"), or its text."""
    out = io.StringIO()
    call_command("year_change", "--aaf-dir", str(new), *args, *["--json"][:as_json], stdout=out)
    if not as_json:
        return out.getvalue()
    report = json.loads(out.getvalue())
    assert report.pop("ok") is True
    return report


def test_the_rehearsal_reports_exactly_what_the_real_run_then_does(platform, tmp_path):
    year = Platform.current_school_year()
    today = timezone.localdate()
    disable_on = today + dt.timedelta(days=settings.RETENTION["disable_after_days"])
    delete_on = disable_on + dt.timedelta(days=settings.RETENTION["delete_after_days"])
    span = f"{year}-{year + 1}", f"{year + 1}-{year + 2}"

    before = snapshot()
    rehearsal = year_change(platform, "--dry-run")
    assert snapshot() == before and Platform.current_school_year() == year

    report_file = tmp_path / "rentree.json"
    real = year_change(platform, "--report", str(report_file))
    assert json.loads(report_file.read_text()) == {"ok": True, **real}
    assert rehearsal == {**real, "dry_run": True}
    assert real["previous_year"] == year and real["school_year"] == year + 1
    assert real["classes_made_read_only"] == 4 and real["surprises"] == 8

    c, b, a = real["establishments"]  # by UAI
    assert a["uai"] == A and a["files"] == [
        "ENT2D.20270901_Complet_20270901_Eleve_0000.xml",
        "ENT2D.20270901_Complet_20270901_PersEducNat_0000.xml",
        "ENT2D.20270901_Complet_20270901_PersRelEleve_0000.xml",
    ]
    assert a["classes_closed"] == ["3A", "6A"]
    assert {p: n for p, n in a["counts"].items() if n["before"] or n["after"]} == {
        "ELV": {"before": 5, "after": 4},
        "TUT": {"before": 4, "after": 4},
        "ENS": {"before": 2, "after": 1},
    }
    assert a["moves"] == {"6A → 5A": 2, "6A → 5B": 1} and a["arrivals"] == {"ELV": 1}
    assert a["pupils_moved"] == [
        {"username": login("E2"), "name": "BOUSQUET Hugo", "from": "6A", "to": "5A"},
        {"username": login("E3"), "name": "DURAND Inès", "from": "6A", "to": "5B"},
        {"username": login("E1"), "name": "MARTIN Léa", "from": "6A", "to": "5A"},
    ]
    purged = {"kept": False, "disable_on": str(disable_on), "delete_on": str(delete_on)}
    assert a["leaving"] == [
        {"username": login("E4"), "name": "PETIT Tom", "profile": "ELV", "class": "3A", **purged},
        {"username": login("E5"), "name": "ROUX Zoé", "profile": "ELV", "class": "3A", **purged},
        # Teaching in B now: her account stays.
        {
            "username": login("P2"),
            "name": "SOULIÉ Claire",
            "profile": "ENS",
            "class": None,
            "kept": True,
            "disable_on": None,
            "delete_on": None,
        },
    ]
    assert a["parents_without_child"] == [{"username": login("R3"), "name": "PETIT Anne"}]
    two_classes = f"élève DURAND Inès ({login('E3')}) dans deux classes : {B} 4B, {A} 5B"
    assert a["surprises"] == [
        f"classe 3A vidée de plus de moitié : 2 élève(s) en {span[0]}, 0 en {span[1]}",
        f"classe 6A vidée de plus de moitié : 3 élève(s) en {span[0]}, 1 en {span[1]}",
        "Enseignant : 2 → 1 (-50 %)",
        two_classes,
    ]
    assert b["classes_closed"] == ["4B"] and b["moves"] == {"4B → 3B": 1}
    assert b["arrivals"] == {"ELV": 1, "ENS": 1} and b["leaving"] == []
    assert b["surprises"] == ["Élève : 1 → 2 (+100 %)", "Enseignant : 1 → 2 (+100 %)", two_classes]
    assert c["files"] == [] and c["import"] is None and c["classes_closed"] == ["6C"]
    assert c["counts"]["ELV"] == {"before": 1, "after": 1} and c["moves"] == {}
    assert c["surprises"] == [
        f"aucun fichier de la nouvelle année : son annuaire reste celui de {span[0]}, sans "
        f"classe en {span[1]}"
    ]

    # What the report said is what happened.
    assert Platform.current_school_year() == year + 1
    assert not ClassGroup.objects.filter(school_year=year, read_only=False).exists()
    assert set(
        Membership.objects.filter(gone_since=today).values_list("user__join_key", flat=True)
    ) == {"E4", "E5", "P2"}
    assert set(
        ClassGroup.objects.filter(school_year=year + 1, kind="class").values_list("name", flat=True)
    ) == {"5A", "5B", "6A", "3B", "4B"}


def test_the_french_report_and_a_refused_file_that_changes_nothing(platform, tmp_path):
    year = Platform.current_school_year()
    # A second pupils' file of B names a parent no PersRelEleve file holds: the whole change
    # is refused, A's good files included.
    extra = files(tmp_path / "x", "20270901", Eleve=[pupil(B, "E8", "TEULIÈRE Noé", "6B", "R9")])
    extra = Path(extra[0]).rename(platform / B / "ENT2D.20270901_Complet_20270901_Eleve_0001.xml")
    before = snapshot()
    with pytest.raises(CommandError, match="rentrée refusée : 1 erreur"):
        call_command("year_change", "--aaf-dir", str(platform))
    assert snapshot() == before and Platform.current_school_year() == year
    assert not ClassGroup.objects.filter(read_only=True).exists()
    extra.unlink()
    # A directory that names no establishment: refused before anything.
    (platform / "0820099Z").mkdir()
    with pytest.raises(CommandError, match="fichiers de la nouvelle année refusés"):
        call_command("year_change", "--aaf-dir", str(platform))
    (platform / "0820099Z").rmdir()

    text = year_change(platform, "--dry-run", as_json=False)
    assert text.startswith(f"Rentrée (SIMULATION, rien n'a été modifié) : année {year}-")
    assert f"{A} Collège Jean Moulin" in text
    assert "  classes fermées (2) : 3A, 6A" in text
    assert "  élèves restant (3) : 6A → 5A ×2, 6A → 5B ×1" in text
    assert "  partants à purger (2) : élève 2, désactivés le " in text
    assert "1 autre(s) gardé(s), membres d'un autre établissement" in text
    assert f"  responsables sans enfant (1) : PETIT Anne ({login('R3')})" in text
    assert "  À VÉRIFIER : Enseignant : 2 → 1 (-50 %)" in text
    assert "8 point(s) à vérifier" in text
