#!/usr/bin/env python3
"""The lab's stand-in for the GAR (the ministry's access manager of digital resources): a SAML
2.0 service provider on pysaml2's own client (saml2.client.Saml2Client), a library no one here
wrote. A pupil opens a resource of the médiacentre; like the GAR, this service sends Préau's GAR
IdP a signed AuthnRequest, then checks Préau's signed answer as the GAR would (signatures,
audience, InResponseTo of a request it sent, lifetime) and shows what Préau released.

Runs on a bare Debian 12 host: python3, Debian's python3-pysaml2 (7.0.x there, 7.5 in the
controller's venv: only calls that exist in both) and xmlsec1. See README.md beside it.

    python3 gar_sp.py metadata --config FILE.json   # its SP metadata XML, before Préau runs
    python3 gar_sp.py serve --config FILE.json
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import html
import json
import logging
import secrets
import threading
import time
from xml.etree import ElementTree as ET

import partner_web as web
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor

REQUIRED = ("name", "base_url", "key_file", "cert_file", "port", "resources")
SIGALG = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
PENDING_SECONDS = 600  # between the request sent and Préau's answer (a login may come between)
# pysaml2's exceptions → the reason logged and the French sentence of the refusal page.
REASONS = {
    "SignatureError": ("bad_signature", "la signature de la réponse n'est pas valide"),
    "UnsolicitedResponse": ("unsolicited", "elle ne répond à aucune demande de ce service"),
    "ResponseLifetimeExceed": ("expired", "elle a expiré"),
    "ToEarly": ("expired", "elle n'est pas encore valide (horloges décalées ?)"),
}


def saml_config(conf: dict, with_idp: bool = True) -> SPConfig:
    """pysaml2's SP configuration. Without the IdP (`metadata`): the lab writes Préau's inventory
    (`app_federation_gar.sp_metadata`) from this SP's metadata before Préau, hence its IdP
    metadata, exists. Like the GAR (and Préau's own test SP, app/tests/gar/gar_sp.py): signed
    requests, a signed response and a signed assertion wanted, no unsolicited answer."""
    config = SPConfig()
    config.load(
        {
            "entityid": entity_id(conf),
            "xmlsec_binary": conf.get("xmlsec_binary", "/usr/bin/xmlsec1"),
            "key_file": conf["key_file"],
            "cert_file": conf["cert_file"],
            "metadata": {"local": [conf["idp_metadata"]]} if with_idp else {},
            "allow_unknown_attributes": True,
            "accepted_time_diff": 60,
            "service": {
                "sp": {
                    "name": conf["name"],
                    "endpoints": {
                        "assertion_consumer_service": [
                            (f"{conf['base_url'].rstrip('/')}/acs", BINDING_HTTP_POST)
                        ]
                    },
                    "authn_requests_signed": True,
                    "want_response_signed": True,
                    "want_assertions_signed": True,
                    "allow_unsolicited": False,
                }
            },
        }
    )
    return config


def entity_id(conf: dict) -> str:
    return conf.get("entity_id") or conf["base_url"].rstrip("/")


def in_response_to(saml_response: str) -> str:
    """The InResponseTo of an answer pysaml2 refused (to tell a replay from an unsolicited
    one); "" when unreadable."""
    try:
        root = ET.fromstring(base64.b64decode(saml_response, validate=False))
    except (binascii.Error, ET.ParseError, ValueError):
        return ""
    return root.get("InResponseTo", "")


class Refused(Exception):
    """An answer this service does not accept: a French 403/400 page, a log line, `/last.json`."""

    def __init__(self, reason: str, message: str, status: str = "403 Forbidden"):
        super().__init__(reason)
        self.reason, self.message, self.status = reason, message, status


class GarSP:
    """Outstanding requests per browser (its session cookie) and the answers already accepted
    (a replay is refused by pysaml2 as unsolicited; these tell the log it was a replay), in
    memory. pysaml2's client is not documented as thread-safe: its calls are under one lock."""

    def __init__(self, conf: dict):
        self.conf = conf
        self.label = conf["name"]
        self.service = conf.get("log_name", "gar_sp")
        self.prefix = web.base_path(conf["base_url"])
        self.secure = bool(conf.get("tls_cert")) or conf["base_url"].startswith("https:")
        self.cookie_name = conf.get("cookie_name") or f"gar_sp_{conf['port']}"
        self.resources: dict[str, str] = conf["resources"]
        try:
            self.client = Saml2Client(config=saml_config(conf))
        except Exception as exc:  # a missing or unreadable key, certificate or metadata file
            raise web.ConfigError(f"configuration SAML inutilisable : {exc}") from None
        idps = list(self.client.metadata.identity_providers())
        if len(idps) != 1:
            raise web.ConfigError(
                f"idp_metadata doit décrire un seul fournisseur d'identité (trouvés : {len(idps)})"
            )
        self.idp = idps[0]
        self.lock = threading.Lock()
        self.sessions: dict[str, dict[str, dict]] = {}  # sid → {request id: {resource, expires}}
        self.answered: set[str] = set()
        self.last: dict | None = None

    def handle(self, environ: dict) -> web.Response:
        path = environ.get("PATH_INFO", "")
        if self.prefix and path.startswith(self.prefix):
            path = path[len(self.prefix) :]
        method = environ["REQUEST_METHOD"]
        if method == "GET" and path.startswith("/ressource/"):
            return self.open_resource(environ, path[len("/ressource/") :])
        routes = {
            ("GET", "/health"): lambda: web.as_json(
                {"status": "ok", "sp": entity_id(self.conf), "idp": self.idp}
            ),
            ("GET", "/metadata"): self.metadata,
            ("GET", "/last.json"): self.last_json,
            ("POST", "/acs"): lambda: self.acs_page(environ),
        }
        route = routes.get((method, path))
        if route is None:
            return web.page(self.label, "<p>Cette adresse n'existe pas.</p>", "404 Not Found")
        return route()

    def metadata(self) -> web.Response:
        xml = str(entity_descriptor(self.client.config)).encode()
        return "200 OK", [("Content-Type", "application/samlmetadata+xml")], xml

    def last_json(self) -> web.Response:
        with self.lock:
            last = self.last
        return web.as_json(last) if last else web.as_json({}, "404 Not Found")

    # -- the request, as the GAR sends it when a resource is opened ------------------------------

    def open_resource(self, environ: dict, resource: str) -> web.Response:
        if resource not in self.resources:
            return web.page(self.label, "<p>Cette ressource n'existe pas.</p>", "404 Not Found")
        sid = web.cookie(environ, self.cookie_name) or ""
        with self.lock:
            if sid not in self.sessions:
                sid = secrets.token_urlsafe(24)
                self.sessions[sid] = {}
            request_id, info = self.client.prepare_for_authenticate(
                entityid=self.idp,
                relay_state=resource,
                binding=BINDING_HTTP_REDIRECT,
                sign=True,
                sigalg=SIGALG,
            )
            now = time.time()
            pending = self.sessions[sid]
            for old in [r for r, p in pending.items() if p["expires"] < now]:
                del pending[old]
            pending[request_id] = {"resource": resource, "expires": now + PENDING_SECONDS}
        location = dict(info["headers"])["Location"]
        web.log(self.service, "request_sent", resource=resource, request=request_id, idp=self.idp)
        # The answer comes back as a cross-site POST (Préau's page posts it): SameSite=None.
        cookie = web.set_cookie(
            self.cookie_name, sid, self.prefix or "/", self.secure, PENDING_SECONDS, "None"
        )
        return web.redirect(location, [cookie])

    # -- the answer -------------------------------------------------------------------------------

    def acs_page(self, environ: dict) -> web.Response:
        """The answer accepted (the resource's page) or refused: a French page, never a
        traceback, and a log line and `/last.json` saying why."""
        try:
            return self.acs(environ)
        except Refused as refusal:
            web.log(self.service, "assertion_refused", reason=refusal.reason)
            self._remember({"error": refusal.reason})
            return web.page(
                f"{self.label} : accès refusé",
                f'<p class="erreur" role="alert">{html.escape(refusal.message, quote=False)}</p>'
                "<p>Rouvrez la ressource depuis le médiacentre de votre ENT.</p>",
                refusal.status,
            )

    def acs(self, environ: dict) -> web.Response:
        """Préau's answer checked by pysaml2 against the requests of this browser's session:
        one answer per request (the request is forgotten once answered)."""
        saml_response = web.form(environ).get("SAMLResponse", "")
        if not saml_response:
            raise Refused(
                "invalid_response", "Cette adresse attend une réponse SAML.", "400 Bad Request"
            )
        sid = web.cookie(environ, self.cookie_name) or ""
        with self.lock:
            pending = dict(self.sessions.get(sid, {}))
            outstanding = {
                r: p["resource"] for r, p in pending.items() if p["expires"] > time.time()
            }
            try:
                response = self.client.parse_authn_request_response(
                    saml_response, BINDING_HTTP_POST, outstanding=outstanding
                )
            except Exception as exc:  # pysaml2 refuses by raising; the class says why
                response, error = None, type(exc).__name__
            else:
                error = "" if response is not None else "InvalidResponse"
            if response is not None:
                self.sessions.get(sid, {}).pop(response.in_response_to, None)
                self.answered.add(response.in_response_to)
            replayed = in_response_to(saml_response) in self.answered
        if response is None:
            reason, why = REASONS.get(error, ("invalid_response", "elle est invalide"))
            if error == "UnsolicitedResponse" and replayed:
                reason, why = "replayed", "elle a déjà servi"
            raise Refused(reason, f"La réponse de l'ENT est refusée : {why} ({error}).")
        resource = outstanding[response.in_response_to]
        attributes = {k: list(v) for k, v in response.ava.items()}
        name_id = response.name_id.text if response.name_id is not None else ""
        web.log(
            self.service,
            "assertion_ok",
            resource=resource,
            name_id=name_id,
            attributes=sorted(attributes),
        )
        self._remember({"resource": resource, "name_id": name_id, "attributes": attributes})
        shown = json.dumps(attributes, ensure_ascii=False, indent=2, sort_keys=True)
        return web.page(
            self.label,
            f'<p>Ressource : <strong id="resource">{html.escape(self.resources[resource])}'
            "</strong></p>"
            "<p>L'ENT a authentifié la personne ; le GAR lui ouvre la ressource.</p>"
            "<h2>Attributs transmis par l'ENT</h2>"
            f'<pre id="attributes">{html.escape(shown)}</pre>',
        )

    def _remember(self, outcome: dict) -> None:
        with self.lock:
            self.last = {"time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **outcome}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["serve", "metadata"])
    parser.add_argument("--config", required=True, help="the JSON file (README.md)")
    args = parser.parse_args()
    # pysaml2 logs each refusal (and xmlsec1's output) at length: the reason is our own
    # `assertion_refused` line (or the config error), one line per event like the other partners.
    logging.getLogger("saml2").addHandler(logging.NullHandler())
    conf = web.load_config(args.config, REQUIRED)
    if args.command == "metadata":
        try:
            print(str(entity_descriptor(saml_config(conf, with_idp=False))))
        except Exception as exc:  # an unreadable key or certificate
            raise web.ConfigError(f"configuration SAML inutilisable : {exc}") from None
        return 0
    if not conf.get("idp_metadata"):
        raise web.ConfigError(
            f"{args.config} : il manque idp_metadata (les métadonnées de l'IdP GAR de Préau)"
        )
    sp = GarSP(conf)
    web.serve(web.wsgi(sp.handle, sp.service), conf, sp.service)
    return 0


if __name__ == "__main__":
    web.main_guard(main)
