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

from .. import audit, converge, operations, platform, runner
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
# `patch --to`: the Debian release a host may move to, from the one it runs (codenames).
NEXT_RELEASE = {"bookworm": "trixie"}
CODENAME = ". /etc/os-release && echo $VERSION_CODENAME"
# Debian's release notes' way: the sources name the new release, then a minimal upgrade, then
# the full one (which may remove packages the new release replaced); configuration files the
# roles own are kept as they are (the converge after it writes the new release's).
SOURCES = "/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources"
APT_OPTIONS = (
    "DEBIAN_FRONTEND=noninteractive apt-get -y -qq "
    "-o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef"
)
MOVE_LOG = "/var/log/preau-release-upgrade.log"
MOVE_TIMEOUT = 3600  # seconds: a whole release's packages on a slow mirror


def move_commands(old: str, new: str) -> list[str]:
    """The commands that move a host's packages from Debian `old` to `new` (codenames)."""
    sources = (
        f'for f in {SOURCES}; do [ -f "$f" ] && sed -i \'s/\\b{old}\\b/{new}/g\' "$f"; done; true'
    )
    failed = f"{{ tail -20 {MOVE_LOG}; false; }}"
    return [
        sources,
        f"{APT_OPTIONS} update >{MOVE_LOG} 2>&1 || {failed}",
        f"{APT_OPTIONS} upgrade --without-new-pkgs >>{MOVE_LOG} 2>&1 || {failed}",
        f"{APT_OPTIONS} full-upgrade >>{MOVE_LOG} 2>&1 || {failed}",
    ]


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


def refuse_unready(sessions: Sessions, hosts: list[Host], domain: str, before: str) -> None:
    """Before any change: no host's disk nearly full, every host healthy (else an OpsError
    naming it: "db is not healthy before patching: …")."""
    host.refuse_full_disks(sessions, hosts)
    for target in hosts:
        problem = healthy(sessions, target, domain)
        if problem:
            raise OpsError(
                f"{target.name} is not healthy before {before}: {problem}",
                "nothing was changed there; fix it first",
            )


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
        refuse_unready(sessions, hosts, domain, "patching")
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


def move(
    inv: Inventory,
    to: str,
    limit: str | None = None,
    progress: Progress | None = None,
    allow_downtime: bool = False,
) -> dict[str, str]:
    """`patch --to CODENAME`: the hosts moved to the next Debian release one at a time, in the
    patch order (the db hosts before the backup hosts): an app host out of the load balancers
    meanwhile, its packages moved, the release it serves installed again for the new
    release's Python, a converge of the host (the roles know both releases), a reboot, then
    health and declared state before the next.
    A host already on CODENAME is left alone; the first problem stops the run."""
    old = next((o for o, n in NEXT_RELEASE.items() if n == to), None)
    if old is None:
        known = ", ".join(f"{o} -> {n}" for o, n in NEXT_RELEASE.items())
        raise OpsError(f"no move to Debian {to!r} is known", f"known: {known}")
    hosts = patch_order(inv, limit)
    if not allow_downtime:
        _refuse_outages(inv, hosts)  # every moved host reboots
    domain = host.domain_of(next(iter(inv.hosts.values())))
    lbs = inv.hosts_in("lb")
    command = f"patch --to {to}" + (f" --limit {limit}" if limit else "")
    results: dict[str, str] = {}
    with (
        operations.operation(inv, command) as record,
        session(inv, host.unique(hosts + lbs + _backup_peers(inv))) as sessions,
    ):
        asked = host.unique(hosts + _backup_peers(inv))
        codenames = {h.name: sessions.run(h, CODENAME).stdout.strip() for h in asked}
        strangers = [
            f"{h.name} ({codenames[h.name]})" for h in hosts if codenames[h.name] not in (old, to)
        ]
        if strangers:
            raise OpsError(
                f"not on Debian {old}: " + ", ".join(strangers),
                f"nothing was changed; `patch --to {to}` moves hosts from {old} only",
            )
        pending = _backup_peers_together(
            inv, [h for h in hosts if codenames[h.name] == old], codenames, old
        )
        results = {h.name: f"already on {to}" for h in hosts if codenames[h.name] == to}
        release = _Release.serving(sessions, pending, progress)
        refuse_unready(sessions, pending, domain, "its move")
        for target in pending:
            moving = _Moving(sessions, inv, target, domain, progress)
            results[target.name] = moving.move(old, to, release)
            record.detail = "; ".join(f"{name}: {note}" for name, note in results.items())
    return results


