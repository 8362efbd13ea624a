"""`deploy.py patch`: rolling OS updates, one host at a time, reboots included.

Hosts go in the platform map's patch order (what serves users last); each is health-checked
before anything starts and after its upgrade, services are restarted as needrestart says, and
an app host is out of the load balancers meanwhile. Updates that need a new package (a new
kernel's) are applied too (`upgrade --with-new-pkgs`: never removes a package, unlike
`full-upgrade`). A host is rebooted when it needs it (or always with --reboot, never with
--no-reboot), unless that would stop the ENT (the only lb, the database: --allow-downtime in a
maintenance window). After each host its declared state is audited (DECL controls: packages,
units, listening ports) before the next one. The first problem stops the run.
"""

from __future__ import annotations

import time
from pathlib import Path

from .. import audit, operations, platform, runner
from ..console import Progress
from ..errors import OpsError
from ..inventory import Host, Inventory
from ..paths import ARTIFACTS
from ..runner import Sessions, session
from . import decisions, host
from .host import say

UPGRADE = (
    "DEBIAN_FRONTEND=noninteractive apt-get update -qq && "
    "DEBIAN_FRONTEND=noninteractive apt-get -y -qq "
    "-o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef "
    "upgrade --with-new-pkgs >/tmp/preau-patch.log 2>&1 || { tail -20 /tmp/preau-patch.log; false; }"
)
UPGRADED = "grep -c '^Setting up' /tmp/preau-patch.log || true"
# -r a: restart the services still running old libraries; -b: batch output
NEEDRESTART = "needrestart -r a -b 2>/dev/null || true"
REBOOT_REQUIRED = "test -e /run/reboot-required && echo yes || true"  # Debian's flag file
# Which boot this is: the kernel's boot id, and when PID 1 started (a container restarted by a
# "reboot" in the lab keeps the kernel, not its PID 1).
BOOT_MARKER = "cat /proc/sys/kernel/random/boot_id; cut -d' ' -f22 /proc/1/stat"
# In a second, so that the command returns before the connection goes.
REBOOT = "systemd-run --quiet --on-active=1 --timer-property=AccuracySec=100ms systemctl reboot"
UPGRADE_TIMEOUT = 1800  # seconds: a large upgrade on a slow mirror
NEEDRESTART_TIMEOUT = 600
REBOOT_TIMEOUT = 900  # seconds a host may take to come back (firmware, fsck)
DECLARED_CONTROLS = ["DECL"]  # the audit's declared-state controls, run after each host
REPORTS = ARTIFACTS / "patch"


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
    inv: Inventory,
    limit: str | None = None,
    progress: Progress | None = None,
    reboot: str = "auto",
    allow_downtime: bool = False,
) -> dict[str, str]:
    """Rolling updates: one host at a time, services restarted as needrestart says, rebooted
    as `reboot` says, health-checked and audited before moving on; stops at the first
    problem."""
    decisions.reboot_wanted(reboot, False)  # a bad mode fails before anything starts
    hosts = patch_order(inv, limit)
    domain = host.domain_of(next(iter(inv.hosts.values())))
    results: dict[str, str] = {}
    lbs = inv.hosts_in("lb")
    command = "patch" + (f" --limit {limit}" if limit else "")
    command += {"always": " --reboot", "never": " --no-reboot"}.get(reboot, "")
    if reboot == "always" and not allow_downtime:
        _refuse_outages(inv, hosts)
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
            patching = _Patching(sessions, inv, target, domain, progress)
            results[target.name] = patching.run(reboot, allow_downtime)
            record.detail = "; ".join(f"{name}: {note}" for name, note in results.items())
    return results


def _refuse_outages(inv: Inventory, hosts: list[Host]) -> None:
    """--reboot of a host no other host stands in for: refused before anything starts."""
    stops = [
        f"{h.name} ({outage})"
        for h in hosts
        if (outage := decisions.reboot_outage(h.groups, inv.groups)) is not None
    ]
    if stops:
        raise OpsError(
            "rebooting would stop the ENT: " + "; ".join(stops),
            "nothing was changed. Patch the other hosts with --limit, and these in a "
            "maintenance window with --allow-downtime",
        )


