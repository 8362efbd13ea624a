"""Browser journey of spaces' posts (issue #17 item 3), in Debian's Chromium at desktop and
phone widths, axe-core on every page: a pupil edits then deletes their reply after a
confirmation page; the class's teacher deletes another pupil's reply."""

import pytest
from playwright.sync_api import expect

from preau.spaces.models import SpacePost
from tests.helpers import WIDTHS, fits, new_page, sign_in
from tests.school import make_school

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("device", WIDTHS)
def test_author_edits_and_deletes_a_reply_the_teacher_deletes_another(
    browser, live_server, transactional_db, check_a11y, device
):
    s = make_school()
    thread = f"/e/{s['est'].uai}/espaces/discussions/{s['post'].pk}/"
    common = {"establishment": s["est"], "class_group": s["class"], "thread": s["post"]}
    SpacePost.objects.create(author=s["other_student"], body="Hors sujet", **common)
    page = new_page(browser, live_server, WIDTHS[device])
    sign_in(page, live_server, s["student"])
    page.goto(thread)
    page.get_by_label("Votre réponse").fill("Je propose le théâtre")
    page.get_by_role("button", name="Répondre").click()
    assert page.get_by_role("link", name="Supprimer").count() == 1  # only their own
    page.get_by_role("link", name="Modifier").click()
    page.wait_for_url("**/modifier/")
    page.get_by_label("Message").fill("")
    page.get_by_role("button", name="Enregistrer les modifications").click()
    expect(page.get_by_text("Ce champ est obligatoire.")).to_be_visible()
    check_a11y(page, f"67-eleve-modifier-message-{device}")
    page.get_by_label("Message").fill("Je propose la danse")
    page.get_by_role("button", name="Enregistrer les modifications").click()
    expect(page.get_by_text("Message modifié.")).to_be_visible()
    expect(page.get_by_text("Je propose la danse")).to_be_visible()
    assert fits(page)
    check_a11y(page, f"68-eleve-message-modifie-{device}")
    page.get_by_role("link", name="Supprimer").click()
    page.wait_for_url("**/supprimer/")
    expect(page.get_by_text("dans la discussion « Projet » ?")).to_be_visible()
    assert fits(page)
    check_a11y(page, f"69-eleve-supprimer-message-{device}")
    page.get_by_role("button", name="Supprimer le message").click()
    expect(page.get_by_text("Message supprimé.")).to_be_visible()
    assert page.get_by_text("Je propose la danse").count() == 0

    sign_in(page, live_server, s["teacher"])  # the same browser, another user
    page.goto(thread)
    who = s["other_student"].get_full_name()
    page.get_by_role("link", name=f"Supprimer le message de {who}").click()
    check_a11y(page, f"70-professeur-supprimer-message-{device}")
    page.get_by_role("button", name="Supprimer le message").click()
    expect(page.get_by_text("Message supprimé.")).to_be_visible()
    assert fits(page)
    assert list(SpacePost.objects.filter(thread=s["post"])) == []
    page.context.close()
