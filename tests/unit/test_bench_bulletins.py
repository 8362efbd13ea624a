"""The bulletins row of the bench (bulletins_600): how benchmark_bulletins.py's report reads in
BENCHMARKS.md, and its place in a run. The script's parts run in the app suite
(app/tests/grades/test_benchmark_bulletins.py); the script itself in `deploy.py bench`."""

from __future__ import annotations

from preau_ops import bench
from preau_ops.bench import bulletins

REPORT = {
    "students": 600,
    "grades": 18000,
    "load_average": 0.4,
    "classes": 24,
    "pupils": 600,
    "seconds": 41.27,
    "worker_s": 43.02,
    "pdfs": 624,
    "bytes": 18_240_000,
    "peak_rss_mb": 140,
    "unmade_batches": [],
    "target_s": 60,
    "ok": True,
}


def test_the_row_leads_with_the_jobs_seconds():
    assert bulletins.describe(REPORT) == (
        "41.3 (624 PDFs of 600 pupils in 24 classes, 18.2 MB; worker peak RSS 140 MB, its "
        "process 43.0 s; load average 0.4)"
    )


def test_batches_left_unmade_fail_the_row():
    figures = {**REPORT, "unmade_batches": [7, 9], "seconds": float("nan"), "ok": False}
    assert bulletins.describe(figures) == "failed (2 of 24 classes' bulletins not made)"


def test_the_row_runs_the_script_and_is_in_the_run_s_order(monkeypatch):
    asked = []
    monkeypatch.setattr(bulletins, "app_script", lambda script: asked.append(script) or REPORT)
    [measure] = bulletins.measures(None)
    assert (measure.key, measure.target) == ("bulletins_600", "≤ 60")
    statuses = []
    fake = type("FakeBench", (), {"status": staticmethod(statuses.append)})()
    assert measure.probe(fake).startswith("41.3 (624 PDFs")
    assert asked == ["benchmark_bulletins.py"] and statuses
    assert "bulletins_600" in bench.ORDER
