"""The lab's GAR stand-in (tests/lab/partners/gar_sp.py: pysaml2's Saml2Client as a web service)
as a real process on loopback against Préau's GAR IdP on the live server: what the lab will run,
proven here first (issue #20, "Proof": the GAR IdP's assertion validated by the SAML library as
a service provider would). Préau is given the stand-in's metadata as printed by its `metadata`
command, the stand-in Préau's IdP metadata as Préau serves it."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit
from xml.etree import ElementTree as ET

import pytest
from playwright.sync_api import expect

from preau.gar import idp
from preau.gar.models import GarIdentifier, GarResource
from tests.federation.idp import keypair
from tests.federation.test_partners import (
    ENV,
    MD,
    UNVERIFIED,
    Partner,
    assert_publishes_certificate,
    free_port,
    run_script,
)
from tests.helpers import WIDTHS, fits, new_page, sign_in
from tests.school import make_school

ENT_ID = "ENT-PREAU-LABO"
RESOURCE = "dico"
TITLE = "Dictionnaire Le Robert Collège (laboratoire)"


def stand_in_config(directory: Path, port: int, idp_metadata: str = "") -> dict:
    key, cert = keypair(directory, "gar-sp")
    tls_key, tls_cert = keypair(directory, "gar-tls")
    return {
        "name": "GAR (laboratoire)",
        "base_url": f"https://127.0.0.1:{port}",
        "key_file": key,
        "cert_file": cert,
        "idp_metadata": idp_metadata,
        "listen": "127.0.0.1",
        "port": port,
        "tls_cert": tls_cert,
        "tls_key": tls_key,
        "resources": {RESOURCE: TITLE},
    }


def metadata_command(config: dict, directory: Path) -> str:
    printed = subprocess.run(
        run_script("gar_sp", "metadata", config, directory),
        capture_output=True,
        text=True,
        env=ENV,
        check=False,
    )
    assert printed.returncode == 0, printed.stderr
    return printed.stdout


@pytest.fixture
def gar_stand_in(tmp_path, settings, live_server, transactional_db):
    """Préau's GAR IdP at the live server (as tests/gar/gar_sp.configured sets it) trusting the
    stand-in's printed metadata; the stand-in serving with Préau's IdP metadata."""
    config = stand_in_config(tmp_path, free_port())
    sp_metadata = metadata_command(config, tmp_path)
    (tmp_path / "gar-sp.xml").write_text(sp_metadata)
    preau_key, preau_cert = keypair(tmp_path, "preau")
    settings.PREAU_FEDERATION = {
        **settings.PREAU_FEDERATION,
        "gar_idp_entity_id": f"{live_server.url}/federation/gar/metadonnees/",
        "base_url": live_server.url,
        "sp_key_file": preau_key,
        "sp_cert_file": preau_cert,
        "gar_sp_metadata": str(tmp_path / "gar-sp.xml"),
        "gar_ent_id": ENT_ID,
        "gar_want_signed_requests": True,
    }
    idp.reset()
    with urllib.request.urlopen(f"{live_server.url}/federation/gar/metadonnees/") as r:
        (tmp_path / "preau-gar-idp.xml").write_bytes(r.read())
    config["idp_metadata"] = str(tmp_path / "preau-gar-idp.xml")
    stand_in = Partner("gar_sp", config, tmp_path)
    try:
        stand_in.wait_ready("/health")
        yield stand_in, sp_metadata, config
    finally:
        stand_in.stop()
        idp.reset()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def open_resource(stand_in: Partner) -> tuple[str, str]:
    """A request the stand-in sends for a client other than the browser: (its session cookie,
    the AuthnRequest's ID)."""
    opener = urllib.request.build_opener(
        _NoRedirect, urllib.request.HTTPSHandler(context=UNVERIFIED)
    )
    try:
        opener.open(f"{stand_in.url}/ressource/{RESOURCE}", timeout=10)
    except urllib.error.HTTPError as redirect:
        assert redirect.code == 302
        cookie = redirect.headers["Set-Cookie"].split(";")[0]
        query = parse_qs(urlsplit(redirect.headers["Location"]).query)
        assert "Signature" in query
        xml = zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -15).decode()
        return cookie, re.search(r' ID="([^"]+)"', xml).group(1)
    raise AssertionError("the stand-in did not redirect to Préau")


