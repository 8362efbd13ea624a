"""The LSU export (issue #18 item 7, preau.grades.lsu): the periods' fixture (tests.grades
.test_periods.marks: 5A's three pupils, hand-computed averages) made exportable, its file
validated against the LSU's import format (tests/grades/lsu_bilans.xsd, restated from the
ministry's import-bilan-complet.xsd) and read back; every identifier the LSU needs and the data
lacks refused in French, nothing written; the page's job and the lsu_export command."""

import datetime as dt
import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from lxml import etree

from preau.attendance.models import Absence
from preau.core.models import Membership
from preau.grades import lsu
from preau.grades.models import Appreciation, LsuExport, Period
from tests.grades.test_periods import marks  # noqa: F401 (the fixture)
from tests.school import url

SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).with_name("lsu_bilans.xsd"))))
NS = {"l": lsu.NAMESPACE}


def valid(content: bytes):
    """The export's document, once the schema accepts it (its errors shown otherwise)."""
    document = etree.fromstring(content)
    assert SCHEMA.validate(document), SCHEMA.error_log
    return document


def make_exportable(s) -> None:
    """What the LSU needs and the fixture lacks: national subject codes (STS-Web's), the
    teachers' STS ids, the pupils' Base Élèves ids, the council's appreciations, publication."""
    s["subject"].code = "061300"
    s["subject"].save()
    s["french"].code = "020700"
    s["french"].save()
    for user, sts_id in ((s["teacher"], "4501"), (s["other_teacher"], "4502")):
        Membership.objects.filter(user=user).update(sts_id=sts_id)
    for number, user in enumerate((s["student"], s["other_student"], s["third"]), 1):
        Membership.objects.filter(user=user).update(be_id=str(9000 + number))
        Appreciation.objects.create(
            period=s["period"], student=user, subject=None, text=f"Conseil n° {number}."
        )
    Period.objects.filter(pk=s["period"].pk).update(published_at=timezone.now())
    s["period"].refresh_from_db()


@pytest.fixture
def exportable(marks):  # noqa: F811
    make_exportable(marks)
    return marks


def test_the_period_exported_as_the_lsu_reads_it(exportable):
    s = exportable
    period, est = s["period"], s["est"]
    Appreciation.objects.create(
        period=period, student=s["student"], subject=s["subject"], text="Très bon\x0btravail."
    )  # a control character pasted in: XML cannot hold it, a space stands for it
    # Léa: two lessons missed one morning (one justified: the half-day is not), an afternoon
    # justified, one lateness; before the period: not counted.
    Absence.objects.filter(student=s["student"]).delete()
    day = period.start
    for start, kind, status, when in (
        (dt.time(8), "absence", "accepted", day),
        (dt.time(10), "absence", "unjustified", day),
        (dt.time(14), "absence", "accepted", day),
        (dt.time(9), "late", "unjustified", day + dt.timedelta(days=1)),
        (dt.time(9), "absence", "unjustified", day - dt.timedelta(days=1)),
    ):
        Absence.objects.create(
            establishment=est, student=s["student"], date=when, start=start, kind=kind,
            status=status,
        )  # fmt: skip

    data = lsu.gather(est, period)
    assert data["problems"] == []
    doc = valid(lsu.xml(data))
    assert doc.get("schemaVersion") == "3.0"
    assert doc.findtext("l:entete/l:etablissement", namespaces=NS) == est.uai
    pupils = doc.findall("l:donnees/l:eleves/l:eleve", NS)
    assert [(e.get("nom"), e.get("id-be"), e.get("code-division")) for e in pupils] == [
        ("BOUSQUET", "9002", "5A"),
        ("MARTIN", "9001", "5A"),
        ("VIDAL", "9003", "5A"),
    ]
    [head] = doc.findall("l:donnees/l:responsables-etab/l:responsable-etab", NS)
    assert head.get("libelle") == "Hélène CASTEX"
    assert sorted(t.get("id-sts") for t in doc.iterfind(".//l:enseignant", NS)) == ["4501", "4502"]

    def bilan(user):
        [found] = doc.xpath(f"//l:bilan-periodique[@eleve-ref='EL_{user.pk}']", namespaces=NS)
        return found

    lea = bilan(s["student"])
    french, maths = lea.findall("l:liste-acquis/l:acquis", NS)  # by subject code
    assert (maths.get("moyenne-eleve"), maths.get("moyenne-structure")) == ("14,61", "12,47")
    assert maths.findtext("l:appreciation", namespaces=NS) == "Très bon travail."
    assert [p.get("libelle") for p in doc.iterfind(".//l:element-programme", NS)] == [
        "Programme de Français de la période (020700)",
        "Programme de Mathématiques de la période (061300)",
    ]
    assert (french.get("moyenne-eleve"), french.get("moyenne-structure")) == ("12,75", "10,37")
    assert french.find("l:appreciation", NS) is None  # none written: none exported
    assert lea.findtext("l:acquis-conseils", namespaces=NS) == "Conseil n° 1."
    life = lea.find("l:vie-scolaire", NS)
    assert (
        life.get("nb-retards"),
        life.get("nb-abs-justifiees"),
        life.get("nb-abs-injustifiees"),
    ) == ("1", "1", "1")
    locked = timezone.localtime(period.published_at).strftime("%Y-%m-%dT%H:%M:%S")
    assert (lea.get("date-verrou"), lea.get("date-conseil-classe")) == (locked, str(period.end))
    # Zoé has non-marks only: no average, flagged as not marked; the class's average stays.
    zoe_french, zoe_maths = bilan(s["third"]).findall("l:liste-acquis/l:acquis", NS)
    assert zoe_maths.get("moyenne-eleve") is None and zoe_maths.get("eleve-non-note") == "true"
    assert zoe_maths.get("moyenne-structure") == "12,47"
    assert zoe_french.get("eleve-non-note") == "true" and maths.get("eleve-non-note") is None
    # Not the end of a cycle (5e): no socle.
    assert doc.find(".//l:socle", NS) is None


