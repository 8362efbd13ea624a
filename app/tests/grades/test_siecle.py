"""SIECLE's pupils export → each pupil's identifiant Base Élèves (preau.grades.siecle, through
the timetable import's run, page, job and the `import_siecle` command): read in ISO-8859-15 and
zipped; pupils matched by INE only; a bad record refuses the whole file, each said in French;
after the import the LSU export no longer refuses the pupils for their `id-be`."""

import io
import zipfile

import pytest

from preau.core.models import Membership, Platform, User
from preau.grades import lsu, siecle
from preau.timetable import imports
from tests.grades.test_periods import marks  # noqa: F401 (the fixture)
from tests.school import import_file, make_school

MISSING_ID = "identifiant Base Élèves manquant ou invalide"


def export(uai: str, pupils: list[tuple[str, str, str, str]], year=None, left: str = "") -> bytes:
    """An ElevesSansAdresses.xml as SIECLE writes it (ISO-8859-15): pupils as (ELEVE_ID, INE,
    last name, first name); the last one with DATE_SORTIE `left` when given."""
    rows = []
    for n, (be_id, ine, last, first) in enumerate(pupils):
        leaving = f"<DATE_SORTIE>{left}</DATE_SORTIE>" if left and n == len(pupils) - 1 else ""
        rows.append(
            f'<ELEVE ELEVE_ID="{be_id}"><ELENOET>{n + 1}</ELENOET><ID_NATIONAL>{ine}</ID_NATIONAL>'
            f"<NOM_DE_FAMILLE>{last}</NOM_DE_FAMILLE><PRENOM>{first}</PRENOM>"
            f"<DATE_NAISS>01/02/2013</DATE_NAISS>{leaving}</ELEVE>"
        )
    body = "\n".join(rows)
    text = (
        '<?xml version="1.0" encoding="ISO-8859-15"?>\n<BEE_ELEVES VERSION="3.4">\n'
        f"<PARAMETRES><UAJ>{uai}</UAJ>"
        f"<ANNEE_SCOLAIRE>{year or Platform.current_school_year()}</ANNEE_SCOLAIRE>"
        f"</PARAMETRES>\n<DONNEES><ELEVES>\n{body}\n</ELEVES></DONNEES>\n</BEE_ELEVES>\n"
    )
    return text.encode("iso-8859-15")


