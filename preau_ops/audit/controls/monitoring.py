"""Prometheus' and Alertmanager's own doors (issue #23 item 5): on the monitoring host's private
address only, TLS, and nothing answered to a client without the credentials."""

from __future__ import annotations

import pytest

from preau_ops import monitoring_api
from preau_ops.audit.catalogue import Evidence
from preau_ops.audit.remote import Remote
from preau_ops.internal_tls import CA_BUNDLE
from preau_ops.inventory import Host

from .. import declared
from .system import listening_sockets

control = pytest.mark.control

# An API page every version of both serves; anonymous, it must get 401.
PROBE_PATH = {monitoring_api.PROMETHEUS: "/api/v1/status/buildinfo"}
PROBE_PATH[monitoring_api.ALERTMANAGER] = "/api/v2/status"


def binding_problems(
    listeners: list[tuple[str, str, int, str]], ports: dict[str, int], private: str
) -> list[str]:
    """Where a server listens beyond the private address (loopback and every address included),
    or that it does not listen at all."""
    problems = []
    for service, port in ports.items():
        bound = sorted(
            {address for proto, address, p, _ in listeners if proto == "tcp" and p == port}
        )
        if not bound:
            problems.append(f"{service} does not listen on port {port}")
        problems += [
            f"{service} listens on {a}:{port}, not only {private}" for a in bound if a != private
        ]
    return problems


def answer_problems(service: str, anonymous: str, plain: str) -> list[str]:
    """What an anonymous client got over TLS (HTTP status; 401 expected) and in plain HTTP
    (nothing but a failure or a 400 "client sent an HTTP request to an HTTPS server")."""
    problems = []
    if anonymous != "401":
        problems.append(
            f"{service} answered {anonymous or 'nothing'} without credentials (401 expected)"
        )
    if plain not in ("", "000", "400"):
        problems.append(f"{service} answered {plain} in plain HTTP")
    return problems


def _status(remote: Remote, url: str, tls: bool) -> str:
    """HTTP status of an anonymous GET from the monitoring host itself."""
    verify = f"--cacert {CA_BUNDLE} " if tls else ""
    return remote.run(
        f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 5 {verify}{url}"
    ).stdout.strip()


@control(
    "MON-03",
    "Prometheus and Alertmanager: private address only, TLS, no anonymous access",
    "Issue #23 item 5 (the UIs require authentication, private network only); role monitoring",
    groups=("monitoring",),
)
def test_servers_private_and_authenticated(host: Host, remote: Remote, evidence: Evidence) -> None:
    ports = {
        service: int(declared.var(host, monitoring_api.PORT_VARS[service], default))
        for service, default in monitoring_api.PORTS.items()
    }
    problems = binding_problems(listening_sockets(remote), ports, host.private_address)
    for service, port in ports.items():
        url = monitoring_api.url(host, service, PROBE_PATH[service])
        anonymous = _status(remote, url, tls=True)
        plain = _status(remote, url.replace("https://", "http://", 1), tls=False)
        evidence(
            f"{service} :{port}: anonymous over TLS {anonymous}, plain HTTP {plain or 'nothing'}"
        )
        problems += answer_problems(service, anonymous, plain)
    assert not problems, "; ".join(problems)
