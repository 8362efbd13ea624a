#!/usr/bin/env python3
"""A SAML 2.0 identity provider for the lab, standing for ÉduConnect or the académie's agents
IdP (one process each): pysaml2's IdP side (saml2.server.Server), a French login form, its own
session, single logout. Préau, its service provider, meets a real IdP it did not write.

Runs on a bare Debian 12 host: python3, Debian's python3-pysaml2 (7.0.x there, 7.5 in the
controller's venv: only calls that exist in both) and xmlsec1. See README.md beside it.

    python3 idp.py metadata --config FILE.json   # its metadata XML, before it runs
    python3 idp.py serve --config FILE.json
"""

from __future__ import annotations

import argparse
import base64
import hmac
import html
import secrets
import threading
import time

import partner_web as web
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import AUTHN_PASSWORD_PROTECTED, NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server
from saml2.sigver import verify_redirect_signature

REQUIRED = ("name", "base_url", "key_file", "cert_file", "port", "accounts")
SIGALG = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
PENDING_SECONDS = 600  # between the SSO and the form's POST
SESSION_SECONDS = 8 * 3600


class Refused(Exception):
    """A request this IdP does not answer: a French page, a log line, nothing sent to the SP."""

    def __init__(self, reason: str, message: str, status: str = "403 Forbidden"):
        super().__init__(reason)
        self.reason, self.message, self.status = reason, message, status


