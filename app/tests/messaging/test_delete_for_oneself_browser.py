"""Browser journey of a conversation deleted for oneself (issue #17 item 3), in Debian's Chromium
at desktop and phone widths, axe-core on every page."""

import pytest
from playwright.sync_api import expect

from tests.helpers import WIDTHS, fits, new_page, sign_in
from tests.school import make_school

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("device", WIDTHS)
def test_pupil_deletes_a_conversation_for_themselves(
    browser, live_server, transactional_db, check_a11y, device
):
    s = make_school()
    subject = s["conversation"].subject
    page = new_page(browser, live_server, WIDTHS[device])
    sign_in(page, live_server, s["student"])
    page.goto(f"/e/{s['est'].uai}/messagerie/{s['conversation'].pk}/")
    page.get_by_role("link", name="Supprimer cette conversation de ma messagerie").click()
    page.wait_for_url("**/supprimer/")
    expect(page.get_by_text("Les autres participants la gardent")).to_be_visible()
    assert fits(page)
    check_a11y(page, f"68-eleve-supprimer-conversation-{device}")
    page.get_by_role("button", name="Supprimer pour moi").click()
    expect(page.get_by_text("Conversation supprimée de votre messagerie.")).to_be_visible()
    assert page.get_by_role("link", name=subject).count() == 0
    assert fits(page)
    check_a11y(page, f"69-eleve-messagerie-apres-suppression-{device}")
    page.context.close()
