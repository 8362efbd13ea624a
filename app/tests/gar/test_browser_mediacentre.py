"""Browser journey of the médiacentre: a pupil finds the resources of their profile and the
direction asks for the GAR export, at 1280 px and on a 360 px phone; axe-core on each page."""

import pytest
from playwright.sync_api import expect

from preau.gar.models import GarResource
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


def test_pupil_and_direction_use_the_mediacentre(browser, live_server, school, check_a11y):
    for width in (1280, 360):
        _journey(new_page(browser, live_server, width), live_server, school, check_a11y, width)


def _journey(page, live_server, school, check_a11y, width):
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

    page.context.clear_cookies()
    sign_in(page, live_server, school["admin"])
    page.goto(f"/e/{school['est'].uai}/mediacentre/")
    page.get_by_role("button", name="Préparer l'export").click()
    expect(page.get_by_text("Dernier export demandé : en attente.")).to_be_visible()
    assert fits(page)
    check_a11y(page, f"gar-mediacentre-direction-{width}")
    page.context.close()
