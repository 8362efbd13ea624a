"""The GAR's side for the tests: a SAML service provider on pysaml2's own client (Saml2Client)
with its own key, signing its AuthnRequests and checking Préau's signed answers, as the GAR
would; Préau configured as its IdP through metadata files, as on the platform."""

from __future__ import annotations

import atexit
import base64
import re
import shutil
import tempfile
from html import unescape
from pathlib import Path

from django.test import Client
from django.urls import reverse
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor

from preau.gar import idp
from tests.federation.idp import BASE, SIGALG, keypair, local

IDP_ENTITY = f"{BASE}/federation/gar/metadonnees/"
ENT_ID = "ENT-PREAU-TEST"


def sp_config(directory: Path, entity_id: str, idp_metadata: str | None, keys) -> SPConfig:
    config = SPConfig()
    config.load(
        {
            "entityid": entity_id,
            "xmlsec_binary": "/usr/bin/xmlsec1",
            "key_file": keys[0],
            "cert_file": keys[1],
            "metadata": {"local": [idp_metadata]} if idp_metadata else {},
            "allow_unknown_attributes": True,
            "service": {
                "sp": {
                    "endpoints": {
                        "assertion_consumer_service": [(f"{entity_id}/acs", BINDING_HTTP_POST)]
                    },
                    "want_assertions_signed": True,
                    "want_response_signed": True,
                    "authn_requests_signed": True,
                    "allow_unsolicited": False,
                }
            },
        }
    )
    return config


class GarSP:
    """The GAR (or, with another entity ID and key, a service Préau does not know)."""

    def __init__(self, directory: Path, entity_id: str, idp_metadata: str | None = None):
        self.directory = directory
        self.entity_id = entity_id
        name = re.sub(r"\W", "-", entity_id)
        self.keys = keypair(directory, name)
        self.client = Saml2Client(config=sp_config(directory, entity_id, idp_metadata, self.keys))

    def metadata_file(self) -> str:
        path = self.directory / f"{re.sub(r'[^a-z]', '-', self.entity_id)}.xml"
        path.write_text(str(entity_descriptor(self.client.config)))
        return str(path)

    def redirect_request(self, sign: bool = True, relay: str = "ressource-42") -> tuple[str, str]:
        """(request id, the path and query of Préau's SSO the browser is sent to)."""
        request_id, info = self.client.prepare_for_authenticate(
            entityid=IDP_ENTITY,
            relay_state=relay,
            binding=BINDING_HTTP_REDIRECT,
            sign=sign,
            sigalg=SIGALG if sign else None,
        )
        return request_id, local(dict(info["headers"])["Location"])

    def post_request(self, relay: str = "ressource-42") -> tuple[str, dict]:
        """(request id, the form the browser posts to Préau's SSO), signed (enveloped)."""
        destination = f"{BASE}{reverse('gar_sso')}"
        request_id, request = self.client.create_authn_request(
            destination, sign=True, sign_alg=SIGALG, digest_alg=idp.DIGEST_ALG
        )
        return request_id, {
            "SAMLRequest": base64.b64encode(str(request).encode()).decode(),
            "RelayState": relay,
        }

    def consume(self, page: str, request_id: str):
        """The answer page's form → pysaml2's checked AuthnResponse (signature, audience,
        InResponseTo, times), as the GAR's ACS would read it."""
        action = unescape(re.search(r'action="([^"]+)"', page).group(1))
        fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page))
        assert action == f"{self.entity_id}/acs"
        response = self.client.parse_authn_request_response(
            unescape(fields["SAMLResponse"]), BINDING_HTTP_POST, outstanding={request_id: "/"}
        )
        return response, unescape(fields.get("RelayState", "")), fields["SAMLResponse"]


# Made once per test run: three RSA keys and the pysaml2 set-ups (~1 s).
_MADE: dict = {}


def configured(settings) -> dict:
    """Préau as the GAR's IdP at BASE (settings of this test), the GAR trusting it, and a
    stranger SP (not in Préau's metadata) that also trusts it."""
    if not _MADE:
        directory = Path(tempfile.mkdtemp(prefix="preau-gar-"))
        atexit.register(shutil.rmtree, directory, True)
        keypair(directory, "preau")
        bare = GarSP(directory, "https://gar.test/sp")
        _MADE["settings"] = {
            "gar_idp_entity_id": IDP_ENTITY,
            "base_url": BASE,
            "sp_key_file": str(directory / "preau.key"),
            "sp_cert_file": str(directory / "preau.crt"),
            "gar_sp_metadata": bare.metadata_file(),
            "gar_ent_id": ENT_ID,
            "gar_want_signed_requests": True,
        }
        settings.PREAU_FEDERATION = {**settings.PREAU_FEDERATION, **_MADE["settings"]}
        idp.reset()
        response = Client().get(reverse("gar_metadata"))
        assert response.status_code == 200, response.content
        ours = directory / "preau-idp.xml"
        ours.write_bytes(response.content)
        # The GAR now trusts Préau's IdP metadata (its own metadata, given to Préau, unchanged).
        bare.client = Saml2Client(config=sp_config(directory, bare.entity_id, str(ours), bare.keys))
        _MADE["gar"] = bare
        _MADE["stranger"] = GarSP(directory, "https://ailleurs.test/sp", str(ours))
    settings.PREAU_FEDERATION = {**settings.PREAU_FEDERATION, **_MADE["settings"]}
    idp.reset()
    return {"gar": _MADE["gar"], "stranger": _MADE["stranger"]}
