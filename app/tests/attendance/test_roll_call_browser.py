"""Browser journeys of the roll call (issue #17, item 1), in Debian's Chromium at desktop and phone
widths, axe-core on every page: a teacher calls the roll then corrects it, the vie scolaire reads
the history, the parent reads the one notification of what was saved; two staff members save
the same roll call from two browsers, neither loses anything."""

import datetime as dt
import zoneinfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from preau.attendance.models import Absence, Incident
from preau.ent import notify as notify_module
from preau.ent.models import Notification
from tests.helpers import WIDTHS, fits, new_page, sign_in
from tests.school import make_school

pytestmark = pytest.mark.browser

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
MONDAY_10 = dt.datetime(2026, 3, 9, 10, 5, tzinfo=PARIS)


@pytest.fixture
def school(transactional_db, monkeypatch):
    monkeypatch.setattr(notify_module, "_now", lambda: MONDAY_10)
    s = make_school()
    Absence.objects.all().delete()
    Notification.objects.all().delete()
    return s


def roll_call_url(s):
    return f"/e/{s['est'].uai}/vie-scolaire/appel/{s['class'].pk}/?date=2026-03-09&start=10:00"


@pytest.mark.parametrize("device", WIDTHS)
def test_roll_call_correction_history_and_parent(browser, live_server, school, check_a11y, device):
    s, student = school, school["student"]
    page = new_page(browser, live_server, WIDTHS[device])
    sign_in(page, live_server, s["teacher"])
    page.goto(roll_call_url(s))
    page.locator(f"input[name=etat_{student.pk}][value=absent]").check()
    check_a11y(page, f"50-appel-{device}")
    page.get_by_role("button", name="Enregistrer l'appel").click()
    expect(page.get_by_text("Appel enregistré : 1 modification(s).")).to_be_visible()
    # The form shows what is recorded: the correction starts from it.
    assert page.locator(f"input[name=etat_{student.pk}][value=absent]").is_checked()
    page.locator(f"input[name=etat_{student.pk}][value=late]").check()
    page.get_by_label(f"Minutes de retard de {student.first_name} {student.last_name}").fill("10")
    page.get_by_role("button", name="Enregistrer l'appel").click()
    assert page.locator(f"input[name=etat_{student.pk}][value=late]").is_checked()
    assert fits(page)
    check_a11y(page, f"51-appel-corrige-{device}")

    sign_in(page, live_server, s["evs"])  # the same browser, another user
    page.goto(roll_call_url(s))
    history = page.get_by_role("table", name="Historique de cet appel")
    assert history.get_by_role("row").filter(has_text="Absent").filter(has_text="Retard (10 min)")
    assert history.get_by_role("row").count() == 3  # header, two changes
    check_a11y(page, f"52-appel-historique-{device}")

    assert notify_module.deliver_due(MONDAY_10 + dt.timedelta(minutes=11)) == 2
    sign_in(page, live_server, s["parent"])  # the same browser, another user
    page.goto(f"/e/{s['est'].uai}/notifications/")
    assert page.get_by_text(f"{student.first_name} : un retard de 10 min").count() == 1
    assert page.get_by_text("une absence le 09/03").count() == 0
    check_a11y(page, f"53-parent-notification-{device}")
    page.goto(f"/e/{s['est'].uai}/vie-scolaire/")
    assert page.get_by_role("table", name="Absences et retards").get_by_text("Retard (10 min)")
    assert fits(page)
    check_a11y(page, f"54-parent-vie-scolaire-{device}")
    page.context.close()


