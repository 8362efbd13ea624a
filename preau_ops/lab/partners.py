"""The lab's stand-ins for federation's partners (issue #20): ÉduConnect, the académie's
agents IdP, a partner resource that signs its users in through Préau's CAS server, and the GAR
(a SAML SP Préau's GAR IdP signs pupils into). They are the services of tests/lab/partners/
(pysaml2's IdP and SP sides, python-cas: libraries no one here wrote), run in a container of
their own beside the lab's hosts, as the SMTP relay is (relay.py): outside parties, no
inventory host, no converge, not audited.

Two moments:
- `declare()`, at `lab up` before any converge: each partner's SAML signing pair (made here,
  kept in .lab/partners/) and its metadata (the scripts' `metadata` command, run here) written
  in inventories/lab/group_vars/all/partners.yml (git-ignored) as the app role's
  `app_federation_educonnect`, `app_federation_agents` and `app_federation_gar`, with the
  GAR's origin in nginx's CSP form-action (Préau's answer is a form posted to it), so the
  first converge trusts them.
- `up(inv, identities)`, once the app serves (`deploy.py up` after the demo data, the lab
  tests): the container, given Préau's SP and GAR IdP metadata read through the lb, the demo's
  federated identities (seed_demo's `federation`) as the IdPs' accounts; the CAS resource and
  the GAR (a resource of its médiacentre) opened to the first demo collège.

They listen on the lb's network (what a browser reaches), address .251, over HTTPS with a
certificate of a CA of their own (.lab/partners/ca.crt), as the real partners have theirs.
"""

from __future__ import annotations

import json
import secrets
import shlex
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
LABEL = "org.preau.lab-partners"  # not the hosts' label: `lab up` would call it a stray
HOST_NUMBER = 251
SOURCE = ROOT / "tests" / "lab" / "partners"
SCRIPTS = ("idp.py", "cas_client.py", "gar_sp.py", "partner_web.py")
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
GAR_PORT = 8445
GAR_NAME = "GAR (laboratoire)"
GAR_ENT_ID = "ENT-PREAU-LAB"
GAR_RESOURCE = ("dico", "Dictionnaire (laboratoire)")
DEMO_UAI = "0820021C"  # the first demo collège (seed_demo)
UNKNOWN_INE = "0000000000Z"
ACADEMIE = "16"  # the {AAF} vectors' académie code (Toulouse), docs/federation.md


def address() -> str:
    from .hosts import MANAGEMENT

    return f"{MANAGEMENT.prefix}.{HOST_NUMBER}"


def idp_url(idp: Idp, where: str | None = None) -> str:
    return f"https://{where or address()}:{idp.port}"


def cas_service_url(where: str | None = None) -> str:
    return f"https://{where or address()}:{CAS_PORT}/"


def gar_url(where: str | None = None) -> str:
    return f"https://{where or address()}:{GAR_PORT}"


def gar_resource_url(where: str | None = None) -> str:
    return f"{gar_url(where)}/ressource/{GAR_RESOURCE[0]}"


def password() -> str:
    """The IdPs' accounts' password (one for all, made once per lab, in .lab/partners/)."""
    path = STATE / "password"
    if not path.exists():
        STATE.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(12))
        path.chmod(0o600)
    return path.read_text().strip()


# ----------------------------------------------------------------------- before the converge


def _signing_pair(name: str) -> tuple[Path, Path]:
    """A partner's SAML signing pair (RSA, self-signed as theirs are), made once per lab."""
    from ..pki import new_saml_pair

    key, cert = STATE / f"{name}.key", STATE / f"{name}.crt"
    if not (key.exists() and cert.exists()):
        STATE.mkdir(parents=True, exist_ok=True)
        cert_pem, key_pem = new_saml_pair(f"(lab {name})")
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


def gar_config(where: str, local: bool = False) -> dict[str, Any]:
    """gar_sp.py's configuration: paths in the container, or here (`local`: the metadata)."""
    directory = str(STATE) if local else CONFIG_DIR
    return {
        "name": GAR_NAME,
        "base_url": gar_url(where),
        "key_file": f"{directory}/gar.key",
        "cert_file": f"{directory}/gar.crt",
        "idp_metadata": f"{CONFIG_DIR}/preau-gar-idp.xml",
        "listen": "0.0.0.0",
        "port": GAR_PORT,
        "tls_cert": f"{CONFIG_DIR}/tls.crt",
        "tls_key": f"{CONFIG_DIR}/tls.key",
        "resources": dict([GAR_RESOURCE]),
    }


def metadata(idp: Idp, where: str) -> str:
    """The IdP's metadata, from idp.py itself (the controller's pysaml2)."""
    _signing_pair(idp.key)
    return _metadata("idp.py", idp.key, idp_config(idp, where, {}, local=True))


def gar_metadata(where: str) -> str:
    """The GAR stand-in's SP metadata, from gar_sp.py itself."""
    _signing_pair("gar")
    return _metadata("gar_sp.py", "gar", gar_config(where, local=True))


