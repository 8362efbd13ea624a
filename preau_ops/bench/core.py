"""The bench's framework: what a measure is, what the measures of one run share, which measures
a run makes, how one is made (on a quiet machine, with a ticking status line), and the small
readings the families share (the lb's address, a rate in a row's value, a percentile).

Standard library only at import: `deploy.py --help` imports the package for its options.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..paths import ROOT

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status

    from ..inventory import Host, Inventory
    from ..runner import Result

DEPLOY = [sys.executable, str(ROOT / "deploy.py")]
NOT_MEASURED = "not measured"

# Each measure, and each load again after its own preparations, starts once the machine is
# quiet: at most QUIET_BUSY of its CPU busy over QUIET_SECONDS (an earlier measure's aftermath,
# autovacuum after seeding or a merge, a backup's compression, would otherwise count against
# it), waiting QUIET_LIMIT_SECONDS at most (other tenants).
QUIET_BUSY, QUIET_SECONDS, QUIET_LIMIT_SECONDS = 0.10, 2, 90


@dataclass
class Bench:
    """What the measures of one run share: inventory, temp dir, intermediate results."""

    inv: Inventory
    tmp: Path
    status: Callable[[str], None] = lambda text: None
    sessions: Path | None = None
    results: dict[str, Any] = field(default_factory=dict)


@dataclass
class Measure:
    key: str
    title: str
    target: str
    # What is timed: a command (or one built in a temp dir, after any untimed setup) ...
    command: list[str] | Callable[[Path], list[str]] | None = None
    env: dict[str, str] | None = None
    ok_codes: tuple[int, ...] = (0,)
    # A file the command writes (relative to the tree), removed before it runs: when it is not
    # there afterwards, the command failed whatever its exit code (the audit's 1 is a failed
    # control, and also what a crash gives).
    writes: str | None = None
    parse: Callable[[str], str] | None = None  # the value from the output, instead of the time
    detail: Callable[[str], str] | None = None  # from the output, after the time: "41.2 (…)"
    # ... or a measure made here, in Python, that returns the value (load, RPO).
    probe: Callable[[Bench], str] | None = None
    opt_in: str | None = None  # only when this option is given (it changes the lab, or is long)
    needs: tuple[str, ...] = ()  # measures that must run before it in the same run (--only)


def select(
    all_measures: list[Measure],
    from_nothing: bool = False,
    uncached: bool = False,
    only: list[str] | None = None,
    growth: bool = False,
    upgrades: bool = False,
) -> list[Measure]:
    """The measures of this run, in order: opt-in ones only when asked (--uncached replaces
    the cached `up` by the uncached one; --growth adds cost_growth), `only` keeps the named
    keys and what they need (the mix needs the benchmark data set)."""
    keys = {m.key for m in all_measures}
    unknown = sorted(set(only or ()) - keys)
    if unknown:
        raise ValueError(
            f"unknown measure(s): {', '.join(unknown)} (known: "
            f"{', '.join(m.key for m in all_measures)})"
        )
    wanted_keys = set(only or ())
    if wanted_keys:
        needs = {m.key: m.needs for m in all_measures}
        while missing := {n for k in wanted_keys for n in needs[k]} - wanted_keys:
            wanted_keys |= missing
    wanted = {
        "from_nothing": from_nothing and not uncached,
        "uncached": from_nothing and uncached,
        "growth": growth,
        "upgrades": upgrades,
    }
    return [
        m
        for m in all_measures
        if (m.opt_in is None or wanted.get(m.opt_in)) and (not wanted_keys or m.key in wanted_keys)
    ]


# ------------------------------------------------------------------------ a quiet machine


def machine_ticks() -> tuple[int, int]:
    """This machine's busy and total CPU time so far, in ticks (/proc/stat; idle and iowait
    are not busy). The lab's hosts are containers on it: their CPU is in these figures."""
    with open("/proc/stat") as stat:
        ticks = [int(v) for v in stat.readline().split()[1:]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)


def cpu_busy(seconds: float) -> float:
    """The share of the machine's CPU time that was busy over the next `seconds` (/proc/stat)."""
    busy, total = machine_ticks()
    time.sleep(seconds)
    busy_after, total_after = machine_ticks()
    return (busy_after - busy) / max(total_after - total, 1)


def wait_quiet(bench: Bench) -> float:
    """Wait until the machine is quiet (QUIET_BUSY); its busy share then, or when the wait gave
    up after QUIET_LIMIT_SECONDS."""
    deadline = time.monotonic() + QUIET_LIMIT_SECONDS
    while True:
        busy = cpu_busy(QUIET_SECONDS)
        if busy <= QUIET_BUSY or time.monotonic() >= deadline:
            return busy
        bench.status(f"waiting for the machine to be quiet: {busy:.0%} of its CPU busy")


