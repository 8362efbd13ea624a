"""`deploy.py release`: ship the app to every app host, one host at a time.

A release is built once on the controller (build.py), for Debian 12's and 13's app hosts
alike. Switching a host: the new release is first started on a canary port and checked
(`/readyz` and a real page) before it takes traffic; then the host leaves the load balancers,
`current` moves and the service restarts through socket activation (systemd keeps the
listening socket, so connections queue instead of failing); then the host is checked again
and comes back. A failed check switches the host back
and stops the release; hosts already switched are switched back too, so every host serves the
same version. Migrations: expand before the first switch, contract once every host serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import operations
from ..console import Progress
from ..errors import OpsError
from ..inventory import Host, Inventory
from ..preconditions import refuse_bad_clocks
from ..runner import Sessions, session
from . import decisions, host
from .build import APP_DIR, build_wheelhouse, dependencies_id, source_version
from .decisions import HostReleases
from .host import say


@dataclass
class ReleaseReport:
    version: str
    switched: list[str]
    unchanged: list[str]
    removed: dict[str, list[str]]


@dataclass
class _Run:
    """One release under way: where, what, and what the hosts served before it."""

    sessions: Sessions
    inv: Inventory
    hosts: list[Host]
    lbs: list[Host]
    version: str
    domain: str
    before: dict[str, HostReleases]


def release(
    inv: Inventory,
    source: Path = APP_DIR,
    progress: Progress | None = None,
    allow_contract: bool = False,
) -> ReleaseReport:
    """Ship the app in `source` to every app host, one host at a time; a release whose
    migrations contract the schema is refused unless `allow_contract`."""
    hosts = inv.hosts_in("app")
    if not hosts:
        raise OpsError(f"inventory {inv.name} has no host in group app")
    keep = int(hosts[0].vars.get("preau_release_keep", 5))
    version = source_version(source)
    say(progress, f"building wheelhouse {version}")
    tarball = build_wheelhouse(version, source)
    lbs = inv.hosts_in("lb")
    with (
        operations.operation(inv, f"release {version}") as record,
        session(inv, host.unique(hosts + lbs)) as sessions,
    ):
        host.refuse_full_disks(sessions, hosts)
        refuse_bad_clocks(sessions, host.unique(hosts + lbs))  # TLS, sessions, the logs
        before = {h.name: host.host_releases(sessions, h) for h in hosts}
        plan = decisions.switch_plan({n: r.current for n, r in before.items()}, version)
        run = _Run(sessions, inv, hosts, lbs, version, host.domain_of(hosts[0]), before)
        if not plan.nothing_to_ship:
            host.install(sessions, hosts, version, tarball, dependencies_id(source), progress)
            record.detail = _refuse_contract(run, allow_contract, progress)
            _ship(run, plan, progress)
        removed = {h.name: host.prune(sessions, h, keep) for h in hosts}
        switched = f"switched {', '.join(plan.switch)}" if plan.switch else "already serving"
        record.detail = "; ".join(filter(None, [switched, record.detail]))
    return ReleaseReport(version, plan.switch, plan.unchanged, removed)


def _refuse_contract(run: _Run, allow: bool, progress: Progress | None) -> str:
    """Read the release's migration plan on the first app host; refuse a contract one (its
    files removed again, nothing else changed) unless allowed. The contract migrations
    allowed, for the operations log (empty: none)."""
    say(progress, f"classifying the migrations of {run.version}")
    migrations = host.migration_plan(run.sessions, run.hosts[0], run.version)
    serving = run.before[run.hosts[0].name].current
    refusal = decisions.contract_refusal(migrations, run.version, serving)
    if refusal is None:
        return ""
    if not allow:
        for app in run.hosts:
            host.remove(run.sessions, app, run.version, check=False)
        raise refusal
    return "contract allowed: " + decisions.contract_listing(migrations)


def _ship(run: _Run, plan: decisions.SwitchPlan, progress: Progress | None) -> None:
    """Expand, switch the hosts of the plan one by one, contract."""
    first, last = plan.migration_phases
    say(progress, f"database migrations ({first})")
    host.migrate(run.sessions, run.hosts[0], run.version, first)
    switched: list[str] = []
    for name in plan.switch:
        problem = _switch_one(run, run.inv.hosts[name], progress)
        if problem is not None:
            _fail(run, name, switched, problem)
        switched.append(name)
    say(progress, f"database migrations ({last})")
    try:
        host.migrate(run.sessions, run.hosts[0], run.version, last)
    except OpsError as error:
        raise OpsError(
            f"release {run.version} serves on every app host, but its {last} "
            f"migrations failed: {error.message}",
            f"fix it, then on an app host, as root: `{host.migrate_command(host.CURRENT, last)}`",
        ) from error


def _switch_one(run: _Run, target: Host, progress: Progress | None) -> str | None:
    """Canary, then the switch while out of the load balancers: the problem, or None.
    A host whose switch fails is switched back before it takes traffic again."""
    say(progress, f"{target.name}: checking {run.version} on the canary port")
    problem = host.canary(run.sessions, target, run.version, run.domain)
    if problem is not None:
        return problem
    with host.drained(run.sessions, run.lbs, target, run.hosts, progress):
        say(progress, f"{target.name}: switching to {run.version}")
        problem = host.switch(run.sessions, target, run.version, run.domain)
        if problem is not None:
            switch_back(run, [target.name], drain=False)
    return problem


def _fail(run: _Run, name: str, switched: list[str], problem: str) -> None:
    """Every switched host back to its release, the failed release's files gone, an error."""
    restored = switch_back(run, switched, drain=True)
    restored.insert(0, decisions.restored_note(name, run.before[name].current, "nothing"))
    # a release that failed is never a rollback target: its files go
    for app in run.hosts:
        host.remove(run.sessions, app, run.version, check=False)
    raise OpsError(
        f"release {run.version} failed its health check on {name}: {problem}",
        "switched back: "
        + (", ".join(restored) or "none")
        + "; every host serves its previous release",
    )


def switch_back(run: _Run, names: list[str], drain: bool) -> list[str]:
    """Hosts in `names` back to the release they served before (out of the load balancers
    meanwhile when `drain`)."""
    restored = []
    for name in names:
        target, previous = run.inv.hosts[name], run.before[name].current
        lbs, app_hosts = (run.lbs, run.hosts) if drain else ([], [])
        with host.drained(run.sessions, lbs, target, app_hosts):
            host.restore(run.sessions, target, previous)
        restored.append(decisions.restored_note(name, previous))
    return restored