def _backup_peers(inv: Inventory) -> list[Host]:
    """The db and backup hosts: pgBackRest's peers."""
    return host.unique(inv.hosts_in("db") + inv.hosts_in("backup"))


def _backup_peers_together(
    inv: Inventory, pending: list[Host], codenames: dict[str, str], old: str
) -> list[Host]:
    """The hosts to move, the db hosts before the backup hosts: pgBackRest runs only between
    peers of one version (2.45 on Debian 12, 2.55 on 13: "option 'lock-path' cannot be set
    multiple times"), and the backup host's converge talks to the db host, whose own does not
    talk back. Refused when a db or backup host would move while another stays on `old`
    (backups would fail until it moves). CODENAMES: every moved host's and every peer's."""
    moving = {h.name for h in pending}
    peers = {h.name for h in _backup_peers(inv)}
    left = sorted(n for n in peers - moving if codenames.get(n) == old)
    if moving & peers and left:
        raise OpsError(
            "the db and backup hosts move together (pgBackRest needs one version on both): "
            f"{', '.join(left)} would stay behind",
            "nothing was changed; add them to --limit (they reboot: --allow-downtime)",
        )
    return sorted(pending, key=lambda h: "backup" in h.groups and "db" not in h.groups)


class _Release:
    """The release the app hosts serve, and its wheelhouse built here: installed again on a
    moved app host, whose new Python cannot use the venvs made by the old one."""

    def __init__(self, version: str, tarball: Path, dependencies: str) -> None:
        self.version, self.tarball, self.dependencies = version, tarball, dependencies

    @classmethod
    def serving(
        cls, sessions: Sessions, hosts: list[Host], progress: Progress | None
    ) -> _Release | None:
        from .build import build_wheelhouse, dependencies_id, source_version

        apps = [h for h in hosts if "app" in h.groups]
        serving = {
            h.name: host.host_releases(sessions, h).current
            for h in apps
            if sessions.run(h, f"test -e {host.CURRENT}", check=False).ok
        }
        if not serving:
            return None
        version = source_version()
        others = {name: v for name, v in serving.items() if v != version}
        if others:
            listed = ", ".join(f"{name} serves {v}" for name, v in others.items())
            raise OpsError(
                f"the app's source here is version {version}; {listed}",
                "nothing was changed; a moved app host gets the release it serves installed "
                "again from this source: check out the source of the version served, or "
                "`deploy.py release` this one first",
            )
        say(progress, f"building wheelhouse {version} (installed again on each app host)")
        return cls(version, build_wheelhouse(version), dependencies_id())

    def reinstall(self, inv: Inventory, target: Host, progress: Progress | None) -> None:
        """Installed again on one moved host, in a pyinfra state of its own: the operations of
        an install run once per state (a second host's install in the move's state failed:
        "Cannot complete an already complete operation")."""
        with session(inv, [target]) as own:
            host.reinstall(own, target, self.version, self.tarball, self.dependencies, progress)


class _Moving(_Patching):
    """One host's move to the next Debian release."""

    def move(self, old: str, to: str, release: _Release | None) -> str:
        sessions, target = self.sessions, self.target
        lbs, app_hosts = self.inv.hosts_in("lb"), self.inv.hosts_in("app")
        started = time.monotonic()
        with host.drained(sessions, lbs, target, app_hosts, self.progress, True) as out:
            for step, command in zip(
                ("sources", "update", "upgrade", "full-upgrade"),
                move_commands(old, to),
                strict=True,
            ):
                say(self.progress, f"{target.name}: {step} ({old} -> {to})")
                sessions.run(target, command, timeout=MOVE_TIMEOUT)
            if release is not None and "app" in target.groups:
                say(self.progress, f"{target.name}: release {release.version} for its new Python")
                release.reinstall(self.inv, target, self.progress)
            say(self.progress, f"{target.name}: converge on {to}")
            converge.forget_facts(self.inv, target.name)
            result = converge.run_playbook(self.inv, limit=target.name, progress=self.progress)
            if result.failed:
                raise OpsError(
                    f"{target.name}: the converge after its move to {to} failed: "
                    + result.errors()[-1500:],
                    "stopped here; hosts after it were not touched; fix, then "
                    f"`deploy.py converge --limit {target.name}`",
                )
            # then the reboot: the host starts on the new release in its declared state
            self.reboot()
            self.check(out)
        seconds = time.monotonic() - started
        note = f"moved to {to} in {seconds:.0f} s, converged ({result.changed} change(s))"
        return note + (", out of the load balancer meanwhile" if out else "")
