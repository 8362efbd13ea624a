"""Tenant isolation as a matrix over EVERY URL pattern of the URLconf (new URLs are covered
automatically; a new URL kwarg must be given a real object id in tests.school.url_kwargs() or
this test fails)."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from preau.core.models import Membership, User
from preau.grades.models import Period
from tests.federation.test_saml import (
    federated_client,
    federated_logins,
    idps,  # noqa: F401 (fixture)
)
from tests.helpers import snapshot
from tests.school import PROFILES, add_renditions, make_school, url_kwargs

# URLs that are not about one establishment's data.
GLOBAL_URLS = {
    "healthz",
    "readyz",
    "metrics",
    "home",
    "login",
    "logout",
    "activation",
    "two_factor_verify",
    "two_factor_setup",
    "account_security",
    "recovery_codes",
    "password_change",
    "password_reset",
    "password_reset_confirm",
    "email_settings",
    "email_confirm",
    # Préau's CAS server (preau.cas): the protocol's paths; services are checked per
    # establishment inside (tests/cas/test_cas.py).
    "cas_login",
    "cas_logout",
    "cas_service_validate",
    "cas_p3_service_validate",
    # Federation (preau.federation): the IdPs' endpoints, global like the login.
    "federation_login",
    "federation_acs",
    "federation_sls",
    "federation_metadata",
    # Préau as the GAR's identity provider (preau.gar): the GAR's endpoints, global like the
    # SP's; the establishment is the member's own (tests/gar/test_idp.py).
    "gar_metadata",
    "gar_sso",
    "gar_sso_resume",
    # The timetable's iCalendar feed: no session, the secret token of the URL is the key
    # (tests/timetable/test_feed.py: one user's lessons, current memberships only).
    "calendar_feed",
    # The platform operators' console (preau.console): operators only, across establishments;
    # everyone else 403 (tests/console/test_console.py::test_only_operators_reach_the_console).
    "console",
    "console_operation",
    "console_accounts",
    "console_account",
    "console_stats",
    "console_stats_csv",
}


def all_patterns(resolver=None, prefix="", outer=None):
    """(name, route, converters) of every URL, through every include() (each service's urls are
    included under /e/<uai>/, whose converter they inherit)."""
    resolver = resolver or get_resolver()
    converters = {**(outer or {}), **getattr(resolver.pattern, "converters", {})}
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from all_patterns(entry, prefix + str(entry.pattern), converters)
        elif isinstance(entry, URLPattern):
            yield (
                entry.name,
                prefix + str(entry.pattern),
                {**converters, **entry.pattern.converters},
            )


def _patterns():
    return list(all_patterns())


@pytest.fixture
def world(db):
    """Two establishments, each with one user per profile and one row of every service model;
    their period published (its bulletins reach the families)."""
    schools = {"A": make_school("A", "0820021C"), "B": make_school("B", "0820010R")}
    for school in schools.values():
        add_renditions(school)
    Period.objects.update(published_at=timezone.now())
    return schools


# Users of A who try B's URLs: the most privileged ones and each pupil-side profile.
INTRUDERS = ("admin", "teacher", "evs", "parent", "student")


def build(name, converters, uai_side, objects_side):
    values = url_kwargs(objects_side)
    kwargs = {}
    for kwarg in converters:
        assert kwarg in values, (
            f"URL {name!r} has kwarg {kwarg!r}: add it to tests.school.url_kwargs()"
        )
        kwargs[kwarg] = values[kwarg]
    if "uai" in kwargs:
        kwargs["uai"] = uai_side["est"].uai
    return reverse(name, kwargs=kwargs)


def test_every_non_global_url_is_under_an_establishment():
    for name, route, converters in _patterns():
        if name not in GLOBAL_URLS:
            assert route.startswith("e/<str:uai>/") and "uai" in converters, (
                f"{route} ({name}) is not under /e/<uai>/: TenantMiddleware would not guard it"
            )


def walk_b(client, a, b, method: str, who: str) -> int:
    """Every URL of B's objects, under B's establishment and under A's, by the client logged in
    as `who` of A: refused, nothing of B shown. Returns how many were tried."""
    checked = 0
    for name, _route, converters in _patterns():
        if name in GLOBAL_URLS:
            continue
        # B's establishment with B's objects, and A's establishment with B's objects.
        cases = [build(name, converters, b, b)]
        if set(converters) - {"uai"}:
            cases.append(build(name, converters, a, b))
        for url in cases:
            response = getattr(client, method)(url)
            # 405 (GET on a POST-only view) is decided before any object lookup: it reveals nothing.
            allowed = (403, 404, 405) if method == "get" else (403, 404)
            assert response.status_code in allowed, (
                f"{who}: {method.upper()} {url} → {response.status_code}"
            )
            body = response.content.decode(errors="replace")
            assert "B-unique-name" not in body and "ESCANDE" not in body, url
            checked += 1
    return checked


@pytest.mark.parametrize("method", ["get", "post"])
def test_user_of_a_cannot_reach_b(client, world, method):
    a, b = world["A"], world["B"]
    User.objects.update(last_login=None)  # logins below set it; nothing else may change
    before = snapshot()
    checked = 0
    for role in INTRUDERS:
        client.force_login(a[role])
        checked += walk_b(client, a, b, method, role)
    assert checked >= 7 * len(INTRUDERS)
    # Nothing was changed in B (or A) by the POSTs.
    User.objects.update(last_login=None)
    assert snapshot() == before


@pytest.mark.parametrize("method", ["get", "post"])
def test_federated_user_of_a_cannot_reach_b(idps, world, method):  # noqa: F811
    """A's teacher logged in through the académie's IdP (a signed assertion at the ACS) walks
    B's URLs as the local intruders above: the same refusals, nothing changed. One federated
    intruder is enough here: test_access_matrix.py::test_get_matrix_through_the_idps shows
    every federated profile's rights equal to the local ones."""
    a, b = world["A"], world["B"]
    logins = federated_logins(a)
    client = federated_client(idps, a, "teacher", logins)
    User.objects.update(last_login=None)
    before = snapshot()
    assert walk_b(client, a, b, method, "teacher (agents)") >= 7
    User.objects.update(last_login=None)
    assert snapshot() == before


