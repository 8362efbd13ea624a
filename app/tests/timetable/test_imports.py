"""Timetable imports from STS-Web and EDT/UDT (issue #18 item 2): the XML parsing on handmade
files of the real shape (fixtures/: an STS-Web structure export and an EDT export for STS) and
bad ones; the job applying an import all or nothing; the page that only stores the file and
defers the job; isolation; the command."""

import datetime as dt
from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse

from preau.core.models import (
    ClassGroup,
    Membership,
    OperationLog,
    Platform,
    Subject,
    TeachingAssignment,
)
from preau.timetable import imports, sts
from preau.timetable.models import TimetableImport, TimetableSlot
from tests.school import import_file, make_school, upload, url

FIXTURES = Path(__file__).parent / "fixtures"
STRUCTURE = "sts_emp_0820021C_2026.xml"
TIMETABLE = "emp_sts_0820021C_2026.xml"
BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lol [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>
<STS_EDT>&d;</STS_EDT>"""


def fixture(name: str, *edits: tuple[str, str]) -> bytes:
    """A fixture file of the current school year, with these (old, new) text replacements."""
    data = (FIXTURES / name).read_bytes()
    year = Platform.current_school_year()
    data = data.replace(b'ANNEE="2026"', f'ANNEE="{year}"'.encode())
    for old, new in edits:
        assert old.encode() in data, old
        data = data.replace(old.encode(), new.encode(), 1)
    return data


def plain_fixture(name: str, *edits: tuple[str, str]) -> bytes:
    """The same, for the parsing tests (no database: the file's own year)."""
    data = (FIXTURES / name).read_bytes()
    for old, new in edits:
        assert old.encode() in data, old
        data = data.replace(old.encode(), new.encode(), 1)
    return data


# --- parsing (no database) ---------------------------------------------------------------------


def test_the_structure_export_is_read():
    found = sts.parse_structure(plain_fixture(STRUCTURE))
    assert (found.uai, found.year, found.errors) == ("0820021C", 2026, [])
    assert [(s.code, s.management_code, s.label) for s in found.subjects] == [
        ("061300", "MATHS", "Mathématiques"),  # ISO-8859-1, as STS-Web writes it
        ("020100", "FRANC", "Français"),
        ("100100", "LCALA", "Latin"),
    ]
    assert found.people["31763"].label == "SOULIE Claire (STS n° 31763)"
    assert found.structures == [("class", "5A"), ("class", "3B"), ("group", "5-LATIN-A")]
    assert [(s.kind, s.structure, s.subject, s.teachers) for s in found.services] == [
        ("class", "5A", "061300", ["31762"]),
        ("class", "5A", "020100", ["31763"]),
        ("class", "3B", "061300", ["31762"]),
        ("group", "5-LATIN-A", "100100", ["31763"]),
    ]


def test_the_timetable_export_is_read():
    """Three lessons: the one given by two teachers is listed under each and read once; weeks
    from the alternations (H, and Q1/Q2 whose short labels say SA/SB)."""
    found = sts.parse_timetable(plain_fixture(TIMETABLE))
    assert found.errors == [] and found.uai == "0820021C"
    assert [
        (x.kind, x.structure, x.subject, x.teacher, x.weekday, x.start, x.end, x.parity, x.room)
        for x in found.lessons
    ] == [
        ("class", "5A", "061300", "31762", 1, dt.time(8), dt.time(9), "", "B12"),
        ("class", "5A", "061300", "31762", 3, dt.time(10), dt.time(11, 30), "A", "B14"),
        ("group", "5-LATIN-A", "061300", "31762", 3, dt.time(10), dt.time(11, 30), "B", "C2"),
    ]


def test_sniffing_the_format():
    assert sts.sniff(b"classe;jour;debut;fin\n") == "csv"
    assert sts.sniff(plain_fixture(STRUCTURE)) == "sts"
    assert sts.sniff(plain_fixture(TIMETABLE)) == "edt"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<STS_EDT>\n<PARAMETRES>", "ligne 2 : fichier XML illisible"),
        (BOMB, "déclare des entités XML"),
        (b'<?xml version="1.0"?><ELEVES/>', "élément racine « ELEVES » inattendu"),
    ],
)
def test_unreadable_files_are_refused_whole(data, message):
    for parse in (sts.parse_structure, sts.parse_timetable):
        with pytest.raises(sts.Unreadable, match=message):
            parse(data)


