"""Web pages, authentication, operational endpoints and failure pages."""

import contextlib
import re

import pytest
from django.test import Client

from preau.core import throttle
from preau.core.models import LoginAttempt, Membership, Platform, User
from tests.helpers import make_establishment

PASSWORD = "un-mot-de-passe-solide"


@pytest.fixture
def est(db):
    return make_establishment()


@pytest.fixture
def member(est):
    user = User.objects.create_user("lea.martin", PASSWORD, first_name="Léa", last_name="MARTIN")
    Membership.objects.create(user=user, establishment=est, profile="ELV")
    return user


@pytest.fixture
def adml(est):
    user = User.objects.create_user(
        "anne.delpech", PASSWORD, first_name="Anne", last_name="DELPECH"
    )
    Membership.objects.create(user=user, establishment=est, profile="DIR", is_local_admin=True)
    return user


def test_healthz_needs_no_database(client):
    response = client.get("/healthz")  # no db marker: any query would raise
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_ok_and_pending_migrations(client, monkeypatch):
    assert client.get("/readyz").json() == {"status": "ready"}
    from django.db.migrations.executor import MigrationExecutor

    monkeypatch.setattr(
        MigrationExecutor,
        "migration_plan",
        lambda self, targets: [
            (type("M", (), {"app_label": "core", "name": "0099_future"})(), False)
        ],
    )
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["pending_migrations"] == [
        "core.0099_future"
    ]


@contextlib.contextmanager
def database_down():
    """PostgreSQL unreachable: the connection points at a port where nothing listens."""
    from django.db import connection

    connection.close()
    saved = connection.settings_dict["PORT"]
    connection.settings_dict["PORT"] = 1
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["PORT"] = saved


def test_database_down_gives_french_503(django_db_blocker):
    client = Client(raise_request_exception=False)
    with django_db_blocker.unblock(), database_down():
        for url in ("/", "/connexion/", "/e/0820021C/annuaire/"):
            response = client.get(url)
            assert response.status_code == 503, url
            body = response.content.decode()
            assert 'lang="fr"' in body and "momentanément indisponible" in body
            assert "Traceback" not in body
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_database_down_with_a_session_and_a_warm_platform_cache(member, settings):
    """A logged-in user whose worker still has the platform row cached (so the maintenance check
    does not notice): the session+user query itself fails, and the page is still the French
    503, never a traceback; /readyz says 503 too."""
    from preau.core.models import Platform

    settings.PREAU_PLATFORM_CACHE_SECONDS = 3600
    Platform._cache.update(at=None, state=None)
    client = Client(raise_request_exception=False)
    client.force_login(member)
    assert client.get("/e/0820021C/").status_code == 200  # warms Platform.cached_state()
    try:
        with database_down():
            for url in ("/e/0820021C/", "/e/0820021C/notes/", "/"):
                response = client.get(url)
                body = response.content.decode()
                assert response.status_code == 503 and response["Retry-After"] == "60", url
                assert "momentanément indisponible" in body and "Traceback" not in body
                assert "OperationalError" not in body
            response = client.get("/readyz")
            assert response.status_code == 503 and response.json() == {
                "status": "unavailable",
                "database": "OperationalError",
            }
    finally:
        Platform._cache.update(at=None, state=None)


