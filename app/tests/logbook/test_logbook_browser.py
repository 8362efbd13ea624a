"""Browser journey of the cahier de textes' authoring (issue #17 item 3), in Debian's Chromium at
desktop and phone widths, axe-core on every page: the teacher edits a session, copies it to
another group, then deletes it after a confirmation page."""

import pytest
from playwright.sync_api import expect

from preau.logbook.models import LogbookEntry
from tests.helpers import WIDTHS, fits, new_page, sign_in
from tests.school import make_school

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("device", WIDTHS)
def test_teacher_edits_then_deletes_a_session(
    browser, live_server, transactional_db, check_a11y, device
):
    s = make_school()
    page = new_page(browser, live_server, WIDTHS[device])
    sign_in(page, live_server, s["teacher"])
    page.goto(f"/e/{s['est'].uai}/cahier-de-textes/")
    page.get_by_role("link", name="Modifier la séance « Les fractions »").click()
    page.wait_for_url("**/modifier/")
    assert page.get_by_label("Titre de la séance").input_value() == "Les fractions"
    page.get_by_label("Titre de la séance").fill("Les fractions, suite")
    page.get_by_label("Travail à faire").fill("")
    check_a11y(page, f"60-prof-modifier-seance-{device}")
    page.get_by_role("button", name="Enregistrer les modifications").click()
    # Homework handed in is not removed: a French error, nothing changed.
    expect(page.get_by_text("Des élèves ont rendu ce travail")).to_be_visible()
    assert LogbookEntry.objects.get(pk=s["entry"].pk).title == "Les fractions"
    page.get_by_label("Travail à faire").fill("Exercices 1 à 6 page 32")
    page.get_by_role("button", name="Enregistrer les modifications").click()
    expect(page.get_by_text("Séance modifiée.")).to_be_visible()
    expect(page.get_by_text("Les fractions, suite", exact=True)).to_be_visible()
    assert fits(page)
    check_a11y(page, f"61-prof-seance-modifiee-{device}")

    page.get_by_role(
        "link", name="Copier vers une autre classe la séance « Les fractions, suite »"
    ).click()
    assert page.get_by_label("Titre de la séance").input_value() == "Les fractions, suite"
    page.get_by_label("Classe et matière").select_option(f"{s['group'].pk}:{s['subject'].pk}")
    check_a11y(page, f"62-prof-copier-seance-{device}")
    page.get_by_role("button", name="Enregistrer la séance").click()
    assert LogbookEntry.objects.filter(
        class_group=s["group"], title="Les fractions, suite"
    ).exists()

    # Two sessions of that title now: the original (5A, with the hand-in) is deleted.
    page.locator(f"a[href$='/seances/{s['entry'].pk}/supprimer/']").click()
    page.wait_for_url("**/supprimer/")
    expect(page.get_by_text("ainsi que le travail rendu par un élève")).to_be_visible()
    assert fits(page)
    check_a11y(page, f"63-prof-supprimer-seance-{device}")
    page.get_by_role("button", name="Supprimer la séance").click()
    expect(page.get_by_text("Séance supprimée du cahier de textes.")).to_be_visible()
    assert not LogbookEntry.objects.filter(pk=s["entry"].pk).exists()
    page.context.close()