def test_each_bad_lesson_is_a_french_line():
    """Line numbers of the file: line 38 is the first COURS, 45 the second, 77 the group's."""
    found = sts.parse_timetable(
        plain_fixture(
            TIMETABLE,
            ("<JOUR>1</JOUR>", "<JOUR>7</JOUR>"),  # line 38's lesson
            (
                "<HEURE_DEBUT>1000</HEURE_DEBUT>\n                      <DUREE>0130</DUREE>\n"
                "                      <CODE_SALLE>B14",
                "<HEURE_DEBUT>1930</HEURE_DEBUT>\n                      <DUREE>0100</DUREE>\n"
                "                      <CODE_SALLE>B14",
            ),  # fmt: skip
            ("<CODE_ALTERNANCE>Q2</CODE_ALTERNANCE>", "<CODE_ALTERNANCE>Q9</CODE_ALTERNANCE>"),
        )
    )
    assert found.errors == [
        "ligne 38 (5A) : jour « 7 » invalide (1 = lundi … 6 = samedi)",
        "ligne 45 (5A) : le cours finirait à 20:30, après 20:00",
        "ligne 77 (5-LATIN-A) : alternance « Q9 » non reconnue (H, semaine A ou semaine B)",
    ]


def test_overlapping_lessons_are_refused():
    """The group's week-B lesson made every week meets the teacher's week-A one in 5A."""
    found = sts.parse_timetable(
        plain_fixture(
            TIMETABLE,
            ("<CODE_ALTERNANCE>Q2</CODE_ALTERNANCE>", "<CODE_ALTERNANCE>H</CODE_ALTERNANCE>"),
        )
    )
    assert found.errors == [
        "ligne 77 : FABRE Julien (STS n° 31762) a déjà un cours le mercredi à 10:00 (ligne 45, 5A)"
    ]
    lesson = found.lessons[0]
    same_class = sts.Lesson(
        **{**lesson.__dict__, "line": 99, "teacher": "", "start": dt.time(8, 30)}
    )
    assert sts.overlaps([lesson, same_class]) == [
        "ligne 99 : 5A a déjà un cours le lundi à 08:30 (ligne 38)"
    ]


# --- the import, all or nothing ----------------------------------------------------------------


def test_the_structure_import_creates_what_is_missing_and_deletes_nothing(school):
    s = school
    before = TeachingAssignment.objects.filter(establishment=s["est"]).count()
    report = imports.run(s["est"], fixture(STRUCTURE))
    assert report["refused"] == [] and report["applied"] and report["format"] == "sts"
    assert report["counts"] == {
        "subjects_created": 2,  # maths is the school's MATHEMATIQUES (its label)
        "classes_created": 1,  # 3B; 5A and the latin group exist
        "teachers_linked": 2,
        "assignments_created": 3,  # FABRE in 5A for maths exists
    }
    assert set(Subject.objects.filter(establishment=s["est"]).values_list("code", "label")) == {
        ("MATHEMATIQUES", "Mathématiques"),
        ("020100", "Français"),
        ("100100", "Latin"),
    }
    year = Platform.current_school_year()
    assert ClassGroup.objects.get(establishment=s["est"], name="3B").school_year == year
    soulie = Membership.objects.get(user=s["other_teacher"], establishment=s["est"])
    assert soulie.sts_id == "31763"
    assert TeachingAssignment.objects.filter(teacher=s["other_teacher"], subject__code="100100")
    assert TeachingAssignment.objects.filter(establishment=s["est"]).count() == before + 3
    log = OperationLog.objects.get(establishment=s["est"], kind="import_timetable")
    assert log.summary["counts"] == report["counts"]
    # Again: nothing to do.
    assert imports.run(s["est"], fixture(STRUCTURE))["counts"] == {}


def test_the_timetable_import_replaces_the_classes_it_names(school):
    s = school
    kept = TimetableSlot.objects.create(
        establishment=s["est"], class_group=s["other_class"], weekday=2, start=dt.time(14),
        end=dt.time(15), teacher=s["teacher"],
    )  # fmt: skip
    report = imports.run(s["est"], fixture(TIMETABLE), "edt")
    assert report["refused"] == [], report
    assert report["counts"] == {"classes_replaced": 2, "slots_deleted": 1, "slots_created": 3}
    rows = TimetableSlot.objects.filter(establishment=s["est"]).exclude(pk=kept.pk)
    assert sorted(
        rows.values_list("class_group__name", "weekday", "start", "week_parity", "room")
    ) == [
        ("5-LATIN-A", 3, dt.time(10), "B", "C2"),
        ("5A", 1, dt.time(8), "", "B12"),
        ("5A", 3, dt.time(10), "A", "B14"),
    ]
    assert {slot.teacher_id for slot in rows} == {s["teacher"].pk}
    assert {slot.subject_id for slot in rows} == {s["subject"].pk}  # 061300 → MATHEMATIQUES
    assert TimetableSlot.objects.filter(pk=kept.pk).exists()  # 4A is not in the file


