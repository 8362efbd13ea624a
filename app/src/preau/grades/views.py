"""Grades: assessments per class and subject (coefficient, scale), the teacher's entry grid,
student/parent report with averages, class statistics."""

import re
from decimal import Decimal

from django.contrib import messages
from django.db import transaction
from django.db.models import Avg, Count, Max, Min, Q
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from preau.core.display import note
from preau.core.models import ClassGroup
from preau.core.prepared import PreparedQuery
from preau.ent.access import guardians_of, profiles, require, viewer
from preau.ent.notify import notify
from preau.ent.views.common import (
    PreparedPages,
    back,
    class_or_404,
    confirm_page,
    form_page,
    student_choice,
    students_of,
)
from preau.grades.forms import AssessmentEditForm, AssessmentForm
from preau.grades.models import Assessment, Grade, GradeChange


def report(grades) -> dict:
    """Per-subject weighted averages on 20 (coefficients) and the overall average (mean of the
    subject averages)."""
    subjects: dict[str, dict] = {}
    for grade in grades:
        assessment = grade.assessment
        label = (
            (assessment.subject.label or assessment.subject.code) if assessment.subject else "Autre"
        )
        row = subjects.setdefault(
            label, {"subject": label, "grades": [], "points": 0.0, "weights": 0.0}
        )
        row["grades"].append(grade)
        if grade.value is not None:
            row["points"] += grade.on_twenty * float(assessment.coefficient)
            row["weights"] += float(assessment.coefficient)
    rows = sorted(subjects.values(), key=lambda r: r["subject"])
    for row in rows:
        row["average"] = row["points"] / row["weights"] if row["weights"] else None
    averages = [r["average"] for r in rows if r["average"] is not None]
    return {"subjects": rows, "overall": sum(averages) / len(averages) if averages else None}


def _grades_of(est, student):
    return (
        Grade.objects.filter(assessment__establishment_id=est, student_id=student)
        .select_related("assessment", "assessment__subject")
        .order_by("assessment__date")
    )


def _assessments(est):
    return Assessment.objects.filter(establishment_id=est).select_related("class_group", "subject")


# The grades pages, compiled once (preau.core.prepared), scoped to the establishment of the
# request as for_request() would: a student's grades (for them or a parent: one of the most
# visited pages), a teacher's assessments with their number of grades, one assessment's grades.
GRADES_OF = PreparedQuery(_grades_of, est=int, student=int)
TEACHER_ASSESSMENTS = PreparedPages(
    lambda est, teacher: (
        _assessments(est)
        .filter(teacher_id=teacher)
        .annotate(graded=Count("grades__value"))
        .order_by("-date", "-pk")
    ),
    est=int,
    teacher=int,
)
ASSESSMENT = PreparedQuery(lambda est, pk: _assessments(est).filter(pk=pk)[:1], est=int, pk=int)
GRADES_OF_ASSESSMENT = PreparedQuery(
    lambda est, assessment: Grade.objects.filter(
        assessment__establishment_id=est, assessment_id=assessment
    ),
    assessment=int,
)


def student_grades(request, student):
    return GRADES_OF.rows(est=request.establishment.pk, student=student.pk)


@profiles("ELV", "TUT", "ENS", "DIR", "EVS")
def grades(request, uai):
    me = viewer(request)
    if me.profile in ("ELV", "TUT"):
        student = student_choice(request)
        context = {
            "student": student,
            "children": me.children(),
            "report": report(student_grades(request, student)) if student else None,
        }
        return render(request, "grades/grades_student.html", context)
    if me.profile == "ENS":
        page = TEACHER_ASSESSMENTS.page(
            request, est=request.establishment.pk, teacher=request.user.pk
        )
        return render(request, "grades/grades_teacher.html", {"page": page, "taught": me.taught()})
    classes = ClassGroup.objects.for_request(request).filter(school_year=me.year, kind="class")
    return render(request, "grades/grades_classes.html", {"classes": classes})


@profiles("ENS")
def assessment_new(request, uai):
    me = viewer(request)
    form = AssessmentForm(request.POST or None, taught=me.taught())
    if request.method == "POST" and form.is_valid():
        teaching = form.cleaned_data["teaching"]
        assessment = Assessment.objects.create(
            establishment=request.establishment,
            class_group=teaching.class_group,
            subject=teaching.subject,
            teacher=request.user,
            title=form.cleaned_data["title"],
            date=form.cleaned_data["date"],
            coefficient=form.cleaned_data["coefficient"],
            scale=form.cleaned_data["scale"],
        )
        messages.success(request, "Évaluation créée : saisissez les notes.")
        return back(request, "assessment", assessment_id=assessment.pk)
    return render(
        request,
        "ent/form_page.html",
        {
            "form": form,
            "title": "Nouvelle évaluation",
            "submit": "Créer l'évaluation",
            "back_url": reverse("grades", kwargs={"uai": uai}),
        },
        status=400 if request.method == "POST" else 200,
    )


