"""The lab's partner services (tests/lab/partners/: a SAML IdP on pysaml2's Server standing for
ÉduConnect, a CAS client application on python-cas) run as real processes on loopback against
Préau: what the lab will run on its ops host, proven here first. One browser journey (a pupil
through the IdP's own login form, then a partner resource through CAS, then logout of both)
and fast checks of the IdP's metadata command and of its refusals."""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit
from xml.etree import ElementTree as ET

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from preau.cas.models import CasService
from preau.federation import saml
from tests.federation.idp import BASE, keypair
from tests.federation.test_saml import INE, PUPIL, configure, sp_metadata_file
from tests.helpers import WIDTHS, fits, new_page
from tests.school import make_school

PARTNERS = Path(__file__).resolve().parents[3] / "tests" / "lab" / "partners"
PASSWORD = "bon-mot-de-passe-du-labo"
SUBJECT = "ect-eleve-0001"
MD = "{urn:oasis:names:tc:SAML:2.0:metadata}"
DS = "{http://www.w3.org/2000/09/xmldsig#}"
UNVERIFIED = ssl._create_unverified_context()  # the partners' self-signed test certificates


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, str]:
    """The IdP's signing pair and a TLS pair both partners serve HTTPS with."""
    directory = tmp_path_factory.mktemp("partners")
    (key, cert), (tls_key, tls_cert) = keypair(directory, "idp"), keypair(directory, "tls")
    return {"key_file": key, "cert_file": cert, "tls_key": tls_key, "tls_cert": tls_cert}


def idp_config(keys, port: int, sp_metadata: Path | None = None) -> dict:
    base = f"https://127.0.0.1:{port}/educonnect"
    return {
        "name": "ÉduConnect (laboratoire)",
        "base_url": base,
        "key_file": keys["key_file"],
        "cert_file": keys["cert_file"],
        "sp_metadata": str(sp_metadata) if sp_metadata else "",
        "listen": "127.0.0.1",
        "port": port,
        "tls_cert": keys["tls_cert"],
        "tls_key": keys["tls_key"],
        "accounts": {"eleve": {"password": PASSWORD, "subject": SUBJECT, "attributes": PUPIL}},
    }


ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}  # pysaml2's deprecation warnings
# The partners' interpreter: this one (pysaml2 7.5, python-cas), or another to check them with
# Debian 12's own packages (pysaml2 7.0), as the lab's hosts have them (README.md beside them).
PYTHON = os.environ.get("PREAU_PARTNERS_PYTHON", sys.executable)


def run_script(script: str, command: str, config: dict, directory: Path):
    path = directory / f"{script}.json"
    path.write_text(json.dumps(config))
    return [PYTHON, str(PARTNERS / f"{script}.py"), command, "--config", str(path)]


class Partner:
    """A partner service as a subprocess, its output in a file; stopped by its PID."""

    def __init__(self, script: str, config: dict, directory: Path):
        self.url = f"{'https' if config.get('tls_cert') else 'http'}://127.0.0.1:{config['port']}"
        self.log = directory / f"{script}.log"
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                run_script(script, "serve", config, directory),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=ENV,
            )

    def wait_ready(self, path: str) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"{self.log.name} stopped: {self.log.read_text()}")
            try:
                self.get(path)
                return
            except OSError:
                time.sleep(0.1)
        pytest.fail(f"{self.log.name} not ready: {self.log.read_text()}")

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url + path, context=UNVERIFIED, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def events(self) -> list[str]:
        """The events logged after `listening`, but a browser's refusals of the self-signed
        certificate (Chromium tries it before ignoring the error)."""
        events = [line.split()[2] for line in self.log.read_text().splitlines()]
        return [e for e in events[1:] if e != "connection_error"]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_partner_idp(tmp_path, settings, base: str, keys) -> Partner:
    """Préau's SP at `base` (test_saml.configure: its keys, the agents' test IdP) and the
    partner IdP trusting each other: the IdP is given the SP's metadata file, Préau the IdP's
    metadata as ÉduConnect's (what the `metadata` command prints, served by the IdP too)."""
    configure(tmp_path, settings, base)
    config = idp_config(keys, free_port(), sp_metadata_file(settings, base))
    idp = Partner("idp", config, tmp_path)
    try:
        idp.wait_ready("/educonnect/health")
        status, metadata = idp.get("/educonnect/metadata")
        assert status == 200, metadata
    except BaseException:
        idp.stop()
        raise
    (tmp_path / "partner-idp.xml").write_text(metadata)
    settings.PREAU_FEDERATION = {
        **settings.PREAU_FEDERATION,
        "educonnect_entity_id": config["base_url"],
        "educonnect_metadata": str(tmp_path / "partner-idp.xml"),
    }
    saml.reset()
    return idp


