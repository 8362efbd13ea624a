"""One-off procedures run over SSH with Fabric (establishments, backups, diagnostics).

Connections are built from the one inventory, with the same user, key and known hosts as
every other tool; an unknown host key is refused, never silently added.
"""
from __future__ import annotations

from .errors import OpsError
from .inventory import Host, Inventory


def connect(host: Host):
    """A Fabric Connection to an inventory host."""
    import paramiko
    from fabric import Connection

    kwargs = {"look_for_keys": host.key_file is None, "allow_agent": host.key_file is None}
    if host.key_file:
        kwargs["key_filename"] = host.key_file
    connection = Connection(host=host.address, user=host.user, port=host.port,
                            connect_kwargs=kwargs, connect_timeout=10)
    connection.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    if host.known_hosts_file:
        connection.client.load_host_keys(host.known_hosts_file)
    return connection


def run_everywhere(inv: Inventory, command: str, hosts: list[Host] | None = None) -> dict:
    """Run a read-only command on each host; {host: stdout}. Raises on the first failure."""
    outputs = {}
    for host in (hosts if hosts is not None else inv.hosts.values()):
        try:
            with connect(host) as connection:
                result = connection.run(command, hide=True, warn=True, in_stream=False)
        except Exception as exc:  # paramiko/socket errors: say which host
            raise OpsError(f"{host.name} ({host.address}): cannot connect over SSH: {exc}")
        if result.return_code != 0:
            raise OpsError(f"{host.name}: `{command}` failed ({result.return_code}): "
                           f"{result.stderr.strip()}")
        outputs[host.name] = result.stdout.strip()
    return outputs
