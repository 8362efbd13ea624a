"""Who may act on an account from an establishment's directory (issue #16, item 1): a local
admin (ADML) of A never resets, disables or re-enables an account that is active in B, gone or
disabled memberships in A give no power over it, the platform admin (ADMC) may, disabling acts on
the membership only, and every reset is audited (OperationLog row + `preau.audit` line)."""

import datetime as dt
import logging
import re
import zoneinfo

import pytest
from django.test import Client
from playwright.sync_api import expect

from preau.core.models import Membership, OperationLog, User
from tests.helpers import make_establishment, snapshot

PASSWORD = "un-mot-de-passe-solide"
ACTIONS = ("code", "desactiver", "reactiver")


def _user(username, *memberships, **fields):
    """An account with a password and memberships given as (establishment, fields) pairs."""
    user = User.objects.create_user(
        username,
        PASSWORD,
        first_name=username.split(".")[0].title(),
        last_name=username.split(".")[-1].upper(),
        **fields,
    )
    for est, extra in memberships:
        Membership.objects.create(user=user, establishment=est, **{"profile": "ENS", **extra})
    return user


@pytest.fixture
def w(db):
    a, b = (
        make_establishment(),
        make_establishment("0820010R", "Collège Olympe de Gouges", "Castelsarrasin"),
    )
    return {
        "A": a,
        "B": b,
        "adml": _user("anne.delpech", (a, {"profile": "DIR", "is_local_admin": True})),
        "shared": _user("paul.shared", (a, {}), (b, {})),
        "left_a": _user("lou.left", (a, {"gone_since": "2026-01-05"}), (b, {})),
        "disabled_a": _user("dan.disabled", (a, {"disabled": True}), (b, {})),
        "only_a": _user("lea.martin", (a, {"profile": "ELV"}), (b, {"gone_since": "2025-07-01"})),
        "admc": User.objects.create_superuser("admc", PASSWORD),
    }


def _post(client, est, user, action):
    return client.post(f"/e/{est.uai}/annuaire/{user.pk}/{action}/")


def _code(response) -> str:
    return re.search(r'data-testid="activation-code">(\w+)<', response.content.decode()).group(1)


