"""The upgrades' rows (opt-in, `bench --upgrades`: they move the lab for good): Debian 12 to 13
host by host and PostgreSQL 15 to 17, on the benchmark data set, under the realistic mix.

upgrade_debian_rolling: the db and backup hosts in one window (`--allow-downtime`), then the
app hosts one at a time under the mix (the requests that failed: must be 0), then the lb.
upgrade_pg_downtime: `db upgrade` under the mix: the maintenance's length (the announced
window), and the requests that failed outside it (maintenance pages are its 503s).

They run last, and leave the lab on Debian 13 and PostgreSQL 17 with the lab inventory saying
so (UPGRADED_VARS): `deploy.py down` and removing those files gives a Debian 12 lab again.
"""

from __future__ import annotations

import json
import subprocess
import time
from typing import TYPE_CHECKING

from ..paths import LAB_INVENTORY, ROOT
from .core import DEPLOY, Bench, Measure
from .drills import _drill_value

if TYPE_CHECKING:
    from ..inventory import Inventory

UPGRADED_VARS = [
    LAB_INVENTORY / "group_vars" / g / "postgresql-major.yml" for g in ("db", "backup")
]


def measures(inv: Inventory) -> list[Measure]:
    return [
        Measure(
            "upgrade_debian_rolling",
            "Debian 12 to 13: db and backup hosts in one window, then the "
            f"{len(inv.hosts_in('app'))} app hosts one at a time under the realistic mix, then "
            "the lb (s in all; the app hosts' s and failed requests)",
            "0 failed while the app hosts move",
            probe=_debian_rolling,
            opt_in="upgrades",
            needs=("bench_data",),
        ),
        Measure(
            "upgrade_pg_downtime",
            "PostgreSQL 15 to 17 (`db upgrade`, pg_upgradecluster --link) on the benchmark "
            "data under the realistic mix: the maintenance window (s; pg_upgradecluster's s)",
            "≤ 300 s",
            probe=_pg_downtime,
            opt_in="upgrades",
            needs=("upgrade_debian_rolling",),
        ),
    ]


def _deploy(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*DEPLOY, *args], cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {(done.stdout + done.stderr)[-800:]}")
    return done


def _debian_rolling(bench: Bench) -> str:
    started = time.monotonic()
    bench.status("db and backup hosts to Debian 13 (a window)")
    _deploy("patch", "--to", "trixie", "--limit", "db,backup", "--allow-downtime")
    window = time.monotonic() - started
    bench.status("app hosts to Debian 13, one at a time, under the mix")
    apps = _drill_value(
        bench, "upgrade_debian_rolling", [*DEPLOY, "patch", "--to", "trixie", "--limit", "app"]
    )
    bench.status("lb and the other hosts to Debian 13")
    _deploy("patch", "--to", "trixie", "--allow-downtime")
    total = time.monotonic() - started
    return f"{total:.0f} s (db + backup {window:.0f} s; app hosts: {apps})"


def _pg_downtime(bench: Bench) -> str:
    for path in UPGRADED_VARS:
        path.parent.mkdir(exist_ok=True)
        path.write_text("---\npostgresql_version: 17\n")
    bench.status("db upgrade under the mix")
    said = _drill_value(bench, "upgrade_pg_downtime", [*DEPLOY, "db", "upgrade", "--yes", "--json"])
    answer = json.loads(bench.results["upgrade_pg_downtime"]["output"])
    return (
        f"{answer['maintenance_seconds']} (pg_upgradecluster {answer['pg_upgradecluster_seconds']}"
        f" s; under the mix: {said})"
    )
