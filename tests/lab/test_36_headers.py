"""Security headers through the real lb (issue #16 item 9): each is sent once with one value,
the same on an app page, a static file and the waiting page (nginx owns them: the app sends
none; roles/nginx/templates/preau-headers.conf.j2)."""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict

import pytest

from preau_ops.paths import STATE_DIR

from .conftest import deploy

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("platform")]

CA = str(STATE_DIR / "ca" / "ca.crt")
HEADERS = (
    "strict-transport-security",
    "content-security-policy",
    "x-content-type-options",
    "x-frame-options",
    "referrer-policy",
    "cross-origin-opener-policy",
)


def get(lb, path: str) -> tuple[int, dict[str, list[str]], str]:
    """GET https://<domain>/path through the lb at `address`, the lab CA checked: status,
    headers (every value of each, lower-case names) and body."""
    address, domain = lb
    result = subprocess.run(
        [
            "curl",
            "-sS",
            "--include",
            "--max-time",
            "20",
            "--cacert",
            CA,
            "--resolve",
            f"{domain}:443:{address}",
            f"https://{domain}{path}",
        ],
        capture_output=True,
        check=True,
    )
    head, _, body = result.stdout.decode().partition("\r\n\r\n")
    status = int(head.split(" ", 2)[1])
    headers = defaultdict(list)
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()].append(value.strip())
    return status, headers, body


@pytest.fixture(scope="module")
def lb(lab):
    deploy("release", timeout=1200)  # the app of this tree serves, whatever ran before
    lb = lab.hosts_in("lb")[0]
    return lb.address, lb.vars["preau_domain"]  # not the host: its vars hold secrets


def test_each_security_header_once_with_one_value(lb):
    status, page, html = get(lb, "/connexion/")
    assert status == 200
    stylesheet = re.search(r'href="(/static/[^"]+\.css)"', html)[1]
    static_status, static, _ = get(lb, stylesheet)
    wait_status, wait, wait_html = get(lb, "/_preau/wait.html")
    assert static_status == 200 and wait_status == 200 and "Veuillez patienter" in wait_html
    for name in HEADERS:
        values = {
            where: answer[name]
            for where, answer in (("page", page), ("static file", static), ("waiting page", wait))
        }
        assert all(len(value) == 1 for value in values.values()), (name, values)
        assert len({value[0] for value in values.values()}) == 1, (name, values)
    assert page["x-frame-options"] == ["DENY"] and page["x-content-type-options"] == ["nosniff"]


def test_the_lb_reaches_every_app_host_over_verified_tls(lab, lb):
    """Issue #21 (TLS inside): nginx proxies over TLS it verifies against the internal CA and
    each app host's name; gunicorn answers no plain HTTP; and pages come through that TLS."""
    from preau_ops import audit

    remote = audit.testinfra_host(lab.hosts_in("lb")[0], sudo=True, inv=lab)
    config = remote.check_output("nginx -T 2>/dev/null")
    assert "proxy_pass https://preau_app;" in config and "proxy_ssl_verify on;" in config
    for app in lab.hosts_in("app"):
        address = app.private_address

        def handshake(name, address=address):
            return remote.run(
                f"openssl s_client -connect {address}:8000 -CAfile /etc/preau/pki/ca.pem -brief"
                f" -verify_hostname {name} -verify_return_error </dev/null 2>&1"
            ).stdout

        assert "Verification: OK" in handshake(app.name), handshake(app.name)
        assert "Verification: OK" not in handshake("preau-not-this-host")
        plain = remote.run(
            f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 5 http://{address}:8000/healthz"
        )
        assert plain.stdout.strip() == "000", f"{app.name} answered plain HTTP"
    remote.run_test("truncate -s 0 /var/log/nginx/error.log")
    pages = [get(lb, "/connexion/")[0] for _ in range(2 * len(lab.hosts_in("app")))]
    assert pages == [200] * len(pages)
    assert "upstream SSL" not in remote.check_output("cat /var/log/nginx/error.log")
