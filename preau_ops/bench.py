"""`deploy.py bench`: the bundle's numbers, measured the same way each time, on the lab.

Each measure runs the real command against the running lab; the results go to BENCHMARKS.md
(machine, date, value, target) next to the previous run's values so regressions show.
Long load benchmarks of the app live with the app (app/scripts/benchmark_load.py).
"""
from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .paths import ROOT

RESULTS = ROOT / "BENCHMARKS.md"


@dataclass
class Measure:
    key: str
    title: str
    target: str
    command: list[str]
    env: dict | None = None


def measures(inv_hosts: int) -> list[Measure]:
    deploy = [sys.executable, str(ROOT / "deploy.py")]
    plain = {"ANSIBLE_PIPELINING": "False", "ANSIBLE_FORKS": "5", "ANSIBLE_STRATEGY": "linear",
             "ANSIBLE_SSH_ARGS": "-o ControlMaster=no"}
    playbook = [str(Path(sys.executable).parent / "ansible-playbook"), "-i",
                "inventories/lab/hosts.yml", "--vault-password-file", ".lab/vault-password",
                "playbooks/site.yml"]
    return [
        Measure("converge_noop", f"converge no-op re-run, {inv_hosts}-host lab (s)", "≤ 30",
                deploy + ["converge"]),
        Measure("converge_noop_plain", "same no-op with plain ansible-playbook defaults "
                                       "(5 forks, no pipelining, no ControlPersist) (s)",
                "reported", playbook, plain),
        Measure("release_noop", "release of the version already serving (s)", "reported",
                deploy + ["release"]),
        Measure("status", "status of every host (s)", "reported", deploy + ["status"]),
    ]


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    load = os.getloadavg()[0]
    return (f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {platform.system()} "
            f"{platform.release()}, load average {load:.1f} at start")


def _previous() -> dict[str, str]:
    if not RESULTS.exists():
        return {}
    values = {}
    for line in RESULTS.read_text().splitlines():
        match = re.match(r"^\| `(\w+)` \|[^|]*\| ([^|]+) \|", line)
        if match:
            values[match.group(1)] = match.group(2).strip()
    return values


def run(inv, console) -> int:
    previous = _previous()
    rows = []
    failed = False
    for measure in measures(len(inv.hosts)):
        console.print(f"measuring {measure.key}…")
        env = dict(os.environ, **(measure.env or {}))
        started = time.monotonic()
        result = subprocess.run(measure.command, cwd=ROOT, env=env, capture_output=True,
                                text=True)
        elapsed = time.monotonic() - started
        value = f"{elapsed:.1f}" if result.returncode in (0, 1) else "failed"
        failed |= value == "failed"
        rows.append((measure, value, previous.get(measure.key, "—")))
        console.print(f"  {measure.title}: {value} (previous {previous.get(measure.key, '—')})")
    lines = [
        "# Benchmarks of the bundle",
        "",
        f"Measured by `./deploy.py bench` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"on {_machine()}.",
        "Each figure is wall-clock time of the real command against the running lab; "
        "`previous` is the value of the run before this one.",
        "",
        "| measure | what | value | target | previous |",
        "|---|---|---|---|---|",
    ]
    for measure, value, before in rows:
        lines.append(f"| `{measure.key}` | {measure.title} | {value} | {measure.target} | "
                     f"{before} |")
    lines += ["", "App load benchmark: see app/BENCHMARKS.md.", ""]
    RESULTS.write_text("\n".join(lines))
    console.print(f"results written to {RESULTS.relative_to(ROOT)}")
    return 1 if failed else 0
