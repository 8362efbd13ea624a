"""The drills' rows: maintenance under the app's realistic mix (load.under_mix), timed, with
the requests users saw fail (must be 0).

release_with_migration ships a version carrying an expand migration and its backfill (a
column on the establishments' table, which every page of the mix reads); untimed afterwards,
a contract release drops the column again and this tree's app is shipped back.
patch_reboot_rolling reboots the app hosts one at a time (`patch --reboot --limit app`).
"""

from __future__ import annotations

import shlex
import subprocess
import time
from typing import TYPE_CHECKING

from ..paths import ROOT
from ..runner import FabricSession
from . import load, variants
from .core import DEPLOY, Bench, Measure

if TYPE_CHECKING:
    from ..inventory import Inventory


def _drill_value(bench: Bench, key: str, command: list[str]) -> str:
    """The drill's duration and the requests that failed (load.failed_requests, but those
    sent on a connection a reload of the lb closed: load.CLOSED_KINDS, said apart)."""
    elapsed, result, done = load.under_mix(bench, command)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[2:])} failed: {(done.stdout + done.stderr)[-800:]}")
    closed = load.closed_by_the_lb(result)
    failed = load.failed_requests(result) - closed
    bench.results[key] = {
        "seconds": round(elapsed, 1),
        "failed": failed,
        "closed": closed,
        "mix": result,
        "output": done.stdout,
    }
    said = f"{elapsed:.1f} s, {failed} failed of {result['requests']} requests"
    if failed:
        said += f" ({load.failures_text(result, closed=False)})"
    if closed:
        said += (
            f"; {closed} sent on kept-alive connections the lb's reloads (the drains) closed,"
            " unanswered, which a browser resends"
        )
    return said


def _release_with_migration(bench: Bench) -> str:
    field = f"bench_motto_{int(time.time())}"
    source = variants.with_column(variants.app_copy(bench.tmp / field, field), field)
    value = _drill_value(
        bench, "release_with_migration", [*DEPLOY, "release", "--source", str(source)]
    )
    bench.status("dropping the drill's column again, then this tree's app")
    drop = f"{field}-drop"
    contract = variants.with_column(variants.app_copy(bench.tmp / drop, drop), field, True)
    subprocess.run(
        [*DEPLOY, "release", "--source", str(contract), "--allow-contract"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    _forget(bench, field)
    subprocess.run([*DEPLOY, "release"], cwd=ROOT, check=True, capture_output=True)
    return value


def _forget(bench: Bench, field: str) -> None:
    """The drill's migrations out of django_migrations (variants.forget_sql)."""
    db = bench.inv.hosts_in("db")[0]
    sql = shlex.quote(variants.forget_sql(field))
    with FabricSession(db, bench.inv) as session:
        session.run(db, f"sudo -u postgres psql -XAtq -d preau -c {sql}")


def _patch_reboot_rolling(bench: Bench) -> str:
    command = [*DEPLOY, "patch", "--reboot", "--limit", "app"]
    return _drill_value(bench, "patch_reboot_rolling", command)


def measures(inv: Inventory) -> list[Measure]:
    apps = len(inv.hosts_in("app"))
    return [
        Measure(
            "release_with_migration",
            "release of a version with an expand migration and its backfill (a column on "
            "the establishments' table) under the realistic mix at "
            f"{load.DRILL_RATE} req/s (s; failed requests)",
            "≤ 60 s, 0 failed",
            probe=_release_with_migration,
            needs=("bench_data",),
        ),
        Measure(
            "patch_reboot_rolling",
            f"`patch --reboot --limit app`: the {apps} app hosts updated and rebooted one at a "
            f"time under the realistic mix at {load.DRILL_RATE} req/s (s; failed requests)",
            "0 failed",
            probe=_patch_reboot_rolling,
            needs=("bench_data",),
        ),
    ]
