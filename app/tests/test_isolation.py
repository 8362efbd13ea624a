"""Tenant isolation as a matrix over EVERY URL pattern of the URLconf (new URLs are covered
automatically; a new URL kwarg must be given a value in OBJECT_KWARGS or this test fails)."""
import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from preau.core.models import ClassGroup, ClassMembership, Membership, Platform, User
from tests.helpers import make_establishment

# URLs that are not about one establishment's data.
GLOBAL_URLS = {"healthz", "readyz", "metrics", "home", "login", "logout", "activation"}


def all_patterns(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from all_patterns(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            converters = {**getattr(resolver.pattern, "converters", {}), **entry.pattern.converters}
            yield entry.name, prefix + str(entry.pattern), converters


def _patterns():
    return list(all_patterns())


@pytest.fixture
def world(db):
    """Two establishments, each with a local admin, a student and a class."""
    year = Platform.current_school_year()
    data = {}
    for key, uai in (("A", "0820021C"), ("B", "0820010R")):
        est = make_establishment(uai, name=f"Collège {key}-unique-name")
        admin = User.objects.create_user(f"admin{key.lower()}", "mot-de-passe-long-1", last_name=f"ADMIN{key}")
        student = User.objects.create_user(f"eleve{key.lower()}", None, last_name=f"ELEVE{key}UNIQUE")
        Membership.objects.create(user=admin, establishment=est, profile="DIR", is_local_admin=True)
        Membership.objects.create(user=student, establishment=est, profile="ELV")
        klass = ClassGroup.objects.create(establishment=est, name=f"5{key}", school_year=year)
        ClassMembership.objects.create(class_group=klass, user=student)
        data[key] = {"est": est, "admin": admin, "student": student, "class": klass}
    return data


def object_kwargs(side):
    """Value of each URL kwarg, taken from one side's objects."""
    return {"uai": side["est"].uai, "user_id": side["student"].pk, "class_id": side["class"].pk}


def build(name, converters, uai_side, objects_side):
    values = object_kwargs(objects_side)
    kwargs = {}
    for kwarg in converters:
        assert kwarg in values, f"URL {name!r} has kwarg {kwarg!r}: add it to object_kwargs()"
        kwargs[kwarg] = values[kwarg]
    if "uai" in kwargs:
        kwargs["uai"] = uai_side["est"].uai
    return reverse(name, kwargs=kwargs)


def test_every_non_global_url_is_under_an_establishment():
    for name, route, converters in _patterns():
        if name not in GLOBAL_URLS:
            assert route.startswith("e/<str:uai>/") and "uai" in converters, (
                f"{route} ({name}) is not under /e/<uai>/: TenantMiddleware would not guard it")


@pytest.mark.parametrize("method", ["get", "post"])
def test_user_of_a_cannot_reach_b(client, world, method):
    a, b = world["A"], world["B"]
    client.force_login(a["admin"])  # the most privileged user of A
    checked = 0
    for name, route, converters in _patterns():
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
            assert response.status_code in allowed, f"{method.upper()} {url} → {response.status_code}"
            checked += 1
    assert checked >= 7
    # Nothing was changed in B by the POSTs.
    b["student"].refresh_from_db()
    assert b["student"].is_active and b["student"].activation_code == ""
    assert Membership.objects.get(user=b["student"]).gone_since is None


def test_user_of_a_reaches_own_objects(client, world):
    """Positive control: the same matrix with A's objects works, so the 404s above mean isolation."""
    a = world["A"]
    client.force_login(a["admin"])
    for name, route, converters in _patterns():
        if name in GLOBAL_URLS:
            continue
        url = build(name, converters, a, a)
        assert client.get(url).status_code in (200, 405), url


def test_global_pages_do_not_leak_b(client, world):
    client.force_login(world["A"]["admin"])
    for name, route, converters in _patterns():
        if name in GLOBAL_URLS and not converters and name != "logout":
            body = client.get(reverse(name)).content.decode()
            assert "B-unique-name" not in body and "ELEVEBUNIQUE" not in body, name


def test_anonymous_is_sent_to_login(client, world):
    for name, route, converters in _patterns():
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
