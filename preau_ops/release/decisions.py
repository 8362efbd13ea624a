"""Every decision a release, a rollback or a patch makes, as pure functions (no I/O).

The host modules read the hosts and act; what to do with what they read is decided here, so
each rule is unit-tested case by case (tests/unit/test_release_decisions.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..errors import OpsError

# Migrations (app core.migration_phases): expand before the first host switches, contract once
# every app host runs the new code.
BEFORE_SWITCH = "expand"
AFTER_SWITCH = "contract"

# needrestart -b: kernel state 2 (ABI-compatible upgrade) or 3 (version upgrade) wait for a reboot.
KERNEL_WAITING = ("NEEDRESTART-KSTA: 3", "NEEDRESTART-KSTA: 2")


@dataclass(frozen=True)
class HostReleases:
    """What a host has: the release `current` points at and the complete ones, oldest first."""

    current: str | None
    installed: list[str]

    def previous(self) -> str | None:
        """The release installed just before the current one (rollback target), if any."""
        older = [r for r in self.installed if r != self.current]
        if self.current in self.installed:
            older = self.installed[: self.installed.index(self.current)]
        return older[-1] if older else None


def parse_host_releases(output: str) -> HostReleases:
    """host.RELEASES_SCRIPT's answer: the current name, `---`, `<completed at> <name>` lines."""
    head, _, tail = output.partition("---")
    installed = [line.split(" ", 1)[1] for line in sorted(tail.split("\n")) if " " in line]
    return HostReleases(head.strip() or None, installed)


def to_prune(releases: HostReleases, keep: int) -> list[str]:
    """The oldest releases beyond `keep`, never the current one nor the previous one."""
    protected = {releases.current, releases.previous()}
    old = [r for r in releases.installed if r not in protected]
    return old[: max(0, len(releases.installed) - keep)]


@dataclass(frozen=True)
class SwitchPlan:
    """Hosts to switch to the new version, in order, and hosts already serving it."""

    switch: list[str]
    unchanged: list[str]

    @property
    def nothing_to_ship(self) -> bool:
        return not self.switch

    @property
    def migration_phases(self) -> tuple[str, ...]:
        """Migration phases this release runs: none when no host switches."""
        return () if self.nothing_to_ship else (BEFORE_SWITCH, AFTER_SWITCH)


def switch_plan(currents: Mapping[str, str | None], version: str) -> SwitchPlan:
    """{host: current release} → which hosts switch to `version` and which already serve it."""
    return SwitchPlan(
        [name for name, current in currents.items() if current != version],
        [name for name, current in currents.items() if current == version],
    )


def contract_listing(migrations: Iterable[Mapping[str, str]]) -> str:
    """The contract migrations of a plan, each with why ('' when all is expand)."""
    contract = [m for m in migrations if m.get("phase") == AFTER_SWITCH]
    return "; ".join(f"{m.get('migration')} ({m.get('why')})" for m in contract)


def contract_refusal(
    migrations: Iterable[Mapping[str, str]], version: str, serving: str | None
) -> OpsError | None:
    """A release whose migrations contract the schema (`migrate_phase plan`: a drop, a rename,
    a type change...) is refused unless the operator allows it: the contract phase runs once no
    host serves SERVING any more, but afterwards `rollback` to SERVING is refused (its code
    reads what was removed) and only a restore goes back. None when all is expand."""
    listed = contract_listing(migrations)
    if not listed:
        return None
    before = serving or "the release serving now"
    return OpsError(
        f"release {version}'s migrations contract the schema: {listed}",
        "nothing was changed. After these migrations, `rollback` to "
        f"{before} is refused and only `deploy.py backup restore --to TIME` goes back (losing "
        "what was written since). Ship the code that stops using it first (expand), then the "
        "contract in a later release; or, knowing this, `deploy.py release --allow-contract`",
    )