def test_two_browsers_save_the_same_roll_call(browser, live_server, school, check_a11y):
    s = school
    teacher = new_page(browser, live_server, 1280)
    evs = new_page(browser, live_server, 360)
    sign_in(teacher, live_server, s["teacher"])
    sign_in(evs, live_server, s["evs"])
    for page in (teacher, evs):
        page.goto(roll_call_url(s))
    teacher.locator(f"input[name=etat_{s['student'].pk}][value=absent]").check()
    evs.locator(f"input[name=etat_{s['other_student'].pk}][value=absent]").check()
    teacher.get_by_role("button", name="Enregistrer l'appel").click()
    evs.get_by_role("button", name="Enregistrer l'appel").click()
    # The second sees the first's entry, and nothing was lost.
    assert evs.locator(f"input[name=etat_{s['student'].pk}][value=absent]").is_checked()
    assert evs.locator(f"input[name=etat_{s['other_student'].pk}][value=absent]").is_checked()
    check_a11y(evs, "55-appel-simultane-telephone")
    assert set(Absence.objects.values_list("student_id", flat=True)) == {
        s["student"].pk,
        s["other_student"].pk,
    }
    for page in (teacher, evs):
        page.context.close()


@pytest.mark.parametrize("device", WIDTHS)
def test_justification_refused_with_a_reason(browser, live_server, school, check_a11y, device):
    s, student = school, school["student"]
    Absence.objects.create(
        establishment=s["est"],
        student=student,
        class_group=s["class"],
        date=dt.date(2026, 3, 9),
        start=dt.time(8, 0),
    )
    page = new_page(browser, live_server, WIDTHS[device])
    sign_in(page, live_server, s["parent"])
    page.goto(f"/e/{s['est'].uai}/vie-scolaire/")
    page.get_by_role("link", name="Justifier l'absence du 9 mars").click()
    page.get_by_label("Motif de l'absence").fill("Panne de réveil")
    page.get_by_role("button", name="Envoyer le justificatif").click()

    sign_in(page, live_server, s["evs"])  # the same browser, another user
    page.goto(f"/e/{s['est'].uai}/vie-scolaire/")
    who = f"{student.first_name} {student.last_name}"
    refuse = page.get_by_role("button", name=f"Refuser le justificatif de {who}")
    assert fits(page)
    refuse.click()  # a click: the button is on the screen, not under the table
    expect(page.get_by_text("indiquez le motif du refus")).to_be_visible()
    page.get_by_label(f"Motif en cas de refus du justificatif de {who}").fill("Motif non recevable")
    check_a11y(page, f"56-vie-scolaire-refus-{device}")
    assert fits(page)
    refuse.click()
    expect(page.get_by_text("justification refusée")).to_be_visible()

    sign_in(page, live_server, s["parent"])  # the same browser, another user
    page.goto(f"/e/{s['est'].uai}/vie-scolaire/")
    expect(page.get_by_text("Motif du refus : Motif non recevable")).to_be_visible()
    expect(page.get_by_text("Demi-journées d'absence").first).to_be_visible()
    assert fits(page)
    check_a11y(page, f"57-parent-refus-{device}")
    page.context.close()


def test_every_attendance_page_fits_a_phone(browser, live_server, school, check_a11y):
    """Each vie scolaire page, for each profile that reads it, at 360 px: no sideways scrolling
    of the page, axe clean."""
    s, uai = school, school["est"].uai
    absence = Absence.objects.create(
        establishment=s["est"],
        student=s["student"],
        class_group=s["class"],
        date=dt.date(2026, 3, 9),
        start=dt.time(8, 0),
        reason="Rendez-vous chez l'orthodontiste de la famille",
        status="submitted",
    )
    pages = {
        "teacher": ["/vie-scolaire/", f"/vie-scolaire/appel/{s['class'].pk}/"],
        "evs": [
            "/vie-scolaire/",
            f"/vie-scolaire/appel/{s['class'].pk}/",
            f"/vie-scolaire/eleves/{s['student'].pk}/",
        ],
        "parent": ["/vie-scolaire/", f"/vie-scolaire/absences/{absence.pk}/justifier/"],
        "student": ["/vie-scolaire/"],
    }
    for who, paths in pages.items():
        page = new_page(browser, live_server, 360)
        sign_in(page, live_server, s[who])
        for n, path in enumerate(paths):
            page.goto(f"/e/{uai}{path}")
            assert fits(page), (who, path, page.evaluate("document.documentElement.scrollWidth"))
            check_a11y(page, f"58-vie-scolaire-{who}-{n}-telephone")
        page.context.close()


