"""Where the CPU went during a load (issue #26 item 2): the machine's busy time, the load
generator's (wrk, this machine's child process) and each part of the platform's on its hosts
(nginx on the lbs, gunicorn on the app hosts, PostgreSQL on the db hosts).

A part's CPU is its systemd unit's process tree, read from /proc on its host: every live
process's user and system time plus what its reaped children used (cutime, cstime), so a
PostgreSQL backend that ended during the load is counted by the postmaster. CPU accounting by
cgroup would be simpler, but the units have none (CPUAccounting=no, Debian's default with the
cgroup v1 of the lab's machine)."""

from __future__ import annotations

import os
import resource
import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from .. import platform
from . import core

if TYPE_CHECKING:
    from ..inventory import Host, Inventory

T = TypeVar("T")

# (part, the inventory group whose hosts run it, its units: the first that runs counts)
PARTS = (
    ("nginx", "lb", ("nginx.service",)),
    ("app hosts", "app", ("preau.service",)),
    ("PostgreSQL", "db", ("patroni.service", "postgresql@{{ postgresql_version }}-main.service")),
)

# Seconds of CPU used so far by the process trees of the units given as arguments.
TREE_SECONDS = r"""
import os, subprocess, sys
tick = os.sysconf("SC_CLK_TCK")
mains = subprocess.run(["systemctl", "show", "-p", "MainPID", "--value", *sys.argv[1:]],
                       capture_output=True, text=True).stdout.split()
tree = {int(pid) for pid in mains if pid.isdigit() and pid != "0"}
stats = {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            line = stat.read()
    except OSError:
        continue
    fields = line[line.rindex(")") + 2 :].split()
    stats[int(pid)] = (int(fields[1]), sum(map(int, fields[11:15])))
while grown := {pid for pid, (ppid, _) in stats.items() if ppid in tree} - tree:
    tree |= grown
print(sum(stats[pid][1] for pid in tree if pid in stats) / tick)
"""


def part_seconds(inv: Inventory, part: str) -> float:
    """CPU seconds used so far by `part` (a name of PARTS) on all its hosts."""
    group, units = next((group, units) for name, group, units in PARTS if name == part)

    def used(host: Host) -> float:
        names = " ".join(platform.render(unit, host.vars) for unit in units)
        command = f"python3 -c {shlex.quote(TREE_SECONDS)} {names}"
        return float(core.remote(inv, host, command).stdout.strip() or 0)

    return sum(used(host) for host in inv.hosts_in(group))


def _parts(inv: Inventory) -> dict[str, float]:
    return {part: part_seconds(inv, part) for part, _, _ in PARTS}


def _children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measured(inv: Inventory, run: Callable[[], T]) -> tuple[T, str]:
    """run()'s result, and where the CPU went while it ran: 'CPU of the machine X core-s
    busy of Y: load generator a, nginx b, app hosts c, PostgreSQL d, the rest e'."""
    parts, children, (busy, total) = _parts(inv), _children_seconds(), core.machine_ticks()
    result = run()
    busy_after, total_after = core.machine_ticks()
    generator = _children_seconds() - children
    after = _parts(inv)
    tick = os.sysconf("SC_CLK_TCK")
    return result, breakdown(
        (busy_after - busy) / tick,
        (total_after - total) / tick,
        {"load generator": generator, **{k: after[k] - parts.get(k, 0.0) for k in after}},
    )


def breakdown(busy: float, total: float, parts: dict[str, float]) -> str:
    """The text of `measured`: each part's core-seconds and share of the busy time."""
    rest = busy - sum(parts.values())
    share = {**parts, "the rest (SSH, Docker, the kernel)": max(rest, 0.0)}
    return f"CPU of the machine {busy:.1f} core-s busy of {total:.1f}: " + ", ".join(
        f"{part} {seconds:.1f} ({100 * seconds / busy if busy else 0:.0f} %)"
        for part, seconds in share.items()
    )
