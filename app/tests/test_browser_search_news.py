"""Browser journey of issue #19 items 4 and 5, in Debian's Chromium at desktop and phone widths,
axe-core on every page: the vie scolaire publishes a news item for one class, finds the
principal by typing her name without accents, and meets a 404 page with its way back."""

import pytest
from playwright.sync_api import expect

from preau.news.models import NewsItem
from tests.helpers import WIDTHS, fits, new_page, sign_in
from tests.school import make_school

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("device", WIDTHS)
def test_news_for_a_class_search_without_accents_and_a_way_back(
    browser, live_server, transactional_db, check_a11y, device
):
    s = make_school()
    uai = s["est"].uai
    page = new_page(browser, live_server, WIDTHS[device])
    sign_in(page, live_server, s["evs"])
    page.goto(f"/e/{uai}/actualites/")
    page.get_by_label("Titre").fill("Sortie des 5A")
    page.get_by_label("Texte").fill("Départ à 8 h devant le collège.")
    page.get_by_role("group", name="Classes").get_by_label("5A").check()
    page.get_by_role("button", name="Publier").click()
    expect(page.get_by_text("Actualité publiée.")).to_be_visible()
    expect(page.get_by_text("Pour : 5A")).to_be_visible()
    assert NewsItem.objects.get(title="Sortie des 5A").class_ids == [s["class"].pk]
    assert fits(page)
    check_a11y(page, f"80-actualite-pour-une-classe-{device}")

    page.goto(f"/e/{uai}/messagerie/nouveau/")
    page.get_by_role("textbox", name="Chercher un destinataire").fill("HELENE")
    page.get_by_role("button", name="Chercher").click()
    page.get_by_label("CASTEX Hélène (Direction)").check()
    assert page.get_by_role("group", name="Destinataires").get_by_role("checkbox").count() == 1
    assert fits(page)
    check_a11y(page, f"81-recherche-destinataire-sans-accent-{device}")

    page.goto(f"/e/{uai}/nulle-part/")
    expect(page.get_by_role("heading", name="Page introuvable")).to_be_visible()
    page.get_by_role("link", name="Accueil de l'établissement").click()
    page.wait_for_url(f"**/e/{uai}/")
    assert fits(page)
    page.context.close()