def zipped(data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("ElevesSansAdresses.xml", data)
    return out.getvalue()


def with_ines(*users) -> list[str]:
    ines = []
    for n, user in enumerate(users, 1):
        user.ine = f"12345678{n:02d}A"
        user.save(update_fields=["ine"])
        ines.append(user.ine)
    return ines


def test_the_export_is_read():
    found = siecle.parse(
        export("0820021C", [("4501", "1234567801a", "TEULIÈRE", "Noé")], year=2026, left="x")
    )
    assert (found.uai, found.year) == ("0820021C", 2026)
    [pupil] = found.pupils
    assert (pupil.be_id, pupil.ine, pupil.name) == ("4501", "1234567801A", "TEULIÈRE Noé")
    assert found.errors == [
        f"ligne {pupil.line} (TEULIÈRE Noé, élève n° 4501) : date de sortie « x » illisible"
    ]
    assert siecle.parse(export("0820021C", [], year=2026)).errors == [
        "aucun élève (DONNEES/ELEVES/ELEVE) dans le fichier"
    ]
    with pytest.raises(siecle.Unreadable, match="pas l'export des élèves de SIECLE"):
        siecle.parse(b"<STS_EDT/>")
    with pytest.raises(siecle.Unreadable, match="0 fichier"):
        siecle.unzipped(_zip_without_xml())


def _zip_without_xml() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("lisez-moi.txt", "rien")
    return out.getvalue()


def test_after_the_import_the_lsu_export_no_longer_refuses_the_pupils(marks):  # noqa: F811
    s = marks
    third = User.objects.get(username="troisieme")
    ines = with_ines(s["student"], s["other_student"], third)
    assert sum(MISSING_ID in p for p in lsu.gather(s["est"], s["period"])["problems"]) == 3
    data = zipped(
        export(
            s["est"].uai,
            [
                ("101", ines[0], "MARTIN", "Léa"),
                ("102", ines[1], "BOUSQUET", "Hugo"),
                ("103", ines[2], "VIDAL", "Zoé"),
                ("104", "9999999999Z", "PARTI", "Élève"),  # left: not in Préau, skipped
            ],
            left="01/09/2020",
        )
    )
    dry = imports.run(s["est"], data, dry_run=True)
    assert (dry["format"], dry["refused"], dry["applied"]) == ("bee", [], False)
    assert not Membership.objects.filter(be_id__isnull=False).exclude(be_id="").exists()
    report = imports.run(s["est"], data)
    assert report["applied"] and report["counts"] == {"be_ids_set": 3, "pupils_left": 1}
    assert Membership.objects.get(user=third).be_id == "103"
    assert not [p for p in lsu.gather(s["est"], s["period"])["problems"] if MISSING_ID in p]
    again = imports.run(s["est"], data)
    assert again["counts"] == {"pupils_unchanged": 3, "pupils_left": 1}


def test_one_bad_record_refuses_the_whole_file(school):
    s = school
    est = s["est"]
    ines = with_ines(s["student"], s["other_student"])
    twin = User.objects.create_user("jumeau", first_name="Léo", last_name="DOUBLE", ine=ines[1])
    Membership.objects.create(user=twin, establishment=est, profile="ELV")
    data = export(
        est.uai,
        [
            ("201", ines[0], "MARTIN", "Léa"),  # fine alone
            ("202", ines[1], "BOUSQUET", "Hugo"),  # two accounts hold this INE
            ("203", "0000000000X", "INCONNU", "Jean"),
            ("20A", ines[0] + "B", "MAL", "Numéro"),
            ("205", "", "SANS", "INE"),
        ],
    )
    report = imports.run(est, data)
    refused = [line.split(" : ", 1)[1] for line in report["refused"]]
    assert not report["applied"] and refused == [
        f"INE {ines[1]} ambigu : 2 comptes d'élève de l'établissement le portent",
        "INE 0000000000X inconnu parmi les élèves de l'établissement (l'annuaire ne l'a pas "
        "encore livré ?)",
        "identifiant Base Élèves (ELEVE_ID) absent ou invalide",
        "INE (ID_NATIONAL) absent : l'élève ne peut être reconnu",
    ]
    assert report["refused"][0].startswith("ligne 6 (BOUSQUET Hugo, élève n° 202)")
    assert not Membership.objects.exclude(be_id=None).exists()  # Léa's line was fine: not kept
    # An id that a pupil absent from the file keeps would name two pupils in the LSU.
    Membership.objects.filter(user=s["other_student"]).update(be_id="301")
    report = imports.run(est, export(est.uai, [("301", ines[0], "MARTIN", "Léa")]))
    assert report["refused"] == [
        "identifiant Base Élèves 301 donné à Léa MARTIN mais déjà celui de Hugo BOUSQUET, "
        "absent du fichier"
    ]
    # A pupil of another establishment is unknown here, whatever their INE.
    b = make_school("B", "0820010R")
    b["student"].ine = "7777777777B"
    b["student"].save(update_fields=["ine"])
    report = imports.run(est, export(est.uai, [("401", "7777777777B", "ESCANDE", "Zoé")]))
    assert "INE 7777777777B inconnu parmi les élèves de l'établissement" in report["refused"][0]
    assert Membership.objects.get(user=b["student"]).be_id is None
    # Another establishment's file is refused whole.
    report = imports.run(est, export("0820010R", [("301", ines[0], "MARTIN", "Léa")]))
    assert "celui de l'établissement 0820010R" in report["refused"][0]


def test_the_import_page_takes_the_zipped_export_by_the_job(client, school):
    s = school
    [ine] = with_ines(s["student"])
    client.force_login(s["admin"])
    data = zipped(export(s["est"].uai, [("4242", ine, "MARTIN", "Léa")]))
    page = import_file(client, s, "ElevesSansAdresses.zip", data)
    assert "SIECLE : élèves" in page and "1 élève(s) relié(s)" in page
    assert Membership.objects.get(user=s["student"]).be_id == "4242"


def test_the_command_shares_the_import(school, call_json, tmp_path):
    s = school
    [ine] = with_ines(s["student"])
    path = tmp_path / "ElevesSansAdresses.xml"
    path.write_bytes(export(s["est"].uai, [("4243", ine, "MARTIN", "Léa")]))
    dry = call_json("import_siecle", s["est"].uai, str(path), "--dry-run")
    assert dry["ok"] and dry["format"] == "bee" and not dry["applied"]
    assert Membership.objects.get(user=s["student"]).be_id is None
    done = call_json("import_siecle", s["est"].uai, str(path))
    assert done["counts"] == {"be_ids_set": 1}
    assert Membership.objects.get(user=s["student"]).be_id == "4243"
    path.write_bytes(export(s["est"].uai, [("4243", "0000000000X", "MARTIN", "Léa")]))
    with pytest.raises(Exception, match="import refusé : 1 ligne"):
        call_json("import_siecle", s["est"].uai, str(path))
