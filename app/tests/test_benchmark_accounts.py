"""scripts/benchmark_accounts.py measures what it says on the test's school (not timed: the
script is run on a 600-pupil collège by deploy.py bench): every pupil's letter made, and
searches that find the names they are made of."""

import random

import pytest

from tests.helpers import app_script

pytestmark = pytest.mark.django_db


def test_the_benchmark_makes_every_pupils_letter_and_searches_real_names(school):
    bench = app_script("benchmark_accounts")
    s = school
    made = bench.letters(s["est"])
    assert made["letters"] == 2 and made["pdf_kb"] > 0 and made["ok"]
    terms = bench.search_terms([s["evs"]], random.Random(1))
    assert sorted(terms) == sorted(["laf", "lafon", "LAFON", "Cédric LAFON"])
    found = bench.searches(s["est"], s["teacher"], terms, count=4, warmup=1)
    assert found["searches"] == 4 and found["with_results"] == 4
    assert found["median_ms"] <= found["p95_ms"] <= found["max_ms"]