def _logs_in(user) -> Client:
    client = Client()
    response = client.post("/connexion/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, f"{user.username} cannot log in"
    return client


@pytest.mark.parametrize("target", ["shared", "left_a", "disabled_a", "adml"])
def test_adml_cannot_act_on_account_active_elsewhere_or_own(client, w, target):
    """Active in B (also through a gone or disabled membership in A), or the admin's own account:
    every action is refused with 403 and nothing changes."""
    client.force_login(w["adml"])
    User.objects.update(last_login=None)
    before = snapshot()
    for action in ACTIONS:
        response = _post(client, w["A"], w[target], action)
        assert response.status_code == 403, f"{target} {action} → {response.status_code}"
        assert 'data-testid="activation-code"' not in response.content.decode()
    User.objects.update(last_login=None)
    assert snapshot() == before
    _logs_in(w[target])  # the password still works


def test_page_says_who_can_reset_a_shared_account(client, w):
    client.force_login(w["adml"])
    page = client.get(f"/e/{w['A'].uai}/annuaire/{w['shared'].pk}/").content.decode()
    assert "administrateur central" in page and "paul.shared" in page
    assert "Générer un nouveau code" not in page and "Désactiver dans cet" not in page
    # Positive control: the account present only in A has its buttons.
    page = client.get(f"/e/{w['A'].uai}/annuaire/{w['only_a'].pk}/").content.decode()
    assert "Générer un nouveau code" in page and "administrateur central" not in page


def test_adml_resets_account_only_in_a_and_it_is_audited(
    client, w, caplog, django_capture_on_commit_callbacks
):
    client.force_login(w["adml"])
    with (
        caplog.at_level(logging.INFO, logger="preau.audit"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = _post(client, w["A"], w["only_a"], "code")
    assert response.status_code == 200
    code = _code(response)
    w["only_a"].refresh_from_db()
    assert not w["only_a"].has_usable_password()
    row = OperationLog.objects.get(kind="activation_code")
    assert row.establishment == w["A"]
    assert row.summary == {"by": "anne.delpech", "via": "annuaire", "users": ["lea.martin"]}
    [line] = [r for r in caplog.records if r.name == "preau.audit"]
    assert (line.action, line.by, line.establishment, line.users) == (
        "activation_code",
        "anne.delpech",
        "0820021C",
        "lea.martin",
    )
    assert code not in caplog.text and code not in str(row.summary)
    # The person then activates the account with that code.
    ok = Client().post(
        "/activation/",
        {
            "username": "lea.martin",
            "code": code,
            "password1": "ma-cour-de-recre-2026",
            "password2": "ma-cour-de-recre-2026",
        },
    )
    assert ok.status_code == 302


def test_admc_resets_the_shared_account(client, w, caplog, django_capture_on_commit_callbacks):
    client.force_login(w["admc"])
    page = client.get(f"/e/{w['A'].uai}/annuaire/{w['shared'].pk}/").content.decode()
    assert "Générer un nouveau code" in page
    with (
        caplog.at_level(logging.INFO, logger="preau.audit"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = _post(client, w["A"], w["shared"], "code")
    assert response.status_code == 200 and len(_code(response)) == 10
    row = OperationLog.objects.get(kind="activation_code")
    assert row.summary == {"by": "admc", "via": "annuaire", "users": ["paul.shared"]}
    assert [r.by for r in caplog.records if r.name == "preau.audit"] == ["admc"]


def test_disable_acts_on_the_membership_only(client, w):
    a, b = w["A"], w["B"]
    # The ADMC disables the shared teacher in A: still logs in, still reaches B, no longer A.
    client.force_login(w["admc"])
    assert _post(client, a, w["shared"], "desactiver").status_code == 302
    teacher = _logs_in(w["shared"])
    assert teacher.get(f"/e/{b.uai}/").status_code == 200
    assert teacher.get(f"/e/{a.uai}/").status_code == 404
    # The ADML disables a pupil present only in A: the account itself stays active ...
    client.force_login(w["adml"])
    assert _post(client, a, w["only_a"], "desactiver").status_code == 302
    w["only_a"].refresh_from_db()
    assert w["only_a"].is_active and w["only_a"].disabled_at is None
    assert Membership.objects.get(user=w["only_a"], establishment=a).disabled
    # ... so when the pupil moves to B, B works at once, and A stays closed.
    Membership.objects.filter(user=w["only_a"], establishment=b).update(gone_since=None)
    pupil = _logs_in(w["only_a"])
    assert pupil.get(f"/e/{b.uai}/").status_code == 200
    assert pupil.get(f"/e/{a.uai}/").status_code == 404
    assert [(r.kind, r.summary["by"]) for r in OperationLog.objects.order_by("at", "pk")] == [
        ("account_disabled", "admc"),
        ("account_disabled", "anne.delpech"),
    ]


def test_adml_reenables_in_a_once_b_is_gone(client, w):
    """The rule follows current memberships: once the account is no longer active in B, the ADML
    of A may re-enable it in A."""
    Membership.objects.filter(user=w["disabled_a"], establishment=w["B"]).update(
        gone_since="2026-01-05"
    )
    client.force_login(w["adml"])
    assert _post(client, w["A"], w["disabled_a"], "reactiver").status_code == 302
    assert not Membership.objects.get(user=w["disabled_a"], establishment=w["A"]).disabled
    assert _logs_in(w["disabled_a"]).get(f"/e/{w['A'].uai}/").status_code == 200


def test_operator_command_is_audited(w, call_json, caplog, django_capture_on_commit_callbacks):
    with (
        caplog.at_level(logging.INFO, logger="preau.audit"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        dry = call_json("activation_codes", w["A"].uai, "--user", "paul.shared", "--dry-run")
    assert dry["count"] == 1 and not OperationLog.objects.exists()
    assert not [r for r in caplog.records if r.name == "preau.audit"]
    with (
        caplog.at_level(logging.INFO, logger="preau.audit"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        report = call_json("activation_codes", w["A"].uai, "--user", "paul.shared")
    code = report["codes"][0]["code"]
    row = OperationLog.objects.get(kind="activation_code", establishment=w["A"])
    assert row.summary["via"] == "activation_codes" and row.summary["users"] == ["paul.shared"]
    assert row.summary["by"].startswith("operator:")
    [line] = [r for r in caplog.records if r.name == "preau.audit"]
    assert line.users == "paul.shared" and line.establishment == "0820021C"
    assert code not in caplog.text and code not in str(row.summary)


def test_no_email_from_an_establishment_that_disabled_the_member(client, w, settings, run_jobs):
    """Disabled in A, active in B: A's notifications are no longer e-mailed, B's still are."""
    from django.core import mail

    from preau.ent import notify

    settings.PREAU_EMAIL_NOTIFICATIONS = True
    for est in (w["A"], w["B"]):
        est.settings = {"email_notifications": True}
        est.save()
    tuesday_noon = dt.datetime(2026, 3, 10, 12, 0, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))
    User.objects.filter(pk=w["shared"].pk).update(email="paul.shared@example.org")
    client.force_login(w["admc"])
    assert _post(client, w["A"], w["shared"], "desactiver").status_code == 302
    notify.notify(w["A"], [w["shared"].pk], "Nouveau message dans A", now=tuesday_noon)
    notify.notify(w["B"], [w["shared"].pk], "Nouveau message dans B", now=tuesday_noon)
    run_jobs()
    assert [m.subject for m in mail.outbox] == ["[Préau] Nouveau message dans B"]


@pytest.mark.browser
def test_refusal_page_in_the_browser(page, live_server, transactional_db, check_a11y):
    from tests.helpers import sign_in

    a, b = (
        make_establishment(),
        make_establishment("0820010R", "Collège Olympe de Gouges", "Castelsarrasin"),
    )
    admin = _user("anne.delpech", (a, {"profile": "DIR", "is_local_admin": True}))
    shared = _user("paul.shared", (a, {}), (b, {}))
    sign_in(page, live_server, admin)  # second factor passed (test_browser.py enrols)
    page.goto(f"/e/{a.uai}/annuaire/{shared.pk}/")
    expect(
        page.get_by_test_id("account-refusal").get_by_text("administrateur central", exact=False)
    ).to_be_visible()
    assert page.get_by_role("button", name="Générer un nouveau code d'activation").count() == 0
    check_a11y(page, "annuaire-compte-partage")


def test_disabling_asks_for_confirmation_first(client, w):
    """The fiche links to a confirmation page (GET: what will happen, nothing changes); its
    POST disables and redirects (Post/Redirect/Get). Before, the fiche's button disabled at
    once and a GET of the URL was a 405. Refused accounts get the reason on GET too."""
    a, pupil = w["A"], w["only_a"]
    client.force_login(w["adml"])
    url = f"/e/{a.uai}/annuaire/{pupil.pk}/desactiver/"
    fiche = client.get(f"/e/{a.uai}/annuaire/{pupil.pk}/").content.decode()
    assert f'href="{url}"' in fiche
    before = snapshot()
    page = client.get(url)
    html = page.content.decode()
    assert page.status_code == 200 and "Confirmer la désactivation" in html
    assert "n'aura plus accès" in html and "Annuler" in html
    assert snapshot() == before and not OperationLog.objects.exists()
    response = client.post(url)
    assert response.status_code == 302 and response["Location"] == f"/e/{a.uai}/annuaire/"
    assert Membership.objects.get(user=pupil, establishment=a).disabled
    refused = client.get(f"/e/{a.uai}/annuaire/{w['shared'].pk}/desactiver/")
    assert refused.status_code == 403 and "administrateur central" in refused.content.decode()
    assert "Confirmer la désactivation" not in refused.content.decode()
