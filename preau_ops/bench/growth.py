"""How the cost of a page grows with the data set (the cost_growth row, opt-in: `bench
--growth`): app/scripts/benchmark_cpu.py's CPU per request of the realistic mix, application
and PostgreSQL, on 20, 40 and 80 establishments of 600 students (docs/scaling.md reads it).
It runs on this machine with its own PostgreSQL, not on the lab: one data directory per size,
seeded by the first run (140 collèges in all: long) and kept. The sizes are measured in turn,
twice, and each keeps its cheaper run: on a shared machine a neighbour's burst only ever adds
CPU time (cache and core contention), so the minimum is the steadier figure.
"""

from __future__ import annotations

from typing import Any

from .core import Bench, Measure, app_script

STEPS = (20, 40, 80)
RUNS = 2
GROWTH_PGDATA = "/var/tmp/preau-bench-growth-pg-{establishments}"


def step(establishments: int) -> dict[str, Any]:
    """benchmark_cpu.py's figures for the data set completed to `establishments`."""
    return app_script(
        "benchmark_cpu.py",
        *("--establishments", str(establishments)),
        *("--pgdata", GROWTH_PGDATA.format(establishments=establishments), "--json"),
        what=f"benchmark_cpu.py at {establishments} establishments",
    )


def describe(figures: list[dict[str, Any]]) -> str:
    """'20 (33474 accounts, 141 MB): 6.3 ms = 5.0 app + 1.3 PostgreSQL, 5.4 queries · … ·
    80 vs 20: +x % per page'."""
    parts = [
        f"{f['establishments']} ({f['accounts']} accounts, {f['database_mb']} MB): "
        f"{f['app_ms'] + f['postgres_ms']:.1f} ms = {f['app_ms']:.1f} app + "
        f"{f['postgres_ms']:.1f} PostgreSQL, {f['queries']:.1f} queries"
        for f in figures
    ]
    first, last = figures[0], figures[-1]
    before = first["app_ms"] + first["postgres_ms"]
    growth = 100 * (last["app_ms"] + last["postgres_ms"] - before) / before
    return (
        " · ".join(parts)
        + f" · {last['establishments']} vs {first['establishments']}: {growth:+.0f} % per page"
    )


def cheapest(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the least CPU per page (application + PostgreSQL)."""
    return min(runs, key=lambda f: f["app_ms"] + f["postgres_ms"])


def _growth(bench: Bench) -> str:
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in STEPS}
    for run in range(1, RUNS + 1):
        for establishments in STEPS:
            bench.status(
                f"run {run}/{RUNS}, {establishments} establishments: seeding them if needed "
                "(once), then 1,500 requests of the mix"
            )
            runs[establishments].append(step(establishments))
    return describe([cheapest(runs[n]) for n in STEPS])


def measures(inv: object) -> list[Measure]:
    return [
        Measure(
            "cost_growth",
            "CPU per page of the realistic mix as the data set grows: 20, 40, 80 establishments "
            "× 600 students (app/scripts/benchmark_cpu.py on this machine, its own PostgreSQL; "
            "ms of application + PostgreSQL CPU per request; opt-in: `bench --growth`)",
            "reported (docs/scaling.md)",
            probe=_growth,
            opt_in="growth",
        )
    ]