class _Patching:
    """One host's turn: upgrade, restarts, reboot if wanted, health, declared state."""

    def __init__(
        self,
        sessions: Sessions,
        inv: Inventory,
        target: Host,
        domain: str,
        progress: Progress | None,
    ) -> None:
        self.sessions, self.inv, self.target = sessions, inv, target
        self.domain, self.progress = domain, progress

    def run(self, reboot: str, allow_downtime: bool) -> str:
        """Upgrade the host (an app host out of the load balancers meanwhile); its summary."""
        sessions, target = self.sessions, self.target
        lbs, app_hosts = self.inv.hosts_in("lb"), self.inv.hosts_in("app")
        with host.drained(sessions, lbs, target, app_hosts, self.progress, True) as out:
            say(self.progress, f"{target.name}: apt-get update && upgrade")
            sessions.run(target, UPGRADE, timeout=UPGRADE_TIMEOUT)
            upgraded = sessions.run(target, UPGRADED, check=False).stdout
            say(self.progress, f"{target.name}: needrestart")
            needs = sessions.run(target, NEEDRESTART, check=False, timeout=NEEDRESTART_TIMEOUT)
            flag = sessions.run(target, REBOOT_REQUIRED, check=False).stdout.strip() == "yes"
            required = flag or decisions.kernel_waits(needs.stdout)
            outage = decisions.reboot_outage(target.groups, self.inv.groups)
            rebooted = decisions.reboot_wanted(reboot, required) and (
                outage is None or allow_downtime
            )
            if rebooted:
                self.reboot()
            self.check(out)
        return decisions.patch_note(upgraded, out, required, rebooted)

    def reboot(self) -> None:
        """Reboot the host and wait until it is back on a new boot (reconnected)."""
        sessions, target = self.sessions, self.target
        before = sessions.run(target, BOOT_MARKER).stdout
        say(self.progress, f"{target.name}: rebooting")
        sessions.run(target, REBOOT)
        jump = runner.bastion(self.inv)
        if jump is not None and jump.name != target.name:
            jump = None  # the bastion stays up: only the target's connection is renewed
        through = sessions.hosts if jump is not None else [target]
        started = time.monotonic()
        while True:
            time.sleep(runner.RECONNECT_PAUSE)
            left = REBOOT_TIMEOUT - (time.monotonic() - started)
            if left <= 0:
                raise OpsError(
                    f"{target.name} did not come back within {REBOOT_TIMEOUT} s of its reboot",
                    "stopped here; check its console; hosts after it were not touched",
                )
            if jump is not None:
                runner.close_jump(jump)  # the bastion: every connection went through it
            sessions.reconnect(through, left)
            if sessions.run(target, BOOT_MARKER, check=False).stdout not in ("", before):
                break
        say(self.progress, f"{target.name}: back after {time.monotonic() - started:.0f} s")

    def check(self, drained: bool) -> None:
        """Health, then the declared state (the audit's DECL controls): an OpsError naming
        what differs, the host left out of the load balancer."""
        target = self.target
        back = f"`{host.DRAIN} {target.name} off` on the lb hosts puts it back"
        after = "stopped here; hosts after it were not touched" + (
            f"; it stays out of the load balancer ({back})" if drained else ""
        )
        problem = healthy(self.sessions, target, self.domain)
        if problem:
            raise OpsError(f"{target.name} is unhealthy after patching: {problem}", after)
        say(self.progress, f"{target.name}: declared state (audit {', '.join(DECLARED_CONTROLS)})")
        differs = declared_state_problems(self.inv, target)
        if differs:
            raise OpsError(
                f"{target.name} differs from its declared state after patching: "
                + "; ".join(differs),
                f"{after}; report: {REPORTS / target.name}; "
                f"`deploy.py converge --limit {target.name}` puts the declared state back",
            )


def declared_state_problems(inv: Inventory, target: Host) -> list[str]:
    """What the audit's declared-state controls find wrong on the host (none: [])."""
    report: Path = REPORTS / target.name
    result = audit.run(
        inv,
        limit=target.name,
        controls=DECLARED_CONTROLS,
        report_dir=report,
        workers=1,
        keep_history=False,  # patch's own check, not an audit to compare the next one with
    )
    failed = [
        f"{row['control']} {row['message']}"
        for row in result.data.get("results", [])
        if row.get("status") == "failed"
    ]
    return failed or ([] if result.code == 0 else [f"the audit failed (exit {result.code})"])
