"""Every page each profile can open works on a 360 px phone (issue #19 item 7): nothing wider
than the screen (the page never scrolls sideways), the services' menu collapsed behind one
button that opens it, and every control a thumb uses (menu entries, buttons, form fields) at
least 44 px high. The pages are all the URLconf's (the isolation test's walk, with this school's
objects) that answer the profile with an HTML page: a new page is covered without a new test."""

import pytest
from playwright.sync_api import expect

from tests.helpers import fits, new_page, sign_in
from tests.school import make_school, url_kwargs
from tests.test_isolation import all_patterns, build

pytestmark = pytest.mark.browser

PHONE = 360
WALKED = ("student", "parent", "teacher", "evs", "admin")
# Not pages: the probes, and the actions that end or change the session.
SKIPPED = {
    "healthz", "readyz", "metrics", "logout", "cas_logout", "login", "activation",
    "two_factor_setup",
}  # fmt: skip

# Read in one round trip per page: the controls a thumb must hit (WCAG 2.5.5's 44 px: the
# menus' entries, buttons and form fields; links inside a sentence are exempt, as WCAG says)
# that are smaller, and the services' menu button's state with whether its list is shown
# (Playwright's rule for visible: a non-empty box, not visibility:hidden).
PHONE_CHECKS = """() => {
    const small = [...document.querySelectorAll(
        'nav a, button, .button, input:not([type=hidden]):not([type=checkbox]):not([type=radio]), select, summary')]
        .filter(e => e.offsetParent !== null)
        .filter(e => e.getBoundingClientRect().height < 43.5)
        .map(e => `${e.tagName}.${e.className} "${e.textContent.trim().slice(0, 30)}" ${Math.round(e.getBoundingClientRect().height)}px`);
    const shown = e => {
        const box = e.getBoundingClientRect();
        return box.width > 0 && box.height > 0 && getComputedStyle(e).visibility !== 'hidden';
    };
    const menu = document.querySelector('.ent-menu-toggle');
    const services = document.querySelector('#ent-services');
    return {small, menu: menu && {expanded: menu.getAttribute('aria-expanded'),
                                  services_shown: services !== null && shown(services)}};
}"""


def pages_of(client, school) -> list[str]:
    """The establishment's and the account's pages this client's user gets as HTML (200)."""
    found = []
    for name, _route, converters in all_patterns():
        if name in SKIPPED:
            continue
        url = build(name, converters, school, school)
        response = client.get(url)
        assert "_auth_user_id" in client.session, f"GET {url} ({name}) logged out: skip it"
        if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
            found.append(url)
    return found


@pytest.fixture
def school(transactional_db):
    return make_school()


def test_every_page_of_every_profile_fits_a_phone(browser, live_server, school):
    assert set(url_kwargs(school)) >= {"uai", "class_id"}
    problems, walked = [], 0
    for role in WALKED:
        page = new_page(browser, live_server, PHONE)
        client = sign_in(page, live_server, school[role])
        urls = pages_of(client, school)
        assert len(urls) >= 20, f"{role}: only {urls}"
        for url in urls:
            page.goto(url, wait_until="domcontentloaded")  # after the deferred nav.js, so the CSS
            walked += 1
            if not fits(page):
                problems.append(f"{role} {url}: wider than {PHONE} px")
            found = page.evaluate(PHONE_CHECKS)
            if found["small"]:
                problems.append(f"{role} {url}: targets under 44 px: {found['small'][:4]}")
            menu = found["menu"]
            if menu and (menu["services_shown"] or menu["expanded"] != "false"):
                problems.append(f"{role} {url}: the services' menu is not collapsed")
        page.context.close()
    assert not problems, "\n".join(problems)
    assert walked >= 50


def test_the_services_menu_opens_and_closes(browser, live_server, school, check_a11y):
    page = new_page(browser, live_server, PHONE)
    sign_in(page, live_server, school["parent"])
    page.goto(f"/e/{school['est'].uai}/")
    menu = page.get_by_role("button", name="Services")
    services = page.locator("#ent-services")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(services).not_to_be_visible()
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(services).to_be_visible()
    check_a11y(page, "60-mobile-parent-menu-ouvert")
    page.get_by_role("link", name="Notes", exact=True).click()
    page.wait_for_url("**/notes/")
    expect(page.locator("#ent-services")).not_to_be_visible()  # a new page starts collapsed
    # At a desktop's width the services are listed, no button
    page.set_viewport_size({"width": 1280, "height": 900})
    expect(page.locator("#ent-services")).to_be_visible()
    expect(menu).not_to_be_visible()
    page.context.close()
