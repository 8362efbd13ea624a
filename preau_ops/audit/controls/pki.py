"""Internal PKI controls (role pki, issue #21 item 5): every host's certificate comes from the
inventory's CA and is far from its end; the app verifies PostgreSQL's certificate (verify-full)."""

from __future__ import annotations

import re

import pytest

from preau_ops import pki
from preau_ops.audit.catalogue import Evidence
from preau_ops.audit.remote import Remote
from preau_ops.inventory import Host, Inventory

from .. import declared

control = pytest.mark.control

PKI_DIR = "/etc/preau/pki"


def _private(host: Host) -> str:
    return str(host.vars.get("preau_private_address") or host.address)


def _ca(host: Host) -> str:
    ca = declared.var(host, "pki_ca_cert")
    if not isinstance(ca, str) or not pki.is_set(ca):
        pytest.fail("the inventory's vault has no CA (vault_pki_ca_cert): run `deploy.py pki init`")
    return ca


def certificate_problems(info: pki.CertInfo, names: set[str], min_days: int) -> list[str]:
    """What is wrong with a host certificate: issuer, names, days left."""
    problems = []
    if not info.issued_by_ca:
        problems.append(f"not issued by the inventory's CA (issuer {info.issuer})")
    if missing := names - set(info.names):
        problems.append(f"does not name {', '.join(sorted(missing))}")
    if info.days_left() < min_days:
        problems.append(f"expires in {info.days_left()} days, fewer than {min_days}")
    return problems


@control(
    "PKI-01",
    "Host certificate from the inventory's CA, naming the host, valid > 30 days",
    "Issue #21 (internal PKI); declared state (role pki: renewal by converge)",
    groups=("all",),
)
def test_host_certificate(host: Host, remote: Remote, evidence: Evidence) -> None:
    ca = _ca(host)
    try:
        cert = remote.read(f"{PKI_DIR}/host.crt") or ""
        bundle = remote.read(f"{PKI_DIR}/ca.pem") or ""
        key = remote.stat(f"{PKI_DIR}/host.key")
    except FileNotFoundError as exc:
        pytest.fail(f"{exc}: converge the host (role pki)")
    info = pki.describe(cert, ca)
    min_days = int(declared.var(host, "pki_renew_days", 30))
    evidence(
        f"{info.subject}, issuer {info.issuer}, names {', '.join(info.names)}, "
        f"until {info.not_after:%Y-%m-%d} ({info.days_left()} days); key {key}"
    )
    names = {host.name, host.address, _private(host)}
    problems = certificate_problems(info, names, min_days)
    if pki.pem_blocks(ca)[0] not in pki.pem_blocks(bundle):
        problems.append(f"{PKI_DIR}/ca.pem does not hold the inventory's CA")
    group = declared.var(host, "pki_group", "preau-tls")
    if key != f"640 root:{group}":
        problems.append(f"host.key is {key}, expected 640 root:{group}")
    assert not problems, "; ".join(problems)


@control(
    "PKI-02",
    "The app verifies PostgreSQL's certificate (sslmode verify-full, the internal CA)",
    "Issue #21 (TLS inside: app → PostgreSQL verify-full)",
    groups=("app",),
)
def test_app_verifies_postgresql(
    inv: Inventory, host: Host, remote: Remote, evidence: Evidence
) -> None:
    settings = remote.root_out("/usr/bin/grep ^ssl /etc/preau/preau.toml")
    assert settings is not None, "sudo refused `grep ^ssl /etc/preau/preau.toml`"
    found = dict(re.findall(r'^(\w+)\s*=\s*"([^"]*)"', settings, re.M))
    evidence(f"preau.toml: {', '.join(f'{k}={v}' for k, v in sorted(found.items()))}")
    problems = []
    if found.get("sslmode") != "verify-full":
        problems.append(f"sslmode is {found.get('sslmode')!r}, not verify-full")
    db = str(declared.var(host, "app_database_host") or _private(inv.hosts_in("db")[0]))
    port = int(declared.var(host, "app_database_port", 5432))
    root = found.get("sslrootcert") or f"{PKI_DIR}/ca.pem"
    check = "-verify_ip" if re.fullmatch(r"[0-9.]+|[0-9a-fA-F:]+", db) else "-verify_hostname"
    served = remote.run(
        f"openssl s_client -starttls postgres -connect {db}:{port} -CAfile {root} "
        f"{check} {db} -verify_return_error -showcerts </dev/null 2>&1"
    )
    verified = "Verify return code: 0 (ok)" in served.stdout
    evidence(f"{db}:{port} from {host.name} against {root}: {'verified' if verified else 'NOT'}")
    if not verified:
        problems.append(f"PostgreSQL's certificate at {db}:{port} does not verify against {root}")
    chain = pki.pem_blocks(served.stdout)
    if chain and not pki.describe(chain[0], _ca(host)).issued_by_ca:
        problems.append("PostgreSQL serves a certificate the inventory's CA did not issue")
    assert not problems, "; ".join(problems)
