"""Browser journeys through the load balancer over HTTPS (Playwright + Debian's Chromium): a
parent, a teacher and a student of a demo establishment do a daily task each; the local admin
enrols the second factor and signs in again with a recovery code.

Chromium resolves the lab's public name to the lb (`--host-resolver-rules`). It cannot be
told to trust a CA file without an NSS database, so it accepts the certificate errors of
chains holding the lab CA's key only (`--ignore-certificate-errors-spki-list`; a certificate
from another issuer is still refused, tested below), each page checks that the certificate
was issued by the lab CA, and the TLS of the same entry point is verified strictly (chain and
name, against .lab/ca/ca.crt) by Python's ssl. Screenshots: artifacts/journeys/.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import re
import socket
import ssl
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import expect

from preau_ops import procedures
from preau_ops.paths import ARTIFACTS, STATE_DIR

from .conftest import deploy, forgive_this_address

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("platform")]

# Debian's Chromium in its old headless mode (the headless shell, what Playwright itself runs
# headless): the full browser's new headless mode cost twice the CPU for the same pages
# (app/tests/conftest.py).
CHROMIUM = "/usr/bin/chromium-headless-shell"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # HTTP/1.1: Chromium closes every HTTP/2 session, with the requests in flight, when an
    # address of the machine changes, and molecule's Docker networks come and go beside the
    # lab (a clean-clone run failed a homework hand-in so). An HTTP/1.1 request in flight
    # survives. Measured on the lab under Docker network churn: 106 of 301 form round trips
    # failed over HTTP/2, 0 of 624 over HTTP/1.1.
    "--disable-http2",
]
CA = STATE_DIR / "ca" / "ca.crt"
SHOTS = ARTIFACTS / "journeys"
UAI = "0820021C"  # Collège Jean Moulin: the demo logins' content lives there (app/README.md)


def _ca_spki_hash(ca_file: Path = CA) -> str:
    """The base64 SHA-256 of the CA's public key, as --ignore-certificate-errors-spki-list
    takes it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    ca = x509.load_pem_x509_certificate(ca_file.read_bytes())
    spki = ca.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def _ca_name() -> str:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    ca = x509.load_pem_x509_certificate(CA.read_bytes())
    return ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


@pytest.fixture(scope="module")
def demo(lab):
    deploy("release", timeout=1200)  # the app is there, whatever ran before
    answer = procedures.app_manage(lab, "seed_demo")
    assert UAI in {e["uai"] for e in answer["establishments"]}
    forgive_this_address(lab)  # logins from here are not held by an earlier login test
    return lab, answer["password"]


@pytest.fixture(scope="module")
def entry(demo):
    lab, _ = demo
    lb = lab.hosts_in("lb")[0]
    return lb.address, lb.vars["preau_domain"]


@contextmanager
def chromium(entry: tuple[str, str], trusted: tuple[Path, ...] = (CA,)):
    """Debian's Chromium resolving the lab's public name to the lb, accepting the chains of
    the `trusted` CAs' keys only."""
    from playwright.sync_api import sync_playwright

    address, domain = entry
    spkis = ",".join(_ca_spki_hash(ca) for ca in trusted)
    args = [
        *ARGS,
        f"--host-resolver-rules=MAP {domain} {address}",
        f"--ignore-certificate-errors-spki-list={spkis}",
    ]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        yield browser
        browser.close()