def restored_note(name: str, previous: str | None, first: str = "nothing (first release)") -> str:
    """How a host switched back is reported: `app1 → <release>`."""
    return f"{name} → {previous or first}"


def rollback_plan(releases: Mapping[str, HostReleases]) -> dict[str, tuple[str | None, str]]:
    """{host: (current, previous)} for every host; refused (nothing changed) when a host has
    no previous release."""
    plan: dict[str, tuple[str | None, str]] = {}
    for name, host in releases.items():
        previous = host.previous()
        if previous is None:
            raise OpsError(
                f"{name} has no previous release to roll back to",
                f"releases there: {', '.join(host.installed) or 'none'}",
            )
        plan[name] = (host.current, previous)
    return plan


def patch_order(
    order: Iterable[str], members: Mapping[str, list[str]], chosen: set[str]
) -> list[str]:
    """Chosen hosts in the order of their first group in `order`, each once; hosts of no
    group in `order` are not patched."""
    ordered: list[str] = []
    for group in order:
        for name in members.get(group, []):
            if name in chosen and name not in ordered:
                ordered.append(name)
    return ordered


def health_checks(groups: list[str]) -> list[tuple[str, str]]:
    """(what, command) checked on a host before and after patching, by its groups."""
    checks = [
        (
            "ssh",
            "systemctl is-system-running --wait >/dev/null 2>&1; "
            "systemctl --failed --no-legend | head -3",
        )
    ]
    if "db" in groups:
        checks.append(("postgresql", "pg_isready -q && echo ok"))
    if "lb" in groups:
        checks.append(("nginx", "systemctl is-active nginx"))
    return checks


def health_problem(what: str, ok: bool, stdout: str) -> str | None:
    """What a health check's answer says is wrong, or None: the `ssh` check lists failed
    units; the others must answer `ok` or `active`."""
    if what == "ssh":
        return f"failed units: {stdout.strip()}" if stdout.strip() else None
    if not ok or stdout.strip() not in ("ok", "active"):
        return f"{what} not answering"
    return None


def http_status(ok: bool, output: str) -> str | None:
    """None when curl's `%{http_code}` says 200, else the code seen (or `nothing`)."""
    if ok and output.strip().endswith("200"):
        return None
    return output.strip()[-3:] or "nothing"


def kernel_waits(needrestart: str) -> bool:
    """needrestart's batch output says a newer kernel waits for a reboot."""
    return any(state in needrestart for state in KERNEL_WAITING)


REBOOT_MODES = ("auto", "always", "never")


def reboot_wanted(mode: str, required: bool) -> bool:
    """`patch` reboots a host: always (--reboot), never (--no-reboot), or when it needs it
    (a newer kernel or library waits: /run/reboot-required, needrestart's kernel state)."""
    if mode not in REBOOT_MODES:
        raise ValueError(f"reboot mode {mode!r} is not one of {', '.join(REBOOT_MODES)}")
    return mode == "always" or (mode == "auto" and required)


def reboot_outage(groups: list[str], members: Mapping[str, list[str]]) -> str | None:
    """What a reboot of a host of `groups` stops for the users (no other host carries it), or
    None when another host serves meanwhile: an app host with another app host (drained), no
    lb or database host yet (one virtual IP, one PostgreSQL: issue #22)."""
    if "db" in groups:
        return "the database (every collège's ENT stops until it is back)"
    if "lb" in groups:
        return "the load balancer (the ENT is unreachable until it is back)"
    if "app" in groups and len(members.get("app", [])) < 2:
        return "the only app host (the ENT stops until it is back)"
    return None


def patch_note(upgraded: str, drained: bool, kernel: bool, rebooted: bool = False) -> str:
    """The summary line of a patched host."""
    note = f"{upgraded.strip() or 0} package(s) upgraded"
    if drained:
        note += ", out of the load balancer meanwhile"
    if rebooted:
        note += "; rebooted"
    elif kernel:
        note += "; a reboot is required (planned by the operator: patch --reboot)"
    return note
