"""BENCHMARKS.md: the machine a run measured on, the previous values read back, the table
written (every row, measured or carrying its previous value)."""

from __future__ import annotations

import os
import platform
import re
from datetime import datetime

from ..paths import ROOT
from . import load
from .core import NOT_MEASURED, QUIET_BUSY, QUIET_LIMIT_SECONDS, QUIET_SECONDS, Measure

RESULTS = ROOT / "BENCHMARKS.md"
HISTORY = "docs/benchmarks-history.md"
ROW = re.compile(r"^\| `(\w+)` \|[^|]*\| ([^|]+) \|[^|]*\| ([^|]+) \|\s*$")


def machine() -> str:
    """This machine: cores, CPU, memory, kernel, load average now."""
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    busy = os.getloadavg()[0]
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {platform.system()} "
        f"{platform.release()}, load average {busy:.1f} at start"
    )


def previous(text: str | None = None) -> dict[str, str]:
    """The value each row of the results file would be compared with: its value, or, when it
    was not measured in that run, the previous value it carried."""
    if text is None:
        text = RESULTS.read_text() if RESULTS.exists() else ""
    values = {}
    for line in text.splitlines():
        match = ROW.match(line)
        if match:
            value, before = match.group(2).strip(), match.group(3).strip()
            values[match.group(1)] = before if value.startswith(NOT_MEASURED) else value
    return values


def _method() -> str:
    """The paragraph under the title: how each figure is measured."""
    return (
        "Each figure is wall-clock time of the real command against the running lab, or what "
        f"wrk measured from this machine through the lb over TLS for the lb_ rows "
        f"(lb_static and lb_app_page: {load.WRK_CONNECTIONS} connections, {load.WRK_SECONDS} s; "
        f"lb_mix: {load.MIX_CONNECTIONS} connections, {load.MIX_SECONDS} s after a "
        f"{load.MIX_WARMUP_SECONDS} s warm-up, closed loop; lb_overload: the offered rate and "
        f"connections its value names, {load.OVERLOAD_SECONDS} s); each measure, and each load "
        f"after its warm-up preparations, starts once the machine is quiet: at most "
        f"{QUIET_BUSY:.0%} of its CPU busy over {QUIET_SECONDS} s, {QUIET_LIMIT_SECONDS} s of "
        "waiting at most; `previous` is the value of the run before this one (a row not "
        "measured in a run carries its previous value)."
    )


def write(started_at: datetime, on: str, rows: list[tuple[Measure, str, str]]) -> None:
    """The results file: title, when and on what machine, the method, then a row a measure
    (measure, value, previous value)."""
    lines = [
        "# Benchmarks of the bundle",
        "",
        f"Measured by `./deploy.py bench` on {started_at:%Y-%m-%d %H:%M} UTC, on {on}.",
        _method(),
        "",
        "| measure | what | value | target | previous |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| `{measure.key}` | {measure.title} | {value} | {measure.target} | {before} |"
        for measure, value, before in rows
    ]
    lines += [
        "",
        f"Past measurements, dated (the app alone on one machine included): {HISTORY}.",
        "",
    ]
    RESULTS.write_text("\n".join(lines))