@pytest.fixture
def partner_idp(tmp_path, settings, keys, db):
    idp = start_partner_idp(tmp_path, settings, BASE, keys)
    yield idp
    idp.stop()
    saml.reset()


def metadata_command(config: dict, directory: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        run_script("idp", "metadata", config, directory),
        capture_output=True,
        text=True,
        env=ENV,
        check=False,
    )


def assert_publishes_certificate(metadata: ET.Element, cert_file: str) -> None:
    """The metadata's (first) signing certificate is the PEM file's."""
    published = metadata.find(f".//{MD}KeyDescriptor//{DS}X509Certificate")
    pem = Path(cert_file).read_text()
    assert published is not None and published.text
    assert "".join(published.text.split()) == "".join(pem.splitlines()[1:-1])


def test_metadata_command_prints_the_idps_entity_endpoints_and_certificate(keys, tmp_path):
    config = idp_config(keys, 8443)
    printed = metadata_command(config, tmp_path)
    assert printed.returncode == 0, printed.stderr
    root = ET.fromstring(printed.stdout)
    assert root.get("entityID") == "https://127.0.0.1:8443/educonnect"
    sso = root.find(f"{MD}IDPSSODescriptor/{MD}SingleSignOnService")
    assert sso is not None and sso.get("Location") == "https://127.0.0.1:8443/educonnect/sso"
    assert_publishes_certificate(root, keys["cert_file"])
    # A config without its keys: one French line and status 2, no traceback.
    del config["key_file"]
    broken = metadata_command(config, tmp_path)
    assert broken.returncode == 2 and "il manque key_file" in broken.stderr
    assert "Traceback" not in broken.stderr


