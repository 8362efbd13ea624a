"""Packages and time on the private network (issue #21 item 6): every host but the ops host
fetches Debian's packages through the platform's apt proxy and takes its time from the
platform's time server (role base, wiring.yml); the clock is right, and synchronised on real
hosts (a container's clock is the machine's: the evidence says it was not checked)."""

from __future__ import annotations

import re
import time

import pytest

from preau_ops import preconditions
from preau_ops.audit.catalogue import Evidence
from preau_ops.audit.remote import Remote
from preau_ops.inventory import Host, Inventory

control = pytest.mark.control


def _served_by(host: Host, inv: Inventory, variable: str) -> Host | None:
    """The host the inventory names in `variable` (wiring: the ops host), unless it is this one."""
    name = host.vars.get(variable) or ""
    return inv.hosts[name] if name in inv.hosts and name != host.name else None


def _private(host: Host) -> str:
    return str(host.vars.get("preau_private_address") or host.address)


@control(
    "TIME-01",
    "Clock right and synchronised from the platform's time server",
    "Issue #21 item 6 (time checked before TLS, Patroni, backups); declared state (role base)",
    groups=("all",),
)
def test_clock(host: Host, remote: Remote, inv: Inventory, evidence: Evidence) -> None:
    config = remote.read("/etc/chrony/chrony.conf") or ""
    sources = re.findall(r"^(?:server|pool)\s+(\S+)", config, re.MULTILINE)
    server = _served_by(host, inv, "base_time_server_host")
    evidence(f"chrony sources: {', '.join(sources) or 'none'}")
    problems = []
    if server is not None and sources != [_private(server)]:
        problems.append(f"chrony should sync from {server.name} ({_private(server)}) alone")
    seen = preconditions.read_clock(host, remote.out(preconditions.CLOCK_COMMAND), time.time())
    evidence(f"offset to the controller: {seen.offset:+.1f} s" if seen.offset is not None else "")
    if problem := preconditions.clock_problem(seen):
        problems.append(problem)
    if note := preconditions.clock_note([seen]):
        evidence(note)
    else:
        tracking = remote.run("chronyc -n tracking")
        evidence("chronyc tracking: " + " / ".join(tracking.stdout.strip().splitlines()[:4]))
    assert not problems, "; ".join(problems)


@control(
    "APT-01",
    "Debian's packages only through the platform's apt proxy",
    "Issue #21 item 6 (packages on a private network); declared state (roles base, apt_proxy)",
    groups=("all",),
)
def test_apt_proxy(host: Host, remote: Remote, inv: Inventory, evidence: Evidence) -> None:
    proxy = remote.out("apt-config dump Acquire::http::Proxy").strip()
    evidence(f"apt: {proxy or 'no proxy'}")
    server = _served_by(host, inv, "base_apt_proxy_host")
    if server is None:
        assert "Acquire::http::Proxy" not in proxy, "the proxy host itself goes to the mirrors"
        return
    port = host.vars.get("base_apt_proxy_port", 3142)
    wanted = f'Acquire::http::Proxy "http://{_private(server)}:{port}";'
    assert proxy == wanted, f"apt should fetch through {server.name}: {wanted}"
