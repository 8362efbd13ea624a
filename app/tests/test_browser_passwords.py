"""Browser journeys of issue #19 item 2 (real Chromium, 1280 px and 360 px, axe clean): a
too-weak password shows the French error next to its field; "Mot de passe oublié" up to the
e-mail (read from Django's outbox: the lab's real mail sink is the lead's test) and its link."""

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from preau.core.models import Establishment, Membership, User
from tests.conftest import login
from tests.helpers import WIDTHS, new_page

pytestmark = pytest.mark.browser

OLD = "Un-Ancien-Mdp-2025"
NEW = "Nouveau-Départ-2026"


@pytest.fixture
def parent(settings, transactional_db):
    settings.PREAU_EMAIL_NOTIFICATIONS = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    est = Establishment.objects.create(uai="0820021C", name="Collège Jean Moulin")
    user = User.objects.create_user(
        "marc.bousquet", OLD, first_name="Marc", last_name="BOUSQUET", email="marc@example.fr"
    )
    User.objects.filter(pk=user.pk).update(confirmed_email="marc@example.fr")
    Membership.objects.create(user=user, establishment=est, profile="TUT")
    return user


def _error_next_to_the_field(page, text):
    error = page.locator("#id_password1_erreur")
    assert text in error.inner_text()
    assert "id_password1_erreur" in page.locator("#id_password1").get_attribute("aria-describedby")
    assert page.locator("#id_password1").get_attribute("aria-invalid") == "true"


@pytest.mark.parametrize("screen", list(WIDTHS))
def test_weak_password_then_forgotten_password(
    browser, live_server, parent, check_a11y, run_jobs, screen
):
    page = new_page(browser, live_server, WIDTHS[screen])
    login(page, "marc.bousquet", OLD)
    page.wait_for_url(f"{live_server.url}/")
    page.goto("/compte/mot-de-passe/")
    expect(page.get_by_text("Au moins 12 caractères", exact=False)).to_be_visible()
    check_a11y(page, f"p1-mot-de-passe-{screen}")
    page.get_by_label("Mot de passe actuel").fill(OLD)
    page.get_by_label("Nouveau mot de passe", exact=True).fill("azertyuiop12")
    page.get_by_label("Confirmez le mot de passe").fill("azertyuiop12")
    page.get_by_role("button", name="Changer mon mot de passe").click()
    _error_next_to_the_field(page, "trop courant")
    check_a11y(page, f"p2-mot-de-passe-trop-faible-{screen}")
    page.get_by_role("button", name="Se déconnecter").click()

    # Forgotten: from the login page, up to the e-mail and its link.
    page.get_by_role("link", name="Mot de passe oublié ?").click()
    check_a11y(page, f"p3-oubli-{screen}")
    page.get_by_label("Identifiant ou adresse e-mail").fill("marc@example.fr")
    page.get_by_role("button", name="Recevoir un lien par e-mail").click()
    expect(page.get_by_text("Si un compte adulte de Préau correspond", exact=False)).to_be_visible()
    check_a11y(page, f"p4-oubli-envoye-{screen}")
    run_jobs()
    (message,) = mail.outbox
    assert message.to == ["marc@example.fr"] and "marc.bousquet" in message.body
    link = re.search(r"(/mot-de-passe-oublie/\S+/)", message.body).group(1)
    page.goto(link)
    page.get_by_label("Nouveau mot de passe", exact=True).fill("Marseille13!!")
    page.get_by_label("Confirmez le mot de passe").fill("Marseille13!!")
    page.get_by_role("button", name="Enregistrer le mot de passe").click()
    _error_next_to_the_field(page, "trop courant")
    check_a11y(page, f"p5-nouveau-mot-de-passe-erreur-{screen}")
    page.get_by_label("Nouveau mot de passe", exact=True).fill(NEW)
    page.get_by_label("Confirmez le mot de passe").fill(NEW)
    page.get_by_role("button", name="Enregistrer le mot de passe").click()
    page.wait_for_url("**/connexion/")
    expect(page.get_by_text("Votre mot de passe est changé", exact=False)).to_be_visible()
    check_a11y(page, f"p6-connexion-apres-oubli-{screen}")
    login(page, "marc.bousquet", NEW)
    page.wait_for_url(f"{live_server.url}/")
    # The link worked once.
    page.goto(link)
    expect(page.get_by_role("heading", name="Ce lien ne fonctionne plus")).to_be_visible()
    page.context.close()
