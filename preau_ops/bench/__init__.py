"""`deploy.py bench`: the bundle's numbers, measured the same way each time, on the lab.

Each measure runs the real command (or load) against the running lab; the results go to
BENCHMARKS.md (machine, date, value, target) next to the previous run's values so regressions
show. One module per family of measures: `operations` (the deploy.py commands timed),
`dataset` (the benchmark data set), `recovery` (restore drill, RPO), `load` (wrk through the
lb), `logins` (logins and spraying through the lb), `drills` (release and patch under the
mix), `upgrades` (Debian 13 and PostgreSQL 17, opt-in, last), `memory`, `growth` (the cost per page as the data set grows, on this machine, opt-in),
`accounts` (activation letters and recipient search at a collège's scale, on this machine),
`bulletins` (a collège's report cards made by the job, on this machine);
`core` is the framework (a measure, a run's selection, a quiet machine) and `table` the
results file.

The order matters (ORDER): the benchmark data set (20 establishments x 600 students, seeded once
per lab) comes first, so that the restore drill, the audit, the loads and the logins all run
on it; status comes last, and the memory rows read the lab as it leaves it.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from . import (
    accounts,
    bulletins,
    core,
    dataset,
    drills,
    growth,
    load,
    logins,
    memory,
    monitoring,
    operations,
    recovery,
    table,
    upgrades,
)
from .core import NOT_MEASURED, Bench, Measure, select

if TYPE_CHECKING:
    from rich.console import Console

    from ..inventory import Inventory

__all__ = ["ORDER", "Measure", "add_arguments", "measures", "run", "select"]

FAMILIES = (
    operations,
    dataset,
    growth,
    accounts,
    bulletins,
    recovery,
    load,
    logins,
    drills,
    monitoring,
    upgrades,
)
ORDER = (
    "up_from_nothing",
    "up_from_nothing_uncached",
    "bench_data",
    "cost_growth",
    "bootstrap",
    "converge_noop",
    "converge_noop_plain",
    "release_noop",
    "release_new",
    "rollback",
    "release_with_migration",
    "patch_reboot_rolling",
    "pki_rotate",
    "establishment_add",
    "aaf_delta",
    "establishment_merge",
    "establishment_unmerge",
    "rentree_rehearsal",
    "letters_600",
    "recipient_search",
    "bulletins_600",
    "backup_drill",
    "restore_pitr",
    "audit",
    "audit_auditor",
    "lb_static",
    "lb_app_page",
    "lb_mix",
    "lb_overload",
    "login_class",
    "login_college",
    "login_peak",
    "login_federated",
    "login_rates",
    "spray",
    "rpo",
    "deadman_delay",
    "status",
    # opt-in, last: they move the lab to Debian 13 and PostgreSQL 17 for good
    "upgrade_debian_rolling",
    "upgrade_pg_downtime",
)


# Each opt-in measure's options (Measure.opt_in).
OPT_IN = {
    "from_nothing": "--from-nothing",
    "uncached": "--from-nothing --uncached",
    "growth": "--growth",
    "upgrades": "--upgrades",
}


def measures(inv: Inventory) -> list[Measure]:
    """Every measure of the families, in the order of a run (ORDER)."""
    by_key = {m.key: m for family in FAMILIES for m in family.measures(inv)}
    if set(by_key) != set(ORDER):
        raise ValueError(
            f"measures not in ORDER, or ORDER's not measured: {set(by_key) ^ set(ORDER)}"
        )
    return [by_key[key] for key in ORDER]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """deploy.py bench's options."""
    parser.add_argument(
        "--from-nothing",
        action="store_true",
        help="also time `up` from nothing: DESTROYS the lab (`down`) and "
        "rebuilds it on the same topology (images cached); ~10 min",
    )
    parser.add_argument(
        "--uncached",
        action="store_true",
        help="with --from-nothing: remove the lab images first, so that `up` "
        "builds them from Debian's packages; ~15 min",
    )
    parser.add_argument(
        "--growth",
        action="store_true",
        help="also measure cost_growth: the CPU per page as the data set grows from 20 to 80 "
        "establishments, on this machine with its own PostgreSQL, not the lab (the first "
        "run seeds 80 collèges: long)",
    )
    parser.add_argument(
        "--upgrades",
        action="store_true",
        help="also measure the upgrades, last: the lab moved to Debian 13 host by host and "
        "its database to PostgreSQL 17 under the realistic mix; LEAVES THE LAB MOVED (its "
        "inventory saying 17: bench/upgrades.py says how to get a Debian 12 lab back); ~20 min",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="KEY",
        default=None,
        help="only these measures (keys of BENCHMARKS.md, e.g. lb_mix rpo) and "
        "what they need (lb_mix: bench_data); the other rows keep their "
        "previous value as `not measured`",
    )


