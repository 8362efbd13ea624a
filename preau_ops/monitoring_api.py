"""Prometheus' and Alertmanager's APIs, as the bundle reads them: the one owner of where they
listen and how a client authenticates (issue #23 item 5).

Both serve TLS (the monitoring host's certificate of the internal PKI) on the host's private
address only, and ask every client for basic authentication (role monitoring: user
`monitoring_web_user`, password `vault_monitoring_web_password`). Two ways in:

- on the monitoring host, `preau-monitoring-api SERVICE PATH` (installed by the role): GET only,
  with the credentials only root reads there, so no secret crosses a command line. `status`
  runs it through its SSH session, the audit through sudo (the auditor's rule allows it);
- from a machine on the private network (the lab's controller, its tests): `request()` with the
  vault's credentials, TLS verified against the vault's CA.
"""

from __future__ import annotations

import base64
import json
import shlex
import ssl
import urllib.request
from typing import Any

from .errors import OpsError
from .inventory import Host

COMMAND = "/usr/local/sbin/preau-monitoring-api"
PROMETHEUS = "prometheus"
ALERTMANAGER = "alertmanager"
PORTS = {PROMETHEUS: 9090, ALERTMANAGER: 9093}  # the role's defaults
PORT_VARS = {PROMETHEUS: "monitoring_prometheus_port", ALERTMANAGER: "monitoring_alertmanager_port"}
USER_VAR, DEFAULT_USER = "monitoring_web_user", "preau"
PASSWORD_VAR = "vault_monitoring_web_password"
HINT = "converge the monitoring host (`deploy.py converge --limit monitoring`)"


def command(service: str, path: str) -> str:
    """The shell command that GETs `path` of `service` on the monitoring host itself."""
    if service not in PORTS:
        raise ValueError(f"unknown monitoring service {service!r}")
    return f"{COMMAND} {service} {shlex.quote(path)}"


def answer(stdout: str) -> Any:
    """The JSON document an API answered (OpsError when it is not one)."""
    try:
        return json.loads(stdout)
    except ValueError as exc:
        raise OpsError(f"the monitoring API did not answer JSON: {stdout[:200]!r}", HINT) from exc


def url(monitoring: Host, service: str, path: str = "/") -> str:
    """https://PRIVATE-ADDRESS:PORT/PATH of a service on the monitoring host."""
    address = monitoring.private_address
    shown = f"[{address}]" if ":" in address else address
    port = int(monitoring.vars.get(PORT_VARS[service]) or PORTS[service])
    return f"https://{shown}:{port}{path}"


def credentials(monitoring: Host) -> tuple[str, str]:
    """(user, password) of the servers' basic authentication, from the inventory and its vault."""
    password = monitoring.vars.get(PASSWORD_VAR)
    if not password:
        raise OpsError(
            f"the inventory's vault has no {PASSWORD_VAR}",
            "add it to the vault (inventories/production/group_vars/all/vault.yml.example)",
        )
    return str(monitoring.vars.get(USER_VAR) or DEFAULT_USER), str(password)


def tls_context(monitoring: Host) -> ssl.SSLContext:
    """TLS verified against the internal CA of the inventory's vault (and the CAs it still
    trusts during a rotation)."""
    pems = [monitoring.vars.get("vault_pki_ca_cert") or ""]
    pems += list(monitoring.vars.get("vault_pki_ca_trusted_certs") or [])
    return ssl.create_default_context(cadata="\n".join(str(pem) for pem in pems if pem))


def request(
    monitoring: Host,
    service: str,
    path: str,
    data: Any = None,
    authenticated: bool = True,
    timeout: float = 10,
) -> Any:
    """The JSON answer of an API call from this machine (POST when `data` is given), with the
    credentials unless `authenticated` is false. urllib's HTTPError (401...) and URLError pass."""
    headers = {"Content-Type": "application/json"} if data is not None else {}
    if authenticated:
        token = base64.b64encode(":".join(credentials(monitoring)).encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    body = None if data is None else json.dumps(data).encode()
    call = urllib.request.Request(url(monitoring, service, path), data=body, headers=headers)
    with urllib.request.urlopen(call, timeout=timeout, context=tls_context(monitoring)) as got:
        text = got.read().decode()
    return json.loads(text) if text.strip() else None
