"""The internal PKI's controller side (role `pki` is the hosts' side).

The CA's key and certificate are vault keys of the inventory: `init` creates them (and refuses
to replace a real pair); `status` reads every host's certificate; `rotate` replaces the CA
without downtime in three converged phases, each recorded in the vault before it runs, so an
interrupted rotation resumes where it stopped:

  trust  the hosts trust the old and the new CA (bundle = old + new), the old one still issues
  issue  the new CA issues: every host certificate is reissued, its services reloaded
  drop   the old CA leaves the trust bundle; the rotation record is then removed
"""

from __future__ import annotations

import datetime
import getpass
import hashlib
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .errors import OpsError

if TYPE_CHECKING:
    from .inventory import Inventory

CA_CERT = "vault_pki_ca_cert"
CA_KEY = "vault_pki_ca_key"
TRUSTED = "vault_pki_ca_trusted_certs"
ROTATION = "vault_pki_rotation"
CA_DAYS = 3650
HOST_CERT = "/etc/preau/pki/host.crt"
BUNDLE = "/etc/preau/pki/ca.pem"
_PEM = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)
PHASES = ("trust", "issue", "drop")
PHASE_TEXT = {
    "trust": "every host trusts the old and the new CA",
    "issue": "the new CA issues every host certificate; services reloaded",
    "drop": "the old CA leaves the trust bundles",
}
RENEW_DAYS = 30  # role pki's pki_renew_days: a converge renews a certificate closer to its end
PLACEHOLDER = "CHANGE-ME"

Pair = tuple[str, str]  # (certificate PEM, key PEM)


# --------------------------------------------------------------------------- the CA pair


