"""Browser journey of documents authoring (issue #17 item 3), in Debian's Chromium at desktop and
phone widths, axe-core on every page: the author edits a document, then deletes it after a
confirmation page."""

import pytest
from playwright.sync_api import expect

from preau.documents.models import Document
from tests.helpers import WIDTHS, fits, new_page, sign_in
from tests.school import make_school

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("device", WIDTHS)
def test_author_edits_then_deletes_a_document(
    browser, live_server, transactional_db, check_a11y, device
):
    s = make_school()
    page = new_page(browser, live_server, WIDTHS[device])
    sign_in(page, live_server, s["teacher"])
    page.goto(f"/e/{s['est'].uai}/documents/")
    page.get_by_role("link", name="Modifier le document « Fiche de cours »").click()
    page.wait_for_url("**/modifier/")
    page.get_by_label("Titre").fill("Fiche de cours corrigée")
    check_a11y(page, f"70-prof-modifier-document-{device}")
    page.get_by_role("button", name="Enregistrer les modifications").click()
    expect(page.get_by_text("Document modifié.")).to_be_visible()
    assert fits(page)
    page.get_by_role("link", name="Supprimer le document « Fiche de cours corrigée »").click()
    page.wait_for_url("**/supprimer/")
    expect(page.get_by_text("Les élèves ne pourront plus le télécharger.")).to_be_visible()
    assert fits(page)
    check_a11y(page, f"71-prof-supprimer-document-{device}")
    page.get_by_role("button", name="Supprimer le document").click()
    expect(page.get_by_text("Document supprimé.")).to_be_visible()
    assert not Document.objects.filter(pk=s["document"].pk).exists()
    page.context.close()
