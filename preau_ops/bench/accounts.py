"""Accounts and messaging at a collège's scale (issue #19): every pupil's activation letter
and the compose page's recipient search, on a collège of 600 pupils imported from a generated
AAF feed (app/scripts/benchmark_accounts.py: its own throwaway PostgreSQL on this machine, the
app in-process, not the lab). One run of the script gives both rows.
"""

from __future__ import annotations

from typing import Any

from .core import Bench, Measure, app_script


def report() -> dict[str, Any]:
    """benchmark_accounts.py's JSON report (600 pupils, 200 searches per profile)."""
    return app_script("benchmark_accounts.py")


def describe_letters(figures: dict[str, Any]) -> str:
    letters = figures["letters"]
    return (
        f"{letters['total_s']:.1f} ({letters['letters']} letters of {figures['accounts']} "
        f"accounts: {letters['request_s']:.1f} s chosen in the request, {letters['job_s']:.1f} s "
        f"made by the job, PDF {letters['pdf_kb']} kB; load average "
        f"{figures['load_average']})"
    )


def describe_search(figures: dict[str, Any]) -> str:
    def one(name: str) -> str:
        s = figures["recipient_search"][name]
        return (
            f"{name} p95 {s['p95_ms']:.0f} ms (median {s['median_ms']:.0f}, "
            f"app CPU p95 {s['app_cpu_p95_ms']:.0f})"
        )

    searches = figures["recipient_search"]["teacher"]["searches"]
    return f"{one('teacher')} · {one('parent')}; {searches} searches each, same run as letters_600"


def _letters(bench: Bench) -> str:
    bench.status("a collège of 600 pupils imported into a throwaway PostgreSQL, then measured")
    bench.results["accounts"] = figures = report()
    return describe_letters(figures)


def _search(bench: Bench) -> str:
    return describe_search(bench.results["accounts"])


def measures(inv: object) -> list[Measure]:
    return [
        Measure(
            "letters_600",
            "activation letters of every pupil of a 600-pupil collège: the batch chosen (the "
            "request's part) and made (the job's: codes, PDF) (s; app/scripts/"
            "benchmark_accounts.py on this machine, its own PostgreSQL)",
            "≤ 30",
            probe=_letters,
        ),
        Measure(
            "recipient_search",
            "the compose page's recipient search at the same collège, as a teacher (everyone) "
            "and as a parent (the communication rules), wall-clock per request",
            "p95 < 50 ms",
            probe=_search,
            needs=("letters_600",),
        ),
    ]
