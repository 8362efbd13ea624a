"""Outbound traffic (issue #23 item 6): the app and db hosts (base_egress_groups) drop what
they send by default and reach, of the platform, exactly what the other hosts' firewalls open
to them (roles/base: the output chain of templates/nftables.conf.j2, filter preau_egress)."""

from __future__ import annotations

import re

import pytest

from preau_ops.audit.catalogue import Evidence
from preau_ops.audit.remote import Remote
from preau_ops.inventory import Host, Inventory

from .. import declared

control = pytest.mark.control

Destination = tuple[str, int, str]  # proto, port, address ("*": anywhere)


def needed(inv: Inventory, host: Host) -> set[Destination]:
    """What `host` must reach of the platform: each other host's declared openings whose
    sources name `host`'s private address."""
    found = set()
    for peer in inv.hosts.values():
        if peer.name == host.name:
            continue
        for (proto, port), sources in declared.openings(inv, peer).items():
            if sources and host.private_address in sources:
                found.add((proto, port, peer.private_address))
    return found


def output_chain(ruleset: str) -> tuple[str | None, set[Destination]]:
    """(policy, accepted destinations) of the preau_filter output chain (`nft list ruleset`)."""
    chain = re.search(r"chain output \{(.*?)\n\s*\}", ruleset, re.S)
    if not chain:
        return None, set()
    policy = re.search(r"policy (\w+);", chain.group(1))
    accepted: set[Destination] = set()
    for line in chain.group(1).splitlines():
        rule = re.search(
            r"(?:ip6? daddr (\{[^}]*\}|\S+) )?(tcp|udp) dport (\{[^}]*\}|\d+) accept", line
        )
        if not rule:
            continue
        addresses = [a.strip() for a in (rule.group(1) or "*").strip("{}").split(",")]
        for port in rule.group(3).strip("{}").split(","):
            accepted |= {(rule.group(2), int(port), address) for address in addresses}
    return (policy.group(1) if policy else None), accepted


def egress_problems(
    inv: Inventory, host: Host, policy: str | None, accepted: set[Destination]
) -> list[str]:
    """What differs from the declared egress: the policy, a missing or an undeclared platform
    destination (destinations outside the platform are the evidence's)."""
    if policy != "drop":
        return [f"output policy is {policy}, not drop"]
    platform = {h.private_address for h in inv.hosts.values()}
    live = {d for d in accepted if d[2] in platform}
    wanted = needed(inv, host)
    problems = [
        f"declared {p}/{proto} to {a} not accepted" for proto, p, a in sorted(wanted - live)
    ]
    problems += [f"undeclared {p}/{proto} to {a} accepted" for proto, p, a in sorted(live - wanted)]
    return problems


@control(
    "EGRESS-01",
    "App and db hosts send only what the platform declares (default-deny output)",
    "ANSSI-BP-028 R80 (network attack surface); issue #23 item 6",
    groups=("app", "db"),
)
def test_egress(inv: Inventory, host: Host, remote: Remote, evidence: Evidence) -> None:
    if not declared.in_groups(host, declared.var(host, "base_egress_groups", []) or []):
        pytest.skip("not an egress-restricted host (base_egress_groups)")
    ruleset = remote.root_out("/usr/sbin/nft list ruleset")
    assert ruleset is not None, "sudo refused `nft list ruleset`"
    policy, accepted = output_chain(ruleset)
    platform = {h.private_address for h in inv.hosts.values()}
    evidence(f"output policy: {policy}")
    outside = sorted(f"{p}/{proto} to {a}" for proto, p, a in accepted if a not in platform)
    evidence("outside the platform: " + (", ".join(outside) or "nothing"))
    problems = egress_problems(inv, host, policy, accepted)
    assert not problems, "; ".join(problems)