@pytest.mark.parametrize("device", WIDTHS)
def test_exclusion_and_infirmary_visit(browser, live_server, school, check_a11y, device):
    """A teacher excludes a pupil from the lesson of the roll call; the vie scolaire sees it in
    the lesson's history and records an infirmary visit today, listed on the day's page; the
    parent reads the notification and the pupil's record."""
    s, pupil = school, school["other_student"]
    name = f"{pupil.last_name} {pupil.first_name}"
    Incident.objects.all().delete()
    page = new_page(browser, live_server, WIDTHS[device])
    sign_in(page, live_server, s["teacher"])
    page.goto(roll_call_url(s))
    page.get_by_role("link", name="Signaler une exclusion de cours").click()
    page.get_by_label("Élève").select_option(label=name)
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_text("Indiquez le motif de l'exclusion").first).to_be_visible()
    check_a11y(page, f"59-exclusion-erreur-{device}")
    assert fits(page)
    page.get_by_label("Motif").fill("Insolence envers un camarade")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_text("la famille en est informée")).to_be_visible()

    sign_in(page, live_server, s["evs"])  # the same browser, another user
    page.goto(roll_call_url(s))
    history = page.get_by_role("table", name="Historique de cet appel")
    assert history.get_by_role("row").filter(has_text="Exclu du cours").count() == 1
    today = timezone.localdate().isoformat()
    page.goto(
        f"/e/{s['est'].uai}/vie-scolaire/appel/{s['class'].pk}/exclusion-ou-infirmerie/"
        f"?date={today}&start=11:00"
    )
    page.get_by_label("Élève").select_option(label=name)
    page.get_by_label("Type").select_option(label="Passage à l'infirmerie")
    check_a11y(page, f"60-infirmerie-{device}")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_text(f"Passage à l'infirmerie de {pupil.first_name}")).to_be_visible()
    page.goto(f"/e/{s['est'].uai}/vie-scolaire/")
    day = page.get_by_role("table", name="Exclusions de cours et passages à l'infirmerie du jour")
    assert day.get_by_role("row").filter(has_text="Passage à l'infirmerie").count() == 1
    assert fits(page)
    check_a11y(page, f"61-vie-scolaire-incidents-{device}")

    assert notify_module.deliver_due(MONDAY_10 + dt.timedelta(minutes=11)) == 2
    sign_in(page, live_server, s["other_parent"])  # the same browser, another user
    page.goto(f"/e/{s['est'].uai}/notifications/")
    expect(
        page.get_by_text(f"{pupil.first_name} : exclusion du cours du 09/03 à 10:00")
    ).to_be_visible()
    page.goto(f"/e/{s['est'].uai}/vie-scolaire/eleves/{pupil.pk}/")
    rows = page.get_by_role("table", name="Exclusions de cours et passages à l'infirmerie de")
    assert rows.get_by_role("row").filter(has_text="Insolence envers un camarade").count() == 1
    assert rows.get_by_role("row").filter(has_text="Passage à l'infirmerie").count() == 1
    assert fits(page)
    check_a11y(page, f"62-parent-exclusion-{device}")

    sign_in(page, live_server, s["evs"])  # the same browser, another user
    page.goto(f"/e/{s['est'].uai}/vie-scolaire/eleves/{pupil.pk}/")
    assert fits(page)
    page.get_by_role("link", name="Supprimer passage à l'infirmerie").click()
    expect(page.get_by_text("La vie scolaire garde la trace de cette suppression.")).to_be_visible()
    check_a11y(page, f"63-supprimer-passage-infirmerie-{device}")
    page.get_by_role("button", name="Supprimer la saisie").click()
    expect(page.get_by_text("Saisie supprimée : passage à l'infirmerie")).to_be_visible()
    assert list(Incident.objects.values_list("kind", flat=True)) == ["exclusion"]
    page.context.close()
