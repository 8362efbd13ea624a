"""The lab's stand-ins for federation's partners (issue #20): ÉduConnect, the académie's
agents IdP and a partner resource that signs its users in through Préau's CAS server. They are
the services of tests/lab/partners/ (pysaml2's IdP side, python-cas: libraries no one here
wrote), run in a container of their own beside the lab's hosts, as the SMTP relay is
(relay.py): outside parties, no inventory host, no converge, not audited.

Two moments:
- `declare()`, at `lab up` before any converge: each IdP's signing pair (made here, kept in
  .lab/partners/) and its metadata (idp.py's `metadata` command, run here) written as the app
  role's `app_federation_educonnect` and `app_federation_agents` in
  inventories/lab/group_vars/all/partners.yml (git-ignored), so the first converge trusts them.
- `up(inv, identities)`, once the app serves (`deploy.py up` after the demo data, the lab
  tests): the container, given Préau's SP metadata read through the lb, the demo's federated
  identities (seed_demo's `federation`) as the IdPs' accounts, and the CAS resource allowed
  to the first demo collège.

They listen on the lb's network (what a browser reaches), address .251, over HTTPS with a
certificate of a CA of their own (.lab/partners/ca.crt), as the real partners have theirs.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..errors import OpsError
from ..paths import LAB_INVENTORY, ROOT, STATE_DIR
from . import standin

if TYPE_CHECKING:
    from ..inventory import Inventory

CONTAINER = "preau-partners"
TAG = "partners"
LABEL = "org.preau.lab-partners"  # not the hosts' label: `lab up` would call it a stray
HOST_NUMBER = 251
# Debian 12's, nothing from pip: pysaml2 7.0.1 and xmlsec1 for the IdPs; python-cas's needs
# for the CAS client (python-cas itself, one module, is copied from the controller's venv).
PACKAGES = ["python3-pysaml2", "xmlsec1", "python3-requests", "python3-lxml", "python3-six"]
SOURCE = ROOT / "tests" / "lab" / "partners"
SCRIPTS = ("idp.py", "cas_client.py", "partner_web.py")
STATE = STATE_DIR / "partners"
DECLARATION = LAB_INVENTORY / "group_vars/all/partners.yml"
CONFIG_DIR = "/etc/preau-partners"
APP_DIR = "/opt/preau-partners"
DNS_NAME = "partners.preau.test"
CA_NAME = "Préau lab partners CA"


@dataclass(frozen=True)
class Idp:
    key: str  # the app's name for it ([federation] educonnect_*, agents_*)
    name: str
    port: int


IDPS = (
    Idp("educonnect", "ÉduConnect (laboratoire)", 8443),
    Idp("agents", "Portail agents de l'académie (laboratoire)", 8444),
)
CAS_PORT = 9443
CAS_NAME = "Manuels numériques (laboratoire)"
# What the CAS resource is given, as a publisher's contract would say (cas_service add)
CAS_ATTRIBUTES = "identifier,profile,uai,classes"
UNKNOWN_INE = "0000000000Z"
ACADEMIE = "16"  # the {AAF} vectors' académie code (Toulouse), docs/federation.md


def address() -> str:
    from .hosts import MANAGEMENT

    return f"{MANAGEMENT.prefix}.{HOST_NUMBER}"


def idp_url(idp: Idp, where: str | None = None) -> str:
    return f"https://{where or address()}:{idp.port}"


def cas_service_url(where: str | None = None) -> str:
    return f"https://{where or address()}:{CAS_PORT}/"


def password() -> str:
    """The IdPs' accounts' password (one for all, made once per lab, in .lab/partners/)."""
    path = STATE / "password"
    if not path.exists():
        STATE.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(12))
        path.chmod(0o600)
    return path.read_text().strip()


# ----------------------------------------------------------------------- before the converge


def _signing_pair(idp: Idp) -> tuple[Path, Path]:
    """The IdP's SAML signing pair (RSA, self-signed as IdPs' are), made once per lab."""
    from ..pki import new_saml_pair

    key, cert = STATE / f"{idp.key}.key", STATE / f"{idp.key}.crt"
    if not (key.exists() and cert.exists()):
        STATE.mkdir(parents=True, exist_ok=True)
        cert_pem, key_pem = new_saml_pair(f"(lab {idp.key} IdP)")
        key.write_text(key_pem)
        key.chmod(0o600)
        cert.write_text(cert_pem)
    return key, cert


def idp_config(
    idp: Idp, where: str, accounts: dict[str, Any], local: bool = False
) -> dict[str, Any]:
    """idp.py's configuration: paths in the container, or here (`local`: the metadata)."""
    directory = str(STATE) if local else CONFIG_DIR
    return {
        "name": idp.name,
        "base_url": idp_url(idp, where),
        "key_file": f"{directory}/{idp.key}.key",
        "cert_file": f"{directory}/{idp.key}.crt",
        "sp_metadata": f"{CONFIG_DIR}/preau-sp.xml",
        "listen": "0.0.0.0",
        "port": idp.port,
        "tls_cert": f"{CONFIG_DIR}/tls.crt",
        "tls_key": f"{CONFIG_DIR}/tls.key",
        "log_name": idp.key,
        "cookie_name": f"idp_{idp.key}",
        "accounts": accounts,
    }


