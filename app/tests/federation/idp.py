"""A real SAML 2.0 identity provider for the tests: pysaml2's own IdP side (saml2.server.Server)
with its own key and certificate, made here for each test run, and Préau's SP configured to
trust it through metadata files, as on the platform."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import AUTHN_PASSWORD_PROTECTED, NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server

BASE = "https://preau.test"
SP_ENTITY = f"{BASE}/federation/metadonnees/"
SIGALG = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


def keypair(directory: Path, name: str) -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = directory / f"{name}.key", directory / f"{name}.crt"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(key_path), str(cert_path)


class IdP:
    """One IdP (ÉduConnect's or the agents' stand-in)."""

    def __init__(self, directory: Path, name: str, sp_metadata: str | None = None, keys=None):
        self.name = name
        self.entity_id = f"http://idp.test/{name}"
        self.directory = directory
        self.key, self.cert = keys or keypair(directory, f"idp-{name}")
        self.config = IdPConfig()
        self.config.load(
            {
                "entityid": self.entity_id,
                "xmlsec_binary": "/usr/bin/xmlsec1",
                "key_file": self.key,
                "cert_file": self.cert,
                "metadata": {"local": [sp_metadata]} if sp_metadata else {},
                "allow_unknown_attributes": True,
                "service": {
                    "idp": {
                        "endpoints": {
                            "single_sign_on_service": [
                                (f"{self.entity_id}/sso", BINDING_HTTP_REDIRECT)
                            ],
                            "single_logout_service": [
                                (f"{self.entity_id}/slo", BINDING_HTTP_REDIRECT)
                            ],
                        },
                        "policy": {"default": {"lifetime": {"minutes": 5}}},
                        "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                    }
                },
            }
        )
        self.server = Server(config=self.config)

    def metadata_file(self) -> str:
        path = self.directory / f"idp-{self.name}.xml"
        path.write_text(str(entity_descriptor(self.config)))
        return str(path)

    # -- what the IdP does --------------------------------------------------------------------

    def form(self, location: str, attributes: dict, acs: str) -> str:
        """What the IdP's page does in a browser: post its answer to the ACS at once."""
        fields = "".join(
            f'<input type="hidden" name="{name}" value="{value}">'
            for name, value in self.answer(location, attributes).items()
        )
        return (
            '<!DOCTYPE html><html lang="fr"><body><form method="post" action="'
            f'{acs}">{fields}</form><script>document.forms[0].submit()</script></body></html>'
        )

    def answer(self, location: str, attributes: dict, subject="sujet-1", **overrides) -> dict:
        """The IdP's answer to the AuthnRequest in `location` (our redirect): the POST the
        browser sends to the ACS."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        request = self.server.parse_authn_request(query["SAMLRequest"], BINDING_HTTP_REDIRECT)
        args = self.server.response_args(request.message)
        args.update(overrides)
        response = self.server.create_authn_response(
            identity=attributes,
            userid=subject,
            name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=subject),
            authn={"class_ref": AUTHN_PASSWORD_PROTECTED, "authn_auth": self.entity_id},
            sign_assertion=True,
            sign_response=False,
            **args,
        )
        return {
            "SAMLResponse": base64.b64encode(str(response).encode()).decode(),
            "RelayState": query["RelayState"],
        }

    def answer_logout(self, location: str, base: str = BASE) -> str:
        """The IdP's answer to our LogoutRequest: the URL of our SLS, signed."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        request = self.server.parse_logout_request(query["SAMLRequest"], BINDING_HTTP_REDIRECT)
        response = self.server.create_logout_response(
            request.message, bindings=[BINDING_HTTP_REDIRECT], sign=False
        )
        destination = self.server.response_args(request.message, [BINDING_HTTP_REDIRECT])[
            "destination"
        ]
        http = self.server.apply_binding(
            BINDING_HTTP_REDIRECT,
            str(response),
            destination,
            response=True,
            sign=True,
            sigalg=SIGALG,
        )
        return local(dict(http["headers"])["Location"], base)

    def logout_request(self, subject="sujet-1", sign=True) -> str:
        """An IdP-initiated LogoutRequest for `subject`: the URL of our SLS."""
        _, request = self.server.create_logout_request(
            f"{BASE}/federation/sls/",
            SP_ENTITY,
            name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=subject),
            sign=False,
        )
        http = self.server.apply_binding(
            BINDING_HTTP_REDIRECT,
            str(request),
            f"{BASE}/federation/sls/",
            sign=sign,
            sigalg=SIGALG,
        )
        return local(dict(http["headers"])["Location"])


def local(url: str, base: str = BASE) -> str:
    """An absolute URL of Préau → the path and query the test client gets."""
    assert url.startswith(base), url
    return url[len(base) :]
