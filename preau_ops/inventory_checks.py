"""What an inventory of real servers may not carry: the example's placeholders, Debian's
snakeoil certificate, an operator whose keys would all be removed, the lab's own settings.

Which rules apply: every inventory but the lab's own directory (inventories/lab) is held to
them, whatever it declares. `preau_environment` is not trusted for this: an inventory started
as a copy of the lab's carries `preau_environment: lab`, which is exactly the mistake to
catch; so `lab` there is itself refused as a lab-only setting. Staging is real servers too:
same rules. Malformed SSH keys are refused in every inventory, the lab's included.

The values checked are each host's variables as Ansible resolves them (vault included) over
the defaults of the roles that host runs (a default such as PostgreSQL's snakeoil pair counts).
inventory.load() reports these findings with every other problem, before any command runs.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from . import platform
from .paths import ROLES, STATE_DIR

if TYPE_CHECKING:
    from .inventory import Host, Inventory

SSH_KEY_PLACEHOLDER = "REPLACE-ME"
SECRET_PLACEHOLDER = "CHANGE-ME"
# A placeholder a command replaces (`deploy.py pki init` writes the CA): refused for every
# other command, so that this one can run.
COMMAND_PLACEHOLDER = f"{SECRET_PLACEHOLDER}-run-deploy.py-"
SNAKEOIL = "ssl-cert-snakeoil"
SSH_KEY_VARIABLES = ("base_admin_users", "base_auditor_ssh_keys")


# Settings that only make sense in the lab, with why a production inventory may not carry them:
# variable -> (is the value the lab's?, why). Besides these, every `preau_lab_*` variable (set
# by `lab up`) and any path into the lab's state directory (.lab/, git-ignored, per machine).
LAB_ONLY: dict[str, tuple[Callable[[Any], bool], str]] = {
    "preau_environment": (
        lambda v: v == "lab",
        "the lab's environment (the app accepts demo and benchmark data): "
        "declare production or staging",
    ),
    "app_environment": (
        lambda v: v in ("lab", "test", "dev"),
        "a development environment: the app accepts demo and benchmark data",
    ),
    "monitoring_environment": (
        lambda v: v == "lab",
        "every alert would be labelled lab",
    ),
    "nginx_tls_mode": (
        lambda v: v == "local_ca",
        "a certificate signed by the CA `lab up` makes on the controller, trusted by no "
        "browser: use acme or provided",
    ),
    "monitoring_public_probe_verify_tls": (
        lambda v: v is False,
        "the public probe would accept any certificate (only for the lab's test CA)",
    ),
    "base_in_container": (
        lambda v: v is True,
        "skips what a container cannot do (kernel settings, auditd, chronyd): the hardening "
        "would be missing on a real server",
    ),
    "app_antivirus_local_signatures": (
        bool,
        "masks freshclam: uploads would be scanned only against these signatures (the lab's "
        "test signature), never ClamAV's official ones",
    ),
    "monitoring_alert_email_enabled": (
        lambda v: v is False,
        "alerts would reach nobody (the lab has no mail)",
    ),
}
LAB_PREFIX = "preau_lab_"


@dataclass
class Finding:
    """One problem: the file to fix, the variable (with its path inside), what is wrong and
    what to do, and the hosts it concerns."""

    file: Path
    key: str
    message: str
    hosts: list[str] = field(default_factory=list)

    def text(self) -> str:
        names = ", ".join(self.hosts)
        return f"{self.message} (host{'s' if len(self.hosts) > 1 else ''} {names})"


Origin = Callable[[str, "Host"], Path]  # the inventory file that sets a variable for a host


def findings(inv: Inventory, origin: Origin, running: str = "") -> list[Finding]:
    """Every problem of these kinds, one per (file, variable, message), hosts listed.
    `running`: the command being run ("pki init"), whose own placeholders are not refused."""
    found: dict[tuple[Path, str, str], Finding] = {}
    production = not inv.is_lab
    for host in inv.hosts.values():
        defaults = role_defaults(platform.roles_for(host.groups))
        for key, message, from_default in _host_problems(host, defaults, production, running):
            file = ROLES / defaults[key][0] / "defaults/main.yml" if from_default else None
            where = file or origin(key.split("[")[0].split(".")[0], host)
            entry = found.setdefault((where, key, message), Finding(where, key, message))
            entry.hosts.append(host.name)
    return list(found.values())


def _host_problems(
    host: Host, defaults: dict[str, tuple[str, Any]], production: bool, running: str
) -> Iterator[tuple[str, str, bool]]:
    """(variable path, message, whether the value is a role's default) for one host."""
    yield from ((k, m, False) for k, m in _malformed_keys(host.vars))
    if not production:
        return
    own = {k: v for k, v in host.vars.items() if not _of_another_role(k, defaults)}
    effective = {k: v for k, (_, v) in defaults.items()} | own
    for name, value in effective.items():
        from_default = name not in own
        for path, leaf in _leaves(name, value):
            if message := _placeholder(name, leaf, running) or _snakeoil(leaf, from_default):
                yield path, message, from_default
    for name, value in own.items():
        if message := _lab_only(name, value):
            yield name, message, False
    yield from ((k, m, False) for k, m in _keys_emptied(effective))


def _of_another_role(name: str, defaults: dict[str, tuple[str, Any]]) -> bool:
    """A variable of a role this host does not run (its value does not matter here)."""
    roles = {role for role, _ in defaults.values()}
    return any(name.startswith(f"{role}_") for role in _all_roles() - roles)


@functools.cache
def _all_roles() -> frozenset[str]:
    return frozenset(p.parent.parent.name for p in ROLES.glob("*/defaults/main.yml"))


def _leaves(path: str, value: Any) -> Iterator[tuple[str, str]]:
    """(path, string) for every string inside a value: base_admin_users[0].ssh_keys[1]."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(f"{path}.{key}", item)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _leaves(f"{path}[{index}]", item)


def _placeholder(name: str, value: str, running: str) -> str | None:
    if value.startswith(
        COMMAND_PLACEHOLDER
    ):  # a value a command writes: CHANGE-ME-run-deploy.py-pki-init
        command = value.removeprefix(COMMAND_PLACEHOLDER).replace("-", " ")
        if command == running:
            return None
        return f"still the example's placeholder {value!r}: run `deploy.py {command}` first"
    if SSH_KEY_PLACEHOLDER in value and name in SSH_KEY_VARIABLES:
        return (
            f"SSH key still the example's placeholder {SSH_KEY_PLACEHOLDER}: put the person's "
            "public key (the line of their ~/.ssh/id_ed25519.pub), or remove the entry"
        )
    if SECRET_PLACEHOLDER in value and name.startswith("vault_"):
        # a value that starts with the placeholder is the example's text, not a secret
        shown = f" {value!r}" if value.startswith(SECRET_PLACEHOLDER) else ""
        return (
            f"secret still the example's placeholder{shown}: do what it says, or put a long "
            "random value (`ansible-vault edit` the vault; `openssl rand -base64 33` makes one)"
        )
    if SSH_KEY_PLACEHOLDER in value or SECRET_PLACEHOLDER in value:
        return "still the example's placeholder: put the real value"
    return None


def _snakeoil(value: str, from_default: bool) -> str | None:
    if SNAKEOIL not in value:
        return None
    where = "the role's default" if from_default else "set here"
    return (
        f"Debian's snakeoil certificate ({where}): self-signed, the same name on every host, "
        "nothing can verify it; set the certificate and key the site issued for this service"
    )


def _lab_only(name: str, value: Any) -> str | None:
    if name.startswith(LAB_PREFIX):
        return "lab-only setting (written by `lab up`): remove it from this inventory"
    if name in LAB_ONLY and LAB_ONLY[name][0](value):
        return f"lab-only value {value!r}: {LAB_ONLY[name][1]}"
    lab_dir = str(STATE_DIR)
    for _, leaf in _leaves(name, value):
        if lab_dir in leaf or "/.lab/" in leaf:
            return (
                f"points into the lab's state directory ({leaf}): files of one developer's "
                "machine, rewritten by `lab up`; use the site's own file"
            )
    return None


def _keys_emptied(effective: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Admins present with no key while keys are exclusive: converge would remove all of
    their keys (the connection user's: nobody gets in any more)."""
    if not effective.get("base_admin_keys_exclusive", True):
        return
    admins = effective.get("base_admin_users") or []
    present = [a for a in admins if isinstance(a, dict) and a.get("state", "present") != "absent"]
    if not present:
        yield (
            "base_admin_users",
            "no operator declared (state present): declare at least the connection user "
            "with their SSH keys",
        )
    for index, admin in enumerate(admins):
        if admin in present and not admin.get("ssh_keys"):
            yield (
                f"base_admin_users[{index}].ssh_keys",
                f"empty for {admin.get('name')!r} while base_admin_keys_exclusive is on: "
                "converge would remove every key of that account (locked out); add their "
                "public keys, or mark the account `state: absent`",
            )


def _malformed_keys(variables: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for name in SSH_KEY_VARIABLES:
        for path, leaf in _leaves(name, variables.get(name)):
            inside = path.split(".")[-1]
            if name == "base_admin_users" and not inside.startswith("ssh_keys"):
                continue
            if SSH_KEY_PLACEHOLDER in leaf:
                continue  # reported as a placeholder, in production
            if problem := ssh_key_problem(leaf):
                yield path, problem


def ssh_key_problem(line: str) -> str | None:
    """Why an authorized_keys line is not a public key, or None: `TYPE BASE64 [comment]` whose
    decoded blob names the same TYPE (what ssh-keygen writes)."""
    fields = line.split()
    if len(fields) < 2:
        return "not an SSH public key: expected `TYPE BASE64 [comment]`, e.g. ssh-ed25519 AAAA…"
    kind, blob = fields[0], fields[1]
    try:
        data = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        return f"not an SSH public key: the part after {kind} is not base64 (truncated?)"
    parts = _wire_strings(data)
    if parts is None or len(parts) < 2 or parts[0] != kind.encode():
        return f"not an SSH public key: its data is not a whole {kind} key (truncated?)"
    return None


def _wire_strings(data: bytes) -> list[bytes] | None:
    """The length-prefixed strings a key blob is made of; None unless they fill it exactly."""
    parts: list[bytes] = []
    while data:
        size = int.from_bytes(data[:4], "big")
        if len(data) < 4 + size:
            return None
        parts.append(data[4 : 4 + size])
        data = data[4 + size :]
    return parts


def role_defaults(roles: tuple[str, ...]) -> dict[str, tuple[str, Any]]:
    """{variable: (role, default value as written)} of these roles' defaults/main.yml."""
    values: dict[str, tuple[str, Any]] = {}
    for role in roles:
        values.update((k, (role, v)) for k, v in _defaults_of(role).items())
    return values


@functools.cache
def _defaults_of(role: str) -> dict[str, Any]:
    file = ROLES / role / "defaults/main.yml"
    data = yaml.safe_load(file.read_text()) if file.exists() else None
    return data if isinstance(data, dict) else {}
