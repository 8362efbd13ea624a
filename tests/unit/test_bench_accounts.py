"""The accounts rows of the bench (letters_600, recipient_search): how benchmark_accounts.py's
report reads in BENCHMARKS.md. The script itself runs in the app suite
(app/tests/test_benchmark_accounts.py) and for real in `deploy.py bench`."""

from __future__ import annotations

from preau_ops.bench import accounts

REPORT = {
    "students": 600,
    "accounts": 1679,
    "load_average": 0.4,
    "letters": {
        "letters": 600,
        "request_s": 0.41,
        "job_s": 4.52,
        "total_s": 4.93,
        "pdf_kb": 812,
        "target_s": 30,
        "ok": True,
    },
    "recipient_search": {
        "teacher": {
            "searches": 200,
            "with_results": 200,
            "median_ms": 22.4,
            "p95_ms": 33.0,
            "max_ms": 60.1,
            "app_cpu_p95_ms": 21.3,
        },
        "parent": {
            "searches": 200,
            "with_results": 180,
            "median_ms": 12.0,
            "p95_ms": 18.4,
            "max_ms": 30.0,
            "app_cpu_p95_ms": 16.6,
        },
        "target_p95_ms": 50,
        "ok": True,
    },
}


def test_the_letters_row_leads_with_the_seconds_in_all():
    assert accounts.describe_letters(REPORT) == (
        "4.9 (600 letters of 1679 accounts: 0.4 s chosen in the request, 4.5 s made by the job, "
        "PDF 812 kB; load average 0.4)"
    )


def test_the_search_row_gives_each_profile_s_p95():
    assert accounts.describe_search(REPORT) == (
        "teacher p95 33 ms (median 22, app CPU p95 21) · parent p95 18 ms (median 12, app CPU "
        "p95 17); 200 searches each, same run as letters_600"
    )


def test_the_search_row_needs_the_letters_run():
    by_key = {m.key: m for m in accounts.measures(None)}
    assert by_key["recipient_search"].needs == ("letters_600",)
