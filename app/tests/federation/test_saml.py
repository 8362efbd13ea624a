"""Préau as a SAML 2.0 service provider, against pysaml2's own IdP (tests/federation/idp.py):
pupils, parents and staff matched to their AAF accounts by stable identifiers, every refusal a
French page and one audit line, single logout both ways."""

import atexit
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib import auth
from django.test import Client
from django.urls import reverse

from preau.core.models import Membership, ParentLink, User
from preau.ent import letters
from preau.ent.models import LetterBatch
from preau.federation import saml
from preau.federation.models import SeenAssertion
from tests.federation.idp import BASE, SP_ENTITY, IdP, keypair
from tests.helpers import SecondFactorClient, make_establishment, onward_destination
from tests.school import make_school

INE = "070803070AJ"


@pytest.fixture
def idps(tmp_path, settings, db):
    yield configure(tmp_path, settings, BASE)
    saml.reset()


def configure(tmp_path, settings, base: str) -> dict[str, IdP]:
    """Préau's SP at `base` trusting the two test IdPs, and the IdPs trusting it. The keys and
    the IdPs are made once per `base` (_trusted_idps); the metadata files each test's SP reads
    are its own copies, in `tmp_path` (a metadata refresh rewrites them)."""
    shared, idps = _trusted_idps(settings, base)
    for name in ("idp-educonnect.xml", "idp-agents.xml", "sp.xml"):
        shutil.copyfile(shared / name, tmp_path / name)
    settings.PREAU_FEDERATION = _federation_settings(settings, base, idps, shared, tmp_path)
    saml.reset()
    return idps


# base URL -> (the directory of the keys and metadata files, the IdPs trusting that SP)
_TRUSTED: dict[str, tuple[Path, dict[str, IdP]]] = {}


def _trusted_idps(settings, base: str) -> tuple[Path, dict[str, IdP]]:
    """Made once per test run and base URL, as configure() did for each test before: three RSA
    keys and four pysaml2 set-ups (~0.7 s). No test changes them: the tests that need another
    key make a forger of their own."""
    if base not in _TRUSTED:
        directory = Path(tempfile.mkdtemp(prefix="preau-saml-"))
        atexit.register(shutil.rmtree, directory, True)
        keypair(directory, "sp")
        bare = {name: IdP(directory, name) for name in ("educonnect", "agents")}
        for idp in bare.values():
            idp.metadata_file()
        settings.PREAU_FEDERATION = _federation_settings(settings, base, bare, directory, directory)
        saml.reset()
        (directory / "sp.xml").write_text(reverse_metadata())
        _TRUSTED[base] = (
            directory,
            {
                name: IdP(directory, name, str(directory / "sp.xml"), keys=(idp.key, idp.cert))
                for name, idp in bare.items()
            },
        )
    return _TRUSTED[base]


def sp_metadata_file(settings, base: str) -> Path:
    """Préau's SP metadata at `base`, as configure() publishes it: what an IdP of its own
    (tests/lab/partners/idp.py, test_partners.py) is given to trust the SP."""
    return _trusted_idps(settings, base)[0] / "sp.xml"


def _federation_settings(settings, base: str, idps: dict, keys: Path, metadata: Path) -> dict:
    """The SP's settings: its keys in `keys`, the IdPs' metadata files in `metadata`."""
    return {
        **settings.PREAU_FEDERATION,
        "sp_entity_id": SP_ENTITY,
        "base_url": base,
        "sp_key_file": str(keys / "sp.key"),
        "sp_cert_file": str(keys / "sp.crt"),
        "educonnect_entity_id": idps["educonnect"].entity_id,
        "educonnect_metadata": str(metadata / "idp-educonnect.xml"),
        "agents_entity_id": idps["agents"].entity_id,
        "agents_metadata": str(metadata / "idp-agents.xml"),
    }


def reverse_metadata() -> str:
    from django.test import Client

    response = Client().get(reverse("federation_metadata"))
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def w(db):
    a, b = make_school("A", "0820021C"), make_school("B", "0820010R")
    a["student"].ine = INE
    a["student"].save()
    a["teacher"].join_key = "ENS-0042"
    a["teacher"].save()
    # The parent of two children in two establishments: one account, a membership in each.
    parent, child_b = a["parent"], b["student"]
    parent.join_key = "AC-TOULOUSE$9001"
    parent.save()
    child_b.ine = "070803071BK"
    child_b.save()
    Membership.objects.create(user=parent, establishment=b["est"], profile="TUT")
    ParentLink.objects.create(establishment=b["est"], parent=parent, child=child_b)
    return {"A": a, "B": b}


