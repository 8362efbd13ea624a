"""The lab's stand-in for the département's SMTP relay: a real MTA (Debian's exim4) in a
container of its own, beside the lab's hosts but not one of them (no inventory host, no
converge): the relay belongs to the département, the platform only sends through it.

Like the real one it offers STARTTLS on the submission port and relays only for an
authenticated account; its password is the lab vault's `vault_smtp_relay_password` and its
certificate is signed by a CA made here (`.lab/relay/`), which the hosts trust through the
relay's declaration. Every message it accepts is delivered into one Maildir that the lab tests
read (`messages()`). `up` writes that declaration, the `preau_smtp_relay_*` variables, to
`inventories/lab/group_vars/all/relay.yml` (git-ignored): app and Alertmanager settings derive
from it (playbooks/group_vars/all/wiring.yml).

The relay joins the lab's service network (the private one when the topology has one, so that
mail goes over private addresses like every host-to-host flow) at the subnet's address .250.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import ipaddress
import subprocess
import tarfile
import time
from typing import Any

import yaml

from ..errors import OpsError
from ..inventory import LAB_VAULT_PASSWORD
from ..paths import LAB_INVENTORY, STATE_DIR
from . import image

CONTAINER = "preau-relay"
TAG = "relay"
# Not the hosts' label: the relay is no lab host (`lab up` would call it a stray).
LABEL = "org.preau.lab-relay"
HOST_NUMBER = 250  # the relay's address in the service network's subnet
PORT = 587
USER = "preau"
PACKAGES = ["exim4-daemon-light"]
MAILDIR = "/var/mail/relay"
DECLARATION = LAB_INVENTORY / "group_vars/all/relay.yml"
TLS_DIR = STATE_DIR / "relay"
VAULT_KEY = "vault_smtp_relay_password"

# Exim's whole configuration (exim4 reads /etc/exim4/exim4.conf before Debian's generated
# one): submission with STARTTLS, AUTH (PLAIN, LOGIN) only once TLS is
# up, relaying only for the authenticated account, every message into one Maildir.
EXIM_CONF = """\
primary_hostname = relay.preau.test
qualify_domain = preau.test
domainlist local_domains = *
daemon_smtp_ports = 25 : @PORT@
tls_advertise_hosts = *
tls_certificate = /etc/exim4/relay.crt
tls_privatekey = /etc/exim4/relay.key
auth_advertise_hosts = ${if def:tls_in_cipher {*}{}}
acl_smtp_rcpt = check_rcpt
log_selector = +subject
# No DNS in the lab: never look a client's name up (a HELO of a local IP literal would).
helo_lookup_domains =
rfc1413_hosts =

begin acl
check_rcpt:
  accept authenticated = *
  deny message = authentication required (STARTTLS, then AUTH)

begin routers
everything:
  driver = accept
  transport = maildir

begin transports
maildir:
  driver = appendfile
  directory = @MAILDIR@
  maildir_format
  create_directory
  envelope_to_add
  return_path_add
  user = Debian-exim
  group = Debian-exim
  mode = 0640

begin retry
* * F,1m,1m

begin authenticators
plain:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = ${if and{{eq{$auth2}{@USER@}}{eq{$auth3}{@PASSWORD@}}}}
  server_set_id = $auth2
login:
  driver = plaintext
  public_name = LOGIN
  server_prompts = Username:: : Password::
  server_condition = ${if and{{eq{$auth1}{@USER@}}{eq{$auth2}{@PASSWORD@}}}}
  server_set_id = $auth1
