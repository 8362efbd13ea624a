"""scripts/benchmark_bulletins.py's parts on the test's school (not timed: the script is run on a
600-pupil collège by deploy.py bench, bulletins_600): a trimester of grades made once and then
reused, every class's bulletins asked for through the job, made by a real worker, and the
report's figures read from what it made and from the queue's events."""

import pytest

from preau.core.models import ClassMembership
from preau.grades.models import Appreciation, Grade
from tests.helpers import app_script


@pytest.mark.django_db(transaction=True)
def test_the_benchmark_grades_a_trimester_and_measures_the_bulletins_job(run_jobs, school):
    bench = app_script("benchmark_bulletins")
    est = school["est"]
    grades = Grade.objects.filter(assessment__establishment=est)
    before = grades.count()
    period = bench.period_with_grades(est, seed=1)
    members = ClassMembership.objects.filter(
        class_group__in=(school["class"], school["other_class"])
    )
    pupils, filled = members.count(), len({m.class_group_id for m in members})
    made = before + bench.SUBJECTS * bench.ASSESSMENTS * pupils
    assert grades.count() == made
    assert Appreciation.objects.filter(period=period).count() == (bench.SUBJECTS + 1) * pupils
    assert bench.period_with_grades(est, seed=1) == period and grades.count() == made  # reused

    batch_ids = bench.ask_for_bulletins(est, period)
    unmade = bench.figures(batch_ids, worker_s=0.0, peak_mb=0.0)
    assert sorted(unmade["unmade_batches"]) == sorted(batch_ids) and not unmade["ok"]
    run_jobs()
    figures = bench.figures(batch_ids, worker_s=2.0, peak_mb=99.6)
    classes = len(batch_ids)
    assert (figures["classes"], figures["pupils"], figures["pdfs"]) == (
        classes,
        pupils,
        pupils + filled,  # one per pupil, one per class with pupils
    )
    assert figures["bytes"] > 1000 * figures["pdfs"] and figures["peak_rss_mb"] == 100
    assert 0 < figures["seconds"] < 60 and figures["ok"]