def start(client, idp="educonnect") -> str:
    response = client.get(reverse("federation_login", args=[idp]))
    assert response.status_code == 302
    return response["Location"]


def log_in(client, idp, attributes, **overrides):
    location = start(client, idp.name)
    return client.post(reverse("federation_acs"), idp.answer(location, attributes, **overrides))


PUPIL = {"FrEduCtPersonAffiliation": ["eleve2d"], "FrEduCtEleveINE": [INE]}
PARENT = {
    "FrEduCtPersonAffiliation": ["resp2d"],
    "FrEduCtRefId": ["{AAF}16|1|9001", "{ECT}123"],
    "FrEduCtEleveINE": [INE, "070803071BK"],
}

# The staff of a tests.school establishment, whom the agents' IdP serves.
STAFF_ROLES = ("admin", "teacher", "evs", "agent")


def federated_logins(s) -> dict[str, tuple[str, dict]]:
    """{role: (IdP, the attributes it asserts)} for the members of the school `s` whom the
    IdPs serve, once they have the identifiers the AAF feed gives them (the pupil's INE, the
    others' join keys). The parent names their child; the contact (add_access_roles: a
    responsable without parental authority, when `s` has one) comes by AAF identifier alone."""
    s["student"].ine = INE
    s["student"].save()
    logins = {"student": ("educonnect", PUPIL)}
    for role in (*STAFF_ROLES, "parent", "contact"):
        if role not in s:
            continue
        s[role].join_key = f"AC-TOULOUSE${role.upper()}-1"
        s[role].save()
        if role in STAFF_ROLES:
            logins[role] = ("agents", {"ENTPersonJointure": [s[role].join_key]})
        else:
            logins[role] = (
                "educonnect",
                {
                    "FrEduCtPersonAffiliation": ["resp2d"],
                    "FrEduCtRefId": [f"{{AAF}}16|1|{role.upper()}-1"],
                    **({"FrEduCtEleveINE": [INE]} if role == "parent" else {}),
                },
            )
    return logins


def federated_client(idps, s, role: str, logins) -> Client:
    """A new browser logged in as `role` of `s` through its IdP's signed answer at the ACS."""
    idp, attributes = logins[role]
    client = Client()
    response = log_in(client, idps[idp], attributes)
    assert response.status_code == 302, response.content.decode()
    assert client.session[saml.SESSION_KEY]["idp"] == idp
    assert client.session[auth.SESSION_KEY] == str(s[role].pk)
    return client


def test_login_page_offers_both_idps_above_the_form(client, idps, db):
    body = client.get(reverse("login")).content.decode()
    assert "Élève ou parent (ÉduConnect)" in body and "Personnel (académie)" in body
    assert body.index("Personnel (académie)") < body.index('name="password"')


def test_login_page_without_federation_has_the_form_only(client, db):
    body = client.get(reverse("login")).content.decode()
    assert "ÉduConnect" not in body and 'name="password"' in body


def test_authn_request_is_signed_and_relay_state_short(client, idps, db):
    query = parse_qs(urlsplit(start(client)).query)
    assert query["SigAlg"] and query["Signature"]
    assert len(query["RelayState"][0]) <= 80  # SAML bindings, 3.4.3


def test_pupil_logs_in_by_ine_and_lands_on_the_dashboard(client, idps, w, caplog):
    with caplog.at_level(logging.INFO, logger="preau.audit"):
        response = log_in(client, idps["educonnect"], PUPIL)
    assert response.status_code == 302 and response["Location"] == "/e/0820021C/"
    page = client.get("/e/0820021C/")
    assert page.status_code == 200 and page.wsgi_request.user == w["A"]["student"]
    [line] = [r for r in caplog.records if r.msg == "federation_login"]
    assert line.user_id == w["A"]["student"].pk and line.idp == "educonnect"


def test_parent_of_two_children_in_two_establishments_sees_both(client, idps, w):
    response = log_in(client, idps["educonnect"], PARENT)
    assert response.status_code == 302 and response["Location"] == "/"
    home = client.get("/").content.decode()
    assert "A-unique-name" in home and "B-unique-name" in home
    assert client.get("/e/0820010R/").status_code == 200


