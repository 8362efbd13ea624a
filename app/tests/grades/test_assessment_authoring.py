"""Assessment authoring (issue #17 item 3): the teacher who grades an assessment edits it
(a scale below a grade already entered is refused in French, nothing changed) and deletes it
with its grades after a confirmation page; nobody else does; bounded queries."""

import pytest

from preau.grades.models import Assessment, Grade
from tests.school import make_school, url

pytestmark = pytest.mark.django_db


def data() -> dict:
    return {"title": "Fractions (bilan)", "date": "2026-03-12", "coefficient": "2", "scale": "20"}


def test_the_grading_teacher_edits_an_assessment(client, school):
    s, item = school, school["assessment"]
    client.force_login(s["teacher"])
    target = url(s, "assessment_edit", assessment_id=item.pk)
    assert 'value="Fractions"' in client.get(target).content.decode()
    assert client.post(target, data()).status_code == 302
    item.refresh_from_db()
    assert (item.title, item.coefficient) == ("Fractions (bilan)", 2)


def test_a_scale_below_a_grade_is_refused_and_changes_nothing(client, school):
    s, item = school, school["assessment"]
    client.force_login(s["teacher"])
    posted = {**data(), "scale": "10"}  # Léa has 15
    response = client.post(url(s, "assessment_edit", assessment_id=item.pk), posted)
    assert response.status_code == 400
    assert "Une note saisie (15) dépasse ce barème." in response.content.decode()
    item.refresh_from_db()
    assert (item.title, item.scale) == ("Fractions", 20)


def test_delete_asks_then_removes_the_assessment_and_its_grades(client, school):
    s, item = school, school["assessment"]
    client.force_login(s["teacher"])
    target = url(s, "assessment_delete", assessment_id=item.pk)
    assert "et ses notes (2)" in client.get(target).content.decode()
    assert Grade.objects.filter(assessment=item).count() == 2  # a GET asks, changes nothing
    assert client.post(target).status_code == 302
    assert not Assessment.objects.filter(pk=item.pk).exists()
    assert not Grade.objects.filter(assessment_id=item.pk).exists()


@pytest.mark.parametrize("who", ["other_teacher", "admin", "evs", "student", "parent"])
def test_only_the_grading_teacher(client, school, who):
    s = school
    client.force_login(s[who])
    for name in ("assessment_edit", "assessment_delete"):
        target = url(s, name, assessment_id=s["assessment"].pk)
        assert client.get(target).status_code == 403
        assert client.post(target, data()).status_code == 403
    assert Assessment.objects.get(pk=s["assessment"].pk).title == "Fractions"


def test_another_establishments_assessment_is_not_found(client, school):
    s, other = school, make_school("B", "0820010R")
    client.force_login(s["teacher"])
    for name in ("assessment_edit", "assessment_delete"):
        target = url(s, name, assessment_id=other["assessment"].pk)
        assert client.post(target, data()).status_code == 404
    assert Assessment.objects.get(pk=other["assessment"].pk).title == "Fractions"


@pytest.mark.parametrize("name", ["assessment_edit", "assessment_delete"])
def test_assessment_authoring_pages_have_bounded_queries(
    client, school, django_assert_max_num_queries, name
):
    s = school
    client.force_login(s["teacher"])
    with django_assert_max_num_queries(10):
        assert client.get(url(s, name, assessment_id=s["assessment"].pk)).status_code == 200