def test_user_of_a_reaches_own_objects(client, world):
    """Positive control: every URL with A's objects answers someone of A, so the 404s above
    mean isolation, not broken URLs."""
    a = world["A"]
    unreached = set()
    for name, _route, converters in _patterns():
        if name in GLOBAL_URLS:
            continue
        url = build(name, converters, a, a)
        for role in PROFILES:
            client.force_login(a[role])
            if client.get(url).status_code in (200, 405):
                break
        else:
            unreached.add(url)
    assert not unreached


def test_global_pages_do_not_leak_b(client, world):
    client.force_login(world["A"]["admin"])
    for name, _route, converters in _patterns():
        if name in GLOBAL_URLS and not converters and name not in ("logout", "cas_logout"):
            body = client.get(reverse(name)).content.decode()
            assert "B-unique-name" not in body and "ESCANDE" not in body, name


def test_anonymous_is_sent_to_login(client, world):
    for name, _route, converters in _patterns():
        if name not in GLOBAL_URLS:
            response = client.get(build(name, converters, world["A"], world["A"]))
            assert response.status_code == 302 and response["Location"].startswith("/connexion/")


def test_platform_admin_reaches_all(client, world):
    admc = User.objects.create_superuser("admc", "mot-de-passe-long-2")
    client.force_login(admc)
    assert client.get(f"/e/{world['B']['est'].uai}/annuaire/").status_code == 200


def test_gone_member_loses_access(client, world):
    a = world["A"]
    Membership.objects.filter(user=a["admin"]).update(gone_since="2026-01-01")
    client.force_login(a["admin"])
    assert client.get(f"/e/{a['est'].uai}/").status_code == 404
