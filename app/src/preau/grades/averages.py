"""Averages as Pronote shows them, computed exactly (fractions) and rounded once for display.

A pupil's average in a subject for a period = Σ(value / scale × 20 × coefficient) / Σ coefficient
over real marks only (Pronote's "ramener sur 20"): a non-mark (Abs, Disp, NRdu, Inap, NNot)
counts neither as a mark nor as a weight, never as 0; a pupil with non-marks only has no
average ("—"). The class's figures in a subject are the mean, minimum and maximum of its
pupils' averages. A general average is the mean of the pupil's subject averages (every subject
weighs 1: the app has no subject coefficients). Everything stays exact until `rounded()`:
half-up on the exact value to the hundredth (12.345 → 12.35, 12.3449… → 12.34).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

HUNDREDTH = Decimal("0.01")


def rounded(value: Fraction | None) -> Decimal | None:
    """The exact value rounded half-up to the hundredth (None stays None)."""
    if value is None:
        return None
    # Averages are never negative: the exact value floored to the thousandth is at least
    # x.xx5 exactly when the value is, so rounding that half-up is rounding the value half-up.
    thousandths = Decimal(value.numerator * 1000 // value.denominator)
    return (thousandths / 1000).quantize(HUNDREDTH, rounding=ROUND_HALF_UP)


def subject_average(grades: Iterable) -> Fraction | None:
    """Weighted average on 20 of these grades (one pupil, one subject, one period)."""
    points, weights = Fraction(0), Fraction(0)
    for grade in grades:
        if grade.value is None:
            continue
        assessment = grade.assessment
        coefficient = Fraction(assessment.coefficient)
        points += Fraction(grade.value) * 20 / assessment.scale * coefficient
        weights += coefficient
    return points / weights if weights else None


def mean(values: Iterable[Fraction | None]) -> Fraction | None:
    known = [v for v in values if v is not None]
    return sum(known, Fraction(0)) / len(known) if known else None


def class_figures(averages: Iterable[Fraction | None]) -> dict:
    """{average, low, high} of the pupils' averages (those without one are left out)."""
    known = [v for v in averages if v is not None]
    return {
        "average": mean(known),
        "low": min(known, default=None),
        "high": max(known, default=None),
    }


def by_subject(grades: Iterable, student_id: int) -> list[dict]:
    """One pupil's subjects in a period, from the grades of everyone in the pupil's classes:
    per subject (its id and Subject), the pupil's grades and exact average, and the class's
    figures (average, low, high of the pupils' averages), in the order grades come."""
    return by_subject_for(grades, [student_id])[student_id]


def by_subject_for(grades: Iterable, student_ids: Iterable[int]) -> dict[int, list[dict]]:
    """by_subject() of several pupils sharing these grades (the same classes and groups),
    every average computed once: {pupil id: rows}."""
    subjects: dict[int | None, dict] = {}
    for grade in grades:
        assessment = grade.assessment
        row = subjects.setdefault(
            assessment.subject_id, {"subject": assessment.subject, "pupils": {}}
        )
        row["pupils"].setdefault(grade.student_id, []).append(grade)
    computed = []
    for subject_id, row in subjects.items():
        pupils = {pk: subject_average(found) for pk, found in row["pupils"].items()}
        computed.append((subject_id, row, pupils, class_figures(pupils.values())))
    return {
        student_id: [
            {
                "subject_id": subject_id,
                "subject": row["subject"],
                "grades": row["pupils"].get(student_id, []),
                "average": pupils.get(student_id),
                "class": figures,
            }
            for subject_id, row, pupils, figures in computed
        ]
        for student_id in student_ids
    }
