"""Maintenance: shipping changes to hosts with pyinfra (app releases, rolling patching).

The inventory loaded by `preau_ops.inventory` is handed to pyinfra as is: same hosts, same
groups, same variables, same SSH settings.
"""
from __future__ import annotations

import contextlib

from .errors import OpsError
from .inventory import Host, Inventory


def _connection_data(host: Host) -> dict:
    data = {"ssh_hostname": host.address, "ssh_port": host.port, "ssh_user": host.user,
            "_sudo": host.user != "root"}
    if host.key_file:
        data["ssh_key"] = host.key_file
    if host.known_hosts_file:
        data["ssh_known_hosts_file"] = host.known_hosts_file
        data["ssh_strict_host_key_checking"] = "yes"
    return data


@contextlib.contextmanager
def pyinfra_state(inv: Inventory, hosts: list[Host] | None = None):
    """A connected pyinfra State for the given hosts (default: all), disconnected on exit."""
    from pyinfra.api import Config, State
    from pyinfra.api import Inventory as PyinfraInventory
    from pyinfra.api.connect import connect_all, disconnect_all

    hosts = list(inv.hosts.values()) if hosts is None else hosts
    names = {h.name for h in hosts}
    entries = [(h.name, {**h.vars, **_connection_data(h)}) for h in hosts]
    groups = {group: ([m for m in members if m in names], {})
              for group, members in inv.groups.items()}
    pyinfra_inv = PyinfraInventory((entries, {}), **groups)
    state = State(pyinfra_inv, Config(PARALLEL=max(1, len(hosts))))
    connect_all(state)
    failed = [h.name for h in hosts if pyinfra_inv.get_host(h.name) not in state.activated_hosts]
    try:
        if failed:
            raise OpsError("pyinfra could not connect to: " + ", ".join(failed))
        yield state
    finally:
        disconnect_all(state)


def read_fact(inv: Inventory, fact_name: str, hosts: list[Host] | None = None) -> dict:
    """{host: value} of a pyinfra fact, e.g. read_fact(inv, "server.Hostname")."""
    import importlib

    from pyinfra.api.facts import get_facts

    module, _, cls = fact_name.rpartition(".")
    fact = getattr(importlib.import_module(f"pyinfra.facts.{module}"), cls)
    with pyinfra_state(inv, hosts) as state:
        values = get_facts(state, fact)
        return {host.name: value for host, value in values.items()}
