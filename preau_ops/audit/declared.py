"""The declared state of a host, from the one inventory plus the roles' variables.

As in Ansible, a role's `vars/main.yml` wins over the inventory, which wins over
`roles/<role>/defaults/main.yml`; a value that is exactly `{{ other_variable }}` is resolved
to that variable's value, and such references inside a string are replaced by theirs
(`postgresql-{{ postgresql_version }}`); anything more elaborate is not needed by the audit.
What the roles install or start without a variable for it (exporters, backup tools), and the
units each group must run, come from the platform map (preau_ops/platform.py).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import yaml

from preau_ops import platform
from preau_ops.inventory import Host, Inventory
from preau_ops.paths import ROLES


def _merged(pattern: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in sorted(ROLES.glob(pattern)):
        merged.update(yaml.safe_load(path.read_text()) or {})
    return merged


@functools.cache
def role_defaults() -> dict[str, Any]:
    return _merged("*/defaults/main.yml")


@functools.cache
def role_vars() -> dict[str, Any]:
    """The roles' own constants (`vars/main.yml`), which no inventory overrides."""
    return _merged("*/vars/main.yml")


def var(host: Host, name: str, default: Any = None) -> Any:
    """A variable as the roles see it for this host: role vars, inventory, role defaults."""
    if name in role_vars():
        value = role_vars()[name]
    else:
        value = host.vars.get(name, role_defaults().get(name, default))
    return _resolve(host, value, depth=0)


def _resolve(host: Host, value: Any, depth: int) -> Any:
    if depth > 5:
        return value
    if isinstance(value, str):
        match = platform.REFERENCE.fullmatch(value.strip())
        if match:
            return var(host, match.group(1))
        return platform.REFERENCE.sub(lambda m: str(var(host, m.group(1))), value)
    if isinstance(value, list):
        return [_resolve(host, v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(host, v, depth + 1) for k, v in value.items()}
    return value


def in_groups(host: Host, groups: Iterable[str]) -> bool:
    groups = set(groups)
    return platform.EVERY_HOST in groups or bool(groups & set(host.groups))


def _map_groups(host: Host) -> list[str]:
    """`all`, then the host's groups the platform map knows (others declare nothing)."""
    known = set(platform.groups())
    return [platform.EVERY_HOST, *(g for g in host.groups if g in known)]


def packages(host: Host) -> list[str]:
    wanted: list[str] = []
    for group in _map_groups(host):
        for name in platform.package_vars(group):
            wanted += var(host, name) or []
        wanted += platform.packages(group)
    if "app" in host.groups and var(host, "app_antivirus_enabled", True):
        wanted.append("clamav-daemon")  # uploads are scanned before they are stored
    if "app" in host.groups and var(host, "app_federation_enabled", False):
        wanted.append("xmlsec1")  # pysaml2's signatures
    return sorted(set(wanted))


def units(host: Host) -> list[str]:
    wanted: list[str] = []
    for group in _map_groups(host):
        wanted += _resolve(host, list(platform.units(group)), depth=0)
    if "app" in host.groups:
        wanted += [
            f"preau-{job['name']}.timer"
            for job in var(host, "app_scheduled_jobs") or []
            if isinstance(job, dict) and job.get("name") and job.get("state") != "absent"
        ]
        if var(host, "app_antivirus_enabled", True):
            wanted.append("clamav-daemon.service")
    return sorted(set(wanted))


BASTION = "bastion"


def ssh_sources(inv: Inventory, host: Host) -> list[str]:
    """Who may reach SSH, as the base role computes it: with a bastion, the other hosts accept
    it from the bastion only (base_ssh_bastion_sources, else the bastion's ansible_host)."""
    bastions = inv.hosts_in(BASTION)
    if bastions and BASTION not in host.groups:
        return list(var(host, "base_ssh_bastion_sources") or [b.address for b in bastions])
    return list(var(host, "base_ssh_allowed_sources") or [])


def firewall_rules(inv: Inventory, host: Host) -> list[dict[str, Any]]:
    ssh = {
        "name": "ssh",
        "groups": ["all"],
        "ports": [var(host, "base_ssh_port", 22)],
        "sources": ssh_sources(inv, host),
    }
    rules = [
        ssh,
        *(var(host, "base_firewall_rules") or []),
        *(var(host, "base_firewall_extra_rules") or []),
    ]
    return [r for r in rules if in_groups(host, r.get("groups") or [])]


def openings(inv: Inventory, host: Host) -> dict[tuple[str, int], set[str] | None]:
    """{(proto, port): allowed sources, None meaning everyone} as the base role computes them:
    the hosts of from_groups at their private address.

    A rule whose from_groups have no hosts and that has no sources opens nothing."""
    result: dict[tuple[str, int], set[str] | None] = {}
    for rule in firewall_rules(inv, host):
        proto = rule.get("proto") or "tcp"
        if "sources" not in rule and "from_groups" not in rule:
            sources = None
        else:
            sources = set(rule.get("sources") or [])
            for group in rule.get("from_groups") or []:
                peers = inv.hosts.values() if group == platform.EVERY_HOST else inv.hosts_in(group)
                sources |= {peer.private_address for peer in peers}
            if not sources:
                continue
        for port in rule["ports"]:
            key = (proto, int(port))
            if sources is None or (key in result and result[key] is None):
                result[key] = None
            else:
                result[key] = (result.get(key) or set()) | sources
    return result


def admin_users(host: Host) -> dict[str, list[str]]:
    """{login: [ssh keys]} of the admins that must be present."""
    return {
        u["name"]: list(u.get("ssh_keys") or [])
        for u in var(host, "base_admin_users") or []
        if (u.get("state") or "present") == "present"
    }


def absent_admins(host: Host) -> list[str]:
    return [u["name"] for u in var(host, "base_admin_users") or [] if u.get("state") == "absent"]


def public_ports(inv: Inventory, host: Host) -> set[tuple[str, int]]:
    """{(proto, port)} a service may listen on at every address: the openings declared for
    everyone (the lb's 80/443) and sshd's port. Everything else listens on the private address
    or loopback (the roles' filter preau_listen_addresses)."""
    public = {key for key, sources in openings(inv, host).items() if sources is None}
    return public | {("tcp", int(var(host, "base_ssh_port", 22)))}
