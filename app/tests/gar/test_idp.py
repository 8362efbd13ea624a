"""Préau as the GAR's SAML 2.0 identity provider, checked by pysaml2's own SP as the GAR would:
signed answers with the GAR's attributes for a pupil and a teacher, both bindings, the login in
between; every refusal (unknown SP, unsigned or altered request, an establishment without the
GAR) a French page and an audit line, no assertion."""

import logging
import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.urls import reverse

from preau.core.models import OperationLog
from preau.gar import idp
from preau.gar.models import GarIdentifier
from tests.gar.gar_sp import ENT_ID, IDP_ENTITY, configured
from tests.school import make_school


@pytest.fixture
def sps(settings, db):
    yield configured(settings)
    idp.reset()


@pytest.fixture
def w(db):
    """A school where the GAR is enabled (B, without it, is made by the one test that needs it:
    a school is half a second of setup)."""
    a = make_school("A", "0820021C")
    a["est"].settings = {"gar": True}
    a["est"].save()
    return {"A": a}


def _sso(client, gar, user):
    client.force_login(user)
    request_id, path = gar.redirect_request()
    response = client.get(path)
    assert response.status_code == 200, response.content.decode()[:500]
    return gar.consume(response.content.decode(), request_id)


def test_metadata_names_both_bindings_and_our_certificate(client, sps):
    body = client.get(reverse("gar_metadata")).content.decode()
    assert f'entityID="{IDP_ENTITY}"' in body
    assert "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" in body
    assert "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" in body
    assert "X509Certificate" in body and 'WantAuthnRequestsSigned="true"' in body


def test_pupil_and_teacher_get_signed_assertions_with_the_gar_attributes(client, sps, w):
    a, gar = w["A"], sps["gar"]
    response, relay, raw = _sso(client, gar, a["student"])
    pupil = response.ava
    assert relay == "ressource-42"
    assert pupil[idp.ATTR_ENT_ID] == [ENT_ID]
    assert pupil[idp.ATTR_UAI] == ["0820021C"]
    assert pupil[idp.ATTR_PROFILE] == ["National_elv"]
    person = pupil[idp.ATTR_PERSON_ID][0]
    assert len(person) == 64 and str(a["student"].pk) != person
    assert GarIdentifier.objects.get(user=a["student"]).value == person
    assert response.name_id.text == person
    # Response and assertion both signed (pysaml2 checked both: want_response_signed too).
    assert response.response.signature is not None and response.assertion.signature is not None
    assert set(pupil) == {idp.ATTR_ENT_ID, idp.ATTR_PERSON_ID, idp.ATTR_UAI, idp.ATTR_PROFILE}

    teacher = _sso(client, gar, a["teacher"])[0].ava
    assert teacher[idp.ATTR_PROFILE] == ["National_ens"]
    assert teacher[idp.ATTR_PERSON_ID] != [person]
    # The same person, the same identifier, at every login.
    assert _sso(client, gar, a["student"])[0].ava[idp.ATTR_PERSON_ID] == [person]
    released = OperationLog.objects.filter(establishment=a["est"], kind="gar_assertion")
    assert released.count() == 3
    assert released.first().summary["attributes"] == "idEnt,GARPersonIdentifiant,UAI,PRO"


def test_post_binding_and_the_login_in_between(client, sps, w):
    gar, pupil = sps["gar"], w["A"]["student"]
    request_id, form = gar.post_request()
    kept = client.post(reverse("gar_sso"), form)  # cross-site: no session came with it
    assert kept.status_code == 302 and kept["Location"].startswith(reverse("gar_sso_resume"))
    to_login = client.get(kept["Location"])
    assert to_login.status_code == 302 and to_login["Location"].startswith(reverse("login"))
    client.force_login(pupil)
    answer = client.get(kept["Location"])
    assert answer.status_code == 200
    response, relay, _ = gar.consume(answer.content.decode(), request_id)
    assert response.ava[idp.ATTR_PROFILE] == ["National_elv"] and relay == "ressource-42"


def _refused(client, caplog, path, reason, status=403, method="get", data=None):
    with caplog.at_level(logging.WARNING, logger="preau.audit"):
        response = getattr(client, method)(path, data) if data else client.get(path)
    assert response.status_code == status, response.content.decode()[:300]
    assert "SAMLResponse" not in response.content.decode()
    assert [r.reason for r in caplog.records if r.getMessage() == "gar_refused"] == [reason]
    return response.content.decode()