def test_a_teacher_named_by_sts_id_alone_after_the_structure_import(school):
    """A timetable file without INDIVIDUS finds its teachers by the STS id the structure import
    kept; before it, the same file's teacher is unknown."""
    s = school
    start, end = "<INDIVIDUS>", "</INDIVIDUS>"
    data = fixture(TIMETABLE)
    data = data[: data.index(start.encode())] + data[data.index(end.encode()) + len(end) :]
    refused = imports.run(s["est"], data, "edt")["refused"]
    assert len(refused) == 3  # the three lessons of FABRE, known by his STS id alone
    assert all(
        "enseignant n° 31762 inconnu (absent du fichier et des imports" in r for r in refused
    )
    imports.run(s["est"], fixture(STRUCTURE))
    assert imports.run(s["est"], data, "edt")["refused"] == []


@pytest.mark.parametrize(
    ("edit", "refusal"),
    [
        (("<NOM_USAGE>FABRE", "<NOM_USAGE>DUPONT"),
         "ligne 38 (5A) : enseignant DUPONT Julien (STS n° 31762) inconnu parmi les enseignants"),
        (('DIVISION CODE="5A"', 'DIVISION CODE="9Z"'),
         "ligne 38 (9Z) : classe « 9Z » inconnu(e) dans l'établissement (année en cours)"),
        (("<DUREE>0100</DUREE>", "<DUREE>1300</DUREE>"),
         "ligne 38 (5A) : le cours finirait à 21:00, après 20:00"),
    ],
)  # fmt: skip
def test_a_bad_line_leaves_the_previous_timetable_intact(school, edit, refusal):
    s = school
    before = list(
        TimetableSlot.objects.values_list("pk", "class_group", "weekday", "start", "room")
    )
    report = imports.run(s["est"], fixture(TIMETABLE, edit))
    assert not report["applied"] and report["counts"] == {}
    assert any(line.startswith(refusal) for line in report["refused"]), report["refused"]
    assert (
        list(TimetableSlot.objects.values_list("pk", "class_group", "weekday", "start", "room"))
        == before
    )


def test_a_lesson_meeting_one_the_teacher_keeps_elsewhere_is_refused(school):
    s = school
    TimetableSlot.objects.create(
        establishment=s["est"], class_group=s["other_class"], weekday=1, start=dt.time(8, 30),
        end=dt.time(9, 30), teacher=s["teacher"],
    )  # fmt: skip
    report = imports.run(s["est"], fixture(TIMETABLE))
    assert report["refused"] == ["ligne 38 : Julien FABRE a déjà un cours le lundi à 08:30 en 4A"]


def test_another_establishments_file_or_class_is_refused(school):
    s = school
    b = make_school("B", "0820010R")
    report = imports.run(s["est"], fixture(TIMETABLE, ("<UAJ>0820021C", "<UAJ>0820010R")))
    assert report["refused"] == [
        f"ce fichier est celui de l'établissement 0820010R, pas de 0820021C ({s['est'].name}) : "
        "rien n'a été importé"
    ]
    report = imports.run(
        s["est"], fixture(STRUCTURE, ('UAJ CODE="0820021C"', 'UAJ CODE="0820010R"'))
    )
    assert report["refused"][0].startswith("ce fichier est celui de l'établissement 0820010R")
    # B's class 5B, named in a file of A: unknown here; B's timetable untouched.
    b_slots = list(TimetableSlot.objects.filter(establishment=b["est"]).values_list("pk", "room"))
    report = imports.run(s["est"], fixture(TIMETABLE, ('DIVISION CODE="5A"', 'DIVISION CODE="5B"')))
    assert "ligne 38 (5B) : classe « 5B » inconnu(e)" in report["refused"][0]
    assert (
        list(TimetableSlot.objects.filter(establishment=b["est"]).values_list("pk", "room"))
        == b_slots
    )
    last_year = Platform.current_school_year() - 1
    report = imports.run(s["est"], fixture(STRUCTURE).replace(
        f'ANNEE="{last_year + 1}"'.encode(), f'ANNEE="{last_year}"'.encode()
    ))  # fmt: skip
    assert "l'année en cours est" in report["refused"][0]


