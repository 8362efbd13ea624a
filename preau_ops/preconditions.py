"""Preconditions shared by the commands that change servers: refuse early, say why."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from rich.console import Console

from .errors import OpsError
from .inventory import Host, Inventory

if TYPE_CHECKING:
    from .runner import Result

NOTES = Console(stderr=True, highlight=False)  # notes go to stderr: --json output stays clean

# `/` and the app's data (uploads, releases) when it has its own filesystem.
DISK_COMMAND = "df --output=pcent,target / /srv/preau 2>/dev/null | tail -n +2 || true"
DISK_FULL_PERCENT = 90  # default of preau_disk_full_percent


def disk_problem(host: Host, df_output: str) -> str | None:
    """'<host>: / is 93 % full (limit 90 %)' when a filesystem of DISK_COMMAND's output is at
    or above the host's preau_disk_full_percent, else None."""
    limit = int(host.vars.get("preau_disk_full_percent", DISK_FULL_PERCENT))
    full = []
    for line in df_output.splitlines():
        used, _, target = line.strip().partition(" ")
        if used.rstrip("%").isdigit() and int(used.rstrip("%")) >= limit:
            entry = f"{target.strip()} is {used.rstrip('%')} % full"
            if entry not in full:
                full.append(entry)
    return f"{host.name}: " + ", ".join(full) + f" (limit {limit} %)" if full else None


# The clock (issue #21 item 6): TLS certificates, Patroni's leases and point-in-time restores
# need every host on the right time. A real host must be NTP-synchronised (chrony, role base:
# `chronyc tracking`, `timedatectl`); a container's clock is the machine's, which it cannot
# set: there only the offset is checked, and the output says so. The offset to the
# controller's clock is checked everywhere (a few seconds of SSH latency allowed).
CLOCK_COMMAND = (
    "echo virt=$(systemd-detect-virt --container 2>/dev/null); "
    "echo synced=$(timedatectl show -p NTPSynchronized --value 2>/dev/null); "
    "echo now=$(date +%s.%N)"
)
CLOCK_MAX_OFFSET = 5.0  # seconds


@dataclass
class Clock:
    """A host's clock as CLOCK_COMMAND saw it."""

    host: str
    container: str  # its kind (docker, lxc…), "" on a real machine or VM
    synced: bool | None  # timedatectl's NTPSynchronized; None when it did not say
    offset: float | None  # host minus controller, seconds


def read_clock(host: Host, output: str, controller_now: float) -> Clock:
    fields = dict(line.partition("=")[::2] for line in output.splitlines() if "=" in line)
    virt = fields.get("virt", "").strip()
    synced = {"yes": True, "no": False}.get(fields.get("synced", "").strip())
    try:
        offset: float | None = float(fields.get("now", "")) - controller_now
    except ValueError:
        offset = None
    return Clock(host.name, "" if virt in ("", "none") else virt, synced, offset)


def clock_problem(clock: Clock, need_sync: bool = True) -> str | None:
    """'<host>: …' when the clock is off (or, with need_sync, not synchronised), else None."""
    if clock.offset is None:
        return f"{clock.host}: cannot read its clock"
    if abs(clock.offset) > CLOCK_MAX_OFFSET:
        return f"{clock.host}: clock {clock.offset:+.1f} s off the controller's"
    if need_sync and not clock.container and clock.synced is not True:
        state = "not synchronised" if clock.synced is False else "of unknown synchronisation"
        return f"{clock.host}: clock {state} (NTP)"
    return None


def clock_note(clocks: list[Clock]) -> str | None:
    """What was not checked and why: a container cannot have its own synchronised clock."""
    inside = [c for c in clocks if c.container]
    if not inside:
        return None
    worst = max((abs(c.offset) for c in inside if c.offset is not None), default=0.0)
    return (
        f"NTP synchronisation not checked on {', '.join(c.host for c in inside)}: containers "
        f"({', '.join(sorted({c.container for c in inside}))}) use the machine's clock, which "
        f"chronyd cannot set there; their offset to the controller is at most {worst:.1f} s"
    )


class _Runs(Protocol):
    def run(self, host: Host | str, command: str, *, sudo: bool = ...) -> Result: ...


def refuse_bad_clocks(runs: _Runs, hosts: list[Host], need_sync: bool = True) -> str | None:
    """Raise OpsError naming each host whose clock is off (or not synchronised when need_sync);
    print and return the note about what could not be checked (containers)."""
    clocks = []
    for host in hosts:
        output = runs.run(host, CLOCK_COMMAND, sudo=False).stdout
        clocks.append(read_clock(host, output, time.time()))
    return _judge(clocks, need_sync)


def refuse_bad_clocks_everywhere(
    inv: Inventory, hosts: list[Host], need_sync: bool = True
) -> str | None:
    """refuse_bad_clocks on every host at once (one SSH connection each, in parallel)."""
    from .runner import run_everywhere

    outputs = run_everywhere(inv, CLOCK_COMMAND, hosts)
    now = time.time()  # after the slowest answer: the offsets include at most its latency
    return _judge([read_clock(host, outputs[host.name], now) for host in hosts], need_sync)


def _judge(clocks: list[Clock], need_sync: bool) -> str | None:
    problems = [p for c in clocks if (p := clock_problem(c, need_sync))]
    if problems:
        raise OpsError(
            "clock problem: " + "; ".join(problems),
            "on each host: `chronyc tracking` and `timedatectl` (chrony syncs from the "
            "platform's time server, role base); fix the time before running this again",
        )
    note = clock_note(clocks)
    if note:
        NOTES.print(f"[yellow]note:[/] {note}")
    return note
