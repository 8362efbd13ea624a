"""Préau as a SAML 2.0 service provider, on pysaml2 (docs/federation.md: why this library).

Two identity providers, configured for the whole platform in [federation] (preau.config):
ÉduConnect (pupils and parents) and the académie's agents IdP (staff). Each is read from a local
metadata file only (`<idp>_metadata`): a web request never fetches anything; metadata published
at a URL is fetched, its signature checked, and written to that file by the
`federation_metadata refresh` command (a periodic job).

One `Saml2Client` per process, built on first use from the configuration; the requests it sends
are kept nowhere in it (see views: the outstanding request travels signed in the RelayState).

pysaml2 is imported only when a federated request needs it (`sp_config`, `client`, and the
views' own imports): it builds the SAML schemas at import, ~0.5 s of CPU and ~30 MB in each
process, which the login page (it lists the IdPs), the other pages, the job worker and every
`preau-manage` command never pay (tests/federation/test_saml.py checks it).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.urls import reverse

from preau.core.models import Profile

if TYPE_CHECKING:
    from saml2.client import Saml2Client
    from saml2.config import SPConfig


@dataclass(frozen=True)
class IdentityProvider:
    key: str  # in URLs and the audit log
    label: str  # the login page's button
    profiles: frozenset[str]  # the memberships it may log into


IDPS = {
    "educonnect": IdentityProvider(
        "educonnect", "Élève ou parent (ÉduConnect)", frozenset({Profile.ELV, Profile.TUT})
    ),
    "agents": IdentityProvider(
        "agents",
        "Personnel (académie)",
        frozenset({Profile.ENS, Profile.DIR, Profile.EVS, Profile.ETA}),
    ),
}


# The session's record of a federated login (views.acs): which IdP, the NameID, its session
# index, for single logout.
SESSION_KEY = "preau_saml"


def federated_session(request) -> dict | None:
    info = request.session.get(SESSION_KEY)
    return info if isinstance(info, dict) else None


def conf() -> dict:
    return settings.PREAU_FEDERATION


def enabled_idps() -> list[IdentityProvider]:
    """The IdPs the login page offers: federation on, and the IdP configured."""
    if not conf()["sp_entity_id"]:
        return []
    return [idp for key, idp in IDPS.items() if conf()[f"{key}_entity_id"]]


def idp_entity_id(key: str) -> str:
    return conf()[f"{key}_entity_id"]


def idp_of_entity(entity_id: str) -> IdentityProvider | None:
    return next((idp for idp in enabled_idps() if idp_entity_id(idp.key) == entity_id), None)


def _url(name: str) -> str:
    return conf()["base_url"].rstrip("/") + reverse(name)


def sp_config() -> SPConfig:
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
    from saml2.config import SPConfig
    from saml2.saml import NAMEID_FORMAT_PERSISTENT, NAMEID_FORMAT_TRANSIENT

    c = conf()
    metadata = metadata_files()
    config = SPConfig()
    config.load(
        {
            "entityid": c["sp_entity_id"],
            "xmlsec_binary": c["xmlsec_binary"],
            "key_file": c["sp_key_file"],
            "cert_file": c["sp_cert_file"],
            # published in our metadata only (a key rotation's overlap), never used to sign
            "additional_cert_files": c["sp_additional_cert_files"],
            "metadata": {"local": metadata},
            "allow_unknown_attributes": True,
            # A few seconds of clock difference with the IdP (NTP on both sides).
            "accepted_time_diff": 60,
            "service": {
                "sp": {
                    "name": "Préau",
                    "endpoints": {
                        "assertion_consumer_service": [(_url("federation_acs"), BINDING_HTTP_POST)],
                        "single_logout_service": [(_url("federation_sls"), BINDING_HTTP_REDIRECT)],
                    },
                    # Every assertion signed by the IdP's key from its metadata; our requests
                    # signed with ours. An answer to a request we did not send is refused.
                    "want_assertions_signed": True,
                    "want_response_signed": False,
                    "authn_requests_signed": True,
                    "logout_requests_signed": True,
                    "logout_responses_signed": True,
                    "allow_unsolicited": False,
                    "name_id_format": [NAMEID_FORMAT_PERSISTENT, NAMEID_FORMAT_TRANSIENT],
                    "signing_algorithm": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                    "digest_algorithm": "http://www.w3.org/2001/04/xmlenc#sha256",
                }
            },
        }
    )
    return config


def metadata_files() -> list[str]:
    return [conf()[f"{key}_metadata"] for key in IDPS if conf()[f"{key}_entity_id"]]


def client() -> Saml2Client:
    """The process's client, built again when a metadata file changed (its refresh, a new
    IdP key): each worker sees the new file at its next federated request."""
    return _client(tuple(os.stat(path).st_mtime_ns for path in metadata_files()))


@functools.lru_cache(maxsize=1)
def _client(mtimes: tuple[int, ...]) -> Saml2Client:
    from saml2.client import Saml2Client

    return Saml2Client(config=sp_config())


def reset() -> None:
    """Forget the process's client (tests: another configuration)."""
    _client.cache_clear()
