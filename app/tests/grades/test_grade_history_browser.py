"""Browser journey of the grade history (issue #17 item 3), in Debian's Chromium at desktop and
phone widths, axe-core on every page: the teacher corrects a grade, the history shows it; the
teacher edits an assessment (a scale below a grade refused), then deletes it; the teacher types
Pronote's non-marks ("abs", "DISP", "nrdu") and the parent reads them in the period's summary
(issue #18 item 4); the teacher sets a level of the class's socle commun (item 5); once the
period is published the parent reads it and downloads the child's bulletin (item 6)."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from preau.core.models import ClassMembership, Membership, User
from preau.grades.models import Assessment, Period
from tests.helpers import WIDTHS, fits, new_page, sign_in
from tests.school import make_school

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("device", WIDTHS)
def test_teacher_corrects_a_grade_and_reads_the_history(
    browser, live_server, transactional_db, check_a11y, device
):
    s = make_school()
    student = s["student"]
    page = new_page(browser, live_server, WIDTHS[device])
    sign_in(page, live_server, s["teacher"])
    page.goto(f"/e/{s['est'].uai}/notes/evaluations/{s['assessment'].pk}/")
    page.get_by_label(f"{student.last_name} {student.first_name}").fill("17")
    page.get_by_role("button", name="Enregistrer les notes").click()
    expect(page.get_by_text("Notes enregistrées.")).to_be_visible()
    history = page.get_by_role("table", name="Historique des notes de cette évaluation")
    row = history.get_by_role("row").filter(has_text=student.last_name)
    expect(row.get_by_text("15", exact=True)).to_be_visible()
    expect(row.get_by_text("17", exact=True)).to_be_visible()
    assert fits(page)
    check_a11y(page, f"67-prof-historique-notes-{device}")

    # Non-marks, typed in any case, shown back as Pronote writes them.
    third = User.objects.create_user("troisieme", first_name="Zoé", last_name="VIDAL")
    Membership.objects.create(user=third, establishment=s["est"], profile="ELV")
    ClassMembership.objects.create(class_group=s["class"], user=third)
    page.reload()
    other = s["other_student"]
    for pupil, typed in ((student, "abs"), (other, "DISP"), (third, "nrdu")):
        page.get_by_label(f"{pupil.last_name} {pupil.first_name}").fill(typed)
    page.get_by_role("button", name="Enregistrer les notes").click()
    expect(page.get_by_text("Notes enregistrées.")).to_be_visible()
    for pupil, shown in ((student, "Abs"), (other, "Disp"), (third, "NRdu")):
        expect(page.get_by_label(f"{pupil.last_name} {pupil.first_name}")).to_have_value(shown)

    # The class's socle commun for the period (item 5): a grid that scrolls inside its box.
    page.goto(f"/e/{s['est'].uai}/notes/classes/{s['class'].pk}/")
    page.get_by_role("link", name=f"Socle commun – {s['period'].name}").click()
    cell = page.get_by_label(f"(D4) – {student.first_name} {student.last_name}")
    cell.select_option("4")
    page.get_by_role("button", name="Enregistrer le socle commun").click()
    expect(page.get_by_text("Positionnements du socle commun enregistrés.")).to_be_visible()
    expect(cell).to_have_value("4")
    assert fits(page)
    check_a11y(page, f"68-prof-socle-commun-{device}")

    # The parent's summary of the period: Abs, no average ("—", not 0).
    sign_in(page, live_server, s["parent"])
    page.goto(f"/e/{s['est'].uai}/notes/")
    page.get_by_role("link", name=f"Relevé du {s['period'].name}").click()
    summary = page.get_by_role("table", name="Moyennes par matière")
    maths = summary.get_by_role("row").filter(has_text="Mathématiques")
    expect(maths.get_by_role("cell").first).to_have_text("Abs")
    expect(maths.get_by_role("cell").nth(1)).to_have_text("—")
    assert fits(page)
    check_a11y(page, f"82-parent-releve-periode-{device}")

    # Once the period is published, the child's bulletin (made by the class's batch).
    expect(page.get_by_role("link", name="Bulletin (PDF)")).to_have_count(0)
    Period.objects.filter(pk=s["period"].pk).update(published_at=timezone.now())
    page.reload()
    socle = page.get_by_role("table", name="Socle commun")
    expect(socle.get_by_role("row").filter(has_text="(D4)")).to_contain_text("Très bonne maîtrise")
    bulletin = page.get_by_role("link", name="Bulletin (PDF)")
    download = page.request.get(bulletin.get_attribute("href"))
    assert download.ok and download.headers["content-type"] == "application/pdf"
    assert fits(page)
    check_a11y(page, f"83-parent-releve-bulletin-{device}")
    page.context.close()


@pytest.mark.parametrize("device", WIDTHS)
def test_teacher_edits_then_deletes_an_assessment(
    browser, live_server, transactional_db, check_a11y, device
):
    s = make_school()
    page = new_page(browser, live_server, WIDTHS[device])
    sign_in(page, live_server, s["teacher"])
    page.goto(f"/e/{s['est'].uai}/notes/evaluations/{s['assessment'].pk}/")
    page.get_by_role("link", name="Modifier l'évaluation").click()
    page.wait_for_url("**/modifier/")
    page.get_by_label("Noté sur").fill("10")
    page.get_by_role("button", name="Enregistrer les modifications").click()
    expect(page.get_by_text("Une note saisie (15) dépasse ce barème.")).to_be_visible()
    check_a11y(page, f"72-prof-modifier-evaluation-erreur-{device}")
    page.get_by_label("Noté sur").fill("20")
    page.get_by_label("Intitulé").fill("Fractions (bilan)")
    page.get_by_role("button", name="Enregistrer les modifications").click()
    expect(page.get_by_role("heading", name="Fractions (bilan) – 5A")).to_be_visible()
    page.get_by_role("link", name="Supprimer l'évaluation").click()
    page.wait_for_url("**/supprimer/")
    assert fits(page)
    check_a11y(page, f"73-prof-supprimer-evaluation-{device}")
    page.get_by_role("button", name="Supprimer l'évaluation").click()
    expect(page.get_by_text("Évaluation supprimée avec ses notes.")).to_be_visible()
    assert not Assessment.objects.filter(pk=s["assessment"].pk).exists()
    page.context.close()
