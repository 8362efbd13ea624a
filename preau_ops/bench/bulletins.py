"""Report cards at a collège's scale (issue #18): every class's bulletins of one trimester, made
by the job `make_bulletins` as a worker runs it, on a collège of 600 pupils imported from a
generated AAF feed (app/scripts/benchmark_bulletins.py: its own throwaway PostgreSQL on this
machine, the worker in a process of its own, not the lab).
"""

from __future__ import annotations

from typing import Any

from .core import Bench, Measure, app_script


def report() -> dict[str, Any]:
    """benchmark_bulletins.py's JSON report (600 pupils)."""
    return app_script("benchmark_bulletins.py")


def describe(figures: dict[str, Any]) -> str:
    """'41.3 (636 PDFs of 600 pupils in 24 classes, 18.2 MB; worker peak RSS 140 MB, its
    process 43.0 s; load average 0.4)', or the batches the worker left unmade."""
    unmade = figures["unmade_batches"]
    if unmade:
        return f"failed ({len(unmade)} of {figures['classes']} classes' bulletins not made)"
    return (
        f"{figures['seconds']:.1f} ({figures['pdfs']} PDFs of {figures['pupils']} pupils in "
        f"{figures['classes']} classes, {figures['bytes'] / 1e6:.1f} MB; worker peak RSS "
        f"{figures['peak_rss_mb']} MB, its process {figures['worker_s']:.1f} s; load average "
        f"{figures['load_average']})"
    )


def _bulletins(bench: Bench) -> str:
    bench.status("a collège of 600 pupils and a trimester of grades, then its bulletins by the job")
    return describe(report())


def measures(inv: object) -> list[Measure]:
    return [
        Measure(
            "bulletins_600",
            "report cards of every pupil of a 600-pupil collège for one trimester: the classes' "
            "batches asked for, then made by the make_bulletins jobs of one worker (s, first "
            "job started to last finished; app/scripts/benchmark_bulletins.py on this machine, "
            "its own PostgreSQL)",
            "≤ 60",
            probe=_bulletins,
        )
    ]