def post_acs(stand_in: Partner, saml_response: str, cookie: str = "") -> tuple[int, str]:
    """An answer posted by someone else than the browser (without its session cookie)."""
    request = urllib.request.Request(
        stand_in.url + "/acs",
        data=urlencode({"SAMLResponse": saml_response}).encode(),
        headers={"Cookie": cookie} if cookie else {},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, context=UNVERIFIED, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.mark.browser
def test_pupil_opens_a_resource_through_the_lab_gar(browser, live_server, check_a11y, gar_stand_in):
    stand_in, sp_metadata, config = gar_stand_in
    # The printed metadata: entity, ACS (HTTP-POST), signed requests, its signing certificate.
    root = ET.fromstring(sp_metadata)
    assert root.get("entityID") == config["base_url"]
    sp = root.find(f"{MD}SPSSODescriptor")
    assert sp is not None and sp.get("AuthnRequestsSigned") == "true"
    acs = sp.find(f"{MD}AssertionConsumerService")
    assert acs is not None and acs.get("Location") == f"{config['base_url']}/acs"
    assert acs.get("Binding") == "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
    assert_publishes_certificate(root, config["cert_file"])

    s = make_school()
    s["est"].settings = {"gar": True}
    s["est"].save()
    GarResource.objects.create(
        establishment=s["est"], title=TITLE, url=f"{stand_in.url}/ressource/{RESOURCE}"
    )
    page = new_page(browser, live_server, WIDTHS["telephone"], ignore_https_errors=True)
    sign_in(page, live_server, s["student"])
    # The médiacentre's link → the stand-in's signed request → Préau's SSO → the signed answer
    # posted by Préau's page to the stand-in's ACS, where pysaml2 checks it.
    answers = []
    page.on(
        "request",
        lambda r: answers.append(r.post_data) if r.url == f"{stand_in.url}/acs" else None,
    )
    page.goto(f"/e/{s['est'].uai}/mediacentre/")
    page.get_by_role("link", name=TITLE).click()
    expect(page.locator("#resource")).to_have_text(TITLE)
    expect(page.locator("#attributes")).to_contain_text("National_elv")
    assert fits(page)
    check_a11y(page, "gar-laboratoire-telephone")
    status, body = stand_in.get("/last.json")
    last = json.loads(body)
    person = GarIdentifier.objects.get(user=s["student"]).value
    assert status == 200 and last["name_id"] == person
    assert last["attributes"] == {
        idp.ATTR_ENT_ID: [ENT_ID],
        idp.ATTR_PERSON_ID: [person],
        idp.ATTR_UAI: [s["est"].uai],
        idp.ATTR_PROFILE: ["National_elv"],
    }
    # The same answer posted again (a replay, from the browser or elsewhere): refused.
    saml_response = parse_qs(answers[-1])["SAMLResponse"][0]
    status, body = post_acs(stand_in, saml_response)
    assert status == 403 and 'lang="fr"' in body and "Traceback" not in body
    assert json.loads(stand_in.get("/last.json")[1])["error"] == "replayed"
    # Altered to answer another outstanding request of the stand-in: the signature no longer
    # holds (pysaml2 checks it, not only InResponseTo).
    cookie, request_id = open_resource(stand_in)
    xml = base64.b64decode(saml_response).decode()
    answered = re.search(r'InResponseTo="([^"]+)"', xml).group(1)
    forged = base64.b64encode(xml.replace(answered, request_id).encode()).decode()
    status, body = post_acs(stand_in, forged, cookie)
    assert status == 403 and "la signature de la réponse n'est pas valide" in body
    assert json.loads(stand_in.get("/last.json")[1])["error"] == "bad_signature"
    # Neither a resource it does not know nor a POST without an answer reaches pysaml2.
    status, body = stand_in.get("/ressource/inconnue")
    assert status == 404 and "Cette ressource n'existe pas." in body
    assert post_acs(stand_in, "")[0] == 400
    assert json.loads(stand_in.get("/last.json")[1])["error"] == "invalid_response"
    page.context.close()
    assert stand_in.events() == [
        "request_sent",
        "assertion_ok",
        "assertion_refused",
        "request_sent",
        "assertion_refused",
        "assertion_refused",
    ]
