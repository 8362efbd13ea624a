"""Grade change history (issue #17 item 3): each change of a grade already entered is kept
(who, when, before -> after) and shown with the assessment; a first entry or a refused grid
records nothing; the page stays within 10 queries whatever the class and history size."""

import pytest

from preau.grades.models import Grade, GradeChange
from tests.school import url

pytestmark = pytest.mark.django_db


def grid(s):
    return url(s, "assessment", assessment_id=s["assessment"].pk)


def test_a_changed_grade_is_kept_in_the_history(client, school):
    s = school
    GradeChange.objects.all().delete()
    client.force_login(s["teacher"])
    posted = {f"note_{s['student'].pk}": "16,5", f"note_{s['other_student'].pk}": "9"}
    assert client.post(grid(s), posted).status_code == 302
    change = GradeChange.objects.get()
    assert (change.student, change.before, change.after) == (s["student"], "15", "16,5")
    assert change.changed_by == s["teacher"]
    posted = {f"note_{s['student'].pk}": "abs", f"note_{s['other_student'].pk}": ""}
    assert client.post(grid(s), posted).status_code == 302
    assert set(GradeChange.objects.values_list("before", "after")) == {
        ("15", "16,5"),
        ("16,5", "Abs"),
        ("9", "—"),
    }
    client.force_login(s["admin"])  # the direction reads it with the assessment
    page = " ".join(client.get(grid(s)).content.decode().split())
    assert "Historique des notes de cette évaluation" in page
    assert '<td data-label="Avant">16,5</td><td data-label="Après">Abs</td>' in page


def test_a_refused_grid_records_nothing(client, school):
    s = school
    before = list(GradeChange.objects.values_list())
    client.force_login(s["teacher"])
    posted = {f"note_{s['student'].pk}": "12", f"note_{s['other_student'].pk}": "25"}
    assert client.post(grid(s), posted).status_code == 400
    assert list(GradeChange.objects.values_list()) == before
    assert Grade.objects.get(assessment=s["assessment"], student=s["student"]).value == 15


def test_assessment_page_with_history_has_bounded_queries(
    client, school, django_assert_max_num_queries
):
    s = school
    GradeChange.objects.bulk_create(
        GradeChange(
            assessment=s["assessment"], student=s["student"], before=str(n), after=str(n + 1)
        )
        for n in range(120)
    )
    client.force_login(s["teacher"])
    with django_assert_max_num_queries(10):
        assert client.get(grid(s)).status_code == 200
