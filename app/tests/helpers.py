"""Test helpers shared by several modules."""

import importlib.util
import re
from pathlib import Path

from django.apps import apps
from django.test import Client

from preau.core.generator import generate
from preau.core.models import Establishment
from preau.ent.apps import SERVICE_APPS


def snapshot() -> dict:
    """Every row of every Préau model (minus timestamps that never change): equality = nothing changed."""
    data = {}
    for label in ("core", *SERVICE_APPS):
        for model in apps.get_app_config(label).get_models():
            if not model._meta.managed:  # UserSession: Django's session table, logins change it
                continue
            data[model.__name__] = sorted(map(repr, model.objects.values_list()))
    return data


def make_establishment(uai="0820021C", name="Collège Jean Moulin", town="Montauban"):
    return Establishment.objects.create(uai=uai, name=name, town=town)


def small_feed(tmp_path: Path, students=20, uai="0820021C", seed=1) -> dict:
    """Generated feed, plus a {category: Path} map for editing."""
    feed = generate(tmp_path, students, uai=uai, seed=seed)
    feed["by_category"] = {
        re.search(r"_([A-Za-z]+)_0000", Path(f).name).group(1): Path(f) for f in feed["files"]
    }
    return feed


def first_record(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    return re.search(r"<addRequest>.*?</addRequest>", text).group(0)


def record_id(record: str) -> str:
    return re.search(r"<id>(.*?)</id>", record).group(1)


def edit_first_record(path: Path, old: str, new: str) -> str:
    """Replace `old` by `new` (regex) inside the first record; return that record's id."""
    text = path.read_text(encoding="utf-8")
    record = first_record(path)
    edited, n = re.subn(old, new, record, count=1)
    assert n == 1, f"{old!r} not found in first record of {path.name}"
    path.write_text(text.replace(record, edited, 1), encoding="utf-8")
    return record_id(record)


# --- second factor (preau.twofactor) ---------------------------------------------------------


def totp_code(key: bytes, steps_ahead=0) -> str:
    """The code an authenticator app shows for secret `key` now (or `steps_ahead` periods of
    30 s later): django-otp's defaults, 6 digits."""
    import time

    from django_otp.oath import TOTP

    totp = TOTP(key, step=30, digits=6)
    totp.time = time.time() + steps_ahead * 30
    return f"{totp.token():06d}"


def next_totp_code(user) -> str:
    """A code that `user`'s confirmed device accepts now and has not seen: the first step after
    the last one used, at the clock drift the device measured then. (django-otp refuses a step
    already used and follows the phone's drift, ±1 step: after an enrolment whose code was read
    just before a 30 s boundary and checked just after, the drift is -1 and a code computed
    `steps_ahead=1` from now is refused.)"""
    import time

    from django_otp.oath import TOTP

    from preau.twofactor.devices import totp_device

    device = totp_device(user, confirmed=True)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    totp.drift += max(0, device.last_t + 1 - totp.t())
    return f"{totp.token():0{device.digits}d}"


def wrong_code(key: bytes) -> str:
    """A 6-digit code that the device of `key` refuses (none of the codes it accepts now)."""
    accepted = {totp_code(key, steps) for steps in (-2, -1, 0, 1, 2)}
    return next(
        code
        for code in ("000000", "111111", "222222", "333333", "444444", "555555")
        if code not in accepted
    )


def enrol_through_pages(client, next_url="") -> tuple:
    """Enrol the logged-in client's user as a person would: read the secret printed on the
    enrolment page, type the app's code. Returns (the response: recovery codes page, key)."""
    import base64

    page = client.get("/compte/double-authentification/activer/").content.decode()
    secret = re.search(r'id="cle-secrete"><code>([A-Z2-7 ]+)</code>', page).group(1)
    key = base64.b32decode(secret.replace(" ", ""))
    response = client.post(
        "/compte/double-authentification/activer/", {"code": totp_code(key), "next": next_url}
    )
    return response, key


def pass_second_factor(client, user) -> None:
    """Mark the client's session verified by a confirmed TOTP device of `user` (created if
    needed), through django-otp's own session key: what the verification page does once the
    right code is typed. Only for users who need a second factor (ADMC, ADML)."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(
        user=user, confirmed=True
    ).first() or TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


class SecondFactorClient(Client):
    """Django's test client whose force_login() also passes the second factor when the user
    needs one: the page tests are about pages. tests/test_two_factor.py proves that a plain
    Client logged in the same way reaches nothing before the second factor."""

    def force_login(self, user, backend=None):
        from preau.twofactor.policy import needs_second_factor

        super().force_login(user, backend)
        if needs_second_factor(user):
            pass_second_factor(self, user)


# Browser journeys: the widths every page is checked at (a desktop, a small phone).
WIDTHS = {"bureau": 1280, "telephone": 360}


def new_page(browser, live_server, width, **options):
    """A page of a new context at `width`; `options` go to the context (e.g.
    ignore_https_errors for the partners' self-signed certificates, test_partners.py)."""
    from tests.conftest import prepare_page

    context = browser.new_context(
        base_url=live_server.url,
        locale="fr-FR",
        viewport={"width": width, "height": 900},
        is_mobile=width < 800,
        **options,
    )
    page = context.new_page()
    prepare_page(page)
    return page


def sign_in(page, live_server, user) -> SecondFactorClient:
    """Log `user` in in the page's browser without the login form: the session that
    SecondFactorClient.force_login makes (second factor passed), its cookie given to the
    browser. For the journeys that are not about logging in (a form login costs a page load, a
    POST and a password hash check); the form's own journeys are in test_browser.py and
    test_browser_passwords.py. The page stays where it is: go to a page next. Returns the test
    client holding the same session."""
    from django.conf import settings

    client = SecondFactorClient()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
    )
    return client


def fits(page):
    """The page is no wider than the screen: measured against the width asked for, not
    window.innerWidth, which a phone's browser widens to the content's."""
    page.wait_for_load_state()  # a page a click has just asked for
    width = page.viewport_size["width"]
    if page.evaluate("document.documentElement.scrollWidth") <= width:
        return True
    print("wider than the screen:", page.evaluate(WIDE_ELEMENTS, width))
    return False


# The elements that stick out of the screen, outside a container that scrolls them (diagnostic).
WIDE_ELEMENTS = """width => [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > width && !e.closest('.ent-nav'))
    .slice(0, 12).map(e => `${e.tagName}.${e.className} ${e.getBoundingClientRect().right}`)"""


def app_script(name: str):
    """scripts/NAME.py loaded as a module (the benchmarks' parts are tested on the test's
    school; deploy.py bench runs them whole)."""
    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ONWARD = re.compile(r'<meta http-equiv="refresh" content="0; url=([^"]+)">')


def onward_destination(response) -> str:
    """Where core.views.onward's page sends the browser (its meta refresh, the link's URL): the
    answer of a form whose next step is another site (logout through an IdP, a CAS ticket
    after a login), which the CSP's form-action would refuse as a redirection."""
    import html

    assert response.status_code == 200, response.status_code
    page = response.content.decode()
    found = ONWARD.search(page)
    assert found, page[:400]
    url = html.unescape(found.group(1))
    assert f'href="{found.group(1)}"' in page  # the link without the refresh goes there too
    return url


def destination(response) -> str:
    """Where an answer sends the browser: a redirection's Location, or the onward page's."""
    return response["Location"] if response.status_code == 302 else onward_destination(response)
