"""Browser journey of the grade history (issue #17 item 3), in Debian's Chromium at desktop and
phone widths, axe-core on every page: the teacher corrects a grade, the history shows it."""

import pytest

from tests.conftest import login
from tests.helpers import WIDTHS, fits, new_page
from tests.school import make_school

pytestmark = pytest.mark.browser

PASSWORD = "mot-de-passe-de-test-2026"


@pytest.mark.parametrize("device", WIDTHS)
def test_teacher_corrects_a_grade_and_reads_the_history(
    browser, live_server, transactional_db, check_a11y, device
):
    s = make_school(password=PASSWORD)
    student = s["student"]
    page = new_page(browser, live_server, WIDTHS[device])
    login(page, s["teacher"].username, PASSWORD)
    page.goto(f"/e/{s['est'].uai}/notes/evaluations/{s['assessment'].pk}/")
    page.get_by_label(f"{student.last_name} {student.first_name}").fill("17")
    page.get_by_role("button", name="Enregistrer les notes").click()
    assert page.get_by_text("Notes enregistrées.").is_visible()
    history = page.get_by_role("table", name="Historique des notes de cette évaluation")
    row = history.get_by_role("row").filter(has_text=student.last_name)
    assert row.get_by_text("15", exact=True).is_visible()
    assert row.get_by_text("17", exact=True).is_visible()
    assert fits(page)
    check_a11y(page, f"67-prof-historique-notes-{device}")
    page.context.close()