def saml_config(conf: dict, with_sp: bool = True) -> IdPConfig:
    """pysaml2's IdP configuration. Without the SP (`metadata`): the lab writes Préau's
    inventory from this IdP's metadata before Préau, hence its SP metadata, exists.
    `want_authn_requests_signed` is not given to pysaml2: 7.0 would look for a signature inside
    the XML, which the HTTP-Redirect binding carries in the query; IdP._signed() checks it."""
    base = conf["base_url"].rstrip("/")
    sp_files = conf.get("sp_metadata") or []
    config = IdPConfig()
    config.load(
        {
            "entityid": entity_id(conf),
            "xmlsec_binary": conf.get("xmlsec_binary", "/usr/bin/xmlsec1"),
            "key_file": conf["key_file"],
            "cert_file": conf["cert_file"],
            "metadata": {"local": [sp_files] if isinstance(sp_files, str) else sp_files}
            if with_sp
            else {},
            "allow_unknown_attributes": True,
            "accepted_time_diff": 60,
            "service": {
                "idp": {
                    "name": conf["name"],
                    "endpoints": {
                        "single_sign_on_service": [(f"{base}/sso", BINDING_HTTP_REDIRECT)],
                        "single_logout_service": [(f"{base}/slo", BINDING_HTTP_REDIRECT)],
                    },
                    "policy": {"default": {"lifetime": {"minutes": 5}}},
                    "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                }
            },
        }
    )
    return config


def entity_id(conf: dict) -> str:
    return conf.get("entity_id") or conf["base_url"].rstrip("/")


class IdP:
    """The service: pending requests (waiting for the form) and sessions, in memory. pysaml2's
    Server is not documented as thread-safe: its calls are made under one lock."""

    def __init__(self, conf: dict):
        self.conf = conf
        self.label = conf["name"]
        self.service = conf.get("log_name", "idp")
        self.prefix = web.base_path(conf["base_url"])
        self.secure = bool(conf.get("tls_cert")) or conf["base_url"].startswith("https:")
        # Cookies ignore ports: two IdPs on one host each need their own cookie name.
        self.cookie_name = conf.get("cookie_name") or f"idp_{conf['port']}"
        self.want_signed = conf.get("want_signed_requests", True)
        self.accounts: dict = conf["accounts"]
        self.server = Server(config=saml_config(conf))
        self.lock = threading.Lock()
        self.pending: dict[str, dict] = {}
        self.sessions: dict[str, dict] = {}

    # -- routing ------------------------------------------------------------------------------

    def handle(self, environ: dict) -> web.Response:
        path = environ.get("PATH_INFO", "")
        if self.prefix and path.startswith(self.prefix):
            path = path[len(self.prefix) :]
        method = environ["REQUEST_METHOD"]
        routes = {
            ("GET", "/health"): lambda: web.as_json({"status": "ok", "idp": entity_id(self.conf)}),
            ("GET", "/metadata"): self.metadata,
            ("GET", "/sso"): lambda: self.sso(environ),
            ("POST", "/login"): lambda: self.login(environ),
            ("GET", "/slo"): lambda: self.slo(environ),
        }
        route = routes.get((method, path))
        if route is None:
            return web.page(self.label, "<p>Cette adresse n'existe pas.</p>", "404 Not Found")
        try:
            return route()
        except Refused as refusal:
            web.log(self.service, "request_refused", reason=refusal.reason)
            return web.page(
                f"{self.label} : demande refusée",
                f'<p class="erreur">{html.escape(refusal.message, quote=False)}</p>'
                "<p>Aucune information n'a été transmise. Retournez sur le site d'où vous "
                "venez et recommencez.</p>",
                refusal.status,
            )

    def metadata(self) -> web.Response:
        xml = str(entity_descriptor(self.server.config)).encode()
        return "200 OK", [("Content-Type", "application/samlmetadata+xml")], xml

    # -- single sign-on -----------------------------------------------------------------------

    def sso(self, environ: dict) -> web.Response:
        q = web.query(environ)
        if "SAMLRequest" not in q:
            raise Refused(
                "invalid_request", "Cette adresse attend une demande SAML.", "400 Bad Request"
            )
        try:
            with self.lock:
                parsed = self.server.parse_authn_request(q["SAMLRequest"], BINDING_HTTP_REDIRECT)
            message = parsed.message
            sp = message.issuer.text.strip()
        except Exception:  # not base64, not deflated, not XML, not an AuthnRequest
            raise Refused(
                "invalid_request",
                "La demande d'authentification reçue est illisible.",
                "400 Bad Request",
            ) from None
        if sp not in self.server.metadata.keys():  # noqa: SIM118 (MetadataStore: no __contains__)
            raise Refused("unknown_sp", f"Le service {sp} n'est pas connu de {self.label}.")
        self._signed(q, sp)
        with self.lock:
            args = self.server.response_args(message, [BINDING_HTTP_POST])
        request = {"args": args, "relay": q.get("RelayState", ""), "sp": sp}
        session = self._session(environ)
        if session and str(message.force_authn).lower() not in ("true", "1"):
            return self._answer(request, session["login"], headers=())
        token = secrets.token_urlsafe(24)
        with self.lock:
            self._forget_expired()
            self.pending[token] = {**request, "expires": time.time() + PENDING_SECONDS}
        return self._form(token, sp)

    def _signed(self, q: dict, sp: str) -> None:
        """The HTTP-Redirect signature (query parameters) checked with the SP's signing
        certificates from its metadata; required unless `want_signed_requests` is false, checked
        whenever present."""
        if "Signature" not in q or "SigAlg" not in q:
            if self.want_signed:
                raise Refused("unsigned", "La demande n'est pas signée par le service.")
            return
        fields = ("SAMLRequest", "SAMLResponse", "RelayState", "SigAlg", "Signature")
        message = {k: q[k] for k in fields if k in q}
        for item in self.server.metadata.certs(sp, "spsso", "signing"):
            # pysaml2 7.0 (Debian 12) lists the certificates, 7.5 (key name, certificate) pairs
            cert = item[1] if isinstance(item, tuple) else item
            try:
                if verify_redirect_signature(message, self.server.sec.sec_backend, cert):
                    return
            except Exception:  # a malformed signature or an unknown algorithm
                continue
        raise Refused("bad_signature", "La signature de la demande n'est pas valide.")

    def _form(self, token: str, sp: str, error: str = "", login: str = "") -> web.Response:
        alert = (
            f'<p class="erreur" role="alert">{html.escape(error, quote=False)}</p>' if error else ""
        )
        return web.page(
            self.label,
            f"<p>Connectez-vous pour accéder à <strong>{html.escape(sp)}</strong>.</p>{alert}"
            f'<form method="post" action="{self.prefix}/login">'
            f'<input type="hidden" name="demande" value="{token}">'
            '<label for="identifiant">Identifiant</label>'
            '<input id="identifiant" name="identifiant" autocomplete="username" required '
            f'value="{html.escape(login)}">'
            '<label for="mot_de_passe">Mot de passe</label>'
            '<input id="mot_de_passe" name="mot_de_passe" type="password" '
            'autocomplete="current-password" required>'
            '<button type="submit">Se connecter</button></form>',
        )

    def login(self, environ: dict) -> web.Response:
        data = web.form(environ)
        token = data.get("demande", "")
        with self.lock:
            self._forget_expired()
            request = self.pending.get(token)
        if request is None:
            raise Refused(
                "expired",
                "Cette demande de connexion a expiré ou a déjà servi.",
                "400 Bad Request",
            )
        login, password = data.get("identifiant", ""), data.get("mot_de_passe", "")
        account = self.accounts.get(login)
        if account is None or not hmac.compare_digest(
            password.encode(), str(account["password"]).encode()
        ):
            web.log(self.service, "login_refused", login=login, sp=request["sp"])
            return self._form(token, request["sp"], "Identifiant ou mot de passe incorrect.", login)
        sid = secrets.token_urlsafe(24)
        with self.lock:
            self.pending.pop(token, None)
            self.sessions[sid] = {
                "login": login,
                "subject": account["subject"],
                "expires": time.time() + SESSION_SECONDS,
            }
        web.log(self.service, "login_ok", login=login, sp=request["sp"])
        cookie = web.set_cookie(self.cookie_name, sid, self.prefix, self.secure, SESSION_SECONDS)
        return self._answer(request, login, headers=[cookie])

    def _answer(self, request: dict, login: str, headers) -> web.Response:
        """The signed assertion, posted to the SP's ACS by the browser (a form a script
        submits, as a real IdP's page does; its button stays without JavaScript)."""
        account = self.accounts[login]
        subject = account["subject"]
        with self.lock:
            response = self.server.create_authn_response(
                identity=account.get("attributes", {}),
                userid=subject,
                name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=subject),
                authn={"class_ref": AUTHN_PASSWORD_PROTECTED, "authn_auth": entity_id(self.conf)},
                sign_assertion=True,
                sign_response=False,
                **request["args"],
            )
        acs = request["args"]["destination"]
        web.log(self.service, "assertion_sent", sp=request["sp"], subject=subject, acs=acs)
        fields = {
            "SAMLResponse": base64.b64encode(str(response).encode()).decode(),
            "RelayState": request["relay"],
        }
        inputs = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(value)}">'
            for name, value in fields.items()
        )
        return web.page(
            "Connexion en cours",
            f'<form method="post" action="{html.escape(acs)}">{inputs}'
            '<p>Retour vers le service…</p><button type="submit">Continuer</button></form>'
            "<script>document.forms[0].submit()</script>",
            headers=headers,
        )

    def _session(self, environ: dict) -> dict | None:
        sid = web.cookie(environ, self.cookie_name)
        with self.lock:
            session = self.sessions.get(sid or "")
            if session and session["expires"] < time.time():
                del self.sessions[sid or ""]
                return None
        return session

    def _forget_expired(self) -> None:
        now = time.time()
        for token in [t for t, r in self.pending.items() if r["expires"] < now]:
            del self.pending[token]

    # -- single logout ------------------------------------------------------------------------

    def slo(self, environ: dict) -> web.Response:
        """The SP's LogoutRequest (HTTP-Redirect, signed): this IdP's session of the person named
        ends (the browser's own, else every session of that subject), then a signed
        LogoutResponse goes back to the SP's single logout service."""
        q = web.query(environ)
        try:
            with self.lock:
                parsed = self.server.parse_logout_request(q["SAMLRequest"], BINDING_HTTP_REDIRECT)
            message = parsed.message
            sp, subject = message.issuer.text.strip(), message.name_id.text
        except Exception:
            raise Refused(
                "invalid_request",
                "La demande de déconnexion reçue est illisible.",
                "400 Bad Request",
            ) from None
        if sp not in self.server.metadata.keys():  # noqa: SIM118
            raise Refused("unknown_sp", f"Le service {sp} n'est pas connu de {self.label}.")
        self._signed(q, sp)
        sid = web.cookie(environ, self.cookie_name) or ""
        with self.lock:
            mine = self.sessions.get(sid)
            ended = (
                [sid]
                if mine and mine["subject"] == subject
                else [s for s, v in self.sessions.items() if v["subject"] == subject]
            )
            for s in ended:
                del self.sessions[s]
            response = self.server.create_logout_response(
                message, bindings=[BINDING_HTTP_REDIRECT], sign=False
            )
            destination = self.server.response_args(message, [BINDING_HTTP_REDIRECT])["destination"]
            http = self.server.apply_binding(
                BINDING_HTTP_REDIRECT,
                str(response),
                destination,
                q.get("RelayState", ""),
                response=True,
                sign=True,
                sigalg=SIGALG,
            )
        web.log(self.service, "logout", sp=sp, subject=subject, sessions_ended=len(ended))
        clear = web.set_cookie(self.cookie_name, "", self.prefix, self.secure, 0)
        return web.redirect(dict(http["headers"])["Location"], [clear])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["serve", "metadata"])
    parser.add_argument("--config", required=True, help="the JSON file (README.md)")
    args = parser.parse_args()
    conf = web.load_config(args.config, REQUIRED)
    if args.command == "metadata":
        print(str(entity_descriptor(saml_config(conf, with_sp=False))))
        return 0
    if not conf.get("sp_metadata"):
        raise web.ConfigError(f"{args.config} : il manque sp_metadata (les métadonnées de Préau)")
    idp = IdP(conf)
    web.serve(web.wsgi(idp.handle, idp.service), conf, idp.service)
    return 0


if __name__ == "__main__":
    web.main_guard(main)
