"""The declared state of a host, from the one inventory plus the roles' defaults.

The inventory's variables win over `roles/<role>/defaults/main.yml`; a default that is exactly
`{{ other_variable }}` is resolved, anything more elaborate is not needed by the audit.
What the roles install or start without a variable for it (exporters, backup tools) is listed
here, by group, as docs/contracts.md and the roles' READMEs declare it.
"""

from __future__ import annotations

import functools
import re

import yaml

from preau_ops.inventory import Host, Inventory
from preau_ops.paths import ROLES

# Packages and units each group gets beyond the roles' package variables.
GROUP_PACKAGES = {
    "all": ["prometheus-node-exporter"],
    "db": ["prometheus-postgres-exporter", "pgbackrest"],
    "lb": ["prometheus-nginx-exporter"],
    "app": ["borgmatic"],
    "backup": ["pgbackrest", "borgbackup"],
    "monitoring": ["prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter"],
}
GROUP_PACKAGE_VARS = {
    "all": ["base_packages", "base_extra_packages"],
    "db": ["postgresql_packages"],
    "app": ["app_packages"],
    "lb": ["nginx_packages"],
}
# Units that must be enabled and active (a oneshot such as nftables is active "exited").
GROUP_UNITS = {
    "all": ["ssh.service", "nftables.service", "prometheus-node-exporter.service"],
    "db": ["postgresql@15-main.service", "prometheus-postgres-exporter.service"],
    "lb": ["nginx.service", "prometheus-nginx-exporter.service"],
    "app": ["preau.socket", "preau-backup-files.timer"],
    "backup": ["preau-backup-full.timer", "preau-backup-diff.timer", "preau-restore-drill.timer"],
    "monitoring": [
        "prometheus.service",
        "prometheus-alertmanager.service",
        "prometheus-blackbox-exporter.service",
    ],
}
# Started only on real machines (the base role configures them in containers, no more).
NOT_IN_CONTAINER_UNITS = ["auditd.service", "chrony.service"]

_REFERENCE = re.compile(r"^\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}$")


@functools.cache
def role_defaults() -> dict:
    merged: dict = {}
    for path in sorted(ROLES.glob("*/defaults/main.yml")):
        merged.update(yaml.safe_load(path.read_text()) or {})
    return merged


def var(host: Host, name: str, default=None):
    """A variable as the roles see it for this host: inventory first, then role defaults."""
    value = host.vars.get(name, role_defaults().get(name, default))
    return _resolve(host, value, depth=0)


def _resolve(host: Host, value, depth: int):
    if depth > 5:
        return value
    if isinstance(value, str):
        match = _REFERENCE.match(value.strip())
        if match:
            return var(host, match.group(1))
        return value
    if isinstance(value, list):
        return [_resolve(host, v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(host, v, depth + 1) for k, v in value.items()}
    return value


def in_groups(host: Host, groups) -> bool:
    return "all" in groups or bool(set(groups) & set(host.groups))


def packages(host: Host) -> list[str]:
    wanted: list[str] = []
    for group in ["all", *host.groups]:
        for name in GROUP_PACKAGE_VARS.get(group, []):
            wanted += var(host, name) or []
        wanted += GROUP_PACKAGES.get(group, [])
    if "app" in host.groups and var(host, "app_antivirus_enabled", True):
        wanted.append("clamav-daemon")  # uploads are scanned before they are stored
    return sorted(set(wanted))


def units(host: Host) -> list[str]:
    wanted: list[str] = []
    for group in ["all", *host.groups]:
        wanted += GROUP_UNITS.get(group, [])
    if "app" in host.groups:
        wanted += [
            f"preau-{job['name']}.timer"
            for job in var(host, "app_scheduled_jobs") or []
            if isinstance(job, dict) and job.get("name")
        ]
        if var(host, "app_antivirus_enabled", True):
            wanted.append("clamav-daemon.service")
    return sorted(set(wanted))


def firewall_rules(host: Host) -> list[dict]:
    ssh = {
        "name": "ssh",
        "groups": ["all"],
        "ports": [var(host, "base_ssh_port", 22)],
        "sources": var(host, "base_ssh_allowed_sources"),
    }
    rules = [
        ssh,
        *(var(host, "base_firewall_rules") or []),
        *(var(host, "base_firewall_extra_rules") or []),
    ]
    return [r for r in rules if in_groups(host, r.get("groups") or [])]


def openings(inv: Inventory, host: Host) -> dict[tuple[str, int], set[str] | None]:
    """{(proto, port): allowed sources, None meaning everyone} as the base role computes them.

    A rule whose from_groups have no hosts and that has no sources opens nothing."""
    result: dict[tuple[str, int], set[str] | None] = {}
    for rule in firewall_rules(host):
        proto = rule.get("proto") or "tcp"
        if "sources" not in rule and "from_groups" not in rule:
            sources = None
        else:
            sources = set(rule.get("sources") or [])
            for group in rule.get("from_groups") or []:
                sources |= {peer.address for peer in inv.hosts_in(group)}
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
