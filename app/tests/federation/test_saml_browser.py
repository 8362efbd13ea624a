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

    def idp_page(url: str) -> str:
        seen.append(url)
        if "/sso?" in url:
            return idp.form(url, PUPIL, f"{live_server.url}/federation/acs/")
        # its single logout endpoint: the answer goes back to our SLS
        return f'<meta http-equiv="refresh" content="0; url={live_server.url}{idp.answer_logout(url, base=live_server.url)}">'

    def to_the_idp(route):
        """The login's redirect to the IdP answered with the IdP's page: a route's handler sees
        only the first request of a redirect chain (Playwright's documented rule; the headless
        shell keeps it, the full browser's new headless mode did not), so a route on the IdP's
        address never sees where our redirect sends the browser."""
        answer = route.fetch(max_redirects=0)
        location = answer.headers.get("location", "")
        if not location.startswith(idp.entity_id):
            route.fulfill(response=answer)
            return
        body = idp_page(location)
        route.fulfill(status=200, content_type="text/html; charset=utf-8", body=body)

    page.route("**/federation/connexion/**", to_the_idp)
    page.route(  # the logout's page sends the browser there itself: no redirect
        "http://idp.test/**",
        lambda route: route.fulfill(
            status=200, content_type="text/html; charset=utf-8", body=idp_page(route.request.url)
        ),
    )
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