def new_ca(label: str, days: int = CA_DAYS) -> Pair:
    """A new CA: EC P-384 key, self-signed, may sign end certificates only (pathlen 0)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    return _certificate(key, f"Préau internal CA {label}", days, ca=True)


def _certificate(
    key: Any, common_name: str, days: int, ca: bool, issuer: Pair | None = None
) -> Pair:
    """(certificate PEM, key PEM) of `key`, named `common_name` and the time it is made: a CA
    (signs certificates) or an end certificate (signs data), by itself or by `issuer`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Préau"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{common_name} {now:%Y-%m-%d %H%M%S}"),
        ]
    )
    issuer_name, signer = name, key
    if issuer is not None:
        issuer_name = x509.load_pem_x509_certificate(issuer[0].encode()).subject
        signer = serialization.load_pem_private_key(issuer[1].encode(), None)
    usage = x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(signer, hashes.SHA384() if ca else hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def is_set(value: Any) -> bool:
    """A real value: not empty and not the example vault's placeholder."""
    return bool(value) and not str(value).startswith(PLACEHOLDER)


# --------------------------------------------------------------------------- vault file


def _block(key: str, value: Any) -> str:
    if isinstance(value, str) and "\n" in value:
        body = "".join(f"  {line}\n" for line in value.strip("\n").splitlines())
        return f"{key}: |\n{body}"
    return yaml.safe_dump({key: value}, default_flow_style=False, allow_unicode=True, width=1000)


def _top_level_blocks(text: str) -> Iterator[tuple[str | None, list[str]]]:
    """(key or None, lines): each top-level key with all its lines (indented ones and blank
    ones: a multi-line scalar as yaml.safe_dump writes it has both); a comment at the margin
    starts a block of no key."""
    key: str | None = None
    lines: list[str] = []
    for line in text.splitlines(keepends=True):
        starts_key = line[:1] not in ("", " ", "\t", "#", "\n", "\r", "-") and ":" in line
        if starts_key or (line[:1] == "#" and key is not None):
            yield key, lines
            key, lines = (line.split(":", 1)[0].strip() if starts_key else None), []
        lines.append(line)
    yield key, lines


def set_keys(text: str, updates: Mapping[str, Any]) -> str:
    """The vault's plain text with these keys replaced, added at the end, or removed (None);
    every other line (comments included) kept as it was."""
    kept = "".join("".join(lines) for key, lines in _top_level_blocks(text) if key not in updates)
    if kept and not kept.endswith("\n"):
        kept += "\n"
    added = "".join(_block(k, v) for k, v in updates.items() if v is not None)
    return kept + added


@dataclass
class Vault:
    """The inventory's group_vars/all/vault.yml, read and written with ansible-vault."""

    path: Path
    password: bytes

    @classmethod
    def of(cls, inv: Inventory) -> Vault:
        return cls(inv.path / "group_vars/all/vault.yml", _password(inv))

    def _lib(self) -> Any:
        from ansible.parsing.vault import VaultLib, VaultSecret

        return VaultLib([("default", VaultSecret(self.password))])

    def text(self) -> str:
        if not self.path.exists():
            return ""
        raw = self.path.read_bytes()
        if not raw.startswith(b"$ANSIBLE_VAULT"):
            raise OpsError(
                f"{self.path} is not encrypted",
                f"encrypt it first: .venv/bin/ansible-vault encrypt {self.path}",
            )
        try:
            return bytes(self._lib().decrypt(raw)).decode()
        except Exception as exc:  # ansible's AnsibleVaultError and the like
            raise OpsError(
                f"cannot decrypt {self.path}: {exc}", "check the vault password"
            ) from exc

    def read(self) -> dict[str, Any]:
        return yaml.safe_load(self.text()) or {}

    def update(self, updates: Mapping[str, Any]) -> dict[str, Any]:
        """Write the changes (encrypted, atomically: a temporary file renamed) and return the
        new content."""
        current = self.read()
        plain = set_keys(self.text(), updates)
        expected = {k: v for k, v in {**current, **updates}.items() if v is not None}
        try:
            parsed = yaml.safe_load(plain) or {}
        except yaml.YAMLError as exc:
            parsed = {"error": str(exc)}
        if parsed != expected:
            raise OpsError(
                f"editing {self.path} would not give the expected keys back: nothing written",
                "edit it with ansible-vault edit, then run the command again",
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        temporary.write_bytes(self._lib().encrypt(plain.encode()))
        os.chmod(temporary, 0o600)
        temporary.replace(self.path)
        return expected


def _password(inv: Inventory) -> bytes:
    if inv.vault_password_file is not None:
        return inv.vault_password_file.read_bytes().strip()
    if sys.stdin.isatty():
        return getpass.getpass(f"Vault password for {inv.name}: ").encode()
    raise OpsError(
        f"no vault password for {inv.name}",
        "pass --vault-password-file FILE or set PREAU_VAULT_PASSWORD_FILE",
    )


def init_updates(
    data: Mapping[str, Any], label: str, make: Callable[[str], Pair] = new_ca
) -> dict[str, Any]:
    """The vault keys `pki init` writes; refuses when the vault already holds a CA."""
    if is_set(data.get(CA_CERT)) or is_set(data.get(CA_KEY)):
        raise OpsError(
            f"the vault already holds a CA ({CA_CERT}); pki init does not replace it",
            "`deploy.py pki rotate` replaces a CA without downtime",
        )
    cert, key = make(label)
    return {CA_CERT: cert, CA_KEY: key}


# --------------------------------------------------------------------------- rotation


def pending(data: Mapping[str, Any]) -> str | None:
    """The phase a rotation recorded last (its converge may not have finished), or None."""
    rotation = data.get(ROTATION)
    return str(rotation["phase"]) if isinstance(rotation, dict) else None


def advance(data: Mapping[str, Any], make: Callable[[], Pair]) -> tuple[str, dict[str, Any]]:
    """The next phase of a rotation and the vault changes that start it ("done": the record
    removed). Pure apart from `make`, called only to start a rotation."""
    phase = pending(data)
    rotation = data.get(ROTATION) or {}
    if phase is None:
        cert, key = make()
        return "trust", {
            TRUSTED: [cert],
            ROTATION: {"phase": "trust", "next_cert": cert, "next_key": key},
        }
    if phase == "trust":
        return "issue", {
            CA_CERT: rotation["next_cert"],
            CA_KEY: rotation["next_key"],
            TRUSTED: [data[CA_CERT]],
            ROTATION: {"phase": "issue"},
        }
    if phase == "issue":
        return "drop", {TRUSTED: None, ROTATION: {"phase": "drop"}}
    if phase == "drop":
        return "done", {ROTATION: None}
    raise OpsError(
        f"the vault's {ROTATION} names an unknown phase {phase!r}",
        f"phases are {', '.join(PHASES)}; fix the key with ansible-vault edit",
    )


# --------------------------------------------------------------------------- certificates


@dataclass(frozen=True)
class CertInfo:
    subject: str
    issuer: str
    not_after: datetime.datetime
    names: tuple[str, ...]
    issued_by_ca: bool

    def days_left(self, now: datetime.datetime | None = None) -> int:
        moment = now or datetime.datetime.now(datetime.UTC)
        return (self.not_after - moment).days


def describe(cert_pem: str, ca_pem: str | None = None) -> CertInfo:
    """What a certificate says, and whether `ca_pem`'s key signed it."""
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(str(v) for v in sans.get_values_for_type(x509.DNSName)) + tuple(
            str(v) for v in sans.get_values_for_type(x509.IPAddress)
        )
    except x509.ExtensionNotFound:
        names = ()
    return CertInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_after=cert.not_valid_after_utc,
        names=names,
        issued_by_ca=ca_pem is not None and _signed_by(cert, ca_pem),
    )


def _signed_by(cert: Any, ca_pem: str) -> bool:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature

    ca = x509.load_pem_x509_certificate(ca_pem.encode())
    try:
        cert.verify_directly_issued_by(ca)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


# --------------------------------------------------------------------------- the hosts

SEPARATOR = "--- preau-pki bundle ---"


@dataclass(frozen=True)
class HostPki:
    """What a host holds: its certificate (None: missing) and its trust bundle."""

    name: str
    cert: CertInfo | None
    bundle: tuple[str, ...]


def read_hosts(inv: Inventory, ca_pem: str) -> list[HostPki]:
    """Every host's certificate (described against `ca_pem`) and bundle."""
    from . import runner

    # as root: /etc/preau is the app's (0750 root:preau on the app hosts)
    command = f"cat {HOST_CERT} 2>/dev/null; echo '{SEPARATOR}'; cat {BUNDLE} 2>/dev/null; true"
    with runner.session(inv) as sessions:
        outputs = {host: sessions.run(host, command).stdout for host in inv.hosts}
    found = []
    for name, out in sorted(outputs.items()):
        cert_text, _, bundle_text = out.partition(SEPARATOR)
        certs = pem_blocks(cert_text)
        info = describe(certs[0], ca_pem) if certs else None
        found.append(HostPki(name, info, tuple(pem_blocks(bundle_text))))
    return found


def pem_blocks(text: str) -> list[str]:
    return [m.strip() + "\n" for m in _PEM.findall(text)]


def phase_problems(hosts: list[HostPki], data: Mapping[str, Any], phase: str) -> list[str]:
    """What a converged phase should have left on the hosts and did not: after `trust` every
    bundle holds the next CA, after `issue` every certificate is the new CA's, after `drop`
    the bundles hold the issuing CA alone."""
    issuing = str(data[CA_CERT]).strip() + "\n"
    wanted = {
        "trust": {issuing, *(c.strip() + "\n" for c in data.get(TRUSTED) or [])},
        "issue": {issuing},
        "drop": {issuing},
    }[phase]
    problems = []
    for host in hosts:
        if missing := wanted - set(host.bundle):
            problems.append(f"{host.name}: its trust bundle lacks {len(missing)} CA(s)")
        if phase == "drop" and set(host.bundle) != {issuing}:
            problems.append(f"{host.name}: its trust bundle still holds another CA")
        if phase != "trust" and (host.cert is None or not host.cert.issued_by_ca):
            problems.append(f"{host.name}: its certificate is not the issuing CA's")
    return problems


def rotate(
    inv: Inventory,
    vault: Vault,
    converge: Callable[[str], None],
    check: Callable[[str, dict[str, Any]], None],
) -> list[str]:
    """Run (or resume) a rotation: each phase recorded in the vault, converged, checked on the
    hosts. `converge(phase)` and `check(phase, data)` raise OpsError on failure. Returns the
    phases run, in order."""
    data = vault.read()
    if not is_set(data.get(CA_CERT)):
        raise OpsError(f"the vault of {inv.name} has no CA to rotate", "run `deploy.py pki init`")
    done = []
    if (resumed := pending(data)) is not None:
        converge(resumed)
        check(resumed, data)
        done.append(f"{resumed} (resumed)")
    while True:
        phase, updates = advance(data, lambda: new_ca(inv.name))
        data = vault.update(updates)
        if phase == "done":
            return done
        converge(phase)
        check(phase, data)
        done.append(phase)


# --------------------------------------------------------------------------- SAML signing pair
#
# One RSA key pair signs the platform's SAML (the SP's requests to ÉduConnect and the agents IdP,
# the GAR IdP's assertions): made here, kept in the vault, the same on every app host (role app
# deploys it when federation is on), unlike the host TLS keys that never leave their host. Its
# certificate is issued by the internal CA when the vault has one, else self-signed: SAML
# partners trust the certificate found in our metadata, not a CA, so either works; the CA's
# issuer names it as the platform's.
#
# Rotation without downtime: the partners (ÉduConnect, the académie, the GAR) read our metadata
# on their own schedule, so each phase is a separate command run when the operator is ready,
# recorded in the vault before its converge (a failed converge is resumed by the same command):
#
#   publish  the next certificate is published beside the current one; the current key signs
#   switch   the next key signs; the old certificate stays published (messages already signed)
#   retire   the old certificate leaves the metadata; the rotation record is then removed

SAML_CERT = "vault_saml_signing_cert"
SAML_KEY = "vault_saml_signing_key"
SAML_PUBLISHED = "vault_saml_published_certs"  # besides the signing one, during a rotation
SAML_ROTATION = "vault_saml_rotation"
SAML_DAYS = 730
# Left days under which the audit (FED-01) and `pki saml-status` ask for a rotation: a rotation
# waits for the partners twice (publish → switch → retire), so it starts well before the end.
SAML_RENEW_DAYS = 60
SAML_PHASES = ("publish", "switch", "retire")
_SAML_NEXT = {None: "publish", "publish": "switch", "switch": "retire"}
SAML_PHASE_TEXT = {
    "publish": "the next certificate is published beside the current one",
    "switch": "the next key signs; the old certificate stays published",
    "retire": "the old certificate leaves the metadata",
}
# Hours a phase waits after the previous one by default: the partners' time to read the new
# metadata (ÉduConnect and the GAR refresh theirs daily at best).
SAML_MIN_OVERLAP_HOURS = 24


def new_saml_pair(label: str, ca: Pair | None = None, days: int = SAML_DAYS) -> Pair:
    """An RSA 3072 key (xmlsec1's RSA-SHA256 signatures) and its certificate, signed by the
    CA pair `ca` (certificate, key) when given, else by itself."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    return _certificate(key, f"Préau SAML signing {label}", days, ca=False, issuer=ca)


def saml_issuer(data: Mapping[str, Any]) -> Pair | None:
    """The vault's CA pair when it has a real one (the SAML certificate's issuer), else None."""
    if pem_blocks(str(data.get(CA_CERT) or "")) and is_set(data.get(CA_KEY)):
        return str(data[CA_CERT]), str(data[CA_KEY])
    return None


def saml_init_updates(
    data: Mapping[str, Any], label: str, make: Callable[[str, Pair | None], Pair] = new_saml_pair
) -> dict[str, Any]:
    """The vault keys `pki saml-init` writes; refuses when the vault already holds a pair."""
    if is_set(data.get(SAML_CERT)) or is_set(data.get(SAML_KEY)):
        raise OpsError(
            f"the vault already holds a SAML signing pair ({SAML_CERT}); saml-init does not "
            "replace it",
            "`deploy.py pki saml-rotate publish` starts replacing it without downtime",
        )
    cert, key = make(label, saml_issuer(data))
    return {SAML_CERT: cert, SAML_KEY: key}


def saml_pending(data: Mapping[str, Any]) -> str | None:
    """The SAML rotation phase the vault recorded last, or None (no rotation)."""
    rotation = data.get(SAML_ROTATION)
    return str(rotation["phase"]) if isinstance(rotation, dict) else None


def saml_published(data: Mapping[str, Any]) -> set[str]:
    """The certificates the metadata must carry now: the signing one and, during a rotation,
    the next or the old one (`cert_bodies`)."""
    certs = [str(data.get(SAML_CERT) or ""), *(str(c) for c in data.get(SAML_PUBLISHED) or [])]
    return cert_bodies("".join(certs))


def cert_bodies(pem_text: str) -> set[str]:
    """Each certificate of a PEM text as its base64 body without line breaks: the form SAML
    metadata carries in X509Certificate, so both compare as strings."""
    return {"".join(block.splitlines()[1:-1]) for block in pem_blocks(pem_text)}


_MD = "{urn:oasis:names:tc:SAML:2.0:metadata}"
_DS = "{http://www.w3.org/2000/09/xmldsig#}"


def metadata_certificates(xml: str) -> set[str]:
    """The signing certificates a SAML metadata document publishes (KeyDescriptor without
    `use` or with use="signing"), as `cert_bodies` gives them."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(xml)
    return {
        "".join((node.text or "").split())
        for descriptor in root.iter(f"{_MD}KeyDescriptor")
        if descriptor.get("use") in (None, "signing")
        for node in descriptor.iter(f"{_DS}X509Certificate")
    }