@pytest.mark.django_db
def test_login_logout_and_home(client, member, est):
    response = client.post("/connexion/", {"username": "Lea.Martin", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    home = client.get("/")
    assert est.name in home.content.decode()
    assert client.post("/deconnexion/").status_code == 302
    assert client.get("/").status_code == 302


def _argon2_params(encoded: str) -> str:
    return encoded.split("$")[3]  # argon2$argon2id$v=19$m=...,t=...,p=...$salt$hash


@pytest.mark.django_db
def test_passwords_hashed_with_owasp_argon2id(member):
    # OWASP Password Storage Cheat Sheet: Argon2id, 19 MiB, 2 passes, 1 lane.
    assert member.password.startswith("argon2$argon2id$")
    assert _argon2_params(member.password) == "m=19456,t=2,p=1"


@pytest.mark.django_db
def test_older_argon2_hash_upgraded_at_next_login(client, member):
    """A hash made with Django's default parameters (100 MiB, 8 lanes) still logs in, and that
    login re-hashes the password with the current ones (Django's must_update)."""
    from django.contrib.auth.hashers import Argon2PasswordHasher

    old = Argon2PasswordHasher().encode(PASSWORD, Argon2PasswordHasher().salt())
    assert _argon2_params(old) == "m=102400,t=2,p=8"
    User.objects.filter(pk=member.pk).update(password=old)
    response = client.post("/connexion/", {"username": "lea.martin", "password": PASSWORD})
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.password != old and _argon2_params(member.password) == "m=19456,t=2,p=1"
    assert member.check_password(PASSWORD)
    assert client.get("/").status_code == 200  # the new session survives the re-hash
    # A wrong password changes nothing.
    User.objects.filter(pk=member.pk).update(password=old)
    Client().post("/connexion/", {"username": "lea.martin", "password": "pas-le-bon-mot"})
    member.refresh_from_db()
    assert member.password == old


@pytest.mark.django_db
def test_login_failure_message_and_open_redirect(client, member):
    response = client.post("/connexion/", {"username": "lea.martin", "password": "nope"})
    assert response.status_code == 401 and "incorrect" in response.content.decode()
    response = client.post(
        "/connexion/",
        {"username": "lea.martin", "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert response["Location"] == "/"


@pytest.mark.django_db
def test_login_throttled_in_database(client, member):
    for _ in range(5):
        client.post("/connexion/", {"username": "lea.martin", "password": "wrong-password"})
    # Even the right password is refused now, from any client (the count is in the DB).
    other = Client()
    response = other.post("/connexion/", {"username": "lea.martin", "password": PASSWORD})
    assert response.status_code == 429 and "Trop de tentatives" in response.content.decode()
    assert LoginAttempt.objects.filter(username="lea.martin", success=False).count() == 5


@pytest.mark.django_db
def test_activation_flow(client, adml, member, est):
    client.force_login(adml)
    response = client.post(f"/e/{est.uai}/annuaire/{member.pk}/code/")
    code = re.search(r'data-testid="activation-code">(\w+)<', response.content.decode()).group(1)
    assert len(code) == 10
    member.refresh_from_db()
    assert not member.has_usable_password()  # the old password no longer works
    anon = Client()
    bad = anon.post(
        "/activation/",
        {"username": "lea.martin", "code": code, "password1": "court", "password2": "court"},
    )
    assert bad.status_code == 400 and "trop court : au moins 8 caractères" in bad.content.decode()
    wrong = anon.post(
        "/activation/",
        {
            "username": "lea.martin",
            "code": "AAAAAAAAAA",
            "password1": "Un-nouveau-mot-de-passe-7",
            "password2": "Un-nouveau-mot-de-passe-7",
        },
    )
    assert wrong.status_code == 400
    ok = anon.post(
        "/activation/",
        {
            "username": "lea.martin",
            "code": code.lower(),
            "password1": "Un-nouveau-mot-de-passe-7",
            "password2": "Un-nouveau-mot-de-passe-7",
        },
    )
    assert ok.status_code == 302
    member.refresh_from_db()
    assert member.check_password("Un-nouveau-mot-de-passe-7") and member.activation_code == ""
    # A code works once.
    again = Client().post(
        "/activation/",
        {
            "username": "lea.martin",
            "code": code,
            "password1": "Encore-un-autre-mdp-8",
            "password2": "Encore-un-autre-mdp-8",
        },
    )
    assert again.status_code == 400


@pytest.mark.django_db
def test_directory_search_and_disable(client, adml, member, est):
    client.force_login(adml)
    page = client.get(f"/e/{est.uai}/annuaire/", {"q": "mart"}).content.decode()
    assert "MARTIN Léa</a>" in page and "DELPECH Anne</a>" not in page
    page = client.get(f"/e/{est.uai}/annuaire/", {"profile": "DIR"}).content.decode()
    assert "DELPECH Anne</a>" in page and "MARTIN Léa</a>" not in page
    response = client.post(f"/e/{est.uai}/annuaire/{member.pk}/desactiver/")
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.is_active  # the membership is disabled, not the account
    assert Membership.objects.get(user=member).disabled
    # Still listed (disabled), and can be re-enabled.
    assert "MARTIN Léa</a>" in client.get(f"/e/{est.uai}/annuaire/").content.decode()
    assert client.post(f"/e/{est.uai}/annuaire/{member.pk}/reactiver/").status_code == 302
    member.refresh_from_db()
    assert member.is_active and not Membership.objects.get(user=member).disabled


@pytest.mark.django_db
def test_non_admin_gets_403_on_directory(client, member, est):
    client.force_login(member)
    assert client.get(f"/e/{est.uai}/").status_code == 200
    assert client.get(f"/e/{est.uai}/annuaire/").status_code == 403


@pytest.mark.django_db
def test_maintenance_global_and_per_establishment(client, member, est, call_json):
    client.force_login(member)
    call_json("maintenance", "on", "--uai", est.uai)
    response = client.get(f"/e/{est.uai}/")
    assert response.status_code == 503 and "maintenance" in response.content.decode()
    assert client.get("/").status_code == 200
    call_json("maintenance", "off", "--uai", est.uai)
    call_json("maintenance", "on", "--message", "Retour à 14 h.")
    response = client.get("/")
    assert response.status_code == 503 and "Retour à 14 h." in response.content.decode()
    assert client.get("/healthz").status_code == 200
    assert call_json("maintenance", "off")["maintenance"] is False
    assert client.get("/").status_code == 200
    assert Platform.get().maintenance is False


@pytest.mark.django_db
def test_metrics_exposed(client, member):
    client.post("/connexion/", {"username": "lea.martin", "password": "wrong-password"})
    client.post("/connexion/", {"username": "lea.martin", "password": PASSWORD})
    text = client.get("/metrics").content.decode()
    assert re.search(r'preau_logins_total\{result="ok"\} [1-9]', text)
    assert re.search(r'preau_logins_total\{result="failed"\} [1-9]', text)
    assert 'preau_http_requests_total{method="POST",status="302",view="login"}' in text
    assert "preau_http_request_duration_seconds_bucket" in text
    assert re.search(r"preau_active_sessions [1-9]", text)


@pytest.mark.django_db
def test_throttle_window_resets_after_success(member):
    for _ in range(5):
        throttle.record_attempt("lea.martin", "10.0.0.1", False)
    assert throttle.retry_after("lea.martin", "10.0.0.1") > 0
    throttle.record_attempt("lea.martin", "10.0.0.1", True)
    throttle.record_attempt("lea.martin", "10.0.0.1", False)
    assert throttle.retry_after("lea.martin", "10.0.0.1") == 0


@pytest.mark.django_db
def test_database_error_in_a_view_gives_503_not_traceback(member, monkeypatch):
    from django.db import OperationalError

    from preau.ent.views import dashboard as views

    def broken(request, uai):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(views, "dashboard", broken)
    import importlib

    import preau.ent.urls
    import preau.urls

    def reload_urls():
        importlib.reload(preau.ent.urls)
        importlib.reload(preau.urls)

    reload_urls()
    from django.urls import clear_url_caches

    clear_url_caches()
    try:
        client = Client(raise_request_exception=False)
        client.force_login(member)
        response = client.get("/e/0820021C/")
        assert (
            response.status_code == 503
            and "momentanément indisponible" in response.content.decode()
        )
        monkeypatch.setattr(views, "dashboard", lambda request, uai: 1 / 0)
        reload_urls()
        clear_url_caches()
        response = client.get("/e/0820021C/")
        assert response.status_code == 500 and "Erreur interne" in response.content.decode()
        assert "ZeroDivisionError" not in response.content.decode()
    finally:
        monkeypatch.undo()
        reload_urls()
        clear_url_caches()


@pytest.mark.django_db
def test_local_admin_cannot_touch_platform_admin(client, adml, est):
    admc = User.objects.create_superuser("admc", PASSWORD)
    Membership.objects.create(user=admc, establishment=est, profile="DIR")
    client.force_login(adml)
    assert client.post(f"/e/{est.uai}/annuaire/{admc.pk}/code/").status_code == 403
    admc.refresh_from_db()
    assert admc.check_password(PASSWORD)


@pytest.mark.django_db
def test_past_year_class_is_read_only(est, member):
    from django.core.exceptions import ValidationError

    from preau.core.models import ClassGroup, ClassMembership

    old = ClassGroup.objects.create(establishment=est, name="6A", school_year=2020, read_only=True)
    with pytest.raises(ValidationError):
        ClassMembership.objects.create(class_group=old, user=member)


@pytest.mark.django_db
def test_requests_queued_too_long_get_a_fast_please_wait(client, member, django_assert_num_queries):
    import time

    from preau.core.middleware import queue_seconds

    now = time.time()
    assert queue_seconds(f"t={now - 0.5:.3f}", now) == pytest.approx(0.5, abs=0.01)
    assert queue_seconds(str(int((now - 2) * 1000)), now) == pytest.approx(
        2, abs=0.01
    )  # milliseconds
    assert queue_seconds("garbage", now) is None
    client.force_login(member)
    with django_assert_num_queries(0):  # no database work at all for a shed request
        response = client.get("/", HTTP_X_REQUEST_START=f"t={time.time() - 5:.3f}")
    assert response.status_code == 503 and response["Retry-After"] == "10"
    assert (
        "très sollicité" in response.content.decode()
        and 'http-equiv="refresh"' in response.content.decode()
    )
    assert client.get("/", HTTP_X_REQUEST_START=f"t={time.time():.3f}").status_code == 200
    assert client.get("/healthz", HTTP_X_REQUEST_START="t=1").status_code == 200


@pytest.mark.django_db
def test_requests_queued_while_the_host_restarted_are_served_not_shed(client, member, monkeypatch):
    """A converge restarts gunicorn; the socket keeps the requests meanwhile. Those the lb
    received before this host was ready again waited for the restart, not behind an overload:
    served. Those received since, and waiting as long, are an overload: shed (issue #20's
    rotation drill: shedding the first kind failed requests at every restart)."""
    import time

    from preau.core import middleware

    client.force_login(member)
    ready = time.time() - 3  # gunicorn ready again 3 s ago
    monkeypatch.setattr(middleware, "SERVING_SINCE", ready)
    queued_during_restart = client.get("/", HTTP_X_REQUEST_START=f"t={ready - 2:.3f}")
    assert queued_during_restart.status_code == 200
    overload = client.get("/", HTTP_X_REQUEST_START=f"t={ready + 0.5:.3f}")  # waited 2.5 s
    assert overload.status_code == 503