def metadata(idp: Idp, where: str) -> str:
    """The IdP's metadata, from idp.py itself (the controller's pysaml2)."""
    _signing_pair(idp)
    config = STATE / f"{idp.key}-metadata.json"
    config.write_text(json.dumps(idp_config(idp, where, {}, local=True)))
    result = subprocess.run(
        [sys.executable, str(SOURCE / "idp.py"), "metadata", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONWARNINGS": "ignore", "PATH": "/usr/bin:/bin"},
    )
    if result.returncode != 0 or "EntityDescriptor" not in result.stdout:
        raise OpsError(
            f"the lab's {idp.key} IdP gave no metadata",
            (result.stderr or result.stdout).strip()[-800:],
        )
    return result.stdout


def declare() -> str:
    """The IdPs' keys and metadata in the lab inventory (app_federation_educonnect/agents);
    their address."""
    where = address()
    declaration = {
        f"app_federation_{idp.key}": {
            "entity_id": idp_url(idp, where),
            "metadata": metadata(idp, where),
        }
        for idp in IDPS
    }
    header = (
        "# Generated by `deploy.py lab up` (preau_ops/lab/partners.py): the lab's stand-ins\n"
        "# for ÉduConnect and the académie's agents IdP, as a site declares the real ones\n"
        "# (roles/app/defaults/main.yml). Git-ignored, removed by `lab down`.\n"
    )
    DECLARATION.parent.mkdir(parents=True, exist_ok=True)
    DECLARATION.write_text(header + yaml.safe_dump(declaration, sort_keys=False, width=200))
    return where


# ----------------------------------------------------------------------- once the app serves


def _pupil(username: str, ine: str, word: str) -> dict[str, Any]:
    return {
        "password": word,
        "subject": f"ect-{username}",
        "attributes": {"FrEduCtPersonAffiliation": ["eleve2d"], "FrEduCtEleveINE": [ine]},
    }


def accounts(
    identities: dict[str, Any], pupils: Sequence[tuple[str, str]] = ()
) -> dict[str, dict[str, Any]]:
    """Per IdP, its accounts: the demo's generated pupil and parent on ÉduConnect, its teacher
    on the agents IdP, carrying the identifiers the AAF feed gave them (seed_demo's
    `federation`) as ÉduConnect and the agents IdP name them (docs/federation.md); and
    `pupils` (username, INE) on ÉduConnect under their usernames (the bench's classes)."""
    word = password()
    educonnect = {username: _pupil(username, ine, word) for username, ine in pupils}
    agents: dict[str, Any] = {}
    if identities:
        pupil, parent, teacher = identities["pupil"], identities["parent"], identities["teacher"]
        educonnect["eleve"] = _pupil(pupil["username"], pupil["ine"], word)
        # Known to ÉduConnect, not to the académie's directory: Préau refuses it, creates
        # nothing (an INE no feed carries: 11 characters, as INEs are).
        educonnect["inconnu"] = _pupil("inconnu", UNKNOWN_INE, word)
        educonnect["parent"] = {
            "password": word,
            "subject": f"ect-{parent['username']}",
            "attributes": {
                "FrEduCtPersonAffiliation": ["resp2d"],
                "FrEduCtRefId": [f"{{AAF}}{ACADEMIE}|1|{parent['join_key']}"],
                "FrEduCtEleveINE": [child["ine"] for child in parent["children"]],
            },
        }
        agents["prof"] = {
            "password": word,
            "subject": f"agent-{teacher['username']}",
            "attributes": {"ENTPersonJointure": [teacher["join_key"]]},
        }
    return {"educonnect": educonnect, "agents": agents}


def _lb(inv: Inventory) -> tuple[str, str]:
    lb = inv.hosts_in("lb")[0]
    return lb.address, str(lb.vars.get("preau_domain", ""))


def sp_metadata(inv: Inventory) -> str:
    """Préau's SP metadata as it publishes it, read through the lb (TLS checked against the
    lab CA)."""
    import ssl

    lb, domain = _lb(inv)
    context = ssl.create_default_context(cafile=str(STATE_DIR / "ca" / "ca.crt"))
    context.check_hostname = False  # dialled by address; the chain is still checked
    request = urllib.request.Request(
        f"https://{lb}/federation/metadonnees/", headers={"Host": domain}
    )
    with urllib.request.urlopen(request, context=context, timeout=20) as answer:
        return str(answer.read().decode())


def _files(
    inv: Inventory, identities: dict[str, Any], pupils: Sequence[tuple[str, str]]
) -> dict[str, bytes]:
    where = address()
    lb, domain = _lb(inv)
    tls = standin.tls_files(STATE / "tls", where, DNS_NAME, CA_NAME)
    per_idp = accounts(identities, pupils)
    files: dict[str, bytes] = {
        "tls.crt": tls["server.crt"] + tls["ca.crt"],
        "tls.key": tls["server.key"],
        "lab-ca.crt": (STATE_DIR / "ca" / "ca.crt").read_bytes(),
        "preau-sp.xml": sp_metadata(inv).encode(),
        "cas.json": json.dumps(
            {
                "name": CAS_NAME,
                "cas_url": f"https://{domain}/cas/",
                "service_url": cas_service_url(where),
                "ca_file": f"{CONFIG_DIR}/lab-ca.crt",
                "listen": "0.0.0.0",
                "port": CAS_PORT,
                "tls_cert": f"{CONFIG_DIR}/tls.crt",
                "tls_key": f"{CONFIG_DIR}/tls.key",
            }
        ).encode(),
    }
    for idp in IDPS:
        key, cert = _signing_pair(idp)
        files[f"{idp.key}.key"], files[f"{idp.key}.crt"] = key.read_bytes(), cert.read_bytes()
        config = idp_config(idp, where, per_idp[idp.key])
        files[f"{idp.key}.json"] = json.dumps(config).encode()
    return files


def _cas_module() -> bytes:
    """python-cas (one module), as the controller's venv has it: Debian does not package it."""
    import cas

    return Path(cas.__file__).read_bytes()


def _start_script() -> str:
    runs = [
        f"python3 {APP_DIR}/idp.py serve --config {CONFIG_DIR}/{idp.key}.json &" for idp in IDPS
    ]
    runs.append(f"exec python3 {APP_DIR}/cas_client.py serve --config {CONFIG_DIR}/cas.json")
    return f"export PYTHONPATH={APP_DIR} PYTHONWARNINGS=ignore; " + " ".join(runs)


def running() -> bool:
    return standin.running(CONTAINER)


def up(inv: Inventory, identities: dict[str, Any], pupils: Sequence[tuple[str, str]] = ()) -> str:
    """The partners (re)started with the live SP metadata and these identities (and pupils'
    accounts: accounts()), the CAS resource allowed to the first demo collège; their
    address."""
    if not identities and not pupils:
        raise OpsError(
            "no federated identity to give the lab's IdPs",
            "seed_demo answers them when it generates pupils (its --students is not 0)",
        )
    where = address()
    files = _files(inv, identities, pupils)
    standin.build_image(TAG, PACKAGES)
    lb, domain = _lb(inv)
    standin.create(
        CONTAINER,
        hostname="partners",
        label=LABEL,
        network=_network(),
        address=where,
        tag=TAG,
        command=_start_script(),
        extra=(f"--add-host={domain}:{lb}",),
    )
    standin.copy_in(CONTAINER, CONFIG_DIR, files, secret=lambda name: name.endswith(".key"))
    scripts = {name: (SOURCE / name).read_bytes() for name in SCRIPTS}
    standin.copy_in(CONTAINER, APP_DIR, {**scripts, "cas.py": _cas_module()})
    standin.docker("start", CONTAINER)
    if identities:  # the demo's collège
        _allow_cas_service(inv)
    _wait_ready(where)
    return where


def _network() -> str:
    from .hosts import MANAGEMENT

    return MANAGEMENT.name


def _allow_cas_service(inv: Inventory) -> None:
    """The CAS resource allowed to the first demo collège (cas_service add, once)."""
    from .. import procedures

    uai = "0820021C"
    listed = procedures.app_manage(inv, f"cas_service list {uai}")
    prefixes = {service.get("url_prefix") for service in listed.get("services", [])}
    if cas_service_url() not in prefixes:
        procedures.app_manage(
            inv,
            f"cas_service add {uai} {cas_service_url()} --name Manuels "
            f"--attributes {CAS_ATTRIBUTES}",
        )


def ca_file() -> str:
    """The partners' CA certificate (their TLS), for the clients of the lab's IdPs."""
    return str(STATE / "tls" / "ca.crt")


def get(path: str, port: int = CAS_PORT) -> dict[str, Any]:
    """A partner's JSON answer (its /health, the CAS client's /last.json); TLS checked
    against the partners' CA."""
    import ssl

    context = ssl.create_default_context(cafile=ca_file())
    with urllib.request.urlopen(
        f"https://{address()}:{port}{path}", context=context, timeout=10
    ) as answer:
        document: dict[str, Any] = json.loads(answer.read().decode())
        return document


def _wait_ready(where: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    ports = [idp.port for idp in IDPS] + [CAS_PORT]
    waiting = list(ports)
    while waiting and time.monotonic() < deadline:
        try:
            if get("/health", waiting[0]).get("status") == "ok":
                waiting.pop(0)
                continue
        except OSError:
            pass
        time.sleep(0.2)
    if waiting:
        logs = standin.docker("logs", "--tail", "30", CONTAINER, check=False)
        raise OpsError(
            f"the lab's partners do not answer on {where}:{waiting[0]}",
            f"their output: {(logs.stdout + logs.stderr).strip()[-1500:]}",
        )


def logs() -> str:
    """The partners' event lines (one per event: login_ok, assertion_sent, logout…)."""
    result = standin.docker("logs", CONTAINER, check=False)
    return result.stdout + result.stderr


def down() -> bool:
    """Remove the partners and their declaration; True when there was a container."""
    DECLARATION.unlink(missing_ok=True)
    return standin.docker("rm", "-f", "-v", CONTAINER, check=False).returncode == 0