def _graded_assessment(request, assessment_id):
    """An assessment for the teacher who grades it: assigned to its class and subject this
    school year, as for its grid."""
    item = ASSESSMENT.first(est=request.establishment.pk, pk=assessment_id)
    if item is None:
        raise Http404
    require(viewer(request).may_grade(item.class_group_id, item.subject_id))
    return item


EDITED = ("title", "date", "coefficient", "scale")


@profiles("ENS")
def assessment_edit(request, uai, assessment_id):
    item = _graded_assessment(request, assessment_id)
    form = AssessmentEditForm(
        request.POST or None, initial={field: getattr(item, field) for field in EDITED}
    )
    if request.method == "POST" and form.is_valid():
        grades = Grade.objects.for_request(request).filter(assessment=item)
        top = grades.aggregate(top=Max("value"))["top"]
        if top is not None and top > form.cleaned_data["scale"]:
            form.add_error("scale", f"Une note saisie ({note(top)}) dépasse ce barème.")
        else:
            for field in EDITED:
                setattr(item, field, form.cleaned_data[field])
            item.save(update_fields=list(EDITED))
            messages.success(request, "Évaluation modifiée.")
            return back(request, "assessment", assessment_id=item.pk)
    return form_page(
        request,
        form,
        "Modifier l'évaluation",
        "Enregistrer les modifications",
        "assessment",
        assessment_id=item.pk,
    )


@profiles("ENS")
def assessment_delete(request, uai, assessment_id):
    """A confirmation page saying how many grades go with it (GET), then the deletion (POST)."""
    item = _graded_assessment(request, assessment_id)
    if request.method == "POST":
        item.delete()
        messages.success(request, "Évaluation supprimée avec ses notes.")
        return back(request, "grades")
    count = Grade.objects.for_request(request).filter(assessment=item).count()
    return confirm_page(
        request,
        "Supprimer une évaluation",
        f"Supprimer l'évaluation « {item.title} » de {item.class_group.name} et ses notes "
        f"({count}) ? Les élèves et les familles ne la verront plus.",
        "Supprimer l'évaluation",
        "assessment",
        assessment_id=item.pk,
    )


# A grade as typed: digits with a decimal point or a French comma, optionally signed (so that
# "-1" gets "between 0 and …" rather than "not a number"), optionally "/ scale" ("15,5/20").
# Nothing else: Decimal() would also take "nan", "inf", "1e400" or other scripts' digits.
GRADE = re.compile(r"([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:\s*/\s*([0-9]+))?", re.ASCII)
GRADE_MAX_CHARS = 30
# The assessment page shows its latest grade changes (GradeChange), at most this many.
HISTORY_SHOWN = 50


def _parse_grade(raw: str, scale: int):
    """'' → None; '12,5' or '12,5/20' (20: the assessment's scale) → Decimal; 'abs' → absent.
    Raises ValueError with a French message for anything else."""
    raw = raw.strip().lower().replace(",", ".")
    if raw in ("", "-"):
        return None, False
    if raw in ("abs", "a"):
        return None, True
    match = GRADE.fullmatch(raw) if len(raw) <= GRADE_MAX_CHARS else None
    if match is None:
        raise ValueError("n'est pas un nombre (par exemple 12,5 ou « abs » pour absent)")
    if match[2] is not None and int(match[2]) != scale:
        raise ValueError(f"doit être donnée sur {scale}")
    value = Decimal(match[1])
    if not 0 <= value <= scale:
        raise ValueError(f"doit être entre 0 et {scale}")
    return value.quantize(Decimal("0.01")), False


