"""nginx role, exercised from the controller like a browser would (TLS checked against the
lab CA that the role made in the molecule ephemeral directory)."""

import concurrent.futures
import hashlib
import http.client
import os
import socket
import ssl
import time

import pytest

DOMAIN = "ent.preau.test"
CA_IP, ACME_IP = "172.30.94.10", "172.30.94.11"
CA_FILE = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "ca", "ca.crt")


def tls_context(verify=True):
    return (
        ssl.create_default_context(cafile=CA_FILE) if verify else ssl._create_unverified_context()
    )


def ssl_socket(address, context):
    """TLS connection to address:443 with SNI and name check on DOMAIN."""
    return context.wrap_socket(
        socket.create_connection((address, 443), timeout=10), server_hostname=DOMAIN
    )


def request(path, address=CA_IP, https=True):
    """GET path with Host: DOMAIN; returns (status, headers, body)."""
    if https:
        conn = http.client.HTTPSConnection(DOMAIN, timeout=10)
        conn.sock = ssl_socket(address, tls_context())
    else:
        conn = http.client.HTTPConnection(address, 80, timeout=10)
    conn.request("GET", path, headers={"Host": DOMAIN})
    response = conn.getresponse()
    return response.status, response.headers, response.read().decode()


def start_fake_app(host, pki="/etc/preau/pki"):
    """The stand-in app, serving TLS with the certificate and key in pki."""
    host.run_test(
        "systemd-run --unit=fake-app --working-directory=/srv/fake python3 -c %s %s/host.crt %s/host.key",
        FAKE_APP,
        pki,
        pki,
    )
    time.sleep(1)


@pytest.fixture(scope="module")
def upstream(ca_host):
    """A stand-in app on nginx-ca:8000 (it is also in the app group) with a static file,
    serving TLS as gunicorn does, with the host certificate of the internal CA. Like Django
    with its defaults, it sends security headers of its own, with other values."""
    ca_host.run_test(
        "mkdir -p /srv/fake/static && echo home > /srv/fake/index.html && echo 'body{}' > /srv/fake/static/app.css"
    )
    start_fake_app(ca_host)
    yield
    ca_host.run("systemctl stop fake-app")


FAKE_APP = """
import http.server, ssl, sys
class Handler(http.server.SimpleHTTPRequestHandler):
    def end_headers(self):
        for name, value in (("Referrer-Policy", "same-origin"), ("X-Frame-Options", "SAMEORIGIN"),
                            ("X-Content-Type-Options", "nosniff"), ("Cross-Origin-Opener-Policy", "unsafe-none")):
            self.send_header(name, value)
        super().end_headers()
server = http.server.ThreadingHTTPServer(("", 8000), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"""
# The security headers, each once with nginx's value (the defaults of the role).
SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=63072000",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def assert_security_headers_once(headers):
    assert {name: headers.get_all(name) for name in SECURITY_HEADERS} == {
        name: [value] for name, value in SECURITY_HEADERS.items()
    }


def test_http_redirects_to_https():
    status, headers, _ = request("/e/0123456A/?x=1", https=False)
    assert status == 301 and headers["Location"] == f"https://{DOMAIN}/e/0123456A/?x=1"


def test_tls_1_2_and_1_3_with_the_lab_ca():
    with ssl_socket(CA_IP, tls_context()) as sock:
        assert sock.version() == "TLSv1.3"
    context = tls_context()
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with ssl_socket(CA_IP, context) as sock:
        assert sock.version() == "TLSv1.2" and sock.cipher()[0].startswith("ECDHE-ECDSA-")


def test_proxy_and_security_headers(upstream):
    status, headers, body = request("/")
    assert status == 200 and body.strip() == "home"
    assert_security_headers_once(headers)  # the app's own copies dropped
    assert "nginx/" not in headers.get("Server", "")


def test_static_files_are_cached(upstream):
    request("/static/app.css")
    status, headers, body = request("/static/app.css")
    assert status == 200 and headers["X-Cache-Status"] == "HIT"
    assert_security_headers_once(headers)