def test_idp_refuses_an_unsigned_or_altered_request_and_sends_nothing(client, partner_idp):
    location = client.get(reverse("federation_login", args=["educonnect"]))["Location"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    sso = "/educonnect/sso?"
    # Préau's signed request gets the login form.
    status, body = partner_idp.get(sso + urlencode(query))
    assert status == 200 and 'name="mot_de_passe"' in body
    # Unsigned: refused.
    unsigned = {k: v for k, v in query.items() if k not in ("Signature", "SigAlg")}
    status, body = partner_idp.get(sso + urlencode(unsigned))
    assert status == 403 and "n'est pas signée" in body and "SAMLResponse" not in body
    # Altered after signing (the answer sent to another ACS): the signature no longer holds.
    xml = zlib.decompress(base64.b64decode(query["SAMLRequest"]), -15).decode()
    forged = xml.replace(f"{BASE}/federation/acs/", "https://attaquant.example/acs/")
    assert forged != xml
    deflate = zlib.compressobj(wbits=-15)
    raw = deflate.compress(forged.encode()) + deflate.flush()
    altered = {**query, "SAMLRequest": base64.b64encode(raw).decode()}
    status, body = partner_idp.get(sso + urlencode(altered))
    assert status == 403 and "signature de la demande n'est pas valide" in body
    assert 'lang="fr"' in body and "SAMLResponse" not in body
    # Not SAML at all: a clear 400.
    status, body = partner_idp.get(sso + "SAMLRequest=pas-du-saml")
    assert status == 400 and "illisible" in body
    assert partner_idp.events().count("request_refused") == 3


def cas_client_config(keys, cas_url: str) -> dict:
    port = free_port()
    return {
        "name": "Manuels numériques (laboratoire)",
        "cas_url": cas_url,
        "service_url": f"https://127.0.0.1:{port}/",
        "port": port,
        "tls_cert": keys["tls_cert"],
        "tls_key": keys["tls_key"],
    }


def test_cas_client_says_so_when_preau_cannot_be_reached(keys, tmp_path):
    service = Partner(
        "cas_client", cas_client_config(keys, f"https://127.0.0.1:{free_port()}/cas/"), tmp_path
    )
    try:
        service.wait_ready("/health")
        status, body = service.get("/?ticket=ST-1")
        assert status == 502 and "n'a pas pu être joint (ConnectionError)" in body
        assert "Traceback" not in body
        assert json.loads(service.get("/last.json")[1])["error"] == "ConnectionError"
        assert service.events() == ["validation_failed"]
    finally:
        service.stop()


@pytest.fixture
def live_partners(tmp_path, settings, keys, live_server, transactional_db):
    """Both partners against the live server: the IdP trusted as ÉduConnect, the CAS client
    at https://127.0.0.1:<port>/ (to be allowed by a CasService of the test's school)."""
    service = Partner("cas_client", cas_client_config(keys, f"{live_server.url}/cas/"), tmp_path)
    try:
        idp = start_partner_idp(tmp_path, settings, live_server.url, keys)
        try:
            service.wait_ready("/health")
            yield idp, service
        finally:
            idp.stop()
    finally:
        service.stop()
        saml.reset()


@pytest.mark.browser
def test_pupil_through_the_lab_idp_then_a_partner_resource_through_cas(
    browser, live_server, check_a11y, live_partners
):
    idp, service = live_partners
    resource = service.url + "/"
    s = make_school()
    s["student"].ine, s["student"].join_key = INE, "ELV-LAB-0001"
    s["student"].save()
    uai = s["est"].uai
    CasService.objects.create(
        establishment=s["est"],
        name="Manuels (laboratoire)",
        url_prefix=resource,
        attributes=["identifier", "profile", "uai", "classes"],
    )
    page = new_page(browser, live_server, WIDTHS["telephone"], ignore_https_errors=True)
    page.goto("/connexion/")
    page.get_by_role("link", name="Élève ou parent (ÉduConnect)").click()
    # The IdP's own form; a wrong password shows it again with an error, nothing sent.
    page.wait_for_url(f"{idp.url}/educonnect/sso?**")
    page.get_by_label("Identifiant").fill("eleve")
    page.get_by_label("Mot de passe").fill("mauvais")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("alert")).to_have_text("Identifiant ou mot de passe incorrect.")
    assert fits(page)
    check_a11y(page, "91-idp-laboratoire-telephone")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(f"**/e/{uai}/")
    # A second SSO in the IdP's session: no password asked.
    page.goto("/federation/connexion/educonnect/")
    page.wait_for_url(f"**/e/{uai}/")
    # The partner resource: CAS login at Préau (already logged in), ticket, validation.
    page.goto(resource)
    expect(page.locator("#attributes")).to_contain_text('"ELV"')
    assert fits(page)
    status, body = service.get("/last.json")
    last = json.loads(body)
    assert status == 200 and last["user"] == s["student"].username
    released = {k: last["attributes"][k] for k in ("identifier", "profile", "uai", "classes")}
    assert released == {
        "identifier": "ELV-LAB-0001",
        "profile": "ELV",
        "uai": uai,
        "classes": s["class"].name,
    }
    # A ticket Préau does not know: a clear page, and the failure is the last validation.
    status, body = service.get("/?ticket=ST-inconnu")
    assert status == 403 and "a refusé le ticket" in body and "Traceback" not in body
    assert json.loads(service.get("/last.json")[1])["user"] is None
    # Logout of Préau and of the IdP: the next SSO asks the password again.
    page.goto(f"{live_server.url}/e/{uai}/")
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page.get_by_text("Vous êtes déconnecté de Préau et de")).to_be_visible()
    page.goto("/federation/connexion/educonnect/")
    expect(page.get_by_label("Mot de passe")).to_be_visible()
    page.context.close()
    assert idp.events() == [
        "login_refused",
        "login_ok",
        "assertion_sent",
        "assertion_sent",
        "logout",
    ]
    assert service.events() == ["redirect_to_cas", "validation_ok", "validation_refused"]