def saml_check(
    data: Mapping[str, Any],
    wanted: str,
    now: datetime.datetime,
    min_hours: float = SAML_MIN_OVERLAP_HOURS,
) -> str | None:
    """Refuse (OpsError) phase `wanted` out of order, or `switch` or `retire` sooner than
    `min_hours` after the previous phase; else the phase recorded now (None: no rotation)."""
    if not is_set(data.get(SAML_CERT)):
        raise OpsError(
            f"the vault has no SAML signing pair ({SAML_CERT}) to rotate",
            "run `deploy.py pki saml-init`",
        )
    if wanted not in SAML_PHASES:
        raise OpsError(f"unknown phase {wanted!r}", f"phases are {', '.join(SAML_PHASES)}")
    current = saml_pending(data)
    if current is not None and current not in SAML_PHASES:
        raise OpsError(
            f"the vault's {SAML_ROTATION} names an unknown phase {current!r}",
            f"phases are {', '.join(SAML_PHASES)}; fix the key with ansible-vault edit",
        )
    if wanted == current:
        return current
    following = _SAML_NEXT.get(current)
    if wanted != following:
        where = "no rotation is under way" if current is None else f"the rotation is at {current}"
        raise OpsError(
            f"phase {wanted} out of order: {where}",
            f"run `deploy.py pki saml-rotate {following or current}` (phases in order: "
            f"{', '.join(SAML_PHASES)})",
        )
    if current is not None:
        since = datetime.datetime.fromisoformat(str(data[SAML_ROTATION]["since"]))
        waited = (now - since).total_seconds() / 3600
        if waited < min_hours:
            raise OpsError(
                f"phase {current} ran {waited:.1f} h ago, fewer than {min_hours:g} h: the "
                "partners may not have read the new metadata yet",
                "check that ÉduConnect, the académie and the GAR have it, then pass "
                f"--min-hours {int(waited)} (or wait)",
            )
    return current


