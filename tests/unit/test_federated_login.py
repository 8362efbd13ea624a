"""logins.federated_login, the bench's browser-like login through an IdP, against two small
HTTPS servers on loopback standing for Préau (behind its lb) and for the lab's IdP: the
redirection and Préau's session cookie, the IdP's form and its hidden fields, its answer
posted back to Préau's ACS with that cookie. The lab's real IdP is driven by the bench rows
login_federated and login_rates."""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from preau_ops import logins
from preau_ops.lab import standin

PASSWORD = "le-bon-mot"


class Servers:
    """Préau and the IdP, each on its own loopback port, both over HTTPS."""

    def __init__(self, tmp_path, preau_status: int = 302):
        tls = standin.make_tls("127.0.0.1", "localhost", "Test CA")
        for name, data in tls.items():
            (tmp_path / name).write_bytes(data)
        self.ca = str(tmp_path / "ca.crt")
        self.posted: list[dict] = []
        self.preau_status = preau_status
        self.preau = self._serve(self._preau_handler(), tmp_path)
        self.idp = self._serve(self._idp_handler(), tmp_path)

    def _serve(self, handler, tmp_path) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def close(self) -> None:
        for server in (self.preau, self.idp):
            server.shutdown()
            server.server_close()

    def _preau_handler(self):
        servers = self

        class Preau(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                assert self.path == "/federation/connexion/educonnect/"
                assert self.headers["Host"] == "ent.test"
                idp = f"https://127.0.0.1:{servers.idp.server_address[1]}"
                self.send_response(302)
                self.send_header("Location", f"{idp}/sso?SAMLRequest=abc&RelayState=r1")
                self.send_header("Set-Cookie", "sessionid=s1; Path=/; HttpOnly; Secure")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                servers.posted.append(
                    {
                        "path": self.path,
                        "cookie": self.headers["Cookie"],
                        "form": {k: v[0] for k, v in parse_qs(body).items()},
                    }
                )
                text = b"Trop de connexions" if servers.preau_status == 429 else b""
                self.send_response(servers.preau_status)
                if servers.preau_status == 302:
                    self.send_header("Location", "/e/0820021C/")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args):
                pass

        return Preau

    def _idp_handler(self):
        class Idp(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _page(self, html: str) -> None:
                data = html.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                assert self.path == "/sso?SAMLRequest=abc&RelayState=r1"
                self._page('<form><input type="hidden" name="demande" value="d1"></form>')

            def do_POST(self):
                form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                if form.get("demande") != ["d1"] or form.get("mot_de_passe") != [PASSWORD]:
                    self._page('<form><input type="hidden" name="demande" value="d1"></form>')
                    return
                self._page(
                    '<form method="post" action="https://ent.test/federation/acs/">'
                    '<input type="hidden" name="SAMLResponse" value="PHNhbWw+&amp;">'
                    '<input type="hidden" name="RelayState" value="r1"></form>'
                )

            def log_message(self, *args):
                pass

        return Idp

    def login(self, password: str = PASSWORD) -> logins.Attempt:
        return logins.federated_login(
            "127.0.0.1",
            "ent.test",
            "educonnect",
            "eleve",
            password,
            self.ca,
            timeout=5,
            port=self.preau.server_address[1],
        )


@pytest.fixture
def servers(tmp_path):
    made = Servers(tmp_path)
    yield made
    made.close()


def test_the_idps_answer_goes_back_to_preaus_acs_with_preaus_session(servers):
    attempt = servers.login()
    assert attempt.status == 302 and attempt.seconds > 0
    (posted,) = servers.posted
    assert posted["path"] == "/federation/acs/"
    assert posted["cookie"] == "sessionid=s1"  # the cookie Préau set on the redirection
    # The hidden fields as the browser posts them: HTML entities undone, nothing added.
    assert posted["form"] == {"SAMLResponse": "PHNhbWw+&", "RelayState": "r1"}


def test_a_wrong_password_posts_nothing_to_preau(servers):
    attempt = servers.login("mauvais")
    assert attempt.status == 200 and servers.posted == []


def test_a_refusal_by_the_lb_is_said_so(tmp_path):
    servers = Servers(tmp_path, preau_status=429)
    try:
        attempt = servers.login()
    finally:
        servers.close()
    assert (attempt.status, attempt.by) == (429, "lb")


def test_an_idp_whose_certificate_is_not_from_its_ca_is_not_trusted(servers, tmp_path):
    other = standin.make_tls("127.0.0.1", "localhost", "Another CA")
    (tmp_path / "other-ca.crt").write_bytes(other["ca.crt"])
    servers.ca = str(tmp_path / "other-ca.crt")
    assert servers.login().status == 0 and servers.posted == []