def test_parent_without_aaf_vector_matches_by_children_when_one_guardian(client, idps, w):
    attributes = {"FrEduCtPersonAffiliation": ["resp2d"], "FrEduCtEleveINE": [INE]}
    response = log_in(client, idps["educonnect"], attributes)
    assert response.status_code == 302
    assert client.get("/").wsgi_request.user == w["A"]["parent"]


def test_teacher_logs_in_through_the_agents_idp(client, idps, w):
    attributes = {"ENTPersonJointure": ["ENS-0042"]}
    response = log_in(client, idps["agents"], attributes)
    assert response.status_code == 302 and response["Location"] == "/e/0820021C/"
    assert client.get("/e/0820021C/").status_code == 200


def test_a_local_admin_still_meets_the_second_factor(client, idps, w):
    w["A"]["admin"].join_key = "DIR-0001"
    w["A"]["admin"].save()
    log_in(client, idps["agents"], {"ENTPersonJointure": ["DIR-0001"]})
    response = client.get("/e/0820021C/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("two_factor_setup"))


def test_educonnect_cannot_open_a_staff_account(client, idps, w):
    # The teacher's join key carried by ÉduConnect: not a parent's membership, refused.
    attributes = {"FrEduCtPersonAffiliation": ["resp2d"], "FrEduCtRefId": ["{AAF}16|1|ENS-0042"]}
    response = log_in(client, idps["educonnect"], attributes)
    assert response.status_code == 403


@pytest.mark.parametrize("beyond", ["teacher_elsewhere", "platform_admin"])
def test_an_account_with_rights_the_idp_does_not_vouch_for_is_refused(
    client, idps, w, audit, beyond
):
    """The parent's account also teaches in a third establishment, or administers the
    platform: ÉduConnect vouches for a parent, not for those rights. Before the check, the
    login went through (302 to the account's home)."""
    parent = w["A"]["parent"]
    c = make_establishment("0820030M", name="Collège C")
    if beyond == "teacher_elsewhere":
        Membership.objects.create(user=parent, establishment=c, profile="ENS")
    else:
        User.objects.filter(pk=parent.pk).update(is_superuser=True)
    response = log_in(client, idps["educonnect"], PARENT)
    refusal(audit, response, 403, "rights_beyond_idp", "des droits que")
    assert auth.SESSION_KEY not in client.session
    assert client.get("/e/0820030M/").status_code == 302  # to the login page
    lines = [r for r in audit.records if r.msg == "federation_refused"]
    assert lines[0].user_id == str(parent.pk)


def test_agents_refuse_a_teacher_account_that_is_also_a_parent(client, idps, w, audit):
    """The same rule the other way: the académie's portal vouches for staff, not for the
    parent's rights the account has in B."""
    Membership.objects.create(user=w["A"]["teacher"], establishment=w["B"]["est"], profile="TUT")
    response = log_in(client, idps["agents"], {"ENTPersonJointure": ["ENS-0042"]})
    refusal(audit, response, 403, "rights_beyond_idp", "des droits que")


def test_rights_gone_or_disabled_elsewhere_do_not_refuse(client, idps, w):
    """Only current memberships count: a teaching post the account left (gone) or a local
    admin disabled gives no right, so it does not stand in the parent's way."""
    parent = w["A"]["parent"]
    c, d = make_establishment("0820030M", "Collège C"), make_establishment("0820040Y", "Collège D")
    Membership.objects.create(user=parent, establishment=c, profile="ENS", gone_since="2026-01-01")
    Membership.objects.create(user=parent, establishment=d, profile="ENS", disabled=True)
    assert log_in(client, idps["educonnect"], PARENT).status_code == 302
    assert client.session[auth.SESSION_KEY] == str(parent.pk)


def test_letters_leave_out_exactly_the_accounts_that_logged_in_through_an_idp(
    client, idps, w, call_json, tmp_path
):
    """A parent with an AAF join key (ÉduConnect could find them) who never logged in through
    it gets a letter; once they have, the next batch leaves them out and says so."""
    a = w["A"]
    est, parent = a["est"], a["parent"]
    # Only in A: a local admin's batch leaves out the accounts also current elsewhere.
    Membership.objects.filter(user=parent, establishment=w["B"]["est"]).delete()
    asked = {"class_name": "5A", "profile": "parents", "by": "x", "site_url": BASE}
    first = letters.create_batch(est, background=False, **asked)
    assert parent.pk in first.user_ids and first.federated_left_out == 0

    assert log_in(client, idps["educonnect"], PARENT).status_code == 302
    parent.refresh_from_db()
    assert parent.federated_idp == "educonnect" and parent.federated_since is not None
    since = parent.federated_since
    assert log_in(client, idps["educonnect"], PARENT).status_code == 302  # the first one stays
    assert User.objects.get(pk=parent.pk).federated_since == since

    # The batch asked for before the login is made after it: no code for them either.
    assert letters.make(first.pk)["letters"] == 1
    admin = SecondFactorClient()
    admin.force_login(a["admin"])
    page = reverse("letters", kwargs={"uai": est.uai})
    batch_page = admin.post(page, {"class_name": "5A", "profile": "TUT"}, follow=True)
    second = LetterBatch.objects.of(est).latest("pk")
    assert parent.pk not in second.user_ids and a["other_parent"].pk in second.user_ids
    assert second.federated_left_out == 1
    body = batch_page.content.decode()
    assert "1 compte(s) laissé(s) de côté : ils se sont déjà connectés par ÉduConnect" in body
    assert "1 compte(s) déjà connecté(s) par ÉduConnect ou le guichet académique" in body
    out = str(tmp_path / "l.pdf")
    cli = call_json(
        "letters", est.uai, "--class=5A", "--profile=parents", f"--output={out}", "--site-url=x"
    )
    assert cli["letters"] == 1 and cli["federated_left_out"] == 1


def refusal(caplog, response, status, reason, words):
    body = response.content.decode()
    assert response.status_code == status, body
    assert "Connexion refusée" in body and words in body
    lines = [r for r in caplog.records if r.msg == "federation_refused"]
    assert [line.reason for line in lines] == [reason]


@pytest.fixture
def audit(caplog):
    with caplog.at_level(logging.INFO, logger="preau.audit"):
        yield caplog


def test_unknown_person_gets_a_french_page_and_no_account(client, idps, w, audit):
    from preau.core.models import User

    before = User.objects.count()
    attributes = {**PUPIL, "FrEduCtEleveINE": ["999999999ZZ"]}
    response = log_in(client, idps["educonnect"], attributes)
    refusal(audit, response, 403, "unknown_person", "aucun compte Préau ne lui correspond")
    assert User.objects.count() == before
    assert "_auth_user_id" not in client.session


def test_ambiguous_person_is_refused_and_reported(client, idps, w, audit):
    w["A"]["other_student"].ine = INE  # the same INE on two accounts
    w["A"]["other_student"].save()
    response = log_in(client, idps["educonnect"], PUPIL)
    refusal(audit, response, 403, "ambiguous_person", "plusieurs comptes Préau")
    [line] = [r for r in audit.records if r.msg == "federation_refused"]
    ids = {w["A"]["student"].pk, w["A"]["other_student"].pk}
    assert set(map(int, line.candidates.split(","))) == ids


def test_person_gone_from_every_establishment_is_unknown(client, idps, w, audit):
    Membership.objects.filter(user=w["A"]["student"]).update(gone_since="2026-01-01")
    response = log_in(client, idps["educonnect"], PUPIL)
    refusal(audit, response, 403, "unknown_person", "établissement ouvert")


def test_bad_signature_is_refused(client, idps, w, audit, tmp_path):
    # An IdP with the same entity ID but another key: its signature does not verify.
    response = client.post(reverse("federation_acs"), forger_answer(client, tmp_path))
    refusal(audit, response, 403, "bad_signature", "signature")


def forger_answer(client, tmp_path):
    sp_metadata = str(tmp_path / "sp.xml")
    forger = IdP(tmp_path, "educonnect", sp_metadata, keys=keypair(tmp_path, "forger"))
    return forger.answer(start(client), PUPIL)


def test_expired_assertion_is_refused(client, idps, w, audit, monkeypatch):
    location = start(client)
    data = idps["educonnect"].answer(location, PUPIL)
    import saml2.validate

    later = saml2.validate.time_util.utc_now() + 3600
    monkeypatch.setattr(saml2.validate.time_util, "utc_now", lambda: later)
    response = client.post(reverse("federation_acs"), data)
    refusal(audit, response, 403, "expired", "expiré")


def test_replayed_assertion_is_refused(client, idps, w, audit):
    data = idps["educonnect"].answer(start(client), PUPIL)
    binding = client.cookies["preau_saml_login"].value  # as a second tab would still hold it
    assert client.post(reverse("federation_acs"), data).status_code == 302
    client.logout()
    client.cookies["preau_saml_login"] = binding
    response = client.post(reverse("federation_acs"), data)
    refusal(audit, response, 403, "replayed", "déjà servi")
    assert SeenAssertion.objects.count() == 1


def test_assertion_for_another_audience_is_refused(client, idps, w, audit):
    location = start(client)
    data = idps["educonnect"].answer(location, PUPIL, sp_entity_id="https://autre-ent.test/sp")
    response = client.post(reverse("federation_acs"), data)
    refusal(audit, response, 403, "wrong_audience", "autre service")


def test_answer_to_no_request_of_ours_is_refused(client, idps, w, audit):
    data = idps["educonnect"].answer(start(client), PUPIL)
    data["RelayState"] = "id0000:forged:relay"
    response = client.post(reverse("federation_acs"), data)
    refusal(audit, response, 400, "unsolicited", "aucune demande")


def test_an_answer_brought_by_another_browser_is_refused(client, idps, w, audit):
    """Login CSRF: someone starts a login with their own IdP account and has another person's
    browser post the IdP's answer to our ACS (a hidden form): that browser did not start the
    login (no binding cookie), so nobody is logged in there."""
    from django.test import Client

    attacker_answer = idps["educonnect"].answer(start(Client()), PUPIL)
    response = client.post(reverse("federation_acs"), attacker_answer)
    refusal(audit, response, 403, "other_browser", "ce navigateur")
    assert "_auth_user_id" not in client.session
    # the browser that started it still logs in with its own answer, and the binding goes
    assert log_in(client, idps["educonnect"], PUPIL).status_code == 302
    assert client.cookies["preau_saml_login"].value == ""


@pytest.mark.parametrize("posted", [{}, {"SAMLResponse": "pas du base64 !", "RelayState": ""}])
def test_garbage_is_a_clear_400(client, idps, w, audit, posted):
    response = client.post(reverse("federation_acs"), posted)
    assert response.status_code == 400 and "Connexion refusée" in response.content.decode()
    for query in ({}, {"SAMLRequest": "x\u00e9%"}, {"SAMLResponse": "AAAA", "Signature": "z"}):
        response = client.get(reverse("federation_sls"), query)
        assert response.status_code == 400, query


def test_logout_from_preau_ends_the_idp_session_too(client, idps, w):
    log_in(client, idps["educonnect"], PUPIL)
    response = client.post(reverse("logout"))
    # The logout form's answer sends the browser on from a page, not by a redirection (nginx's
    # CSP form-action 'self' would stop it before the IdP: seen in the lab).
    location = onward_destination(response)
    assert location.startswith(idps["educonnect"].entity_id + "/slo?")
    assert "Signature=" in location
    assert "_auth_user_id" not in client.session  # Préau's session ended at once
    page = client.get(idps["educonnect"].answer_logout(location))
    assert page.status_code == 200
    assert "déconnecté de Préau et de Élève ou parent (ÉduConnect)" in page.content.decode()


def test_logout_requested_by_the_idp_ends_the_session(client, idps, w):
    log_in(client, idps["educonnect"], PUPIL)
    response = client.get(idps["educonnect"].logout_request("sujet-1"))
    assert response.status_code == 302
    answer = response["Location"]
    assert answer.startswith(idps["educonnect"].entity_id + "/slo?SAMLResponse=")
    assert "_auth_user_id" not in client.session
    assert client.get("/e/0820021C/").status_code == 302  # back to the login page


def test_unsigned_logout_request_is_refused_and_the_session_kept(client, idps, w, audit):
    log_in(client, idps["educonnect"], PUPIL)
    response = client.get(idps["educonnect"].logout_request("sujet-1", sign=False))
    assert response.status_code == 403
    assert client.get("/e/0820021C/").status_code == 200


def test_metadata_names_our_endpoints_and_key(client, idps, db):
    body = client.get(reverse("federation_metadata")).content.decode()
    assert f"{BASE}/federation/acs/" in body and f"{BASE}/federation/sls/" in body
    assert "X509Certificate" in body


def test_metadata_publishes_the_next_certificate_during_a_key_rotation(
    client, idps, tmp_path, settings
):
    """`pki saml-rotate publish`: the IdPs read the next certificate beside the current one."""
    _, next_cert = keypair(tmp_path, "sp-next")
    settings.PREAU_FEDERATION = {
        **settings.PREAU_FEDERATION,
        "sp_additional_cert_files": [next_cert],
    }
    saml.reset()
    body = client.get(reverse("federation_metadata")).content.decode()
    published = re.findall(r"X509Certificate>([^<]+)<", body)
    pem = Path(next_cert).read_text()
    assert len(set(published)) == 2 and "".join(pem.splitlines()[1:-1]) in published


def test_the_acs_costs_at_most_ten_statements(client, idps, w):
    """Replay check and match one statement each; the rest is Django's login (session, last
    login, second factor's decision), the connection log and the landing page. The account's
    first federated login costs one UPDATE more (matching.record_login), the later ones none."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for budget in (11, 10):
        data = idps["educonnect"].answer(start(client), PUPIL)
        with CaptureQueriesContext(connection) as queries:
            assert client.post(reverse("federation_acs"), data).status_code == 302
        statements = [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]
        assert len(statements) <= budget, statements


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({}, "base_url, sp_key_file, sp_cert_file required"),
        (
            {"BASE_URL": "https://ent.test", "SP_KEY_FILE": "k", "SP_CERT_FILE": "c",
             "AGENTS_ENTITY_ID": "https://idp"},
            "agents_metadata",
        ),
        (
            {"BASE_URL": "https://ent.test", "SP_KEY_FILE": "k", "SP_CERT_FILE": "c",
             "EDUCONNECT_METADATA_URL": "https://idp/md"},
            "educonnect_metadata_cert",
        ),
    ],
)  # fmt: skip
def test_federation_configuration_names_what_is_missing(tmp_path, extra, error):
    from preau import config

    env = {"PREAU_DJANGO_DEBUG": "1", "PREAU_FEDERATION_SP_ENTITY_ID": SP_ENTITY}
    env.update({f"PREAU_FEDERATION_{key}": value for key, value in extra.items()})
    with pytest.raises(config.ConfigError, match=error):
        config.load(str(tmp_path / "absent.toml"), env)


def test_an_idp_missing_from_its_metadata_file_is_a_clear_503(client, idps, settings, tmp_path):
    (tmp_path / "empty.xml").write_text(
        '<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata"/>'
    )
    settings.PREAU_FEDERATION = {
        **settings.PREAU_FEDERATION,
        "agents_metadata": str(tmp_path / "empty.xml"),
    }
    saml.reset()
    response = client.get(reverse("federation_login", args=["agents"]))
    assert response.status_code == 503 and "indisponible" in response.content.decode()


def test_an_unsigned_logout_answer_is_not_taken_as_the_idps(client, idps, w, audit):
    log_in(client, idps["educonnect"], PUPIL)
    location = onward_destination(client.post(reverse("logout")))
    answer = idps["educonnect"].answer_logout(location)
    unsigned = "&".join(
        p for p in answer.split("?", 1)[1].split("&") if p.startswith("SAMLResponse=")
    )
    page = client.get(f"{reverse('federation_sls')}?{unsigned}")
    assert page.status_code == 403 and "pas confirmé la fin" in page.content.decode()
    assert "_auth_user_id" not in client.session  # Préau's session ended all the same


def test_pysaml2_is_imported_by_a_federated_request_only():
    """pysaml2 builds the SAML schemas when imported (~0.5 s of CPU, ~30 MB): loading the
    URLconf, the login page's list of IdPs, the job worker's tasks and the logout view do not
    import it, so a web worker, the job worker and each preau-manage command do not pay it."""
    import subprocess
    import sys
    from pathlib import Path

    app = Path(__file__).resolve().parents[2]
    code = (
        "import sys, django; django.setup()\n"
        "from django.urls import get_resolver, resolve\n"
        "get_resolver().url_patterns; resolve('/federation/acs/'); resolve('/connexion/')\n"
        "resolve('/federation/gar/sso/'); resolve('/e/0820021C/mediacentre/')\n"
        "import preau.core.views, preau.jobs.tasks, preau.gar.views, preau.gar.export\n"
        "import preau.gar.management.commands.gar, preau.gar.management.commands.gar_export\n"
        "from preau.federation.saml import enabled_idps; enabled_idps()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('saml2', 'xmlschema')))\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{app / 'src'}{os.pathsep}{app}"}
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=app, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout[:500]
