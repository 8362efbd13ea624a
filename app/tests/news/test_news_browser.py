"""Browser journey of news authoring (issue #17 item 3), in Debian's Chromium at desktop and
phone widths, axe-core on every page: the vie scolaire edits its news item, then deletes it
after a confirmation page."""

import pytest
from playwright.sync_api import expect

from preau.core.models import Membership, User
from preau.news.models import NewsItem
from tests.helpers import WIDTHS, fits, new_page, sign_in
from tests.school import make_school

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("device", WIDTHS)
def test_author_edits_then_deletes_a_news_item(
    browser, live_server, transactional_db, check_a11y, device
):
    s = make_school()
    item = NewsItem.objects.create(
        establishment=s["est"], title="Cross", body="Au stade", author=s["evs"]
    )
    page = new_page(browser, live_server, WIDTHS[device])
    sign_in(page, live_server, s["evs"])
    page.goto(f"/e/{s['est'].uai}/actualites/")
    # The direction's news item is not the vie scolaire's to change.
    assert page.get_by_role("link", name=f"Modifier l'actualité « {s['news'].title} »").count() == 0
    page.get_by_role("link", name="Modifier l'actualité « Cross »").click()
    page.wait_for_url("**/modifier/")
    page.get_by_label("Titre").fill("")
    page.get_by_role("button", name="Enregistrer les modifications").click()
    expect(page.get_by_text("Ce champ est obligatoire.")).to_be_visible()
    page.get_by_label("Titre").fill("Cross du collège")
    check_a11y(page, f"64-vie-scolaire-modifier-actualite-{device}")
    page.get_by_role("button", name="Enregistrer les modifications").click()
    expect(page.get_by_text("Actualité modifiée.")).to_be_visible()
    assert fits(page)
    check_a11y(page, f"65-vie-scolaire-actualite-modifiee-{device}")
    page.get_by_role("link", name="Supprimer l'actualité « Cross du collège »").click()
    page.wait_for_url("**/supprimer/")
    assert fits(page)
    check_a11y(page, f"66-vie-scolaire-supprimer-actualite-{device}")
    page.get_by_role("button", name="Supprimer l'actualité").click()
    expect(page.get_by_text("Actualité supprimée.")).to_be_visible()
    assert not NewsItem.objects.filter(pk=item.pk).exists()
    page.context.close()


@pytest.mark.parametrize("device", WIDTHS)
def test_direction_edits_and_deletes_the_vie_scolaire_s_news(
    browser, live_server, transactional_db, check_a11y, device
):
    """A supervisor (the direction, here a principal's deputy without local administration)
    edits and deletes a news item someone else wrote."""
    s = make_school()
    deputy = User.objects.create_user("adjointa", None, first_name="Claire", last_name="ADJOINTE")
    Membership.objects.create(user=deputy, establishment=s["est"], profile="DIR")
    item = NewsItem.objects.create(
        establishment=s["est"], title="Cross", body="Au stade", author=s["evs"]
    )
    page = new_page(browser, live_server, WIDTHS[device])
    sign_in(page, live_server, deputy)
    page.goto(f"/e/{s['est'].uai}/actualites/")
    page.get_by_role("link", name="Modifier l'actualité « Cross »").click()
    page.get_by_label("Titre").fill("Cross annulé")
    page.get_by_role("button", name="Enregistrer les modifications").click()
    expect(page.get_by_text("Actualité modifiée.")).to_be_visible()
    assert fits(page)
    check_a11y(page, f"71-direction-actualite-modifiee-{device}")
    page.get_by_role("link", name="Supprimer l'actualité « Cross annulé »").click()
    page.get_by_role("button", name="Supprimer l'actualité").click()
    expect(page.get_by_text("Actualité supprimée.")).to_be_visible()
    assert not NewsItem.objects.filter(pk=item.pk).exists()
    page.context.close()
