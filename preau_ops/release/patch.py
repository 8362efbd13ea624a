"""`deploy.py patch`: rolling OS security updates, one host at a time.

Hosts go in the platform map's patch order (what serves users last); each is health-checked
before anything starts and after its upgrade, services are restarted as needrestart says, and
an app host is out of the load balancers meanwhile. The first unhealthy host stops the run.
"""

from __future__ import annotations

from .. import operations, platform
from ..console import Progress
from ..errors import OpsError
from ..inventory import Host, Inventory
from ..runner import Sessions, session
from . import decisions, host
from .host import say

UPGRADE = (
    "DEBIAN_FRONTEND=noninteractive apt-get update -qq && "
    "DEBIAN_FRONTEND=noninteractive apt-get -y -qq "
    "-o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef "
    "upgrade >/tmp/preau-patch.log 2>&1 || { tail -20 /tmp/preau-patch.log; false; }"
)
UPGRADED = "grep -c '^Setting up' /tmp/preau-patch.log || true"
# -r a: restart the services still running old libraries; -b: batch output
NEEDRESTART = "needrestart -r a -b 2>/dev/null || true"
UPGRADE_TIMEOUT = 1800  # seconds: a large upgrade on a slow mirror
NEEDRESTART_TIMEOUT = 600


def patch_order(inv: Inventory, limit: str | None) -> list[Host]:
    """The hosts `limit` chooses, in the platform map's patch order."""
    chosen = {h.name for h in inv.limited(limit)}
    order = decisions.patch_order(platform.patch_order(), inv.groups, chosen)
    return [inv.hosts[name] for name in order]


def healthy(sessions: Sessions, target: Host, domain: str) -> str | None:
    """None when what this host serves answers; else what does not."""
    for what, command in decisions.health_checks(target.groups):
        result = sessions.run(target, command, check=False)
        problem = decisions.health_problem(what, result.ok, result.stdout)
        if problem:
            return problem
    if "app" in target.groups and sessions.run(target, f"test -e {host.CURRENT}", check=False).ok:
        return host.check(sessions, target, host.APP_PORT, domain)
    return None


def patch(
    inv: Inventory, limit: str | None = None, progress: Progress | None = None
) -> dict[str, str]:
    """Rolling security updates: one host at a time, services restarted as needrestart says,
    health-checked before moving on; stops at the first unhealthy host."""
    hosts = patch_order(inv, limit)
    domain = host.domain_of(next(iter(inv.hosts.values())))
    results: dict[str, str] = {}
    lbs = inv.hosts_in("lb")
    command = "patch" + (f" --limit {limit}" if limit else "")
    with (
        operations.operation(inv, command) as record,
        session(inv, host.unique(hosts + lbs)) as sessions,
    ):
        host.refuse_full_disks(sessions, hosts)
        for target in hosts:
            problem = healthy(sessions, target, domain)
            if problem:
                raise OpsError(
                    f"{target.name} is not healthy before patching: {problem}",
                    "nothing was patched there; fix it first",
                )
        for target in hosts:
            results[target.name] = _patch_one(sessions, inv, target, domain, progress)
            record.detail = "; ".join(f"{name}: {note}" for name, note in results.items())
    return results


def _patch_one(
    sessions: Sessions, inv: Inventory, target: Host, domain: str, progress: Progress | None
) -> str:
    """Upgrade one host (an app host out of the load balancers meanwhile); its summary line."""
    lbs, app_hosts = inv.hosts_in("lb"), inv.hosts_in("app")
    with host.drained(sessions, lbs, target, app_hosts, progress, keep_out_on_error=True) as out:
        say(progress, f"{target.name}: apt-get update && upgrade")
        sessions.run(target, UPGRADE, timeout=UPGRADE_TIMEOUT)
        upgraded = sessions.run(target, UPGRADED, check=False).stdout
        say(progress, f"{target.name}: needrestart")
        needs = sessions.run(target, NEEDRESTART, check=False, timeout=NEEDRESTART_TIMEOUT).stdout
        note = decisions.patch_note(upgraded, out, decisions.kernel_waits(needs))
        problem = healthy(sessions, target, domain)
        if problem:
            back = f"`{host.DRAIN} {target.name} off` on the lb hosts puts it back"
            raise OpsError(
                f"{target.name} is unhealthy after patching: {problem}",
                "stopped here; hosts after it were not touched"
                + (f"; it stays out of the load balancer ({back})" if out else ""),
            )
    return note