def test_an_unknown_service_provider_gets_nothing(client, sps, w, caplog):
    client.force_login(w["A"]["student"])
    _, path = sps["stranger"].redirect_request()
    body = _refused(client, caplog, path, "unknown_sp")
    assert "pas le GAR connu de Préau" in body
    assert not OperationLog.objects.filter(kind="gar_assertion").exists()


def test_unsigned_and_altered_requests_are_refused(client, sps, w, caplog):
    client.force_login(w["A"]["student"])
    _, unsigned = sps["gar"].redirect_request(sign=False)
    assert "sa signature" in _refused(client, caplog, unsigned, "bad_signature")
    caplog.clear()
    _, signed = sps["gar"].redirect_request(relay="ressource-1")
    query = {k: v[0] for k, v in parse_qs(urlsplit(signed).query).items()}
    query["RelayState"] = "ressource-2"  # the signature covers it
    _refused(client, caplog, f"{reverse('gar_sso')}?{urlencode(query)}", "bad_signature")
    caplog.clear()
    _refused(
        client, caplog, reverse("gar_sso") + "?SAMLRequest=pas-du-saml", "invalid_request", 400
    )
    caplog.clear()
    resume = reverse("gar_sso_resume") + "?t=forged"
    _refused(client, caplog, resume, "expired", 400)
    assert not OperationLog.objects.filter(kind="gar_assertion").exists()


def test_members_of_an_establishment_without_the_gar_get_nothing(client, sps, w, caplog):
    client.force_login(make_school("B", "0820010R")["student"])  # B has not enabled the GAR
    _, path = sps["gar"].redirect_request()
    body = _refused(client, caplog, path, "not_enabled")
    assert "ouvert à aucun de vos établissements" in body
    assert not GarIdentifier.objects.exists()


def test_idp_off_is_not_found(client, db):
    assert client.get(reverse("gar_metadata")).status_code == 404
    assert client.get(reverse("gar_sso")).status_code == 404


def test_the_idp_needs_its_key_the_gars_metadata_and_the_ent_id(tmp_path):
    from preau import config

    path = tmp_path / "preau.toml"
    path.write_text('[django]\nsecret_key = "x"\n[federation]\ngar_idp_entity_id = "https://e/"\n')
    with pytest.raises(config.ConfigError) as refused:
        config.load(str(path), {})
    for key in ("base_url", "sp_key_file", "sp_cert_file", "gar_sp_metadata", "gar_ent_id"):
        assert key in str(refused.value)


def test_a_key_rotation_keeps_the_gar_trusting_every_assertion(client, sps, w, settings, tmp_path):
    """`deploy.py pki saml-rotate`: publish puts the next certificate in our metadata beside the
    current one; the GAR reads that metadata once. After switch (the next key signs, the old
    certificate still published) the GAR, with the metadata read before, still accepts the
    assertions: no moment where it refuses one."""
    from saml2.client import Saml2Client

    from tests.federation.idp import keypair
    from tests.gar.gar_sp import sp_config

    gar, pupil = sps["gar"], w["A"]["student"]
    current = settings.PREAU_FEDERATION
    next_key, next_cert = keypair(tmp_path, "preau-next")
    settings.PREAU_FEDERATION = {**current, "sp_additional_cert_files": [next_cert]}  # publish
    idp.reset()
    published = client.get(reverse("gar_metadata")).content.decode()
    assert len(_certificates(published)) == 2
    (tmp_path / "published.xml").write_text(published)
    gar.client = Saml2Client(
        config=sp_config(tmp_path, gar.entity_id, str(tmp_path / "published.xml"), gar.keys)
    )
    try:
        assert _sso(client, gar, pupil)[0].assertion.signature is not None  # old key signs
        settings.PREAU_FEDERATION = {  # switch
            **current,
            "sp_key_file": next_key,
            "sp_cert_file": next_cert,
            "sp_additional_cert_files": [current["sp_cert_file"]],
        }
        idp.reset()
        assert _sso(client, gar, pupil)[0].assertion.signature is not None  # new key signs
        after = _certificates(client.get(reverse("gar_metadata")).content.decode())
        assert (
            set(after) == set(_certificates(published)) and after[0] != _certificates(published)[0]
        )
    finally:
        gar.client = Saml2Client(config=sp_config(*_trusting_metadata(gar)))


def _certificates(metadata: str) -> list[str]:
    return re.findall(r"X509Certificate>([^<]+)<", metadata)


def _trusting_metadata(gar):
    """The GAR's client as configured() made it (the metadata of Préau's one key)."""
    return gar.directory, gar.entity_id, str(gar.directory / "preau-idp.xml"), gar.keys