# ------------------------------------------------------------------------- one measure


class Ticker:
    """A status line with the elapsed time of the current measure (and what it is doing)."""

    def __init__(self, console: Console, title: str):
        self.console, self.title, self.note = console, title, ""
        self.started = time.monotonic()
        self._stop = threading.Event()

    def __enter__(self) -> Ticker:
        self._status: Status = self.console.status(self.title, spinner="dots")
        self._status.__enter__()
        self._thread = threading.Thread(target=self._tick, daemon=True)
        self._thread.start()
        return self

    def _tick(self) -> None:
        while not self._stop.wait(1):
            self._status.update(
                f"{self.title} [dim]{time.monotonic() - self.started:.0f} s"
                + (f" — {self.note}" if self.note else "")
                + "[/]"
            )

    def set(self, note: str) -> None:
        self.note = note

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._status.__exit__(kind, error, trace)


def value_of(measure: Measure, bench: Bench, ticker: Ticker) -> str:
    """One row's value: the probe's, or the command's time (or what `parse` reads in its
    output); "failed" when it fails, said on the console."""
    if measure.probe:
        try:
            return measure.probe(bench)
        except Exception as error:  # a failed measure is a row, not the end of the run
            ticker.console.print(f"  failed: {str(error)[-800:]}")
            return "failed"
    env = dict(os.environ, **(measure.env or {}))
    with tempfile.TemporaryDirectory(prefix="preau-bench-") as tmp:
        command = measure.command
        if callable(command):
            try:
                command = command(Path(tmp))
            except (subprocess.CalledProcessError, OSError) as error:
                ticker.console.print(f"  setup failed: {error}")
                return "failed"
        if command is None:
            raise ValueError(f"{measure.key}: neither a command nor a probe")
        written = ROOT / measure.writes if measure.writes else None
        if written:
            written.unlink(missing_ok=True)
        started = time.monotonic()
        result = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        elapsed = time.monotonic() - started
    if result.returncode not in measure.ok_codes:
        ticker.console.print(
            f"  failed ({result.returncode}): {(result.stderr or result.stdout).strip()[-800:]}"
        )
        return "failed"
    if written and not written.exists():
        ticker.console.print(
            f"  failed: no {measure.writes} ({result.returncode}): "
            f"{(result.stderr or result.stdout).strip()[-800:]}"
        )
        return "failed"
    return _value(measure, result.stdout, elapsed)


def _value(measure: Measure, output: str, elapsed: float) -> str:
    """What `parse` reads in the output; else the time, with `detail`'s reading after it."""
    if measure.parse:
        return measure.parse(output)
    return f"{elapsed:.1f} ({measure.detail(output)})" if measure.detail else f"{elapsed:.1f}"


# ----------------------------------------------------------------- shared by the families


def app_script(script: str, *args: str, what: str = "") -> dict[str, Any]:
    """Run app/scripts/SCRIPT on this machine (the measures made beside the lab, with their own
    PostgreSQL); its report: the whole output as JSON, else its last line that is a JSON object
    (after the script's tables). RuntimeError naming `what` (default: the script) and the
    output's last lines when it fails or reports nothing."""
    result = subprocess.run(
        [sys.executable, f"scripts/{script}", *args],
        cwd=ROOT / "app",
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        figures = json.loads(result.stdout)
    except json.JSONDecodeError:
        lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
        figures = json.loads(lines[-1]) if lines else None
    if result.returncode or not isinstance(figures, dict) or not figures:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise RuntimeError(
            f"{what or script} failed (exit {result.returncode}): {' / '.join(tail)}"
        )
    return figures


def remote(inv: Inventory, host: Host, command: str, sudo: bool = True) -> Result:
    """One command on an inventory host through the runner (as root by default); its result,
    an OpsError when it fails."""
    from ..runner import FabricSession

    with FabricSession(host, inv) as session:
        return session.run(host, command, sudo=sudo)


def lb(inv: Inventory) -> tuple[str, str]:
    """(address, public name) of the first load balancer."""
    host = inv.hosts_in("lb")[0]
    return host.address, str(host.vars.get("preau_domain", "localhost"))


def rate(value: str | None, unit: str = "req/s") -> float | None:
    """The number a row's value starts with, before `unit` ('124 req/s served …': 124.0)."""
    match = re.match(r"(\d+(?:\.\d+)?) " + re.escape(unit), value or "")
    return float(match.group(1)) if match else None


def percentile(counted: list[tuple[float, int]], share: float) -> float | None:
    """Nearest-rank percentile (share in 0..1) of values given with their counts; None for
    no value."""
    total = sum(n for _, n in counted)
    if not total:
        return None
    rank, seen = max(1, math.ceil(share * total)), 0
    for value, n in sorted(counted):
        seen += n
        if seen >= rank:
            return value
    return None