@profiles("ENS", "DIR", "EVS")
def assessment(request, uai, assessment_id):
    me = viewer(request)
    item = ASSESSMENT.first(est=request.establishment.pk, pk=assessment_id)
    if item is None:
        raise Http404
    # Grading belongs to the teacher assigned to this class and subject this school year, not
    # to whoever created the assessment once (a teacher replaced or moved loses it).
    editable = me.may_grade(item.class_group_id, item.subject_id)
    require(editable or me.is_supervisor)
    students = students_of(request, item.class_group)
    grades = GRADES_OF_ASSESSMENT.rows(est=request.establishment.pk, assessment=item.pk)
    existing = {g.student_id: g for g in grades}
    errors = {}
    if request.method == "POST":
        require(editable)
        parsed = {}
        for student in students:
            try:
                parsed[student.pk] = _parse_grade(
                    request.POST.get(f"note_{student.pk}", ""), item.scale
                )
            except ValueError as exc:
                errors[student.pk] = f"La note de {student.first_name} {student.last_name} {exc}."
        if not errors:
            _save_grades(request, item, students, existing, parsed)
            messages.success(request, "Notes enregistrées.")
            return back(request, "assessment", assessment_id=item.pk)
    rows = [
        {
            "student": s,
            "grade": existing.get(s.pk),
            "error": errors.get(s.pk),
            "raw": request.POST.get(f"note_{s.pk}") if errors else None,
        }
        for s in students
    ]
    values = [
        g.value for g in existing.values() if g.value is not None
    ]  # nothing saved if we get here
    stats = {
        "count": len(values),
        "mean": sum(values) / len(values) if values else None,
        "low": min(values, default=None),
        "high": max(values, default=None),
    }
    return render(
        request,
        "grades/assessment.html",
        {
            "history": GradeChange.objects.for_request(request)
            .filter(assessment=item)
            .select_related("student", "changed_by")[:HISTORY_SHOWN],
            "item": item,
            "rows": rows,
            "editable": editable,
            "errors": list(errors.values()),
            "stats": stats,
        },
        status=400 if errors else 200,
    )


def _shown(value, absent: bool) -> str:
    """A grade as the history shows it: "Abs.", "15,5", or "—" (no grade)."""
    return "Abs." if absent else note(value)


@transaction.atomic
def _save_grades(request, item, students, existing, parsed):
    now = timezone.now()
    new, changed, touched, history = [], [], [], []
    for student in students:
        value, absent = parsed[student.pk]
        grade = existing.get(student.pk)
        if grade is None:
            if value is not None or absent:
                new.append(
                    Grade(
                        assessment=item, student=student, value=value, absent=absent, updated_at=now
                    )
                )
                touched.append(student.pk)
        elif (grade.value, grade.absent) != (value, absent):
            history.append(
                GradeChange(
                    assessment=item,
                    student=student,
                    before=_shown(grade.value, grade.absent),
                    after=_shown(value, absent),
                    changed_by=request.user,
                    changed_at=now,
                )
            )
            grade.value, grade.absent, grade.updated_at = value, absent, now
            changed.append(grade)
            touched.append(student.pk)
    Grade.objects.bulk_create(new)
    Grade.objects.bulk_update(changed, ["value", "absent", "updated_at"])
    GradeChange.objects.bulk_create(history)
    if touched:
        parents = [parent for parent, _ in guardians_of(request, touched)]
        subject = (item.subject.label or item.subject.code) if item.subject else ""
        notify(
            request.establishment,
            [*touched, *parents],
            f"Nouvelle note : {item.title} ({subject}).".replace(" ()", ""),
            reverse("grades", kwargs={"uai": request.establishment.uai}),
        )


@profiles("ENS", "DIR", "EVS")
def class_grades(request, uai, class_id):
    """Class statistics: per assessment (count, mean, min, max) and per student."""
    me = viewer(request)
    class_group = class_or_404(request, class_id)
    require(me.is_supervisor or me.teaches(class_group.pk))
    assessments = Assessment.objects.for_request(request).filter(class_group=class_group)
    if not me.is_supervisor:
        assessments = assessments.filter(teacher=request.user)
    stats = assessments.select_related("subject").annotate(
        count=Count("grades__value"),
        mean=Avg("grades__value"),
        low=Min("grades__value"),
        high=Max("grades__value"),
        absents=Count("grades", filter=Q(grades__absent=True)),
    )
    students = students_of(request, class_group)
    grades = (
        Grade.objects.for_request(request)
        .filter(assessment__in=assessments, student__in=students)
        .select_related("assessment", "assessment__subject")
    )
    by_student: dict[int, list] = {}
    for grade in grades:
        by_student.setdefault(grade.student_id, []).append(grade)
    rows = [
        {"student": s, "overall": report(by_student.get(s.pk, []))["overall"]} for s in students
    ]
    averages = [r["overall"] for r in rows if r["overall"] is not None]
    return render(
        request,
        "grades/class_grades.html",
        {
            "class_group": class_group,
            "stats": stats,
            "rows": rows,
            "class_average": sum(averages) / len(averages) if averages else None,
        },
    )
