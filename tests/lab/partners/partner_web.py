"""What the lab partners (idp.py, cas_client.py, gar_sp.py) need of the web, from the standard
library alone: the lab's ops host has python3 and a few Debian packages, nothing from pip, so no
web framework. A threaded wsgiref server (HTTPS when given a certificate), the config file, one log
line per event on stdout (journald keeps it), cookies, forms and small French pages."""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import json
import ssl
import sys
from collections.abc import Callable, Iterable
from http.cookies import SimpleCookie
from socketserver import ThreadingMixIn
from urllib.parse import parse_qs, urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

Response = tuple[str, list[tuple[str, str]], bytes]
MAX_BODY = 64 * 1024  # a login form or a SAML message; anything larger is refused


class ConfigError(Exception):
    """The config file is unreadable or lacks a key: said in one French line, no traceback."""


def load_config(path: str, required: Iterable[str]) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"configuration illisible ({path}) : {exc}") from None
    missing = [key for key in required if key not in config]
    if missing:
        raise ConfigError(f"configuration {path} : il manque {', '.join(missing)}")
    return config


def log(service: str, event: str, **fields: object) -> None:
    """One line per event, `time service event key=value…`, flushed at once (journald, tests)."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    details = " ".join(
        f"{key}={json.dumps(value, ensure_ascii=False)}" for key, value in fields.items()
    )
    print(f"{now} {service} {event} {details}".rstrip(), flush=True)


def base_path(url: str) -> str:
    """The path under which a service's URLs live ("" for a service at the host's root)."""
    return urlsplit(url).path.rstrip("/")


def query(environ: dict) -> dict[str, str]:
    """The query string, first value of each parameter (SAML's bindings send each once)."""
    return {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def form(environ: dict) -> dict[str, str]:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(min(length, MAX_BODY)).decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(body).items()}


def cookie(environ: dict, name: str) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(environ.get("HTTP_COOKIE", ""))
    except Exception:  # a malformed header from another site of the host: no session
        return None
    return jar[name].value if name in jar else None


def set_cookie(
    name: str,
    value: str,
    path: str,
    secure: bool,
    max_age: int | None = None,
    same_site: str = "Lax",
):
    """A session cookie: HttpOnly, SameSite=Lax (the SSO and the return from CAS are top-level
    navigations, which carry it), Secure over HTTPS. `same_site="None"` for a cookie a
    cross-site POST must carry (an SP's ACS: the IdP's page posts the answer); browsers take it
    over HTTPS only, so over HTTP it stays Lax."""
    same_site = same_site if secure else "Lax"
    parts = [f"{name}={value}", f"Path={path or '/'}", "HttpOnly", f"SameSite={same_site}"]
    if secure:
        parts.append("Secure")
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    return ("Set-Cookie", "; ".join(parts))


STYLE = (
    "body{font-family:sans-serif;margin:0;padding:1rem;line-height:1.5;color:#1b1b1b}"
    "main{max-width:32rem;margin:auto;overflow-wrap:anywhere}label{display:block;margin-top:1rem;font-weight:bold}"
    "input{box-sizing:border-box;width:100%;padding:.5rem;font-size:1rem}"
    "button{margin-top:1rem;padding:.5rem 1rem;font-size:1rem}"
    ".erreur{color:#a00000;font-weight:bold}pre{white-space:pre-wrap;word-break:break-all}"
)


def page(title: str, body: str, status: str = "200 OK", headers: Iterable = ()) -> Response:
    """A French page (lang fr, fits a phone's width); `body` is HTML the caller escaped."""
    document = (
        '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>"
    )
    return status, [("Content-Type", "text/html; charset=utf-8"), *headers], document.encode()


def redirect(location: str, headers: Iterable = ()) -> Response:
    return "302 Found", [("Location", location), ("Cache-Control", "no-store"), *headers], b""


def as_json(data: object, status: str = "200 OK") -> Response:
    body = json.dumps(data, ensure_ascii=False, indent=2).encode()
    return status, [("Content-Type", "application/json; charset=utf-8")], body


def wsgi(handle: Callable[[dict], Response], service: str):
    """A WSGI application from `handle(environ) -> (status, headers, body)`; an unexpected
    error is logged and answered with a French 500 page, never a traceback to the browser."""

    def application(environ, start_response):
        try:
            status, headers, body = handle(environ)
        except Exception as exc:
            log(service, "error", error=type(exc).__name__, detail=str(exc)[:200])
            status, headers, body = page(
                "Erreur", "<p>Une erreur inattendue est survenue.</p>", "500 Internal Server Error"
            )
        start_response(status, [*headers, ("Cache-Control", "no-store")])
        return [body]

    return application


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a request in flight does not keep a stopping process alive
    service = "partner"

    def handle_error(self, request, client_address):
        """One line, not socketserver's traceback: a client that drops the connection or
        refuses our certificate (a browser's first try at a self-signed one) is no event."""
        error = sys.exc_info()[1]
        log(self.service, "connection_error", error=type(error).__name__, detail=str(error)[:120])


class _Handler(WSGIRequestHandler):
    timeout = 30  # a client that stops talking frees its thread

    def log_message(self, format, *args):  # noqa: A002 (the stdlib's signature)
        """No access log: each service prints its own events (log())."""


def serve(application, config: dict, service: str) -> None:
    """Serve until killed: on `listen`:`port`, over HTTPS when `tls_cert` (and `tls_key`) is set.
    The TLS handshake is left to the request's thread (do_handshake_on_connect=False), so a
    slow client does not hold up accept()."""
    server = make_server(
        config.get("listen", "127.0.0.1"),
        int(config["port"]),
        application,
        server_class=_ThreadingServer,
        handler_class=_Handler,
    )
    server.service = service
    if config.get("tls_cert"):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(config["tls_cert"], config.get("tls_key"))
        server.socket = context.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
    log(service, "listening", address=config.get("listen", "127.0.0.1"), port=int(config["port"]))
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C by hand: a quiet stop
        server.serve_forever()


def main_guard(run: Callable[[], int]) -> None:
    """Exit with run()'s status; a config error is one line on stderr and status 2."""
    try:
        sys.exit(run())
    except ConfigError as exc:
        print(f"erreur : {exc}", file=sys.stderr)
        sys.exit(2)