def test_a_csv_is_refused_whole_with_every_bad_line(school):
    s = school
    bad = (
        "classe;jour;debut;fin;matiere;enseignant;salle\n"
        "5A;lundi;19:00;20:30;;;\n"
        "5A;mardi;08:00;09:00;;;\n"
        "5A;mardi;08:30;09:30;;;\n"
    )
    report = imports.run(s["est"], bad.encode())
    assert report["format"] == "csv" and report["refused"] == [
        "ligne 2 : le cours finit après 20:00",
        "ligne 4 : 5A a déjà un cours le mardi à 08:30 (ligne 3)",
    ]
    assert imports.run(s["est"], b"nom;prenom\nx;y\n")["refused"][0].startswith(
        "ligne 1 : en-tête attendu"
    )


# --- the page and the job ----------------------------------------------------------------------


def test_the_page_stores_and_defers_never_imports(client, school):
    """The request stores the file and defers the job (its row in the queue, for this
    establishment); the timetable changes only when the job runs, and the page shows « import
    en cours », then the report."""
    s = school
    client.force_login(s["admin"])
    before = list(TimetableSlot.objects.values_list("pk", flat=True))
    response = client.post(
        url(s, "timetable_import"), {"file": upload(TIMETABLE, fixture(TIMETABLE)), "format": "edt"}
    )
    batch = TimetableImport.objects.exclude(pk=s["timetable_import"].pk).get()
    assert response.status_code == 302
    assert response.url == url(s, "timetable_import_status", import_id=batch.pk)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT task_name, queue_name, args ->> 'batch_id', args ->> 'establishment_uai' "
            "FROM procrastinate_jobs WHERE id = %s",
            [batch.job_id],
        )
        job = cursor.fetchone()
    assert job == ("import_timetable", "long", str(batch.pk), s["est"].uai)
    assert (batch.format, batch.source.name, batch.made_at) == ("edt", TIMETABLE, None)
    assert list(TimetableSlot.objects.values_list("pk", flat=True)) == before
    page = client.get(response.url)
    assert "Import en cours" in page.content.decode() and page["Refresh"]
    imports.make(batch.pk)
    imports.make(batch.pk)  # a job run again changes nothing
    page = client.get(response.url).content.decode()
    assert "3 cours importé(s)" in page and "Import en cours" not in page
    assert TimetableSlot.objects.filter(establishment=s["est"]).count() == 3
    assert TimetableSlot.objects.filter(pk__in=before).count() == 0


def test_the_report_lists_every_refused_line(client, school):
    s = school
    client.force_login(s["admin"])
    data = fixture(TIMETABLE, ("<NOM_USAGE>FABRE", "<NOM_USAGE>DUPONT"), ("<JOUR>3", "<JOUR>9"))
    page = import_file(client, s, "emp_sts.xml", data)
    assert "Import refusé" in page and "3 ligne(s) refusée(s)" in page
    assert "jour « 9 » invalide" in page and "DUPONT Julien" in page


def test_bad_uploads_are_refused_by_the_form(client, school):
    s = school
    client.force_login(s["admin"])
    response = client.post(url(s, "timetable_import"), {"file": upload("edt.pdf", b"%PDF")})
    assert (
        response.status_code == 400 and "Type de fichier non accepté" in response.content.decode()
    )
    assert TimetableImport.objects.get() == s["timetable_import"]  # the school's own


def test_only_who_edits_the_timetable_imports(client, school):
    s = school
    batch = s["timetable_import"]
    for role in ("teacher", "evs", "student", "parent"):
        client.force_login(s[role])
        response = client.post(url(s, "timetable_import"), {"file": upload("e.csv", b"x")})
        assert response.status_code == 403, role
        status = url(s, "timetable_import_status", import_id=batch.pk)
        assert client.get(status).status_code == 403, role
    assert TimetableImport.objects.count() == 1
    b = make_school("B", "0820010R")
    client.force_login(b["admin"])
    other = reverse("timetable_import_status", kwargs={"uai": b["est"].uai, "import_id": batch.pk})
    assert client.get(other).status_code == 404


# --- the command -------------------------------------------------------------------------------


def test_the_command_shares_the_import(school, call_json, tmp_path):
    s = school
    path = tmp_path / STRUCTURE
    path.write_bytes(fixture(STRUCTURE))
    dry = call_json("import_timetable", s["est"].uai, str(path), "--dry-run")
    assert dry["ok"] and dry["format"] == "sts" and dry["dry_run"] and not dry["applied"]
    assert dry["counts"]["classes_created"] == 1
    assert not ClassGroup.objects.filter(name="3B").exists()
    done = call_json("import_timetable", s["est"].uai, str(path), "--format", "sts")
    assert done["applied"] and ClassGroup.objects.filter(name="3B").exists()
    path.write_bytes(fixture(TIMETABLE, ("<JOUR>3", "<JOUR>9")))
    with pytest.raises(Exception, match="import refusé : 1 ligne"):
        call_json("import_timetable", s["est"].uai, str(path))
