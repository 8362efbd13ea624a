"""IdP metadata published at a URL (`<idp>_metadata_url`): fetched, its signature checked with
the certificate the IdP's operator publishes (`<idp>_metadata_cert`, deployed as a file), the
IdP's entity ID found in it, then written over the local file the service provider reads
(`<idp>_metadata`, replaced atomically). Metadata that fails any check is not written: the
previous file stays in use. Run by the periodic job `refresh_federation_metadata` and by
`preau-manage federation_metadata refresh`; a web request never fetches anything."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import requests
from saml2.mdstore import InMemoryMetaData
from saml2.sigver import security_context

from preau.federation import saml

ENTITIES = "urn:oasis:names:tc:SAML:2.0:metadata:EntitiesDescriptor"
ENTITY = "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor"
MAX_BYTES = 50 * 1024 * 1024


class MetadataError(Exception):
    """Metadata refused: the message says why (French, for the operator)."""


def fetch(url: str) -> bytes:
    response = requests.get(url, timeout=30, stream=True)
    response.raise_for_status()
    body = response.raw.read(MAX_BYTES + 1, decode_content=True)
    if len(body) > MAX_BYTES:
        raise MetadataError(f"{url} : plus de {MAX_BYTES // 1024 // 1024} Mo")
    return body


def refresh(idp_key: str, get: Callable[[str], bytes] = fetch) -> str:
    """Refresh one IdP's metadata file: "updated", "unchanged" or "not configured"."""
    conf = saml.conf()
    url, cert, path = (conf[f"{idp_key}_metadata{suffix}"] for suffix in ("_url", "_cert", ""))
    if not (conf["sp_entity_id"] and conf[f"{idp_key}_entity_id"] and url):
        return "not configured"
    try:
        body = get(url)
    except (requests.RequestException, OSError) as exc:
        raise MetadataError(f"{url} : téléchargement impossible ({type(exc).__name__})") from exc
    text = body.decode("utf-8", errors="replace")
    check(idp_key, text, cert)
    target = Path(path)
    if target.is_file() and target.read_bytes() == body:
        return "unchanged"
    handle, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    with os.fdopen(handle, "wb") as out:
        out.write(body)
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)
    return "updated"


def check(idp_key: str, text: str, cert: str) -> None:
    """Signed with `cert`, still valid, and describing the configured IdP; else MetadataError."""
    node = ENTITIES if "EntitiesDescriptor" in text.split(">", 2)[-1][:400] else ENTITY
    config = saml.sp_config()
    try:
        verified = security_context(config).verify_signature(text, cert_file=cert, node_name=node)
    except Exception:  # xmlsec1's refusal, an unreadable certificate
        verified = False
    if not verified:
        raise MetadataError(f"{idp_key} : signature des métadonnées invalide (certificat {cert})")
    store = InMemoryMetaData(config.attribute_converters, metadata=text)
    try:
        store.load()
    except Exception as exc:  # pysaml2's TooOld (validUntil past), unparsable XML
        raise MetadataError(f"{idp_key} : métadonnées refusées ({exc})") from exc
    entity_id = saml.idp_entity_id(idp_key)
    if entity_id not in store.entity:
        raise MetadataError(f"{idp_key} : l'entité {entity_id} n'est pas dans ces métadonnées")