def _metadata(script: str, name: str, conf: dict[str, Any]) -> str:
    config = STATE / f"{name}-metadata.json"
    config.write_text(json.dumps(conf))
    result = subprocess.run(
        [sys.executable, str(SOURCE / script), "metadata", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONWARNINGS": "ignore", "PATH": "/usr/bin:/bin"},
    )
    if result.returncode != 0 or "EntityDescriptor" not in result.stdout:
        raise OpsError(
            f"the lab's {name} stand-in gave no metadata",
            (result.stderr or result.stdout).strip()[-800:],
        )
    return result.stdout


def declare() -> str:
    """The partners' keys and metadata in the lab inventory (app_federation_educonnect,
    _agents, _gar; the GAR's origin in nginx's CSP form-action); their address."""
    where = address()
    declaration: dict[str, Any] = {
        f"app_federation_{idp.key}": {
            "entity_id": idp_url(idp, where),
            "metadata": metadata(idp, where),
        }
        for idp in IDPS
    }
    declaration["app_federation_gar"] = {
        "idp_entity_id": "https://{{ preau_domain }}/federation/gar/metadonnees/",
        "ent_id": GAR_ENT_ID,
        "sp_metadata": gar_metadata(where),
    }
    declaration["nginx_form_action_origins"] = [gar_url(where)]
    header = (
        "# Generated by `deploy.py lab up` (preau_ops/lab/partners.py): the lab's stand-ins\n"
        "# for ÉduConnect, the académie's agents IdP and the GAR, as a site declares the real\n"
        "# ones (roles/app/defaults/main.yml). Git-ignored, removed by `lab down`.\n"
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


def published_metadata(inv: Inventory, path: str = "/federation/metadonnees/") -> str:
    """Préau's metadata as it publishes it (its SP's; its GAR IdP's at
    /federation/gar/metadonnees/), read through the lb (TLS checked against the lab CA)."""
    import ssl

    lb, domain = _lb(inv)
    context = ssl.create_default_context(cafile=str(STATE_DIR / "ca" / "ca.crt"))
    context.check_hostname = False  # dialled by address; the chain is still checked
    request = urllib.request.Request(f"https://{lb}{path}", headers={"Host": domain})
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
        "preau-sp.xml": published_metadata(inv).encode(),
        "preau-gar-idp.xml": published_metadata(inv, "/federation/gar/metadonnees/").encode(),
        "gar.json": json.dumps(gar_config(where)).encode(),
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
    for name in [idp.key for idp in IDPS] + ["gar"]:
        key, cert = _signing_pair(name)
        files[f"{name}.key"], files[f"{name}.crt"] = key.read_bytes(), cert.read_bytes()
    for idp in IDPS:
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
    runs.append(f"python3 {APP_DIR}/gar_sp.py serve --config {CONFIG_DIR}/gar.json &")
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
    standin.build_image()
    lb, domain = _lb(inv)
    standin.create(
        CONTAINER,
        hostname="partners",
        label=LABEL,
        network=_network(),
        address=where,
        command=_start_script(),
        extra=(f"--add-host={domain}:{lb}",),
    )
    standin.copy_in(CONTAINER, CONFIG_DIR, files, secret=lambda name: name.endswith(".key"))
    scripts = {name: (SOURCE / name).read_bytes() for name in SCRIPTS}
    standin.copy_in(CONTAINER, APP_DIR, {**scripts, "cas.py": _cas_module()})
    standin.docker("start", CONTAINER)
    if identities:  # the demo's collège
        _open_the_demo_college(inv)
    _wait_ready(where)
    return where


def _network() -> str:
    from .hosts import MANAGEMENT

    return MANAGEMENT.name


def _open_the_demo_college(inv: Inventory) -> None:
    """The CAS resource allowed to the first demo collège, the GAR opened to it with a
    resource of the GAR stand-in in its médiacentre (each once)."""
    from .. import procedures

    listed = procedures.app_manage(inv, f"cas_service list {DEMO_UAI}")
    if cas_service_url() not in {s.get("url_prefix") for s in listed.get("services", [])}:
        procedures.app_manage(
            inv,
            f"cas_service add {DEMO_UAI} {cas_service_url()} --name Manuels "
            f"--attributes {CAS_ATTRIBUTES}",
        )
    procedures.app_manage(inv, f"gar enable {DEMO_UAI}")
    listed = procedures.app_manage(inv, f"gar list {DEMO_UAI}")
    if gar_resource_url() not in {r.get("url") for r in listed.get("resources", [])}:
        title = shlex.quote(GAR_RESOURCE[1])
        procedures.app_manage(inv, f"gar add {DEMO_UAI} {gar_resource_url()} --title {title}")


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
    ports = [idp.port for idp in IDPS] + [CAS_PORT, GAR_PORT]
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
