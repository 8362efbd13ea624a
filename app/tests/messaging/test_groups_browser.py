"""Browser journey of a message to a group (issue #19 item 3), in Debian's Chromium, axe-core on
every page: the teacher writes to « Parents de la 5A » at 1280 px; a parent reads it on a phone
(360 px), sees no other parent, replies, and reports it; the teacher reads « lu par 1 / 2 »; the
vie scolaire reads it in its conversation (desktop and phone) and hides it."""

import pytest
from playwright.sync_api import expect

from tests.helpers import WIDTHS, fits, new_page, sign_in
from tests.school import make_school

pytestmark = pytest.mark.browser


def test_teacher_writes_to_the_parents_of_a_class(
    browser, live_server, transactional_db, check_a11y
):
    s = make_school()
    home = f"/e/{s['est'].uai}/messagerie/"
    teacher = new_page(browser, live_server, WIDTHS["bureau"])
    sign_in(teacher, live_server, s["teacher"])
    teacher.goto(home + "nouveau/")
    teacher.get_by_text("Parents d'une classe").click()  # the class groups are folded
    teacher.get_by_label("Parents de la 5A").check()
    teacher.get_by_label("Objet").fill("Sortie au musée")
    teacher.get_by_label("Message", exact=True).fill("Départ jeudi à 8 h devant le collège.")
    check_a11y(teacher, "90-prof-message-groupe-bureau")
    teacher.get_by_role("button", name="Envoyer").click()
    expect(teacher.get_by_text("Message envoyé à 2 personnes.")).to_be_visible()
    expect(teacher.locator("#accuses")).to_have_text("Lu par 0 / 2")
    check_a11y(teacher, "91-prof-message-groupe-accuses-bureau")
    broadcast_url = teacher.url

    parent = new_page(browser, live_server, WIDTHS["telephone"])
    sign_in(parent, live_server, s["parent"])
    # (Every profile's compose page, groups folded, fits a phone: tests/test_browser_phone.py.)
    parent.goto(home)
    parent.get_by_role("link", name="Sortie au musée").click()
    expect(parent.get_by_text("Départ jeudi à 8 h")).to_be_visible()
    body = parent.locator("main").inner_text()
    assert "Julien FABRE" in body and "BOUSQUET" not in body and "Karim" not in body
    assert fits(parent)
    check_a11y(parent, "93-parent-message-groupe-telephone")
    parent.get_by_label("Votre réponse").fill("Ma fille sera là, merci.")
    parent.get_by_role("button", name="Répondre").click()
    expect(parent.get_by_text("Réponse envoyée.")).to_be_visible()
    parent.get_by_role("link", name="Signaler le message de Julien FABRE").click()
    parent.get_by_label("Pourquoi signalez-vous ce message ?").fill("Test de signalement")
    assert fits(parent)
    check_a11y(parent, "94-parent-signaler-telephone")
    parent.get_by_role("button", name="Signaler").click()
    expect(parent.get_by_text("Message signalé à la vie scolaire. Merci.")).to_be_visible()
    parent.context.close()

    teacher.goto(broadcast_url)
    expect(teacher.locator("#accuses")).to_have_text("Lu par 1 / 2")
    teacher.get_by_text("Qui l'a lu (1)").click()
    expect(teacher.get_by_text("Sophie MARTIN")).to_be_visible()
    expect(teacher.get_by_role("link", name="Voir sa réponse (Sophie MARTIN)")).to_be_visible()
    teacher.context.close()

    evs = new_page(browser, live_server, WIDTHS["bureau"])
    sign_in(evs, live_server, s["evs"])
    evs.goto(home + "moderation/")
    expect(evs.get_by_text("« Test de signalement »")).to_be_visible()
    # The reported message in its conversation: the parent's reply after it, read-only.
    context = evs.get_by_role("list", name="Le message signalé dans sa conversation")
    expect(context.get_by_text("Ma fille sera là, merci.")).to_be_visible()
    expect(context.get_by_role("link")).to_have_count(0)
    check_a11y(evs, "95-vie-scolaire-moderation-bureau")
    evs.set_viewport_size({"width": WIDTHS["telephone"], "height": 740})
    assert fits(evs)
    check_a11y(evs, "96-vie-scolaire-moderation-telephone")
    evs.get_by_role("button", name="Masquer le message « Sortie au musée »").click()
    expect(evs.get_by_text("Message masqué.")).to_be_visible()
    evs.context.close()
