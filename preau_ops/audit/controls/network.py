"""Per-host control of the two networks (issue #21): services listen on the host's private
address or on loopback, never on every address, except the declared public ones."""

from __future__ import annotations

import pytest

from preau_ops.audit.catalogue import Evidence
from preau_ops.audit.remote import Remote
from preau_ops.inventory import Host, Inventory

from .. import declared
from .system import _loopback, listening_sockets

control = pytest.mark.control


def stray_listeners(
    listeners: list[tuple[str, str, int, str]], private: str, public: set[tuple[str, int]]
) -> list[str]:
    """The (proto, address, port, process) listeners that are neither on the private address
    nor on loopback nor a declared public port, as `process on address:port/proto`."""
    return [
        f"{process} on {address}:{port}/{proto}"
        for proto, address, port, process in listeners
        if not (_loopback(address) or address == private or (proto, port) in public)
    ]


@control(
    "NET-01",
    "Services listen on the private address or loopback (declared public ports excepted)",
    "Issue #21 item 3 (host-to-host traffic on the private network); ANSSI-BP-028 R80",
)
def test_private_bindings(inv: Inventory, host: Host, remote: Remote, evidence: Evidence) -> None:
    listeners = listening_sockets(remote)
    public = declared.public_ports(inv, host)
    evidence(f"private address {host.private_address}; {len(listeners)} listening sockets")
    evidence("public (every address): " + ", ".join(f"{p}/{proto}" for proto, p in sorted(public)))
    stray = stray_listeners(listeners, host.private_address, public)
    assert not stray, "listening beyond the private address and loopback: " + "; ".join(stray)
