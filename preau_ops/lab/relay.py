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

import ipaddress
import time

import yaml

from ..errors import OpsError
from ..inventory import LAB_VAULT_PASSWORD
from ..paths import LAB_INVENTORY, STATE_DIR
from . import standin

CONTAINER = "preau-relay"
# Not the hosts' label: the relay is no lab host (`lab up` would call it a stray).
LABEL = "org.preau.lab-relay"
HOST_NUMBER = 250  # the relay's address in the service network's subnet
PORT = 587
USER = "preau"
MAILDIR = "/var/mail/relay"
DECLARATION = LAB_INVENTORY / "group_vars/all/relay.yml"
TLS_DIR = STATE_DIR / "relay"
DNS_NAME = "relay.preau.test"
CA_NAME = "Préau lab SMTP relay CA"
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


def service_network() -> tuple[str, ipaddress.IPv4Network]:
    """The lab network the hosts talk to each other on (the private one when there is one)."""
    names = standin.docker(
        "network", "ls", "--filter", "label=org.preau.lab", "--format", "{{.Name}}"
    ).stdout.split()
    if not names:
        raise OpsError("the lab has no network", "run `./deploy.py lab up` first")
    name = next((n for n in names if "private" in n), names[0])
    subnet = standin.docker(
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
    """The lab relay's CA and certificate, made once and kept in .lab/relay/."""
    return standin.tls_files(TLS_DIR, relay_address, DNS_NAME, CA_NAME, name="relay")


def _make_tls(relay_address: str) -> dict[str, bytes]:
    return standin.make_tls(relay_address, DNS_NAME, CA_NAME, name="relay")


def _secret(name: str) -> bool:
    return name == "relay.key"


def _config(files: dict[str, bytes], password: str) -> dict[str, bytes]:
    """/etc/exim4's files: the configuration, the certificate chain, the key."""
    conf = EXIM_CONF
    for name, value in {"PORT": str(PORT), "MAILDIR": MAILDIR, "USER": USER}.items():
        conf = conf.replace(f"@{name}@", value)
    conf = conf.replace("@PASSWORD@", password)
    return {
        "exim4.conf": conf.encode(),
        "relay.crt": files["relay.crt"] + files["ca.crt"],
        "relay.key": files["relay.key"],
    }


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
    return standin.running(CONTAINER)


def up() -> str:
    """Start the relay (or keep the running one) and write its declaration; its address."""
    network, _ = service_network()
    relay_address = address()
    files = _tls_files(relay_address)
    if not running():
        standin.build_image()
        standin.create(
            CONTAINER,
            hostname="relay",
            label=LABEL,
            network=network,
            address=relay_address,
            command=START,
        )
        standin.copy_in(CONTAINER, "/etc/exim4", _config(files, _password()), secret=_secret)
        standin.docker("start", CONTAINER)
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
    logs = standin.docker("logs", "--tail", "20", CONTAINER, check=False)
    raise OpsError(
        f"the lab's SMTP relay does not answer on {relay_address}:{PORT}",
        f"its output: {(logs.stdout + logs.stderr).strip()[-800:]}",
    )


def down() -> bool:
    """Remove the relay and its declaration; True when there was a container."""
    DECLARATION.unlink(missing_ok=True)
    return standin.docker("rm", "-f", "-v", CONTAINER, check=False).returncode == 0


def messages() -> list[str]:
    """Every message the relay delivered, raw (headers and body), oldest first."""
    script = (
        f"cd {MAILDIR}/new 2>/dev/null || exit 0; "
        "for f in $(ls -tr); do cat \"$f\"; printf '\\0'; done"
    )
    out = standin.docker("exec", CONTAINER, "sh", "-c", script).stdout
    return [message for message in out.split("\0") if message.strip()]
