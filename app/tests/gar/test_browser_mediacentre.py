"""Browser journey of the médiacentre: a pupil finds the resources of their profile, opens one
(the GAR's signed request, Préau's answer page, its form posted to the GAR: pysaml2 checks it)
and the direction asks for the GAR export, at 1280 px and on a 360 px phone; axe-core on each
page."""

from urllib.parse import parse_qs

import pytest
from playwright.sync_api import expect
from saml2 import BINDING_HTTP_POST

from preau.gar import idp
from preau.gar.models import GarExport, GarResource
from tests.gar.gar_sp import configured
from tests.helpers import fits, new_page, sign_in
from tests.school import make_school

pytestmark = pytest.mark.browser


@pytest.fixture
def school(transactional_db):
    s = make_school()
    s["est"].settings = {"gar": True}
    s["est"].save()
    for title, profiles in (
        ("Dictionnaire Le Robert Collège", []),
        ("Manuel du professeur", ["ENS"]),
    ):
        GarResource.objects.create(
            establishment=s["est"],
            title=title,
            url=f"https://ressources.test/{len(title)}",
            description="Accès par le GAR.",
            profiles=profiles,
        )
    return s


def test_pupil_and_direction_use_the_mediacentre(
    browser, live_server, school, check_a11y, settings
):
    gar = configured(settings)["gar"]
    for width in (1280, 360):
        page = new_page(browser, live_server, width)
        _journey(page, live_server, school, check_a11y, width, gar)
    idp.reset()


GAR_PAGE = '<!DOCTYPE html><html lang="fr"><title>GAR</title><main><h1>Ressource</h1></main>'


def _journey(page, live_server, school, check_a11y, width, gar):
    sign_in(page, live_server, school["student"])
    page.goto(f"/e/{school['est'].uai}/")
    if width < 800:
        page.get_by_role("button", name="Services").click()
    page.get_by_role("link", name="Médiacentre").click()
    expect(page.get_by_role("heading", name="Médiacentre")).to_be_visible()
    expect(page.get_by_role("link", name="Dictionnaire Le Robert Collège")).to_be_visible()
    expect(page.get_by_text("Manuel du professeur")).to_have_count(0)
    assert fits(page)
    check_a11y(page, f"gar-mediacentre-eleve-{width}")

    # The resource's link leads to the GAR, which sends its signed request to Préau: the
    # answer page posts the signed assertion back to the GAR (here a stand-in page).
    posted = {}

    def gar_acs(route):
        posted.update(parse_qs(route.request.post_data))
        route.fulfill(status=200, content_type="text/html", body=GAR_PAGE)

    page.route("https://gar.test/**", gar_acs)
    request_id, path = gar.redirect_request()
    if width >= 800:  # the page without its script: checked, then its button
        page.route("**/static/gar/post.js", lambda route: route.abort())
        page.goto(path)
        assert fits(page)
        check_a11y(page, f"gar-reponse-{width}")
        page.get_by_role("button", name="Continuer vers la ressource").click()
    else:  # the script posts the form at once
        page.goto(path)
    expect(page.get_by_role("heading", name="Ressource")).to_be_visible()
    answer = gar.client.parse_authn_request_response(
        posted["SAMLResponse"][0], BINDING_HTTP_POST, outstanding={request_id: "/"}
    )
    assert answer.ava[idp.ATTR_PROFILE] == ["National_elv"]
    assert answer.ava[idp.ATTR_UAI] == [school["est"].uai]

    page.context.clear_cookies()
    sign_in(page, live_server, school["admin"])
    # Last night's export made, its transfer failing, a responsable without an address.
    GarExport.objects.create(
        establishment=school["est"],
        nightly=True,
        status="made",
        transfer="failed",
        transfer_attempts=2,
        warnings=["Hélène CASTEX (responsable d'affectation) n'a pas d'adresse e-mail"],
    )
    page.goto(f"/e/{school['est'].uai}/mediacentre/")
    expect(page.get_by_text("Transmission au GAR : envoi en échec (2 tentatives")).to_be_visible()
    expect(page.get_by_text("n'a pas d'adresse e-mail")).to_be_visible()
    assert fits(page)
    page.get_by_role("button", name="Préparer l'export").click()
    expect(page.get_by_text("en préparation (tâche en attente).")).to_be_visible()
    assert fits(page)
    check_a11y(page, f"gar-mediacentre-direction-{width}")
    page.context.close()