def open_page(browser, domain: str, width: int = 1280, height: int = 900):
    """A page of a new context at the ENT's address (French, 15 s timeouts); close its
    context after."""
    context = browser.new_context(
        base_url=f"https://{domain}", locale="fr-FR", viewport={"width": width, "height": height}
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    expect.set_options(timeout=15_000)
    return page


@pytest.fixture(scope="module")
def browser(entry):
    with chromium(entry) as launched:
        yield launched


@pytest.fixture
def page(browser, entry):
    page = open_page(browser, entry[1])
    yield page
    page.context.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


# How Chromium says a navigation died because the machine's networks changed under it.
NETWORK_CHANGED = ("ERR_NETWORK_CHANGED", 'interrupted by another navigation to "chrome-error://')
NAVIGATION_ATTEMPTS = 5


def goto(page, path: str):
    """page.goto, again (up to NAVIGATION_ATTEMPTS, a second apart) while Chromium aborts it
    for a change of the machine's networks (net::ERR_NETWORK_CHANGED, or its error page
    replacing the navigation): molecule's containers come and go beside the lab, and each
    brings or takes a Docker network interface. Three clean-clone runs failed so: the second
    when the patroni scenario's network came, the third (one retry then) when two scenarios
    started together and the retry met the second network's change. ARGS keep the requests
    in flight alive (HTTP/1.1); a connection being opened still dies so."""
    from playwright.sync_api import Error

    for attempt in range(1, NAVIGATION_ATTEMPTS + 1):
        try:
            return page.goto(path)
        except Error as error:
            changed = any(sign in str(error) for sign in NETWORK_CHANGED)
            if not changed or attempt == NAVIGATION_ATTEMPTS:
                raise
            time.sleep(1)
    raise AssertionError("unreachable")


def password_step(page, username: str, password: str) -> None:
    response = goto(page, "/connexion/")
    assert response.status == 200 and page.url.startswith("https://")
    assert response.security_details()["issuer"] == _ca_name()
    protocol = page.evaluate("performance.getEntriesByType('navigation')[0].nextHopProtocol")
    assert protocol == "http/1.1", "HTTP/2 sessions die with a network change (ARGS)"
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Se connecter").click()


def login(page, username: str, password: str) -> None:
    password_step(page, username, password)
    page.wait_for_url(re.compile(r"^https://[^/]+/$"))
    page.get_by_role("link", name="Collège Jean Moulin").first.click()
    page.wait_for_url(re.compile(rf"/e/{UAI}/$"))


def test_the_entry_point_is_tls_with_the_lab_certificate(entry):
    """What the browser trusts by key hash, verified strictly here: chain and name."""
    address, domain = entry
    context = ssl.create_default_context(cafile=str(CA))
    with (
        socket.create_connection((address, 443), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=domain) as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        names = [value for kind, value in tls.getpeercert()["subjectAltName"]]
    assert domain in names


def _self_signed(tmp_path, name: str):
    """A certificate for NAME that does not chain to the lab CA: (cert file, key file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "other.crt", tmp_path / "other.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_chromium_refuses_a_certificate_from_another_ca(browser, entry, tmp_path):
    """The key-hash exception covers the lab CA only: another issuer is still refused."""
    import http.server
    import threading

    _, domain = entry
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(*_self_signed(tmp_path, domain))
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    context = browser.new_context()
    try:
        with pytest.raises(Exception, match="ERR_CERT_AUTHORITY_INVALID"):
            context.new_page().goto(f"https://127.0.0.1:{server.server_port}/")
    finally:
        context.close()
        server.shutdown()


def test_teacher_takes_the_roll_call(page, demo):
    _, password = demo
    login(page, "demo.prof", password)
    shot(page, "10-prof-tableau-de-bord")
    page.get_by_role("link", name="Faire l'appel en 5A").click()
    # A lesson of its own each run (the time of the run), so the task can be repeated.
    lesson = datetime.datetime.now().strftime("%H:%M")
    page.get_by_label("Heure du cours").fill(lesson)
    page.get_by_role("button", name="Afficher cet appel").click()  # that lesson's roll call
    expect(page.get_by_role("heading", name=re.compile(f"à {lesson}$"))).to_be_visible()
    page.get_by_role("group", name="État de Léa MARTIN").get_by_label("Absent").check()
    shot(page, "11-prof-appel")
    page.get_by_role("button", name="Enregistrer l'appel").click()
    expect(page.get_by_text("Appel enregistré : 1 modification(s).")).to_be_visible()
    shot(page, "12-prof-appel-enregistre")


def test_parent_justifies_an_absence(page, demo):
    _, password = demo
    login(page, "demo.parent", password)
    expect(page.get_by_role("heading", name=re.compile("Travail à faire")).first).to_be_visible()
    shot(page, "20-parent-tableau-de-bord")
    page.get_by_role("link", name=re.compile("^Justifier")).first.click()
    page.get_by_label("Motif de l'absence").fill("Rendez-vous chez l'orthodontiste")
    shot(page, "21-parent-justifier")
    page.get_by_role("button", name="Envoyer le justificatif").click()
    expect(page.get_by_text("Justificatif envoyé à la vie scolaire.")).to_be_visible()
    shot(page, "22-parent-justificatif-envoye")


def test_student_hands_in_homework(page, demo, tmp_path):
    _, password = demo
    login(page, "demo.eleve", password)
    shot(page, "30-eleve-tableau-de-bord")
    page.get_by_role("link", name="Cahier de textes").first.click()
    expect(page.get_by_role("heading", name="À faire cette semaine")).to_be_visible()
    page.locator("li").filter(has_text="recette de crêpes").get_by_role("link").first.click()
    copy = tmp_path / "recette-de-crepes.pdf"
    copy.write_bytes(b"%PDF-1.4\n% la recette de crepes\n")
    page.get_by_label("Fichier à rendre").set_input_files(str(copy))
    shot(page, "31-eleve-devoir")
    page.get_by_role("button", name="Rendre le travail").click()
    expect(page.get_by_text("Votre travail a bien été rendu.")).to_be_visible()
    shot(page, "32-eleve-devoir-rendu")


def _app_code(key: bytes) -> str:
    """What an authenticator app shows now for the secret `key` (django-otp's TOTP: 30 s, 6 digits)."""
    import time

    from django_otp.oath import TOTP

    totp = TOTP(key)
    totp.time = time.time()
    return f"{totp.token():06d}"


def test_local_admin_enrols_a_second_factor_then_uses_a_recovery_code(page, demo):
    """ADML (and ADMC) need a second factor: the first login enrols an authenticator app from
    the key shown on the page, later logins ask for its code or a single-use recovery code."""
    lab, password = demo
    procedures.app_manage(
        lab, "two_factor reset demo.adml"
    )  # enrolled by an earlier run: start over
    password_step(page, "demo.adml", password)
    page.wait_for_url(re.compile(r"/compte/double-authentification/activer/"))
    expect(page.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
    shot(page, "40-adml-double-authentification")
    key = base64.b32decode(page.locator("#cle-secrete").inner_text().replace(" ", ""))
    page.get_by_label("Code à 6 chiffres").fill(_app_code(key))
    page.get_by_role("button", name="Activer", exact=True).click()
    codes = page.locator(".recovery-codes code").all_inner_texts()
    assert len(set(codes)) == 10
    shot(page, "41-adml-codes-de-secours")
    page.get_by_role("link", name="J'ai noté mes codes, continuer").click()
    page.get_by_role("link", name="Collège Jean Moulin").first.click()
    page.get_by_role("link", name="Annuaire", exact=True).click()
    page.wait_for_url(re.compile(rf"/e/{UAI}/annuaire/"))
    page.get_by_role("button", name="Se déconnecter").click()
    # Next login: the password, then a recovery code (works once).
    password_step(page, "demo.adml", password)
    page.wait_for_url(re.compile(r"/compte/double-authentification/\?"))
    page.get_by_label("Code à 6 chiffres ou code de secours").fill(codes[0])
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_text("il vous en reste 9", exact=False)).to_be_visible()
    shot(page, "42-adml-connecte-avec-un-code-de-secours")
