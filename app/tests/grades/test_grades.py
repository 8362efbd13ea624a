"""Notes: the entry grid, averages with coefficients and scales."""

import pytest

from preau.grades.models import Assessment, Grade
from preau.grades.views import report
from tests.school import url


def test_grade_entry_grid_and_averages(client, school):
    s = school
    client.force_login(s["teacher"])
    response = client.post(
        url(s, "assessment_new"),
        {
            "teaching": f"{s['class'].pk}:{s['subject'].pk}",
            "title": "Géométrie",
            "date": "2026-03-12",
            "coefficient": "2",
            "scale": "10",
        },
    )
    assessment = Assessment.objects.get(title="Géométrie")
    assert response.status_code == 302 and assessment.scale == 10
    grid = url(s, "assessment", assessment_id=assessment.pk)
    bad = client.post(
        grid, {f"note_{s['student'].pk}": "12", f"note_{s['other_student'].pk}": "abc"}
    )
    assert bad.status_code == 400 and "entre 0 et 10" in bad.content.decode()
    assert not Grade.objects.filter(assessment=assessment).exists()
    ok = client.post(
        grid, {f"note_{s['student'].pk}": "7,5", f"note_{s['other_student'].pk}": "abs"}
    )
    assert ok.status_code == 302
    assert Grade.objects.get(assessment=assessment, student=s["student"]).value == 7.5
    assert Grade.objects.get(assessment=assessment, student=s["other_student"]).absent
    # Another teacher cannot write in this grid; the direction reads it.
    client.force_login(s["admin"])
    assert client.post(grid, {f"note_{s['student'].pk}": "1"}).status_code == 403
    assert client.get(grid).status_code == 200

    # Student: Fractions 15/20 coef 1, Géométrie 7.5/10 (= 15/20) coef 2 → 15.
    client.force_login(s["parent"])
    page = client.get(url(s, "grades")).content.decode()
    assert "Moyenne générale : <strong>15/20" in page and "Géométrie" in page
    client.force_login(s["teacher"])
    stats = client.get(url(s, "class_grades", class_id=s["class"].pk)).content.decode()
    assert "Fractions" in stats and "12/20" in stats  # mean of 15 and 9


def test_report_weights_coefficients_and_scales():
    class A:  # minimal stand-ins
        def __init__(self, coefficient, scale, subject=None):
            self.coefficient, self.scale, self.subject = coefficient, scale, subject

    class G:
        def __init__(self, value, assessment):
            self.value, self.assessment, self.absent = value, assessment, value is None

        @property
        def on_twenty(self):
            return self.value * 20 / self.assessment.scale

    result = report([G(10, A(1, 20)), G(8, A(3, 10)), G(None, A(5, 20))])
    assert result["subjects"][0]["average"] == pytest.approx((10 + 16 * 3) / 4)
    assert result["overall"] == pytest.approx(14.5)
    assert report([])["overall"] is None
