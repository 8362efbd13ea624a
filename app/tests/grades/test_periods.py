"""Periods, Pronote's non-marks, averages and appreciations (issue #18 item 4): a hand-computed
fixture (scales /20 and /10, coefficients 1, 2 and 0.5, Abs, Disp, NRdu, Inap, NNot, a pupil
with non-marks only, x.xx5 rounding) read back on the pages; the periods' rules in French; who
writes appreciations; parents see them once the period is published; bounded queries."""

import datetime as dt
import html
import importlib
import re
from decimal import Decimal
from fractions import Fraction

import pytest
from django.apps import apps

from preau.core.models import ClassMembership, Membership, Subject, TeachingAssignment, User
from preau.ent.models import Notification
from preau.grades import averages, periods
from preau.grades.models import Appreciation, Assessment, Grade, NonMark, Period
from tests.school import url

pytestmark = pytest.mark.django_db


def cells(html: str, header: str) -> list[str]:
    """The cells' text of the table row whose row header is `header`."""
    for head, body in re.findall(r'<th scope="row">(.*?)</th>(.*?)</tr>', html, re.S):
        if re.sub(r"<[^>]+>", "", head).strip() == header:
            found = re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)
            return [" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in found]
    raise AssertionError(f"no row {header!r}")


@pytest.fixture
def marks(school):
    """5A in the period of its "Fractions" (15 for the student, 9 for the other one):
    Mathématiques  student: 15/20 c1, 7,5/10 c2, 12,25/20 c0,5 → 51,125 / 3,5 = 14,607142… → 14,61
                   other:    9/20 c1, Disp,     13/20 c0,5    → 15,5 / 1,5 = 10,333… → 10,33
                   third:    Abs,      Disp,     NRdu          → no average "—"
                   class: (14,607142… + 10,333…) / 2 = 12,470238… → 12,47, min 10,33, max 14,61
    Français       student: 12/20, 13,49/20 (c1)  → 12,745 exactly → 12,75 (half-up; a float
                            or half-even rounding would show 12,74)
                   other:    8/20, NNot          → 8
                   third:    Inap                → "—"
                   class: (12,745 + 8) / 2 = 10,3725 → 10,37, min 8, max 12,745 → 12,75
    General (student): (14,607142… + 12,745) / 2 = 13,676071… → 13,68."""
    s = school
    period, est = s["period"], s["est"]
    third = User.objects.create_user("troisieme", first_name="Zoé", last_name="VIDAL")
    Membership.objects.create(user=third, establishment=est, profile="ELV")
    ClassMembership.objects.create(class_group=s["class"], user=third)
    french = Subject.objects.create(establishment=est, code="FRANCAIS", label="Français")
    TeachingAssignment.objects.create(
        establishment=est, teacher=s["other_teacher"], class_group=s["class"], subject=french
    )
    common = {"establishment": est, "class_group": s["class"], "date": period.start}
    Assessment.objects.filter(pk=s["assessment"].pk).update(date=period.start)
    Grade.objects.create(assessment=s["assessment"], student=third, status="abs", absent=True)

    def assessment(subject, scale, coefficient, values):
        item = Assessment.objects.create(
            title=f"{subject.code}-{scale}-{coefficient}",
            subject=subject,
            scale=scale,
            coefficient=Decimal(coefficient),
            **common,
        )
        for student, value in zip((s["student"], s["other_student"], third), values, strict=True):
            if value in NonMark.values:
                Grade.objects.create(
                    assessment=item, student=student, status=value, absent=value == "abs"
                )
            elif value is not None:
                Grade.objects.create(assessment=item, student=student, value=Decimal(value))

    assessment(s["subject"], 10, "2", ["7.5", "disp", "disp"])
    assessment(s["subject"], 20, "0.5", ["12.25", "13", "nrdu"])
    assessment(french, 20, "1", ["12", "8", "inap"])
    assessment(french, 20, "1", ["13.49", "nnot", None])
    # Outside the period (the day before it): counts in none of its averages.
    Assessment.objects.create(
        title="Avant", subject=s["subject"], **{**common, "date": period.start - dt.timedelta(1)}
    ).grades.create(student=s["student"], value=0)
    return {**s, "third": third, "french": french}


def test_rounding_is_half_up_on_the_exact_value():
    assert averages.rounded(Fraction("12.745")) == Decimal("12.75")
    assert averages.rounded(Fraction("10.3725")) == Decimal("10.37")
    assert averages.rounded(Fraction(51125, 3500)) == Decimal("14.61")
    assert averages.rounded(Fraction("12.744999")) == Decimal("12.74")
    assert averages.rounded(None) is None
    assert averages.mean([None, None]) is None


def test_the_period_summary_equals_the_hand_computation(client, marks):
    s = marks
    client.force_login(s["parent"])
    page = client.get(url(s, "period_summary", period_id=s["period"].pk)).content.decode()
    maths = cells(page, "Mathématiques")
    # Notes, pupil's average, class average, lowest, highest, appreciation (not published)
    assert maths[1:] == ["14,61", "12,47", "10,33", "14,61", "—"]
    assert "7,5/10" in maths[0] and "0/20" not in maths[0].replace("10/20", "")
    assert cells(page, "Français")[1:5] == ["12,75", "10,37", "8,00", "12,75"]
    assert "Moyenne générale : <strong>13,68</strong>" in page

    client.force_login(s["third"])
    page = client.get(url(s, "period_summary", period_id=s["period"].pk)).content.decode()
    maths = cells(page, "Mathématiques")
    assert maths[0] == "Abs · Disp · NRdu" and maths[1:5] == ["—", "12,47", "10,33", "14,61"]
    assert cells(page, "Français")[:2] == ["Inap", "—"]
    assert "Moyenne générale : <strong>—</strong>" in page and "0,00" not in page

    client.force_login(s["teacher"])
    table = url(
        s,
        "period_subject",
        class_id=s["class"].pk,
        subject_id=s["subject"].pk,
        period_id=s["period"].pk,
    )
    page = client.get(table).content.decode()
    assert cells(page, "VIDAL Zoé")[:2] == ["Abs · Disp (coef. 2) · NRdu (coef. 0,5)", "—"]
    assert "<dd>12,47</dd>" in page and "<dd>10,33</dd>" in page and "<dd>14,61</dd>" in page


def test_typed_non_marks_are_kept_and_shown_back(client, school):
    s = school
    client.force_login(s["teacher"])
    grid = url(s, "assessment", assessment_id=s["assessment"].pk)
    posted = {f"note_{s['student'].pk}": "DISP", f"note_{s['other_student'].pk}": "NrDu"}
    assert client.post(grid, posted).status_code == 302
    stored = dict(Grade.objects.values_list("student_id", "status"))
    assert stored == {s["student"].pk: "disp", s["other_student"].pk: "nrdu"}
    page = client.get(grid).content.decode()
    assert 'value="Disp"' in page and 'value="NRdu"' in page
    bad = client.post(grid, {f"note_{s['student'].pk}": "dispense"})
    assert bad.status_code == 400 and "« nrdu » (non rendu)" in bad.content.decode()
    # A row the previous release wrote (absent only) reads as Abs; the backfill copies it.
    Grade.objects.filter(student=s["student"]).update(status="", absent=True)
    assert Grade.objects.get(student=s["student"]).shown == "Abs"
    migration = importlib.import_module(
        "preau.grades.migrations.0003_periods_non_marks_appreciations"
    )
    migration.absent_to_status(apps, None)
    assert Grade.objects.get(student=s["student"]).status == "abs"


def rows(*periods_):
    data = {}
    for n, (name, start, end) in enumerate(periods_, start=1):
        data |= {f"name_{n}": name, f"start_{n}": start, f"end_{n}": end}
    return data


def test_periods_are_checked_in_french_and_saved_whole(client, school):
    s = school
    year = s["period"].school_year
    settings = url(s, "period_settings")
    client.force_login(s["teacher"])
    assert client.get(settings).status_code == 403
    client.force_login(s["admin"])
    before = list(Period.objects.values_list("name", "start", "end"))
    first, second, third = (
        (f"{year}-09-01", f"{year}-11-30"),
        (f"{year}-12-01", f"{year + 1}-02-28"),
        (
            f"{year + 1}-03-01",
            f"{year + 1}-08-31",
        ),
    )
    cases = {
        "se chevauchent (du 25/11/": rows(
            ("T1", *first), ("T2", f"{year}-11-25", second[1]), ("T3", *third)
        ),
        f"les jours du 01/12/{year} au 02/12/{year} n'appartiennent à aucune période": rows(
            ("T1", *first), ("T2", f"{year}-12-03", second[1]), ("T3", *third)
        ),
        "est après la date de fin": rows(("T1", first[1], first[0]), ("T2", *second)),
        "Saisissez une date valide": rows(("T1", "31/02/2026", first[1]), ("T2", *second)),
        "Indiquez la date de fin de la période 3.": rows(
            ("T1", *first), ("T2", *second), ("T3", third[0], "")
        ),
        f"doit commencer le 01/09/{year}": rows(
            ("T1", f"{year}-09-02", first[1]), ("T2", *second), ("T3", *third)
        ),
        "deux périodes (semestres) ou trois": rows(("Année", first[0], third[1])),
    }
    for expected, data in cases.items():
        response = client.post(settings, data)
        assert response.status_code == 400 and expected in html.unescape(
            response.content.decode()
        ), expected
    assert list(Period.objects.values_list("name", "start", "end")) == before

    # Semesters: a removed period holding appreciations refuses the change, whole.
    last = Period.objects.filter(establishment=s["est"]).last()
    Appreciation.objects.create(period=last, student=s["student"], text="Bien.")
    semesters = rows(("S1", first[0], f"{year + 1}-01-31"), ("S2", f"{year + 1}-02-01", third[1]))
    refused = client.post(settings, semesters)
    assert refused.status_code == 400 and "a déjà des appréciations" in refused.content.decode()
    assert list(Period.objects.values_list("name", "start", "end")) == before
    Appreciation.objects.all().delete()
    assert client.post(settings, semesters).status_code == 302
    saved = list(Period.objects.filter(establishment=s["est"]))
    assert [p.name for p in saved] == ["S1", "S2"]
    assert periods.period_of(saved, dt.date(year + 1, 1, 31)).name == "S1"
    assert periods.period_of(saved, dt.date(year + 1, 2, 1)).name == "S2"


def test_the_three_trimesters_are_proposed(client, school):
    s = school
    Period.objects.all().delete()
    client.force_login(s["admin"])
    page = client.get(url(s, "period_settings")).content.decode()
    year = s["period"].school_year
    assert 'value="1er trimestre"' in page and 'value="3e trimestre"' in page
    assert f'value="{year}-09-01"' in page and f'value="{year + 1}-08-31"' in page


def test_appreciations_writers_and_their_publication(client, marks):
    s = marks
    table = url(
        s,
        "period_subject",
        class_id=s["class"].pk,
        subject_id=s["subject"].pk,
        period_id=s["period"].pk,
    )
    council = url(s, "class_council", class_id=s["class"].pk, period_id=s["period"].pk)
    key = f"appreciation_{s['student'].pk}"
    other_key = f"appreciation_{s['other_student'].pk}"
    # The French teacher does not write in mathematics, nor the vie scolaire; nor a teacher
    # in the council's general appreciation.
    for who in ("other_teacher", "evs", "parent"):
        client.force_login(s[who])
        assert client.post(table, {key: "Intrus."}).status_code == 403, who
    client.force_login(s["teacher"])
    assert client.post(council, {key: "Intrus."}).status_code == 403
    assert not Appreciation.objects.exists()
    # Too long: refused with the pupil's name, nothing saved (not even the other pupil's).
    too_long = client.post(table, {key: "x" * 501, other_key: "Des efforts."})
    refusal = html.unescape(too_long.content.decode())
    assert too_long.status_code == 400
    assert "L'appréciation de Léa MARTIN fait 501 caractères : 500 au plus." in refusal
    assert not Appreciation.objects.exists()
    assert client.post(table, {key: "  Très bon trimestre.  ", other_key: ""}).status_code == 302
    client.force_login(s["admin"])
    assert client.post(council, {key: "Félicitations du conseil."}).status_code == 302
    assert set(Appreciation.objects.values_list("subject_id", "text")) == {
        (s["subject"].pk, "Très bon trimestre."),
        (None, "Félicitations du conseil."),
    }

    summary = url(s, "period_summary", period_id=s["period"].pk)
    client.force_login(s["parent"])
    page = client.get(summary).content.decode()
    assert "Très bon trimestre." not in page and "Félicitations" not in page
    assert "14,61" in page and "paraîtront quand l'établissement publiera" in page
    client.force_login(s["admin"])
    publish = url(s, "period_publish", period_id=s["period"].pk)
    assert client.post(publish).status_code == 302
    client.force_login(s["parent"])
    page = client.get(summary).content.decode()
    assert cells(page, "Mathématiques")[-1] == "Très bon trimestre."
    assert "Félicitations du conseil." in page
    # Publication tells the year's pupils and their legal guardians, linking to the Relevé.
    told = Notification.objects.filter(text=f"{s['period'].name} publié : appréciations et "
                                       "bulletin disponibles.")  # fmt: skip
    assert set(told.values_list("user__username", flat=True)) == {
        s[who].username for who in ("student", "other_student", "third", "parent", "other_parent")
    }
    assert {n.url for n in told} == {summary}
    client.force_login(s["admin"])
    client.post(publish)  # withdrawn
    client.force_login(s["parent"])
    assert "Très bon trimestre." not in client.get(summary).content.decode()


def test_the_staff_who_follow_a_pupil_open_their_releve(client, marks):
    """The direction, the vie scolaire and the pupil's teachers open the pupil's Relevé (the
    class council links each name to it), appreciations included before publication; a
    teacher of other classes does not (ent.access follows_student)."""
    s = marks
    Appreciation.objects.create(
        period=s["period"], student=s["student"], subject=s["subject"], text="Bon trimestre."
    )
    page = url(s, "student_period_summary", user_id=s["student"].pk, period_id=s["period"].pk)
    client.force_login(s["admin"])
    council = client.get(url(s, "class_council", class_id=s["class"].pk, period_id=s["period"].pk))
    assert f'href="{page}"' in council.content.decode()
    for who in ("admin", "evs", "teacher"):
        client.force_login(s[who])
        shown = html.unescape(client.get(page).content.decode())
        assert "Relevé du " in shown and "Léa MARTIN" in shown, who
        assert cells(shown, "Mathématiques")[1:] == [
            "14,61", "12,47", "10,33", "14,61", "Bon trimestre."
        ], who  # fmt: skip
        assert "l'élève et ses parents ne voient pas encore" in shown
    client.force_login(s["other_teacher"])  # teaches French in 5A: follows Léa
    assert client.get(page).status_code == 200
    TeachingAssignment.objects.filter(teacher=s["other_teacher"], class_group=s["class"]).delete()
    assert client.get(page).status_code == 403


def test_period_pages_cost_at_most_ten_queries(client, marks, django_assert_max_num_queries):
    s = marks
    for n in range(12):  # more pupils, each with a mark: the cost does not grow with them
        pupil = User.objects.create_user(f"eleve{n}", first_name="P", last_name=f"ELEVE{n}")
        Membership.objects.create(user=pupil, establishment=s["est"], profile="ELV")
        ClassMembership.objects.create(class_group=s["class"], user=pupil)
        Grade.objects.create(assessment=s["assessment"], student=pupil, value=n)
    kwargs = {"class_id": s["class"].pk, "period_id": s["period"].pk}
    pages = [
        ("teacher", url(s, "period_subject", subject_id=s["subject"].pk, **kwargs)),
        ("admin", url(s, "period_subject", subject_id=s["subject"].pk, **kwargs)),
        ("admin", url(s, "class_council", **kwargs)),
        ("admin", url(s, "period_settings")),
        ("parent", url(s, "period_summary", period_id=s["period"].pk)),
        ("student", url(s, "period_summary", period_id=s["period"].pk)),
    ]
    for who, page in pages:
        client.force_login(s[who])
        with django_assert_max_num_queries(10):
            assert client.get(page).status_code == 200, page


def test_the_grades_pages_list_the_periods_without_a_query_of_their_own(client, marks, settings):
    """The periods the grades pages link to are the same for every member of the
    establishment: kept PREAU_USER_CACHE_SECONDS per worker (like the timetable grid's hours),
    the pupil's and the parent's grades page no longer read them each time; another
    establishment's periods are its own."""
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.school import make_school

    s = marks
    settings.PREAU_USER_CACHE_SECONDS = 30
    cache.clear()
    client.force_login(s["student"])
    assert client.get(url(s, "grades")).status_code == 200
    for who in ("student", "parent", "teacher"):
        client.force_login(s[who])
        with CaptureQueriesContext(connection) as ctx:
            shown = client.get(url(s, "grades")).content.decode()
        assert not [q for q in ctx.captured_queries if '"grades_period"' in q["sql"]], who
        assert s["period"].name in shown, who
    b = make_school("B", "0820010R")
    Period.objects.filter(establishment=b["est"]).update(name="Période-de-B")
    client.force_login(b["student"])
    shown_b = client.get(url(b, "grades")).content.decode()
    assert "Période-de-B" in shown_b and s["period"].name not in shown_b
