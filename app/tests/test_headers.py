"""Security headers are sent once with one value each (issue #16, item 9): the nginx load
balancer owns them (roles/nginx/templates/preau-headers.conf.j2: it also serves the waiting
page and the cached static files) and Django sends none of them, on any page."""

import pytest
from django.test import Client
from django.urls import reverse

from preau.core.models import Platform
from tests.school import make_school
from tests.test_isolation import _patterns, build

OWNED_BY_NGINX = (
    "Strict-Transport-Security",
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
)


def sent(response) -> set[str]:
    return {name for name in OWNED_BY_NGINX if response.has_header(name)}


@pytest.mark.django_db
def test_no_page_of_the_app_sends_the_headers_nginx_owns(client):
    s = make_school()
    for role in ("admin", "teacher", "student", "parent", "evs", "agent"):
        client.force_login(s[role])
        for name, _, converters in _patterns():
            if name != "logout":
                response = client.get(build(name, converters, s, s))
                # A private file download may say nosniff (item 6) to a client that reaches an app
                # host directly; nginx replaces it with its own (proxy_hide_header).
                allowed = {"X-Content-Type-Options"} if name == "file_download" else set()
                assert sent(response) <= allowed, (role, name, sent(response))
    anonymous = Client()
    for path in ("/connexion/", "/static/preau/preau.css", "/page-absente/", "/healthz", "/readyz"):
        assert anonymous.get(path).status_code in (200, 404)
        assert not sent(anonymous.get(path)), path


@pytest.mark.django_db
def test_nor_its_error_pages():
    Platform.objects.update_or_create(pk=1, defaults={"maintenance": True})
    response = Client().get(reverse("login"))
    assert response.status_code == 503 and not sent(response)