def saml_step(
    data: Mapping[str, Any],
    wanted: str,
    make: Callable[[], Pair],
    now: datetime.datetime,
    min_hours: float = SAML_MIN_OVERLAP_HOURS,
) -> dict[str, Any]:
    """The vault changes that start phase `wanted` ({}: the phase was recorded already, its
    converge is run again), once `saml_check` allows it. Pure apart from `make` (publish)."""
    if saml_check(data, wanted, now, min_hours) == wanted:
        return {}
    rotation = dict(data.get(SAML_ROTATION) or {})
    stamp = now.isoformat(timespec="seconds")
    if wanted == "publish":
        cert, key = make()
        return {
            SAML_PUBLISHED: [cert],
            SAML_ROTATION: {"phase": "publish", "since": stamp, "next_cert": cert, "next_key": key},
        }
    if wanted == "switch":
        return {
            SAML_CERT: rotation["next_cert"],
            SAML_KEY: rotation["next_key"],
            SAML_PUBLISHED: [data[SAML_CERT]],
            SAML_ROTATION: {"phase": "switch", "since": stamp},
        }
    return {SAML_PUBLISHED: None, SAML_ROTATION: {"phase": "retire", "since": stamp}}


def saml_rotate(
    vault: Vault,
    wanted: str,
    converge: Callable[[], None],
    check: Callable[[dict[str, Any]], None],
    min_hours: float = SAML_MIN_OVERLAP_HOURS,
    label: str = "",
) -> str:
    """Run (or resume) one phase: recorded in the vault, converged, checked on the app hosts;
    `retire` then removes the rotation record. Returns "started" or "resumed"."""
    data = vault.read()
    now = datetime.datetime.now(datetime.UTC)
    updates = saml_step(
        data, wanted, lambda: new_saml_pair(label, saml_issuer(data)), now, min_hours
    )
    if updates:
        data = vault.update(updates)
    converge()
    check(data)
    if wanted == "retire":
        vault.update({SAML_ROTATION: None})
    return "started" if updates else "resumed"


