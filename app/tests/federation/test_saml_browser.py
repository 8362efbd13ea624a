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

    def as_the_idp(route, url: str) -> None:
        """Answer with the IdP's page for URL (its SSO form, or its logout's way back)."""
        seen.append(url)
        if "/sso?" in url:
            html = idp.form(url, PUPIL, f"{live_server.url}/federation/acs/")
        else:  # its single logout endpoint: the answer goes back to our SLS
            html = f'<meta http-equiv="refresh" content="0; url={live_server.url}{idp.answer_logout(url, base=live_server.url)}">'
        route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)

    # The login's redirect to the IdP is answered from the route of our own request: a route
    # sees only the first request of a redirect chain (Playwright's documented rule; the
    # headless shell keeps it, the full browser's new headless mode did not). The logout's
    # page sends the browser to the IdP itself (no redirect): routed by the IdP's address.
    page.route(
        "**/federation/connexion/**",
        lambda route: as_the_idp(route, route.fetch(max_redirects=0).headers["location"]),
    )
    page.route("http://idp.test/**", lambda route: as_the_idp(route, route.request.url))
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
