"""Browser journeys of the directory (Playwright + Debian's Chromium) with axe-core on each page
(fixtures in conftest.py)."""
import re

import pytest

from preau.core.models import ClassGroup, ClassMembership, Membership, Platform, User
from tests.conftest import login
from tests.helpers import make_establishment

pytestmark = pytest.mark.browser

ADMIN_PASSWORD = "mot-de-passe-admin-local"
HOME = re.compile(r"^http://[^/]+/$")


@pytest.fixture
def directory_data(transactional_db):
    est = make_establishment()
    admin = User.objects.create_user("anne.delpech", ADMIN_PASSWORD, first_name="Anne", last_name="DELPECH")
    Membership.objects.create(user=admin, establishment=est, profile="DIR", is_local_admin=True)
    klass = ClassGroup.objects.create(establishment=est, name="5A", school_year=Platform.current_school_year())
    for username, first, last in (("lea.martin", "Léa", "MARTIN"), ("hugo.martinez", "Hugo", "MARTINEZ"),
                               ("ines.bousquet", "Inès", "BOUSQUET")):
        user = User.objects.create_user(username, None, first_name=first, last_name=last)
        Membership.objects.create(user=user, establishment=est, profile="ELV")
        ClassMembership.objects.create(class_group=klass, user=user)
    return est


def test_admin_finds_user_and_resets_code_then_firstlogin(page, directory_data, check_a11y):
    est = directory_data
    page.goto("/connexion/")
    check_a11y(page, "01-connexion")
    login(page, "anne.delpech", ADMIN_PASSWORD)
    page.wait_for_url(HOME)
    check_a11y(page, "02-accueil")
    page.get_by_role("link", name=est.name).click()
    page.get_by_role("link", name="Gérer l'annuaire").click()
    page.get_by_label("Nom, prénom ou identifiant").fill("bousq")
    page.get_by_role("button", name="Rechercher").click()
    check_a11y(page, "03-annuaire-recherche")
    assert page.get_by_role("link", name="BOUSQUET Inès").is_visible()
    assert page.get_by_role("link", name="MARTIN Léa").count() == 0
    page.get_by_role("link", name="BOUSQUET Inès").click()
    page.get_by_role("button", name="Générer un nouveau code d'activation").click()
    code = page.get_by_test_id("activation-code").inner_text().strip()
    assert len(code) == 10
    check_a11y(page, "04-nouveau-code")
    page.get_by_role("button", name="Se déconnecter").click()

    # First login of the student with the code.
    page.get_by_role("link", name="Activer mon compte avec mon code").click()
    check_a11y(page, "05-activation")
    page.get_by_label("Identifiant").fill("ines.bousquet")
    page.get_by_label("Code d'activation").fill(code)
    page.get_by_label("Nouveau mot de passe").fill("trop-court")
    page.get_by_label("Confirmez le mot de passe").fill("trop-court")
    page.get_by_role("button", name="Activer mon compte").click()
    assert page.get_by_text("trop court", exact=False).is_visible()
    check_a11y(page, "06-activation-erreur")
    page.get_by_label("Code d'activation").fill(code)
    page.get_by_label("Nouveau mot de passe").fill("ma-cour-de-recre-2026")
    page.get_by_label("Confirmez le mot de passe").fill("ma-cour-de-recre-2026")
    page.get_by_role("button", name="Activer mon compte").click()
    page.wait_for_url(HOME)
    assert page.get_by_text("Votre compte est activé").is_visible()
    assert page.get_by_role("link", name=est.name).is_visible()
    page.get_by_role("link", name=est.name).click()
    assert page.get_by_role("heading", name=est.name).is_visible()
    check_a11y(page, "07-etablissement")


def test_phone_layout_and_error_page(browser, live_server, directory_data, check_a11y):
    context = browser.new_context(base_url=live_server.url, locale="fr-FR",
                                  viewport={"width": 375, "height": 740}, is_mobile=True)
    page = context.new_page()
    login(page, "anne.delpech", ADMIN_PASSWORD)
    page.goto(f"/e/{directory_data.uai}/annuaire/")
    # No horizontal scrolling on a phone.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    check_a11y(page, "08-annuaire-mobile")
    page.goto("/e/0820010R/")
    assert page.get_by_role("heading", name="Page introuvable").is_visible()
    check_a11y(page, "09-erreur-404")
    context.close()