def _measure_all(
    inv: Inventory, console: Console, chosen: set[str], previous: dict[str, str]
) -> tuple[dict[str, str], str, Inventory]:
    """The chosen measures, in order, each on a quiet machine: (their values, the value of the
    rows not measured, the inventory afterwards: made anew when `up` rebuilt the lab)."""
    values: dict[str, str] = {}
    skipped = f"{NOT_MEASURED} (this run: --only)"
    with tempfile.TemporaryDirectory(prefix="preau-bench-run-") as tmp:
        bench = Bench(inv, Path(tmp))
        for measure in measures(inv):
            if measure.key not in chosen:
                continue
            rebuilds = measure.key.startswith("up_from_nothing")
            if rebuilds:
                console.print("[yellow]the lab is destroyed and rebuilt (`down`, then `up`)[/]")
            before = previous.get(measure.key, "—")
            with core.Ticker(console, f"{measure.key} (previous {before})…") as ticker:
                bench.status = ticker.set
                core.wait_quiet(bench)  # not in the wake of the previous measure (or of seeding)
                value = core.value_of(measure, bench, ticker)
            values[measure.key] = value
            console.print(f"  {measure.title}: [bold]{value}[/] (previous {before})")
            if rebuilds:
                if value == "failed":
                    console.print(
                        "[red]the lab did not come up: the other measures are not made[/]"
                    )
                    skipped = f"{NOT_MEASURED} (the lab did not come up)"
                    break
                from .. import inventory

                bench.inv = inventory.load(None)  # the lab's inventory was made anew
    return values, skipped, bench.inv


def _rows(
    all_measures: list[Measure], values: dict[str, str], previous: dict[str, str], skipped: str
) -> list[tuple[Measure, str, str]]:
    """(measure, value, previous value) of every row: measured, opt-in or skipped."""
    rows = []
    for measure in all_measures:
        if measure.key in values:
            value = values[measure.key]
        elif measure.opt_in:
            value = f"{NOT_MEASURED} (opt-in: `bench {OPT_IN[measure.opt_in]}`)"
        else:
            value = skipped
        rows.append((measure, value, previous.get(measure.key, "—")))
    return rows


def run(inv: Inventory, console: Console, options: argparse.Namespace | None = None) -> int:
    from .. import system

    from_nothing = bool(getattr(options, "from_nothing", False))
    uncached = bool(getattr(options, "uncached", False))
    grow = bool(getattr(options, "growth", False))
    upgrade = bool(getattr(options, "upgrades", False))
    if uncached and not from_nothing:
        console.print("[red]--uncached goes with --from-nothing[/]")
        return 2
    try:
        only = getattr(options, "only", None)
        chosen = {m.key for m in select(measures(inv), from_nothing, uncached, only, grow, upgrade)}
    except ValueError as error:
        console.print(f"[red]{error}[/]")
        return 2
    previous = table.previous()
    system.ensure(["wrk"], "the load measures of the bench")
    started_at = datetime.now(UTC)
    on = table.machine()
    values, skipped, inv = _measure_all(inv, console, chosen, previous)
    values.update(load.ratios(values))
    if "status" in values:  # the last measure: the lab as the run leaves it
        worker, lab = memory.measure()
        # RSS as before (it counts in full what a worker shares with gunicorn's master), and
        # beside it what a worker has of its own (issue #26 item 6: no silent redefinition)
        shares = memory.worker_shares()
        values["memory_worker"] = worker if shares == "—" else f"{worker} ({shares})"
        values["memory_lab"] = lab
        console.print(f"  app worker RSS {worker} MB ({shares}), whole lab {lab} MB")
    rows = _rows(measures(inv) + load.RATIOS + memory.ROWS, values, previous, skipped)
    table.write(started_at, on, rows)
    console.print(f"results written to {table.RESULTS.name}")
    return 1 if "failed" in values.values() else 0