"""
START = (
    "chown root:Debian-exim /etc/exim4/relay.key && chmod 640 /etc/exim4/relay.key && "
    f"install -d -o Debian-exim -g Debian-exim {MAILDIR} && exec exim4 -bdf -q1m"
)


def _docker(*args: str, check: bool = True, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=False, **kwargs
    )
    if check and result.returncode != 0:
        raise OpsError(f"docker {args[0]} (relay) failed: {result.stderr.strip()[-1500:]}")
    return result


def _image_hash() -> str:
    bare = _docker("image", "inspect", "-f", "{{.Id}}", f"{image.REPOSITORY}:bare").stdout
    return hashlib.sha256((bare.strip() + " ".join(PACKAGES)).encode()).hexdigest()[:16]


def build_image() -> bool:
    """preau-lab:relay = bare + exim4, cached by the bare image and the package list; True
    when it was built."""
    wanted = _image_hash()
    tagged = _docker(
        "image",
        "inspect",
        "-f",
        f'{{{{index .Config.Labels "{image.HASH_LABEL}"}}}}',
        f"{image.REPOSITORY}:{TAG}",
        check=False,
    ).stdout.strip()
    if tagged == wanted:
        return False
    name = "preau-lab-relay-build"
    hosts = [f"--add-host={n}:{ip}" for n, ip in image.resolve_mirrors().items()]
    script = (
        "set -e; apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
        "--no-install-recommends " + " ".join(PACKAGES) + "; apt-get clean; "
        "rm -rf /var/lib/apt/lists/*"
    )
    _docker("rm", "-f", name, check=False)
    try:
        _docker(
            "run",
            "--name",
            name,
            "--dns",
            "127.0.0.1",
            *hosts,
            f"{image.REPOSITORY}:bare",
            "bash",
            "-c",
            script,
        )
        _docker(
            "commit",
            "-c",
            f"LABEL {image.HASH_LABEL}={wanted}",
            "-c",
            'ENTRYPOINT ["sh", "-c"]',
            name,
            f"{image.REPOSITORY}:{TAG}",
        )
    finally:
        _docker("rm", "-f", name, check=False)
    return True


def service_network() -> tuple[str, ipaddress.IPv4Network]:
    """The lab network the hosts talk to each other on (the private one when there is one)."""
    names = _docker(
        "network", "ls", "--filter", "label=org.preau.lab", "--format", "{{.Name}}"
    ).stdout.split()
    if not names:
        raise OpsError("the lab has no network", "run `./deploy.py lab up` first")
    name = next((n for n in names if "private" in n), names[0])
    subnet = _docker(
        "network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", name
    ).stdout.strip()
    return name, ipaddress.IPv4Network(subnet)


def address() -> str:
    _, subnet = service_network()
    return str(subnet.network_address + HOST_NUMBER)


def _password() -> str:
    from ansible.parsing.vault import VaultLib, VaultSecret

    vault_file = LAB_INVENTORY / "group_vars/all/vault.yml"
    vault = VaultLib([("default", VaultSecret(LAB_VAULT_PASSWORD.read_bytes().strip()))])
    secrets = yaml.safe_load(vault.decrypt(vault_file.read_bytes())) or {}
    if VAULT_KEY not in secrets:
        raise OpsError(
            f"the lab vault has no {VAULT_KEY}",
            "it is listed in inventories/production/group_vars/all/vault.yml.example; "
            "`./deploy.py lab up` adds it",
        )
    return str(secrets[VAULT_KEY])


def _tls_files(relay_address: str) -> dict[str, bytes]:
    """The lab relay's CA and certificate (IP SAN: clients check the name they dial), made
    once and kept in .lab/relay/; remade if the relay's address changed."""
    TLS_DIR.mkdir(parents=True, exist_ok=True)
    names = ("ca.crt", "relay.crt", "relay.key", "address")
    if all((TLS_DIR / n).exists() for n in names) and (
        (TLS_DIR / "address").read_text() == relay_address
    ):
        return {n: (TLS_DIR / n).read_bytes() for n in names}
    files = _make_tls(relay_address)
    for name, content in files.items():
        (TLS_DIR / name).write_bytes(content)
        (TLS_DIR / name).chmod(0o600)
    return files


