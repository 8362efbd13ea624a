"""The French error pages (issue #19 item 5): what happened, and a way back, from the request
alone (preau.core.errors: they never touch the database)."""

from html import unescape

import pytest
from django.test import Client, RequestFactory

from preau.core import errors
from tests.school import url


def _links(response) -> list[str]:
    page = unescape(response.content.decode())
    nav = page.split('aria-label="Pour continuer">', 1)[1].split("</nav>", 1)[0]
    return [part.split('"', 1)[0] for part in nav.split('href="')[1:]]


def test_404_under_an_establishment_offers_its_home_and_the_previous_page(client, school):
    client.force_login(school["student"])
    home = url(school, "establishment_home")
    previous = f"http://testserver{home}"
    response = client.get(f"{home}nulle-part/", HTTP_REFERER=previous)
    assert response.status_code == 404
    assert "Page introuvable" in unescape(response.content.decode())
    assert "Vérifiez l'adresse" in unescape(response.content.decode())
    assert _links(response) == [previous, home, "/"]


def test_a_foreign_previous_page_is_not_offered(client, school):
    client.force_login(school["student"])
    home = url(school, "establishment_home")
    response = client.get(f"{home}nulle-part/", HTTP_REFERER="https://ailleurs.example/")
    assert _links(response) == [home, "/"]


def test_403_says_the_page_is_for_others(client, school):
    client.force_login(school["student"])
    response = client.get(url(school, "quiet_hours"))
    assert response.status_code == 403
    text = unescape(response.content.decode())
    assert "Accès refusé" in text and "réservée à d'autres profils" in text
    assert _links(response) == [url(school, "establishment_home"), "/"]


def test_500_says_what_happened_with_a_way_back():
    request = RequestFactory().get("/e/0820021C/notes/")
    try:
        raise ZeroDivisionError("pour le test")
    except ZeroDivisionError:
        response = errors.handler500(request)
    assert response.status_code == 500
    assert "n'a peut-être pas été enregistré" in unescape(response.content.decode())
    assert _links(response) == ["/e/0820021C/", "/"]


@pytest.mark.django_db
def test_an_expired_form_gets_a_french_page():
    response = Client(enforce_csrf_checks=True).post("/connexion/", {"username": "x"})
    assert response.status_code == 403
    assert "Formulaire expiré" in unescape(response.content.decode())
    assert _links(response) == ["/"]
