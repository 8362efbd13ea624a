#!/usr/bin/env python3
"""A partner resource of the lab (say, a digital textbook site) that authenticates its users
through Préau's CAS 3.0 server with python-cas (`CASClient`, version 3), a client library no one
here wrote: the service validates the ticket itself and shows what Préau released.

Runs on a bare Debian 12 host: python3, python-cas's module (cas.py, copied) and the Debian
packages it needs (python3-requests, python3-lxml, python3-six). See README.md beside it.

    python3 cas_client.py serve --config FILE.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import secrets
import threading
import time

import partner_web as web
from cas import CASClient

REQUIRED = ("cas_url", "service_url", "port")
SESSION_SECONDS = 3600


class Service:
    """`/`: the resource, behind CAS; `/last.json`: the last validation, for the lab's tests;
    `/deconnexion`: ends this session, then Préau's (CAS logout). Sessions in memory."""

    def __init__(self, conf: dict):
        self.conf = conf
        self.label = conf.get("name", "Ressource partenaire")
        self.log_name = conf.get("log_name", "cas_client")
        self.service_url = conf["service_url"]
        self.prefix = web.base_path(self.service_url)
        self.secure = self.service_url.startswith("https:")
        self.cookie_name = conf.get("cookie_name") or f"cas_client_{conf['port']}"
        self.lock = threading.Lock()
        self.sessions: dict[str, dict] = {}
        self.last: dict | None = None

    def client(self) -> CASClient:
        """A client per request (its requests session is not shared between threads). Préau's
        TLS is verified with `ca_file` (the lab's CA), else the system's store."""
        return CASClient(
            version=3,
            service_url=self.service_url,
            server_url=self.conf["cas_url"],
            verify_ssl_certificate=self.conf.get("ca_file") or True,
        )

    def handle(self, environ: dict) -> web.Response:
        path = environ.get("PATH_INFO", "")
        if self.prefix and path.startswith(self.prefix):
            path = path[len(self.prefix) :]
        if environ["REQUEST_METHOD"] != "GET":
            return web.page(
                self.label, "<p>Méthode non prise en charge.</p>", "405 Method Not Allowed"
            )
        if path == "/health":
            return web.as_json({"status": "ok", "service": self.service_url})
        if path == "/last.json":
            with self.lock:
                last = self.last
            return web.as_json(last) if last else web.as_json({}, "404 Not Found")
        if path == "/deconnexion":
            return self.logout(environ)
        if path in ("", "/"):
            return self.resource(environ)
        return web.page(self.label, "<p>Cette adresse n'existe pas.</p>", "404 Not Found")

    def resource(self, environ: dict) -> web.Response:
        ticket = web.query(environ).get("ticket")
        if ticket:
            return self.validate(ticket)
        sid = web.cookie(environ, self.cookie_name) or ""
        with self.lock:
            session = self.sessions.get(sid)
        if session and session["expires"] > time.time():
            return self.show(session)
        login = self.client().get_login_url()
        web.log(self.log_name, "redirect_to_cas", location=login)
        return web.redirect(login)

    def validate(self, ticket: str) -> web.Response:
        """python-cas validates the ticket at Préau's /cas/p3/serviceValidate. A refusal or an
        unreachable Préau is a clear page, and is the last validation too (the tests read it)."""
        try:
            user, attributes, _ = self.client().verify_ticket(ticket)
        except Exception as exc:  # Préau unreachable, TLS refused, an unreadable answer
            web.log(self.log_name, "validation_failed", error=type(exc).__name__)
            self._remember({"user": None, "error": type(exc).__name__})
            return self._failure(
                "502 Bad Gateway",
                f"Le serveur d'authentification n'a pas pu être joint ({type(exc).__name__}).",
            )
        if not user:
            web.log(self.log_name, "validation_refused", ticket=ticket[:12])
            self._remember({"user": None, "error": "ticket refusé"})
            return self._failure(
                "403 Forbidden", "Le serveur d'authentification a refusé le ticket."
            )
        session = {
            "user": user,
            "attributes": attributes or {},
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        self._remember(session)
        sid = secrets.token_urlsafe(24)
        with self.lock:
            self.sessions[sid] = {**session, "expires": time.time() + SESSION_SECONDS}
        web.log(self.log_name, "validation_ok", user=user, attributes=sorted(session["attributes"]))
        cookie = web.set_cookie(self.cookie_name, sid, self.prefix, self.secure, SESSION_SECONDS)
        return self.show(session, [cookie])

    def _remember(self, validation: dict) -> None:
        with self.lock:
            self.last = {
                "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                **validation,
            }

    def _failure(self, status: str, message: str) -> web.Response:
        return web.page(
            f"{self.label} : connexion impossible",
            f'<p class="erreur" role="alert">{html.escape(message, quote=False)}</p>'
            f'<p><a href="{html.escape(self.service_url)}">Réessayer</a></p>',
            status,
        )

    def show(self, session: dict, headers=()) -> web.Response:
        released = json.dumps(session["attributes"], ensure_ascii=False, indent=2, sort_keys=True)
        return web.page(
            self.label,
            f'<p>Connecté en tant que <strong id="user">{html.escape(session["user"])}</strong>.</p>'
            "<h2>Attributs transmis par l'ENT</h2>"
            f'<pre id="attributes">{html.escape(released)}</pre>'
            f'<p><a href="{self.prefix}/deconnexion">Se déconnecter</a></p>',
            headers=headers,
        )

    def logout(self, environ: dict) -> web.Response:
        sid = web.cookie(environ, self.cookie_name) or ""
        with self.lock:
            session = self.sessions.pop(sid, None)
        web.log(self.log_name, "logout", user=session["user"] if session else None)
        clear = web.set_cookie(self.cookie_name, "", self.prefix, self.secure, 0)
        return web.redirect(self.client().get_logout_url(self.service_url), [clear])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--config", required=True, help="the JSON file (README.md)")
    args = parser.parse_args()
    service = Service(web.load_config(args.config, REQUIRED))
    web.serve(web.wsgi(service.handle, service.log_name), service.conf, service.log_name)
    return 0


if __name__ == "__main__":
    web.main_guard(main)
