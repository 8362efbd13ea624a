"""The declared state of a host, computed from small hosts built here (no inventory file, no
connection): the inventory's variables over the roles' defaults, the platform map's packages
and units per group, the firewall openings as the base role computes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from preau_ops import platform
from preau_ops.audit import declared
from preau_ops.inventory import Host, Inventory


def host(name: str, groups: list[str], **variables: Any) -> Host:
    return Host(name, groups, {"ansible_host": f"10.0.0.{len(name)}", **variables})


def inventory(*hosts: Host) -> Inventory:
    groups: dict[str, list[str]] = {}
    for member in hosts:
        for group in member.groups:
            groups.setdefault(group, []).append(member.name)
    return Inventory(Path("test"), {h.name: h for h in hosts}, groups)


def test_the_inventory_wins_over_the_roles_defaults_and_references_are_resolved() -> None:
    assert declared.var(host("a", ["app"]), "app_port") == 8000  # roles/app/defaults
    assert declared.var(host("a", ["app"], app_port=9000), "app_port") == 9000
    assert declared.var(host("a", ["app"]), "no_such_variable", "fallback") == "fallback"
    ssh = host("a", ["app"], base_ssh_allowed_sources=["192.0.2.0/24"])
    # base_admin_sources defaults to "{{ base_ssh_allowed_sources }}"
    assert declared.var(ssh, "base_admin_sources") == ["192.0.2.0/24"]
    nested = host("a", ["app"], x={"list": ["{{ app_user }}", "plain"]}, app_user="ent")
    assert declared.var(nested, "x") == {"list": ["ent", "plain"]}


def test_the_postgresql_major_is_resolved_inside_package_and_unit_names() -> None:
    """Debian 13's PostgreSQL 17 (issue #27): the audit expects the host's major's package and
    unit, not Debian 12's written in by hand."""
    db = host("db1", ["db"], postgresql_version=17)
    assert "postgresql-17" in declared.packages(db)
    assert "postgresql@17-main.service" in declared.units(db)
    assert "postgresql-15" in declared.packages(host("db1", ["db"]))  # the role's default


def test_a_roles_own_constant_wins_over_the_inventory_as_in_ansible() -> None:
    remote = "/usr/local/sbin/preau-pgbackrest-remote"  # roles/backup/vars/main.yml
    assert declared.var(host("db1", ["db"]), "backup__pgbackrest_remote") == remote
    spoofed = host("db1", ["db"], backup__pgbackrest_remote="/bin/sh")
    assert declared.var(spoofed, "backup__pgbackrest_remote") == remote


def test_packages_come_from_the_map_and_the_package_variables() -> None:
    app = host("app1", ["app"], app_packages=["python3"], base_extra_packages=["htop"])
    wanted = declared.packages(app)
    assert set(platform.packages("all")) | set(platform.packages("app")) <= set(wanted)
    assert {"python3", "htop", "clamav-daemon"} <= set(wanted)
    assert wanted == sorted(set(wanted))
    without_scanner = host("app1", ["app"], app_antivirus_enabled=False)
    assert "clamav-daemon" not in declared.packages(without_scanner)
    assert "clamav-daemon" not in declared.packages(host("db1", ["db"]))


def test_a_group_the_map_does_not_know_declares_nothing() -> None:
    assert declared.packages(host("db1", ["db", "site-b"])) == declared.packages(
        host("db1", ["db"])
    )
    assert declared.units(host("db1", ["db", "site-b"])) == declared.units(host("db1", ["db"]))


def test_units_of_the_map_plus_the_app_timers_and_the_scanner() -> None:
    jobs = [{"name": "purge-gone"}, {"name": "send"}, {"command": "nameless"}, "junk"]
    jobs.append({"name": "removed", "state": "absent"})  # the role removes its units
    app = host("app1", ["app"], app_scheduled_jobs=jobs)
    wanted = declared.units(app)
    assert set(platform.units("all")) | set(platform.units("app")) <= set(wanted)
    assert {"preau-purge-gone.timer", "preau-send.timer", "clamav-daemon.service"} <= set(wanted)
    assert not [u for u in wanted if u.startswith("preau-None")]
    assert "preau-removed.timer" not in wanted
    assert declared.units(host("lb1", ["lb"])) == sorted(
        {*platform.units("all"), *platform.units("lb")}
    )


RULES = [
    {"name": "https", "groups": ["lb"], "ports": [443, 80]},
    {"name": "pg", "groups": ["db"], "ports": [5432], "from_groups": ["app", "backup"]},
    {"name": "metrics", "groups": ["all"], "ports": [9100], "sources": ["10.9.9.9"]},
    {"name": "dns", "groups": ["all"], "ports": [53], "proto": "udp", "from_groups": ["none"]},
]


def test_openings_as_the_base_role_computes_them() -> None:
    common = {"base_ssh_port": 2222, "base_ssh_allowed_sources": ["192.0.2.1"],
              "base_firewall_rules": RULES, "base_firewall_extra_rules": []}  # fmt: skip
    lb = host("lb", ["lb"], **common)
    db = host("db", ["db"], **common)
    app = host("app1", ["app"], **common)
    ops = host("ops", ["backup"], **common)
    inv = inventory(lb, db, app, ops)
    assert declared.openings(inv, lb) == {
        ("tcp", 2222): {"192.0.2.1"},
        ("tcp", 443): None,  # no sources, no from_groups: everyone
        ("tcp", 80): None,
        ("tcp", 9100): {"10.9.9.9"},
    }  # the dns rule's from_groups have no hosts and it has no sources: nothing opens
    assert declared.openings(inv, db)[("tcp", 5432)] == {app.address, ops.address}
    assert ("tcp", 443) not in declared.openings(inv, db)


def test_an_opening_for_everyone_stays_open_to_everyone() -> None:
    rules = [{"groups": ["all"], "ports": [443]},
             {"groups": ["all"], "ports": [443], "sources": ["10.1.1.1"]}]  # fmt: skip
    lb = host("lb", ["lb"], base_firewall_rules=rules)
    assert declared.openings(inventory(lb), lb)[("tcp", 443)] is None


def test_admins_present_and_absent() -> None:
    admins = [{"name": "alice", "ssh_keys": ["ssh-ed25519 AAA alice"]},
              {"name": "bob", "state": "absent"}, {"name": "carol", "state": "present"}]  # fmt: skip
    server = host("lb", ["lb"], base_admin_users=admins)
    assert declared.admin_users(server) == {"alice": ["ssh-ed25519 AAA alice"], "carol": []}
    assert declared.absent_admins(server) == ["bob"]


def test_in_groups() -> None:
    server = host("db1", ["db"])
    assert declared.in_groups(server, ["all"])
    assert declared.in_groups(server, ("app", "db"))
    assert not declared.in_groups(server, ["app"])
    assert not declared.in_groups(server, [])
