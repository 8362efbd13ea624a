"""TLS inside the platform (issue #21 item 5): the load balancers reach the app hosts over
TLS they verify, and Prometheus scrapes every other host over TLS it verifies, both against
the internal CA (role pki). The certificates themselves: PKI-01 (controls/pki.py)."""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from typing import Any

import pytest
import yaml

from preau_ops.audit.catalogue import Evidence
from preau_ops.audit.remote import Remote
from preau_ops.internal_tls import CA_BUNDLE
from preau_ops.inventory import Host, Inventory

from .. import declared
from .services import _prometheus

control = pytest.mark.control

PROXY_SNIPPET = "/etc/nginx/snippets/preau-proxy.conf"
UPSTREAM = "/etc/nginx/preau-upstream.conf"
PROXY_LINES = ("proxy_pass https://preau_app;", "proxy_ssl_verify on;")


def proxy_problems(snippet: str, upstream: str, ca_file: str) -> list[str]:
    """What keeps nginx's proxying from being verified TLS, read from its files: the proxy
    snippet (https, verification, the trust bundle, the checked name) and the upstream (each
    app host's address mapped to the name its certificate carries)."""
    lines = {line.strip() for line in snippet.splitlines()}
    problems = [f"{PROXY_SNIPPET} lacks `{line}`" for line in PROXY_LINES if line not in lines]
    if f"proxy_ssl_trusted_certificate {ca_file};" not in lines:
        problems.append(f"{PROXY_SNIPPET} does not trust {ca_file}")
    if "proxy_ssl_name $preau_app_tls_name;" not in lines:
        problems.append(f"{PROXY_SNIPPET} does not check each app host's own name")
    servers = re.findall(r"^\s*server\s+(\S+)\s.*# host (\S+)$", upstream, re.M)
    for peer, name in servers:
        if f'"~(^|, ){re.escape(peer)}$" {name};' not in upstream:
            problems.append(f"{UPSTREAM}: {peer} ({name}) has no certificate name")
    if not servers:
        problems.append(f"{UPSTREAM} names no app host")
    return problems


def _app_handshake(remote: Remote, app: Host, port: int, ca_file: str) -> tuple[bool, str]:
    """(verified, what was seen) of a TLS handshake from the remote host to an app host,
    checked against the CA and the app host's inventory name; and whether plain HTTP got a
    page there."""
    address = app.private_address
    shown = f"[{address}]" if ":" in address else address
    served = remote.run(
        f"openssl s_client -connect {shown}:{port} -CAfile {ca_file} -verify_hostname {app.name}"
        " -verify_return_error -brief </dev/null 2>&1"
    )
    verified = "Verification: OK" in served.stdout
    plain = remote.run(
        f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 5 http://{shown}:{port}/healthz"
    ).stdout.strip()
    seen = f"{app.name} ({shown}:{port}): TLS {'verified' if verified else 'NOT verified'}"
    seen += f", plain HTTP answered {plain or 'nothing'}"
    return verified and plain in ("", "000"), seen


@control(
    "TLS-04",
    "The load balancer reaches every app host over TLS it verifies (internal CA), never plain HTTP",
    "Issue #21 (TLS inside: lb → app); declared state (roles nginx, app)",
    groups=("lb",),
)
def test_lb_to_app_tls(inv: Inventory, host: Host, remote: Remote, evidence: Evidence) -> None:
    ca_file = str(declared.var(host, "nginx_upstream_ca_file", CA_BUNDLE))
    try:
        snippet, upstream = remote.read(PROXY_SNIPPET) or "", remote.read(UPSTREAM) or ""
    except FileNotFoundError as exc:
        pytest.fail(f"{exc}: converge the host (role nginx)")
    problems = proxy_problems(snippet, upstream, ca_file)
    evidence(f"{PROXY_SNIPPET}: {'https, verified' if not problems else 'see the failure'}")
    for app in inv.hosts_in("app"):
        port = int(declared.var(app, "app_port", 8000))
        ok, seen = _app_handshake(remote, app, port, ca_file)
        evidence(seen)
        if not ok:
            problems.append(seen)
    assert not problems, "; ".join(problems)


def _local(url: str, own: set[str]) -> bool:
    """Whether a scrape URL stays on the monitoring host (loopback or its own names)."""
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        return ipaddress.ip_address(host).is_loopback or host in own
    except ValueError:
        return host in own or host == "localhost"


def scrape_problems(
    config: dict[str, Any], targets: list[dict[str, Any]], own: set[str]
) -> list[str]:
    """The jobs Prometheus scrapes other hosts with, without verified TLS: a scrape URL in
    plain HTTP, or a job without a CA file or with verification off. (Probe jobs scrape the
    blackbox exporter on this host; its modules verify the app and every host: role
    monitoring.)"""
    jobs = {job.get("job_name"): job for job in config.get("scrape_configs", [])}
    problems = []
    for target in targets:
        url, job = target.get("scrapeUrl", ""), target["labels"].get("job")
        if _local(url, own):
            continue
        tls = jobs.get(job, {}).get("tls_config") or {}
        if not url.startswith("https://") or not tls.get("ca_file"):
            problems.append(f"{job}/{target['labels'].get('instance')}: {url} not verified TLS")
        elif tls.get("insecure_skip_verify"):
            problems.append(f"{job}: TLS verification off")
    return sorted(set(problems))


@control(
    "TLS-05",
    "Prometheus scrapes every other host over TLS it verifies (internal CA)",
    "Issue #21 (TLS inside: metrics scrapes); declared state (role monitoring)",
    groups=("monitoring",),
)
def test_scrapes_over_tls(host: Host, remote: Remote, evidence: Evidence) -> None:
    config = yaml.safe_load(_prometheus(host, remote, path="/api/v1/status/config")["yaml"])
    targets = _prometheus(host, remote, path="/api/v1/targets?state=active")["activeTargets"]
    own = {host.address, host.private_address, host.name}
    remote_targets = [t for t in targets if not _local(t["scrapeUrl"], own)]
    evidence(
        f"{len(remote_targets)} targets on other hosts, "
        f"{sum(t['scrapeUrl'].startswith('https://') for t in remote_targets)} over https"
    )
    problems = scrape_problems(config, targets, own)
    assert not problems, "; ".join(problems)
