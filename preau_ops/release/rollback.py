"""`deploy.py rollback`: every app host back to its previous release, one at a time.

Refused before any change when a host has no previous release (decisions.rollback_plan) or
when the previous release does not start on a host's canary port.
"""

from __future__ import annotations

from .. import operations
from ..console import Progress
from ..errors import OpsError
from ..inventory import Inventory
from ..runner import session
from . import decisions, host
from .host import say


def rollback(inv: Inventory, progress: Progress | None = None) -> dict[str, str]:
    """Every app host back to its previous release, one at a time, health-checked."""
    hosts = inv.hosts_in("app")
    lbs = inv.hosts_in("lb")
    domain = host.domain_of(hosts[0])
    with (
        operations.operation(inv, "rollback") as record,
        session(inv, host.unique(hosts + lbs)) as sessions,
    ):
        plan = decisions.rollback_plan({h.name: host.host_releases(sessions, h) for h in hosts})
        current, previous = plan[hosts[0].name]
        if current is not None:  # one database: the first host's releases judge for all
            say(progress, f"checking that {previous} can run on the schema {current} left")
            refusal = host.rollback_refusal(sessions, hosts[0], current, previous)
            if refusal:
                raise OpsError(
                    f"rollback to {previous} refused: {refusal}",
                    "nothing was changed. A migration applied since removed or changed what "
                    f"{previous} reads: fix forward with a new release, or restore the database "
                    "to before it (`deploy.py backup restore --to TIME`, losing what was written "
                    "since) and roll back then",
                )
        for target in hosts:  # the previous release must start before any host goes back to it
            previous = plan[target.name][1]
            say(progress, f"{target.name}: checking {previous} on the canary port")
            problem = host.canary(sessions, target, previous, domain)
            if problem:
                raise OpsError(
                    f"{previous} does not start on {target.name}: {problem}",
                    "nothing was changed; every host serves its current release",
                )
        for target in hosts:
            current, previous = plan[target.name]
            say(progress, f"{target.name}: {current} → {previous}")
            with host.drained(sessions, lbs, target, hosts, progress):
                problem = host.switch(sessions, target, previous, domain)
                if problem:
                    host.restore(sessions, target, current)
            if problem:
                raise OpsError(
                    f"rollback to {previous} failed on {target.name}: {problem}",
                    f"{target.name} was switched back to {current}",
                )
        record.detail = ", ".join(f"{n}: {c} → {p}" for n, (c, p) in plan.items())
    return {name: previous for name, (_, previous) in plan.items()}