def posts(path, count, client, connections=1):
    """`count` POSTs of path as `client` behind the declared front proxy (X-Forwarded-For),
    spread over `connections` connections sending at once; their statuses, the last 429's
    headers and body, and the seconds the whole took."""

    def send(number):
        conn = http.client.HTTPSConnection(DOMAIN, timeout=10)
        conn.sock = ssl_socket(CA_IP, tls_context())
        answers = []
        for _ in range(number):
            conn.request(
                "POST",
                path,
                body=b"username=x&password=y",
                headers={
                    "Host": DOMAIN,
                    "X-Forwarded-For": client,
                    "Content-Type": "application/x-www-form-urlencoded",
                },
            )
            response = conn.getresponse()
            answers.append((response.status, response.headers, response.read().decode()))
        conn.close()
        return answers

    shares = [count // connections + (i < count % connections) for i in range(connections)]
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(connections) as pool:
        answers = [answer for part in pool.map(send, shares) for answer in part]
    elapsed = time.monotonic() - started
    refused = [(headers, body) for status, headers, body in answers if status == 429]
    return [status for status, _, _ in answers], refused[-1] if refused else None, elapsed


def test_login_pages_are_not_limited(upstream):
    # a class opening the login page at once: never refused here (only the form's POSTs count)
    assert 429 not in [request(path)[0] for path in ("/connexion/", "/activation/") * 40]


def test_login_posts_are_limited_per_real_client(upstream, ca_host):
    # 300 a minute, burst 60: a class of 30 submitting at once passes, a flood does not
    statuses, _, _ = posts("/connexion/", 30, "198.51.100.7", connections=6)
    assert 429 not in statuses
    # A flood from 6 connections at once, so that it outruns the refill (5 a second) however
    # slow the machine is (sent one after the other at 200 ms each, nothing was ever refused).
    statuses, refused, elapsed = posts("/connexion/", 240, "198.51.100.8", connections=6)
    accepted = len(statuses) - statuses.count(429)
    assert 429 in statuses, f"240 POSTs in {elapsed:.1f} s, none refused"
    # the burst passes whole; beyond it, no more than the rate lets through meanwhile
    assert 60 <= accepted <= 61 + 5 * elapsed + 2, (accepted, elapsed)
    headers, body = refused
    assert headers["Retry-After"] == "5" and '<html lang="fr">' in body
    assert (
        "Trop de connexions" in body
        and "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    )
    # keyed on the client the front proxy names, not on the proxy: another client still passes
    assert 429 not in posts("/activation/", 5, "198.51.100.9")[0]
    log = ca_host.check_output("cat /var/log/nginx/access.log")
    assert "198.51.100.8 - - " in log and '"POST /connexion/ HTTP/1.1" 429' in log


def test_app_host_reached_over_verified_tls(ca_host, upstream):
    # the stand-in app speaks TLS only: the earlier pages came through it; nginx checks the
    # host's certificate against the internal CA and the host's inventory name
    config = ca_host.check_output("nginx -T 2>/dev/null")
    assert "proxy_pass https://preau_app;" in config and "proxy_ssl_verify on;" in config
    assert '"~(^|, )172\\.30\\.94\\.10:8000$" nginx-ca;' in config
    # an app host whose certificate another CA signed is refused: the waiting page
    ca_host.run_test("systemctl stop fake-app")
    start_fake_app(ca_host, pki="/srv/rogue")
    try:
        status, _, body = request("/e/0123456A/")
        assert status == 503 and "Veuillez patienter" in body
        error_log = ca_host.check_output("tail -n 5 /var/log/nginx/error.log")
        assert "upstream SSL certificate verify error" in error_log
    finally:
        ca_host.run_test("systemctl stop fake-app")
        start_fake_app(ca_host)
    assert request("/")[0] == 200


def test_waiting_page_when_the_app_is_down(ca_host, upstream):
    # Last test using the stand-in app: stopping a transient unit also removes it.
    ca_host.run_test("systemctl stop fake-app")
    status, headers, body = request("/e/0123456A/")
    assert status == 503 and headers["Retry-After"] == "30"
    assert '<html lang="fr">' in body and "Veuillez patienter" in body
    assert_security_headers_once(headers)
    assert request("/_preau/wait.css")[0] == 200


def test_https_accepts_a_crowd_connecting_at_once(ca_host):
    # a listening socket's Send-Q is its backlog: nginx's default of 511 would show here
    listening = ca_host.check_output("ss -ltnH 'sport = :443'").split()
    assert listening[2] == "4096", listening


def test_workers_hold_a_crowd_of_connections(ca_host):
    # Debian's 768 connections per worker are taken as the role's 8,192, each worker allowed
    # two open files per connection
    workers = ca_host.check_output("pgrep -x nginx -P $(cat /run/nginx.pid)").split()
    assert workers
    # a worker may end between the two reads (a reload replaces them): the others are read
    read = {pid: ca_host.run(f"grep 'Max open files' /proc/{pid}/limits") for pid in workers}
    limits = {pid: answer.stdout.split() for pid, answer in read.items() if answer.rc == 0}
    assert limits, f"every worker ended meanwhile: {workers}"
    for pid, values in limits.items():
        assert values[3:5] == ["16384", "16384"], (pid, values)
    config = ca_host.check_output("nginx -T 2>/dev/null")
    assert "worker_connections 8192;" in config and "limit_conn_log_level warn;" in config


def test_stub_status_on_loopback_only(ca_host):
    local = ca_host.run(
        "python3 -c %s",
        "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8080/stub_status').read().decode())",
    )
    assert "Active connections" in local.stdout
    assert not ca_host.socket("tcp://0.0.0.0:8080").is_listening


def test_acme_certificate_from_pebble(acme_host):
    live = f"/etc/letsencrypt/live/{DOMAIN}/fullchain.pem"
    assert acme_host.check_output("readlink /etc/nginx/tls/%s.fullchain.pem", DOMAIN) == live
    assert "Pebble" in acme_host.check_output("openssl x509 -noout -issuer -in %s", live)
    on_disk = acme_host.check_output("openssl x509 -in %s -outform DER | sha256sum", live).split()[
        0
    ]
    with ssl_socket(ACME_IP, tls_context(verify=False)) as sock:
        served = hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest()
    assert served == on_disk


def test_the_only_app_host_is_never_drained(ca_host):
    refused = ca_host.run("preau-lb-drain nginx-ca on")
    assert refused.rc == 3 and "last app host in service" in refused.stderr
    assert ca_host.check_output("preau-lb-drain nginx-ca status") == "serving"
    assert ca_host.run("preau-lb-drain nginx-acme on").rc == 2  # not an app host
    # the site's log names the app host that answered (earlier tests made requests)
    assert "upstream=172.30.94.10:8000" in ca_host.check_output("cat /var/log/nginx/access.log")