SAML_DIR = "/etc/preau/saml"  # role app: signing-ID.key (0640 root:preau), .crt, published-ID.crt


def saml_file_id(cert_pem: str) -> str:
    """The name role app gives a certificate's files (signing-ID.key/.crt, published-ID.crt):
    12 hex of the PEM text's SHA-256, as the role's `hash('sha256')` computes it. New files
    for a new pair: the running app never reads a file the role is replacing."""
    return hashlib.sha256(cert_pem.encode()).hexdigest()[:12]


SAML_METADATA_PATHS = {"sp": "/federation/metadonnees/", "gar": "/federation/gar/metadonnees/"}


def saml_metadata_paths(var: Callable[..., Any]) -> list[str]:
    """The metadata an app host publishes, from its declared variables (`var(name, default)`):
    the SP's when an IdP is configured (the app serves it only then), the GAR IdP's when on."""
    if not var("app_federation_enabled", False):
        return []
    idps = [var(f"app_federation_{idp}", {}) or {} for idp in ("educonnect", "agents")]
    paths = []
    if var("app_federation_sp_entity_id", "") and any(i.get("entity_id") for i in idps):
        paths.append(SAML_METADATA_PATHS["sp"])
    if (var("app_federation_gar", {}) or {}).get("idp_entity_id"):
        paths.append(SAML_METADATA_PATHS["gar"])
    return paths


