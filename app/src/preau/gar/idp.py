"""Préau as the SAML 2.0 identity provider of the GAR (docs/federation.md, "GAR").

The GAR (gestionnaire d'accès aux ressources) is the ministry's access manager of the digital
resources (textbooks, dictionaries…): when a person opens a resource, the GAR, a SAML service
provider, asks the person's ENT who they are. Préau answers with pysaml2's `Server` (the IdP
half of the library the SP already uses: no hand-made XML signing), with the platform's one
SAML key pair (`[federation] sp_key_file`, `sp_cert_file`), to the GAR only: its SP metadata
file (`gar_sp_metadata`) is the only one loaded, so any other SP's request is refused as unknown.

What the assertion says (ATTRIBUTES below): the ENT's identifier at the GAR, the person's GAR
identifier (never the database id), the UAI of the establishment being used and the GAR's
national profile. Only for a member of an establishment where the GAR is enabled
(`Establishment.settings["gar"]`, `preau-manage gar enable UAI`).

pysaml2 is imported only here and in idp_views, both loaded at the first GAR request (as
preau.federation.saml): the médiacentre page, the export and the commands never pay for it.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING

from django.conf import settings
from django.urls import reverse
from django.utils.crypto import salted_hmac

from preau.core.models import Establishment, Membership, Profile
from preau.gar.models import GarIdentifier

if TYPE_CHECKING:
    from saml2.config import IdPConfig
    from saml2.server import Server

# --- the GAR's names, in one table ---------------------------------------------------------------
# CONFIRMED: read in public code of ENTs connected to the GAR (entcore's SSOGar.java sends
# `idEnt` and `GARPersonIdentifiant`; OPEN-ENT-NG/mediacentre's GarConstants.java names the
# profiles National_elv, National_ens, National_doc). ASSUMED: the others (the GAR's "RTFS"
# documents could not be read from here), to be checked against them before production.
ATTR_ENT_ID = "idEnt"  # confirmed (entcore SSOGar)
ATTR_PERSON_ID = "GARPersonIdentifiant"  # confirmed (entcore SSOGar)
ATTR_UAI = "UAI"  # assumed: the GAR's attribute name for the establishment
ATTR_PROFILE = "PRO"  # assumed: the GAR's attribute name for the national profile
NATIONAL_PROFILES: dict[str, str] = {
    Profile.ELV: "National_elv",  # confirmed (mediacentre GarConstants)
    Profile.ENS: "National_ens",  # confirmed (mediacentre GarConstants)
    Profile.DIR: "National_dir",  # assumed
    Profile.EVS: "National_evs",  # assumed
    Profile.ETA: "National_eta",  # assumed
    Profile.TUT: "National_tut",  # assumed
}
# National_doc (documentalist, confirmed): Préau has no documentalist profile; a documentalist
# is an ENS member and is sent as National_ens.

SIGN_ALG = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
DIGEST_ALG = "http://www.w3.org/2001/04/xmlenc#sha256"
# The establishment chosen on the médiacentre page (a member of several), for the next assertion.
SESSION_UAI = "preau_gar_uai"


def conf() -> dict:
    return settings.PREAU_FEDERATION


def enabled() -> bool:
    return bool(conf()["gar_idp_entity_id"])


def gar_enabled(establishment: Establishment) -> bool:
    return establishment.settings.get("gar") is True


def _new_identifier(user_id: int) -> str:
    return salted_hmac("preau.gar.person", str(user_id), algorithm="sha256").hexdigest()


def person_identifier(user) -> str:
    """The person's GAR identifier: an HMAC-SHA256 of the account id with the platform's secret
    key, made once and kept (GarIdentifier), so the same person keeps it for good."""
    return identifiers([user.pk])[user.pk]


def identifiers(user_ids: list[int]) -> dict[int, str]:
    """person_identifier of many accounts in two queries (the directory export)."""
    known = dict(GarIdentifier.objects.filter(user_id__in=user_ids).values_list("user_id", "value"))
    missing = [
        GarIdentifier(user_id=i, value=_new_identifier(i)) for i in user_ids if i not in known
    ]
    if missing:
        # Two requests at once for the same new person: the second inserts nothing and reads.
        GarIdentifier.objects.bulk_create(missing, ignore_conflicts=True)
        known.update(
            GarIdentifier.objects.filter(user_id__in=[g.user_id for g in missing]).values_list(
                "user_id", "value"
            )
        )
    return known


def membership_for(user, session) -> Membership | None:
    """The membership the assertion is about: a current one, in an active establishment where
    the GAR is enabled; the establishment of the médiacentre page last opened when it is one of
    them, else the first by UAI. None: nobody the GAR may hear of."""
    candidates = list(
        Membership.objects.current()
        .filter(
            user=user,
            establishment__status=Establishment.Status.ACTIVE,
            establishment__settings__gar=True,
        )
        .select_related("establishment")
        .order_by("establishment__uai")
    )
    chosen = session.get(SESSION_UAI)
    return next((m for m in candidates if m.establishment.uai == chosen), None) or next(
        iter(candidates), None
    )


def attributes(membership: Membership) -> dict[str, list[str]]:
    """What the GAR is told: ATTRIBUTES' names, nothing else (no name, no birth date)."""
    return {
        ATTR_ENT_ID: [conf()["gar_ent_id"]],
        ATTR_PERSON_ID: [person_identifier(membership.user)],
        ATTR_UAI: [membership.establishment.uai],
        ATTR_PROFILE: [NATIONAL_PROFILES[membership.profile]],
    }


def _url(name: str) -> str:
    return conf()["base_url"].rstrip("/") + reverse(name)


def idp_config() -> IdPConfig:
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
    from saml2.config import IdPConfig
    from saml2.saml import NAMEID_FORMAT_PERSISTENT

    c = conf()
    config = IdPConfig()
    config.load(
        {
            "entityid": c["gar_idp_entity_id"],
            "xmlsec_binary": c["xmlsec_binary"],
            "key_file": c["sp_key_file"],
            "cert_file": c["sp_cert_file"],
            # published in our metadata only (a key rotation's overlap), never used to sign
            "additional_cert_files": c["sp_additional_cert_files"],
            "metadata": {"local": [c["gar_sp_metadata"]]},
            "allow_unknown_attributes": True,
            "accepted_time_diff": 60,
            "service": {
                "idp": {
                    "name": "Préau",
                    "endpoints": {
                        "single_sign_on_service": [
                            (_url("gar_sso"), BINDING_HTTP_REDIRECT),
                            (_url("gar_sso"), BINDING_HTTP_POST),
                        ],
                    },
                    "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                    # An AuthnRequest must carry the GAR's signature (its metadata's key), by
                    # either binding: an unsigned or altered one is refused.
                    "want_authn_requests_signed": c["gar_want_signed_requests"],
                    "policy": {
                        "default": {
                            "lifetime": {"minutes": 5},
                            "attribute_restrictions": None,
                            "name_form": "urn:oasis:names:tc:SAML:2.0:attrname-format:basic",
                            "sign": ["response", "assertion"],
                        }
                    },
                    "signing_algorithm": SIGN_ALG,
                    "digest_algorithm": DIGEST_ALG,
                }
            },
        }
    )
    return config


def server() -> Server:
    """The process's IdP, built again when the GAR's metadata file changed."""
    return _server(os.stat(conf()["gar_sp_metadata"]).st_mtime_ns)


@functools.lru_cache(maxsize=1)
def _server(mtime: int) -> Server:
    from saml2.server import Server

    return Server(config=idp_config())


def reset() -> None:
    """Forget the process's IdP (tests: another configuration)."""
    _server.cache_clear()