def test_the_socle_at_the_end_of_a_cycle(exportable):
    """A 3e's last period of the year carries the eight components, levels where set."""
    s = exportable
    Period.objects.filter(establishment=s["est"], start__gt=s["period"].start).delete()
    s["class"].name = "3A"
    s["class"].save()
    doc = valid(lsu.xml(lsu.gather(s["est"], s["period"])))
    [lea] = doc.xpath(f"//l:bilan-periodique[@eleve-ref='EL_{s['student'].pk}']", namespaces=NS)
    domains = [(d.get("code"), d.get("positionnement")) for d in lea.iterfind(".//l:domaine", NS)]
    assert domains[0] == ("CPD_FRA", "3") and len(domains) == 8  # make_school's level
    assert all(level is None for _, level in domains[1:])


def test_what_the_lsu_needs_and_the_data_lacks_is_refused_in_french(marks):  # noqa: F811
    s = marks
    problems = lsu.gather(s["est"], s["period"])["problems"]
    assert f"La période « {s['period'].name} » n'est pas publiée" in problems[0]
    assert (
        "Léa MARTIN (5A) : identifiant Base Élèves manquant ou invalide (importez l'export des élèves de SIECLE)."
        in problems
    )
    assert "Zoé VIDAL (5A) : appréciation générale du conseil de classe manquante." in problems
    assert (
        "Matière « Mathématiques » : son code « MATHEMATIQUES » n'est pas un code national de "
        "matière (6 caractères) ; importez la structure STS-Web, qui les donne." in problems
    )
    assert (
        "Enseignant Julien FABRE : identifiant STS manquant ou invalide (importez la structure "
        "STS-Web)." in problems
    )
    assert len(problems) == len(set(problems))  # each said once


@pytest.mark.django_db(transaction=True)
def test_the_direction_exports_a_period_by_the_job(client, run_jobs, marks):  # noqa: F811
    s = marks
    page = url(s, "period_lsu", period_id=s["period"].pk)
    client.force_login(s["admin"])
    assert client.post(page).status_code == 302  # Post/Redirect/Get
    waiting = client.get(page)
    assert "Export LSU en préparation" in waiting.content.decode() and waiting["Refresh"] == "5"
    run_jobs()
    refused = client.get(page).content.decode()
    assert "Export refusé" in refused and "Léa MARTIN (5A) : identifiant Base Élèves" in refused
    assert f'href="{url(s, "timetable_import")}">importez-les</a>' in refused
    download = url(s, "period_lsu_file", period_id=s["period"].pk)
    assert client.get(download).status_code == 404

    make_exportable(s)
    client.post(page)
    run_jobs()
    ready = client.get(page).content.decode()
    assert "3 bilan(s) périodique(s) exporté(s)" in ready and download in ready
    response = client.get(download)
    assert response["Content-Type"] == "application/xml"
    valid(b"".join(response.streaming_content))
    mine = LsuExport.objects.filter(requested_by=s["admin"].username).order_by("pk")
    assert [(bool(e.file_id), len(e.problems) > 3) for e in mine] == [(False, True), (True, False)]


def test_the_command_shares_the_export(exportable, tmp_path):
    s = exportable
    out, target = io.StringIO(), tmp_path / "lsu.xml"
    call_command("lsu_export", s["est"].uai, s["period"].name, output=str(target), stdout=out)
    assert "3 bilan(s) périodique(s) écrit(s)" in out.getvalue()
    valid(target.read_bytes())
    out = io.StringIO()
    call_command("lsu_export", s["est"].uai, str(s["period"].pk), json=True, stdout=out)
    answer = json.loads(out.getvalue())
    assert answer["ok"] and [b["acquis_conseils"] for b in answer["data"]["bilans"]] == [
        "Conseil n° 2.",
        "Conseil n° 1.",
        "Conseil n° 3.",
    ]
    Membership.objects.filter(user=s["third"]).update(be_id="")
    err = io.StringIO()
    with pytest.raises(CommandError, match="export LSU refusé : 1 élément"):
        call_command("lsu_export", s["est"].uai, str(s["period"].pk), stdout=out, stderr=err)
    assert "Zoé VIDAL (5A) : identifiant Base Élèves" in err.getvalue()