def metadata_problems(where: str, xml: str, expected: set[str]) -> list[str]:
    """What differs between the certificates a metadata document publishes and `expected`
    (`cert_bodies`): one missing breaks the partners' checks, one more is a key still trusted."""
    try:
        found = metadata_certificates(xml)
    except Exception as exc:  # ElementTree's ParseError: an error page, not metadata
        return [f"{where}: not SAML metadata ({type(exc).__name__})"]
    problems = []
    if missing := expected - found:
        problems.append(f"{where}: lacks {len(missing)} deployed certificate(s)")
    if extra := found - expected:
        problems.append(f"{where}: publishes {len(extra)} certificate(s) not deployed")
    return problems


def read_saml_metadata(inv: Inventory, paths: Mapping[str, list[str]]) -> dict[str, str]:
    """{"host path": body} of each app host's metadata, asked through loopback on the host."""
    from . import runner
    from .internal_tls import local_url

    hosts = [inv.hosts[name] for name in paths]
    found = {}
    with runner.session(inv, hosts) as sessions:
        for host in hosts:
            port = int(host.vars.get("app_port", 8000))
            domain = host.vars.get("preau_domain", host.name)
            for path in paths[host.name]:
                out = sessions.run(
                    host,
                    f"curl -s --max-time 10 -H 'Host: {domain}' {local_url(host.name, port, path)}",
                    sudo=False,
                    check=False,
                )
                found[f"{host.name} {path}"] = out.stdout
    return found
