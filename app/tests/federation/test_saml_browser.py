"""One browser journey (Debian's Chromium at a phone's width): a pupil chooses ÉduConnect on
the login page, the IdP (pysaml2's, its page stood in by Playwright's routing) posts its signed
answer back, the pupil lands on the dashboard, then logs out of both."""

import pytest
from playwright.sync_api import expect

from tests.federation.idp import BASE
from tests.federation.test_saml import INE, PUPIL, configure
from tests.helpers import WIDTHS, fits, new_page
from tests.school import make_school

pytestmark = pytest.mark.browser


def test_pupil_logs_in_through_educonnect(
    browser, live_server, transactional_db, check_a11y, settings, tmp_path
):
    assert BASE not in live_server.url
    s = make_school()
    s["student"].ine = INE
    s["student"].save()
    idp = configure(tmp_path, settings, live_server.url)["educonnect"]
    page = new_page(browser, live_server, WIDTHS["telephone"])
    seen = []

    def idp_page(route):
        seen.append(route.request.url)
        if "/sso?" in route.request.url:
            html = idp.form(route.request.url, PUPIL, f"{live_server.url}/federation/acs/")
        else:  # its single logout endpoint: the answer goes back to our SLS
            html = f'<meta http-equiv="refresh" content="0; url={live_server.url}{idp.answer_logout(route.request.url, base=live_server.url)}">'
        route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)

    page.route("http://idp.test/**", idp_page)
    page.goto("/connexion/")
    assert fits(page)
    check_a11y(page, "90-connexion-federation-telephone")
    page.get_by_role("link", name="Élève ou parent (ÉduConnect)").click()
    page.wait_for_url(f"**/e/{s['est'].uai}/")
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url("**/federation/sls/**")
    expect(page.get_by_text("Vous êtes déconnecté de Préau et de")).to_be_visible()
    assert fits(page)
    assert [u.split("?")[0] for u in seen] == [f"{idp.entity_id}/sso", f"{idp.entity_id}/slo"]
    page.context.close()