def _make_tls(relay_address: str) -> dict[str, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def certificate(subject: str, key: Any, issuer: str, signer: Any, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=825))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.IPAddress(ipaddress.ip_address(relay_address)),
                        x509.DNSName("relay.preau.test"),
                    ]
                ),
                critical=False,
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = certificate(
        "Préau lab SMTP relay CA", ca_key, "Préau lab SMTP relay CA", ca_key, True
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = certificate("relay.preau.test", key, "Préau lab SMTP relay CA", ca_key, False)
    pem = serialization.Encoding.PEM
    return {
        "ca.crt": ca_cert.public_bytes(pem),
        "relay.crt": cert.public_bytes(pem),
        "relay.key": key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        "address": relay_address.encode(),
    }


def _config_tar(files: dict[str, bytes], password: str) -> bytes:
    conf = EXIM_CONF
    for name, value in {"PORT": str(PORT), "MAILDIR": MAILDIR, "USER": USER}.items():
        conf = conf.replace(f"@{name}@", value)
    conf = conf.replace("@PASSWORD@", password)
    content = {
        "exim4.conf": conf.encode(),
        "relay.crt": files["relay.crt"] + files["ca.crt"],
        "relay.key": files["relay.key"],
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in content.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644 if name != "relay.key" else 0o600
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _write_declaration(relay_address: str, ca_pem: bytes) -> None:
    declaration = {
        "preau_smtp_relay_host": relay_address,
        "preau_smtp_relay_port": PORT,
        "preau_smtp_relay_starttls": True,
        "preau_smtp_relay_user": USER,
    }
    pem = "".join(f"  {line}\n" for line in ca_pem.decode().strip().splitlines())
    header = (
        "# Generated by `deploy.py lab up` (preau_ops/lab/relay.py): the lab's SMTP relay, as\n"
        "# a site declares the département's (inventories/production/group_vars/all/main.yml).\n"
        "# Git-ignored, removed by `lab down`. Password: the vault's vault_smtp_relay_password.\n"
    )
    DECLARATION.parent.mkdir(parents=True, exist_ok=True)
    DECLARATION.write_text(
        header
        + yaml.safe_dump(declaration, sort_keys=False)
        + f"preau_smtp_relay_ca_certificate: |\n{pem}"
    )


def running() -> bool:
    state = _docker("inspect", "-f", "{{.State.Running}}", CONTAINER, check=False)
    return state.stdout.strip() == "true"


def up() -> str:
    """Start the relay (or keep the running one) and write its declaration; its address."""
    network, _ = service_network()
    relay_address = address()
    files = _tls_files(relay_address)
    if not running():
        build_image()
        _docker("rm", "-f", CONTAINER, check=False)
        _docker(
            "create",
            "--name",
            CONTAINER,
            "--hostname",
            "relay",
            "--label",
            LABEL,
            "--network",
            network,
            "--ip",
            relay_address,
            "--dns",
            "127.0.0.1",
            "--init",
            f"{image.REPOSITORY}:{TAG}",
            START,
        )
        copied = subprocess.run(
            ["docker", "cp", "-", f"{CONTAINER}:/etc/exim4/"],
            input=_config_tar(files, _password()),
            capture_output=True,
            check=False,
        )
        if copied.returncode != 0:
            raise OpsError(f"docker cp (relay) failed: {copied.stderr.decode()[-800:]}")
        _docker("start", CONTAINER)
        _wait_listening(relay_address)
    _write_declaration(relay_address, files["ca.crt"])
    return relay_address


def _wait_listening(relay_address: str, timeout: float = 20) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((relay_address, PORT), timeout=1) as sock:
                if sock.recv(64).startswith(b"220"):
                    return
        except OSError:
            time.sleep(0.2)
    logs = _docker("logs", "--tail", "20", CONTAINER, check=False)
    raise OpsError(
        f"the lab's SMTP relay does not answer on {relay_address}:{PORT}",
        f"its output: {(logs.stdout + logs.stderr).strip()[-800:]}",
    )


def down() -> bool:
    """Remove the relay and its declaration; True when there was a container."""
    DECLARATION.unlink(missing_ok=True)
    return _docker("rm", "-f", "-v", CONTAINER, check=False).returncode == 0


def messages() -> list[str]:
    """Every message the relay delivered, raw (headers and body), oldest first."""
    script = (
        f"cd {MAILDIR}/new 2>/dev/null || exit 0; "
        "for f in $(ls -tr); do cat \"$f\"; printf '\\0'; done"
    )
    out = _docker("exec", CONTAINER, "sh", "-c", script).stdout
    return [message for message in out.split("\0") if message.strip()]
