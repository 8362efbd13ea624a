"""Federation's SAML keys (issue #20 item 6; role app with app_federation_enabled): the signing
certificate deployed on each app host is the vault's and far from its end, and the metadata the
app publishes (our SP's, the GAR IdP's, read on the host through loopback) carries exactly the
certificates deployed there: one missing and a partner refuses our signatures, one more and a
retired key is still trusted. Hosts without federation are skipped."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import pytest

from preau_ops import pki
from preau_ops.audit.catalogue import Evidence
from preau_ops.audit.remote import Remote
from preau_ops.internal_tls import local_url
from preau_ops.inventory import Host

from .. import declared

control = pytest.mark.control


def _federation_on(host: Host) -> None:
    if not declared.var(host, "app_federation_enabled", False):
        pytest.skip("federation is off on this host (app_federation_enabled)")


def _signing_file(host: Host, directory: str, suffix: str) -> str:
    """The declared pair's file (role app names it after the vault's certificate)."""
    cert = str(declared_pair(host.vars)[pki.SAML_CERT] or "")
    return f"{directory}/signing-{pki.saml_file_id(cert)}.{suffix}"


def _deployed(remote: Remote, host: Host, directory: str) -> tuple[str, str]:
    """(the signing certificate, the certificates published beside it) as PEM text: the
    directory and certificates are world-readable, the key is not read."""
    signing = remote.read(_signing_file(host, directory, "crt")) or ""
    published = remote.run(f"cat {directory}/published-*.crt 2>/dev/null || true").stdout
    return signing, published


def declared_pair(host_vars: Mapping[str, Any]) -> dict[str, Any]:
    """The certificates the role deploys: the inventory's app_federation_signing_cert and
    app_federation_published_certs when it sets them, else the vault's (the roles' default)."""
    return {
        pki.SAML_CERT: host_vars.get("app_federation_signing_cert") or host_vars.get(pki.SAML_CERT),
        pki.SAML_PUBLISHED: host_vars.get("app_federation_published_certs")
        or host_vars.get(pki.SAML_PUBLISHED),
    }


def certificate_problems(
    signing: str,
    published: str,
    vault: Mapping[str, Any],
    min_days: int = pki.SAML_RENEW_DAYS,
    now: datetime.datetime | None = None,
) -> list[str]:
    """What is wrong with the deployed certificates: not the vault's (a converge missed, a
    rotation half done), too close to their end (a rotation takes two waits for the partners)."""
    problems = []
    blocks = pki.pem_blocks(signing)
    if not blocks:
        return ["no signing certificate deployed: converge the app hosts (role app)"]
    deployed = pki.cert_bodies(signing + published)
    if deployed != pki.saml_published(vault):
        problems.append(
            "the deployed certificates are not the vault's (vault_saml_signing_cert, "
            "vault_saml_published_certs): converge, or finish `deploy.py pki saml-rotate`"
        )
    for block in blocks + pki.pem_blocks(published):
        info = pki.describe(block)
        left = info.days_left(now)
        if left < min_days:
            problems.append(
                f"{info.subject} expires in {left} days, fewer than {min_days}: "
                "`deploy.py pki saml-rotate publish`"
            )
    return problems


@control(
    "FED-01",
    "SAML signing certificate: the vault's, valid > 60 days, its key 0640 root:preau",
    "Issue #20 (federation keys, item 6); declared state (role app, vault)",
    groups=("app",),
)
def test_saml_signing_certificate(host: Host, remote: Remote, evidence: Evidence) -> None:
    _federation_on(host)
    directory = str(declared.var(host, "app_federation_dir", pki.SAML_DIR))
    try:
        signing, published = _deployed(remote, host, directory)
        key = remote.stat(_signing_file(host, directory, "key"))
    except FileNotFoundError as exc:
        pytest.fail(f"{exc}: converge the host (role app, app_federation_enabled)")
    for block in pki.pem_blocks(signing + published):
        info = pki.describe(block)
        evidence(f"{info.subject}, issuer {info.issuer}, until {info.not_after:%Y-%m-%d}")
    evidence(f"key {key}")
    problems = certificate_problems(signing, published, declared_pair(host.vars))
    group = declared.var(host, "app_group", "preau")
    if key != f"640 root:{group}":
        problems.append(f"the signing key is {key}, expected 640 root:{group}")
    assert not problems, "; ".join(problems)


@control(
    "FED-02",
    "The SAML metadata the app publishes carries exactly the deployed certificates",
    "Issue #20 (federation keys, item 6: published metadata matches the deployed keys)",
    groups=("app",),
)
def test_published_metadata(host: Host, remote: Remote, evidence: Evidence) -> None:
    _federation_on(host)
    paths = pki.saml_metadata_paths(lambda name, default=None: declared.var(host, name, default))
    if not paths:
        pytest.skip("no IdP and no GAR configured: the app publishes no metadata")
    directory = str(declared.var(host, "app_federation_dir", pki.SAML_DIR))
    signing, published = _deployed(remote, host, directory)
    deployed = pki.cert_bodies(signing + published)
    port = int(declared.var(host, "app_port", 8000))
    problems = []
    for path in paths:
        body = remote.run(
            f"curl -s --max-time 10 -H 'Host: {host.vars['preau_domain']}' "
            f"{local_url(host.name, port, path)}"
        ).stdout
        found = pki.metadata_problems(path, body, deployed)
        evidence(f"{path}: {'as deployed' if not found else '; '.join(found)}")
        problems += found
    if not deployed:
        problems.insert(0, "no signing certificate deployed")
    assert not problems, "; ".join(problems)
