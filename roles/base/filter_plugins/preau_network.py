"""Where the hosts of the platform reach each other: the one rule, for every role.

A host has a management address (`ansible_host`: where the tools connect, through the bastion
when there is one) and may have a private service address (`preau_private_address`). Every
host-to-host use (lb -> app, app -> db, backups and WAL archiving, metrics scrapes, firewall
sources, listening addresses) takes the private address; a host without one is on one network
and uses its `ansible_host`, and a host with neither its inventory name.

    {{ groups['db'] | first | preau_address(hostvars) }}      -> '10.0.2.31'
    {{ groups['app'] | preau_addresses(hostvars) }}           -> ['10.0.2.21', '10.0.2.22']
    {{ inventory_hostname | preau_listen_addresses(hostvars) }} -> ['10.0.2.21', '127.0.0.1']
    {{ '10.0.2.21' | preau_hostport(8000) }}                  -> '10.0.2.21:8000'

A service listens on its host's private address and on loopback (for local checks), never on
every address; only a host known by a DNS name alone (no address in the inventory) listens on
every address (an empty list), since most services cannot bind a name.

Every role imports the base role (its shared `apt` tasks), which makes Ansible load these filters
for the whole run. preau_ops applies the same rule in Python (`inventory.Host.private_address`);
tests/unit/test_network.py checks that both agree.
"""

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

LOOPBACK = "127.0.0.1"


def preau_address(host: str, hostvars: Mapping[str, Mapping[str, Any]]) -> str:
    """The address other hosts of the platform reach `host` at."""
    variables = hostvars.get(host) or {}
    for name in ("preau_private_address", "ansible_host"):
        value = variables.get(name)
        if value:
            return str(value)
    return str(host)


def preau_addresses(hosts: Iterable[str], hostvars: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The addresses of several hosts, each once, in the hosts' order."""
    found: list[str] = []
    for host in hosts:
        address = preau_address(host, hostvars)
        if address not in found:
            found.append(address)
    return found


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def preau_listen_addresses(host: str, hostvars: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Where `host`'s services listen: its private address and loopback; [] (every address)
    when the inventory knows it by a DNS name only."""
    address = preau_address(host, hostvars)
    if not _is_ip(address):
        return []
    return [address] if address == LOOPBACK else [address, LOOPBACK]


def preau_hostport(address: str, port: int | str) -> str:
    """`address:port`, an IPv6 address in brackets; `:port` (every address) for an empty one."""
    text = str(address)
    return f"[{text}]:{port}" if ":" in text else f"{text}:{port}"


def preau_egress(
    rules: Iterable[Mapping[str, Any]],
    host: str,
    groups: Mapping[str, list[str]],
    hostvars: Mapping[str, Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """What `host` must reach of the platform: the openings of the other hosts' firewalls
    (base_firewall_rules items) whose `from_groups` take `host` in, as
    {name, proto, ports, to: [their private addresses]}. An opening to everyone or to listed
    sources only is no platform host's need: left out."""
    mine = {group for group, members in groups.items() if host in members}
    needed = []
    for rule in rules:
        clients = set(rule.get("from_groups") or [])
        if not clients & (mine | {"all"}):
            continue
        targets = groups.get("all", []) if "all" in rule["groups"] else []
        for group in rule["groups"]:
            targets = targets + list(groups.get(group, []))
        addresses = preau_addresses((t for t in targets if t != host), hostvars)
        if addresses:
            proto, ports = rule.get("proto", "tcp"), list(rule["ports"])
            needed.append({"name": rule["name"], "proto": proto, "ports": ports, "to": addresses})
    return needed


def preau_for_groups(
    rules: Iterable[Mapping[str, Any]], group_names: Iterable[str]
) -> list[Mapping[str, Any]]:
    """The rules whose `groups` name one of `group_names`, or `all`."""
    mine = set(group_names) | {"all"}
    return [rule for rule in rules if mine & set(rule["groups"])]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "preau_address": preau_address,
            "preau_addresses": preau_addresses,
            "preau_listen_addresses": preau_listen_addresses,
            "preau_hostport": preau_hostport,
            "preau_egress": preau_egress,
            "preau_for_groups": preau_for_groups,
        }
