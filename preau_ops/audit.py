"""Verifying live state with pytest-testinfra, read-only, from the one inventory."""
from __future__ import annotations

from .inventory import Host


def testinfra_host(host: Host, sudo: bool = False):
    """A testinfra Host over OpenSSH with the inventory's user, key and known hosts."""
    import testinfra

    extra = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
    if host.known_hosts_file:
        extra += ["-o", f"UserKnownHostsFile={host.known_hosts_file}",
                  "-o", "StrictHostKeyChecking=yes"]
    return testinfra.get_host(
        f"ssh://{host.user}@{host.address}:{host.port}",
        ssh_identity_file=host.key_file, ssh_extra_args=" ".join(extra), sudo=sudo)
