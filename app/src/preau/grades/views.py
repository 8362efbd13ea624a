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
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from preau.core.display import note
from preau.core.models import ClassGroup, ClassMembership, Subject
from preau.core.prepared import PreparedQuery
from preau.ent import files
from preau.ent.access import guardians_of, profiles, require, viewer
from preau.ent.cache import cached_for_establishment
from preau.ent.notify import notify
from preau.ent.views.common import (
    PreparedPages,
    back,
    class_or_404,
    confirm_page,
    followed_pupil_or_404,
    form_page,
    job_page,
    student_choice,
    students_of,
)
from preau.grades import averages, bulletins, lsu, periods, socle
from preau.grades.forms import AssessmentEditForm, AssessmentForm, PeriodsForm
from preau.grades.models import (
    APPRECIATION_MAX_CHARS,
    Appreciation,
    Assessment,
    Bulletin,
    BulletinBatch,
    Grade,
    GradeChange,
    LsuExport,
    Mastery,
    NonMark,
    Period,
    SocleLevel,
)

_label = bulletins.subject_label


def report(grades) -> dict:
    """Per-subject weighted averages on 20 (coefficients, real marks only) and the overall
    average (mean of the subject averages), rounded half-up to the hundredth
    (preau.grades.averages)."""
    subjects: dict[str, dict] = {}
    for grade in grades:
        label = _label(grade.assessment.subject)
        subjects.setdefault(label, {"subject": label, "grades": []})["grades"].append(grade)
    rows = sorted(subjects.values(), key=lambda r: r["subject"])
    exact = [averages.subject_average(row["grades"]) for row in rows]
    for row, value in zip(rows, exact, strict=True):
        row["average"] = averages.rounded(value)
    overall = averages.mean(exact)
    return {"subjects": rows, "overall": averages.rounded(overall), "exact_overall": overall}


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
            "periods": _listed_periods(request),
        }
        return render(request, "grades/grades_student.html", context)
    if me.profile == "ENS":
        page = TEACHER_ASSESSMENTS.page(
            request, est=request.establishment.pk, teacher=request.user.pk
        )
        return render(
            request,
            "grades/grades_teacher.html",
            {"page": page, "taught": me.taught(), "periods": _listed_periods(request), "me": me},
        )
    classes = ClassGroup.objects.for_request(request).filter(school_year=me.year, kind="class")
    return render(request, "grades/grades_classes.html", {"classes": classes, "me": me})


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
    """'' → (None, ''); '12,5' or '12,5/20' (20: the assessment's scale) → (Decimal, '');
    a non-mark ('abs', 'disp', 'nrdu', 'inap', 'nnot', any case; 'a' for abs) → (None, it).
    Raises ValueError with a French message for anything else."""
    raw = raw.strip().lower().replace(",", ".")
    if raw in ("", "-"):
        return None, ""
    if raw == "a" or raw in NonMark.values:
        return None, NonMark.ABS if raw == "a" else NonMark(raw)
    match = GRADE.fullmatch(raw) if len(raw) <= GRADE_MAX_CHARS else None
    if match is None:
        raise ValueError(
            "n'est pas un nombre (par exemple 12,5) ni « abs » (absent), « disp » (dispensé), "
            "« nrdu » (non rendu), « inap » (inapte) ou « nnot » (non noté)"
        )
    if match[2] is not None and int(match[2]) != scale:
        raise ValueError(f"doit être donnée sur {scale}")
    value = Decimal(match[1])
    if not 0 <= value <= scale:
        raise ValueError(f"doit être entre 0 et {scale}")
    return value.quantize(Decimal("0.01")), ""


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


def _shown(value, status: str) -> str:
    """A grade as the history shows it: "Abs", "Disp", …, "15,5", or "—" (no grade)."""
    return NonMark(status).label if status else note(value)


@transaction.atomic
def _save_grades(request, item, students, existing, parsed):
    now = timezone.now()
    new, changed, touched, history = [], [], [], []
    for student in students:
        value, status = parsed[student.pk]
        # `absent` is still written for the previous release during the rolling update.
        absent = status == NonMark.ABS
        grade = existing.get(student.pk)
        if grade is None:
            if value is not None or status:
                new.append(
                    Grade(
                        assessment=item,
                        student=student,
                        value=value,
                        status=status,
                        absent=absent,
                        updated_at=now,
                    )
                )
                touched.append(student.pk)
        elif (grade.value, grade.non_mark) != (value, status):
            history.append(
                GradeChange(
                    assessment=item,
                    student=student,
                    before=_shown(grade.value, grade.non_mark),
                    after=_shown(value, status),
                    changed_by=request.user,
                    changed_at=now,
                )
            )
            grade.value, grade.status, grade.absent, grade.updated_at = value, status, absent, now
            changed.append(grade)
            touched.append(student.pk)
    Grade.objects.bulk_create(new)
    Grade.objects.bulk_update(changed, ["value", "status", "absent", "updated_at"])
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
        absents=Count("grades", filter=Q(grades__absent=True) | Q(grades__status="abs")),
    )
    students = students_of(request, class_group)
    grades = (
        Grade.objects.for_request(request)
        .filter(assessment__in=assessments, student__in=students)
        .select_related("assessment", "assessment__subject")
    )
    by_student = _by_student(grades)
    rows = [{"student": s, **report(by_student.get(s.pk, []))} for s in students]
    return render(
        request,
        "grades/class_grades.html",
        {
            "class_group": class_group,
            "periods": _listed_periods(request),
            "stats": stats,
            "rows": rows,
            "class_average": averages.rounded(averages.mean(r["exact_overall"] for r in rows)),
        },
    )


# --- periods, appreciations and the period summary (issue #18 item 4) ---------------------------


def _year_periods(request) -> list[Period]:
    return periods.periods_of(request.establishment.pk, viewer(request).year)


def _listed_periods(request) -> list[Period]:
    """The year's periods as the grades pages link to them (a pupil's or a parent's grades,
    the teacher's, a class's): the same for every member, kept PREAU_USER_CACHE_SECONDS per
    worker (ent.cache), so the pupils' most visited page costs no query of its own for them
    (issue #26: it had one more than before the periods). A change of the periods shows
    in these links within that delay; the period pages and their settings read them fresh."""
    est, year = request.establishment.pk, viewer(request).year
    return cached_for_establishment(
        est, f"grades-periods-{year}", lambda: periods.periods_of(est, year)
    )


def _period_or_404(request, period_id) -> tuple[Period, list[Period]]:
    """A period of this school year and all of them (the pages link to the others)."""
    year_periods = _year_periods(request)
    period = next((p for p in year_periods if p.pk == period_id), None)
    if period is None:
        raise Http404
    return period, year_periods


def _in(period: Period) -> dict:
    return {"assessment__date__range": (period.start, period.end)}


@profiles("DIR", "ENS", "EVS", "ETA", "ELV", "TUT")
def period_settings(request, uai):
    """The school year's periods, set by the direction or a local admin (ADML); the three
    trimesters of the year are proposed until some are saved."""
    me = viewer(request)
    require(me.manages_establishment)
    existing = _year_periods(request)
    rows = [{"name": p.name, "start": p.start, "end": p.end} for p in existing]
    initial = {
        f"{key}_{n}": value
        for n, row in enumerate(rows or periods.proposal(me.year), start=1)
        for key, value in row.items()
    }
    form = PeriodsForm(request.POST or None, year=me.year, initial=initial)
    if request.method == "POST" and form.is_valid():
        refusals = periods.save(request.establishment, me.year, form.cleaned_data["rows"])
        if not refusals:
            messages.success(request, "Périodes enregistrées.")
            return back(request, "period_settings")
        for refusal in refusals:
            form.add_error(None, refusal)
    return render(
        request,
        "grades/periods.html",
        {"form": form, "periods": existing, "year": me.year},
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@profiles("DIR", "ENS", "EVS", "ETA", "ELV", "TUT")
def period_publish(request, uai, period_id):
    """Publish a period (its appreciations reach pupils and parents) or withdraw it."""
    require(viewer(request).manages_establishment)
    period, _ = _period_or_404(request, period_id)
    period.published_at = None if period.published_at else timezone.now()
    period.save(update_fields=["published_at"])
    if period.published_at:
        pupils = _pupils_of_year(request, period.school_year)
        told = notify(
            request.establishment,
            [*pupils, *(parent for parent, _ in guardians_of(request, pupils))],
            f"{period.name} publié : appréciations et bulletin disponibles.",
            reverse("period_summary", kwargs={"uai": uai, "period_id": period.pk}),
        )
        messages.success(
            request,
            f"« {period.name} » publiée : élèves et parents voient les appréciations "
            f"({told} notification(s) envoyée(s)).",
        )
    else:
        messages.success(request, f"« {period.name} » n'est plus publiée.")
    return back(request, "period_settings")


def _pupils_of_year(request, year: int) -> list[int]:
    """The current pupils of the establishment's classes of this school year (ids)."""
    return list(
        ClassMembership.objects.for_request(request)
        .filter(
            class_group__school_year=year,
            class_group__kind="class",
            user__memberships__establishment=request.establishment,
            user__memberships__profile="ELV",
            user__memberships__gone_since__isnull=True,
            user__memberships__disabled=False,
        )
        .values_list("user_id", flat=True)
        .distinct()
    )


def _posted_appreciations(request, students) -> tuple[dict, dict]:
    """{student id: text} of the appreciation fields posted (a pupil without a field keeps
    theirs), {student id: French error}."""
    texts, errors = {}, {}
    for student in students:
        raw = request.POST.get(f"appreciation_{student.pk}")
        if raw is None:
            continue
        text = raw.strip().replace("\r\n", "\n")
        name = f"{student.first_name} {student.last_name}"
        if len(text) > APPRECIATION_MAX_CHARS:
            errors[student.pk] = (
                f"L'appréciation de {name} fait {len(text)} caractères : "
                f"{APPRECIATION_MAX_CHARS} au plus."
            )
        elif "\x00" in text:
            errors[student.pk] = f"L'appréciation de {name} contient un caractère interdit."
        else:
            texts[student.pk] = text
    return texts, errors


@transaction.atomic
def _save_appreciations(request, period, subject_id, existing, texts) -> None:
    now = timezone.now()
    new, changed, emptied = [], [], []
    for student_id, text in texts.items():
        found = existing.get(student_id)
        if found is None:
            if text:
                new.append(
                    Appreciation(
                        period=period,
                        student_id=student_id,
                        subject_id=subject_id,
                        text=text,
                        author=request.user,
                        updated_at=now,
                    )
                )
        elif not text:
            emptied.append(found.pk)
        elif found.text != text:
            found.text, found.author, found.updated_at = text, request.user, now
            changed.append(found)
    Appreciation.objects.bulk_create(new)
    Appreciation.objects.bulk_update(changed, ["text", "author", "updated_at"])
    Appreciation.objects.filter(pk__in=emptied).delete()


def _by_student(grades) -> dict[int, list]:
    found: dict[int, list] = {}
    for grade in grades:
        found.setdefault(grade.student_id, []).append(grade)
    return found


def _appreciations_of(request, period, subject_id, students) -> dict:
    """{student id: Appreciation} of these pupils in the period and subject (None: general)."""
    return {
        a.student_id: a
        for a in Appreciation.objects.for_request(request).filter(
            period=period, subject_id=subject_id, student_id__in=[s.pk for s in students]
        )
    }


def _appreciation_rows(request, students, existing, errors) -> list[dict]:
    return [
        {
            "student": s,
            "appreciation": request.POST.get(f"appreciation_{s.pk}", "")
            if errors
            else getattr(existing.get(s.pk), "text", ""),
            "error": errors.get(s.pk),
        }
        for s in students
    ]


@profiles("ENS", "DIR", "EVS")
def period_subject(request, uai, class_id, subject_id, period_id):
    """The teacher's table of a class, a subject and a period: each pupil's marks, average and
    appreciation (written by the teacher of this class and subject), the class's figures."""
    me = viewer(request)
    class_group = class_or_404(request, class_id)
    editable = me.may_grade(class_group.pk, subject_id)
    require(editable or me.is_supervisor)
    subject = next((t.subject for t in me.taught() if t.subject_id == subject_id), None)
    if subject is None:
        subject = Subject.objects.for_request(request).filter(pk=subject_id).first()
    if subject is None:
        raise Http404
    period, year_periods = _period_or_404(request, period_id)
    students = students_of(request, class_group)
    grades = (
        Grade.objects.for_request(request)
        .filter(assessment__class_group=class_group, assessment__subject=subject, **_in(period))
        .select_related("assessment")
        .order_by("assessment__date", "assessment_id")
    )
    marks = _by_student(grades)
    existing = _appreciations_of(request, period, subject.pk, students)
    errors: dict = {}
    if request.method == "POST":
        require(editable)
        texts, errors = _posted_appreciations(request, students)
        if not errors:
            _save_appreciations(request, period, subject.pk, existing, texts)
            messages.success(request, "Appréciations enregistrées.")
            return back(
                request,
                "period_subject",
                class_id=class_group.pk,
                subject_id=subject.pk,
                period_id=period.pk,
            )
    exact = {s.pk: averages.subject_average(marks.get(s.pk, [])) for s in students}
    rows = _appreciation_rows(request, students, existing, errors)
    for row in rows:
        row["marks"] = marks.get(row["student"].pk, [])
        row["average"] = averages.rounded(exact[row["student"].pk])
    figures = averages.class_figures(exact.values())
    return render(
        request,
        "grades/period_subject.html",
        {
            "class_group": class_group,
            "subject": subject,
            "period": period,
            "periods": year_periods,
            "rows": rows,
            "figures": {key: averages.rounded(value) for key, value in figures.items()},
            "editable": editable,
            "errors": list(errors.values()),
            "max_chars": APPRECIATION_MAX_CHARS,
        },
        status=400 if errors else 200,
    )


@profiles("ENS", "DIR", "EVS")
def class_council(request, uai, class_id, period_id):
    """The class council of a period: each pupil's general average and the council's general
    appreciation, written by the direction (the app has no principal teacher role); the
    class's teachers and the vie scolaire read it."""
    me = viewer(request)
    class_group = class_or_404(request, class_id)
    editable = me.profile == "DIR"
    require(me.is_supervisor or me.teaches(class_group.pk))
    period, year_periods = _period_or_404(request, period_id)
    students = students_of(request, class_group)
    grades = (
        Grade.objects.for_request(request)
        .filter(student_id__in=[s.pk for s in students], **_in(period))
        .select_related("assessment", "assessment__subject")
    )
    by_student = _by_student(grades)
    existing = _appreciations_of(request, period, None, students)
    errors: dict = {}
    if request.method == "POST":
        require(editable)
        texts, errors = _posted_appreciations(request, students)
        if not errors:
            _save_appreciations(request, period, None, existing, texts)
            messages.success(request, "Appréciations générales enregistrées.")
            return back(request, "class_council", class_id=class_group.pk, period_id=period.pk)
    rows = _appreciation_rows(request, students, existing, errors)
    for row in rows:
        row["overall"] = report(by_student.get(row["student"].pk, []))["overall"]
    subjects = {g.assessment.subject for g in grades if g.assessment.subject is not None}
    return render(
        request,
        "grades/class_council.html",
        {
            "class_group": class_group,
            "period": period,
            "periods": year_periods,
            "rows": rows,
            "subjects": sorted(subjects, key=_label),
            "editable": editable,
            "bulletins_link": me.manages_establishment and class_group.kind == "class",
            "errors": list(errors.values()),
            "max_chars": APPRECIATION_MAX_CHARS,
        },
        status=400 if errors else 200,
    )


@profiles("ENS", "DIR", "EVS")
def class_socle(request, uai, class_id, period_id):
    """The socle commun of a class for a period (issue #18 item 5): a grid pupils x the eight
    components, each a level of the LSU's four (or not assessed), saved in one POST: one wrong
    level refuses the whole form (400, French errors naming the pupil and the component), and
    nothing is saved. Set by the class's teachers and the direction, the rule of appreciations
    (the teachers of the class write theirs, the direction the council's); the vie scolaire
    reads it."""
    me = viewer(request)
    class_group = class_or_404(request, class_id)
    if class_group.kind != "class":
        raise Http404
    teaches = me.teaches(class_group.pk)
    require(me.is_supervisor or teaches)
    editable = teaches or me.profile == "DIR"
    period, year_periods = _period_or_404(request, period_id)
    students = students_of(request, class_group)
    existing = socle.levels_of(
        SocleLevel.objects.for_request(request), period, [s.pk for s in students]
    )
    errors: dict[str, str] = {}
    if request.method == "POST":
        require(editable)
        values, errors = socle.posted(request.POST, students)
        if not errors:
            socle.save(request.establishment, period, existing, values, by=request.user)
            messages.success(request, "Positionnements du socle commun enregistrés.")
            return back(request, "class_socle", class_id=class_group.pk, period_id=period.pk)
    rows = []
    for student in students:
        mine = existing.get(student.pk, {})
        cells = []
        for component in socle.COMPONENTS:
            name = socle.field_name(student.pk, component)
            found = mine.get(component)
            value = str(found.level) if found else ""
            cells.append(
                {
                    "component": component,
                    "domain": socle.DOMAINS[component],
                    "name": name,
                    "value": request.POST.get(name, value) if errors else value,
                    "shown": Mastery(found.level).label if found else socle.NOT_ASSESSED,
                    "error": errors.get(name, ""),
                }
            )
        rows.append({"student": student, "cells": cells})
    return render(
        request,
        "grades/class_socle.html",
        {
            "class_group": class_group,
            "period": period,
            "periods": year_periods,
            "rows": rows,
            "components": [(c, socle.DOMAINS[c]) for c in socle.COMPONENTS],
            "levels": [(m.value, m.label.removeprefix("Maîtrise ").capitalize()) for m in Mastery],
            "not_assessed": socle.NOT_ASSESSED,
            "editable": editable,
            "errors": list(errors.values()),
        },
        status=400 if errors else 200,
    )


@profiles("ELV", "TUT")
def period_summary(request, uai, period_id):
    """ "Relevé du trimestre" of the pupil (or the parent's chosen child): per subject the
    pupil's average, the class's average, lowest and highest, the teacher's appreciation; the
    general average and the council's appreciation. Appreciations once the period is
    published; marks and averages as always."""
    me = viewer(request)
    period, year_periods = _period_or_404(request, period_id)
    student = student_choice(request)
    context = {"period": period, "periods": year_periods, "student": student}
    context["children"] = me.children()
    if student is None:
        return render(request, "grades/period_summary.html", context)
    if period.published_at:
        context["bulletin"] = _bulletin(request, period, student)
    context.update(_summary(request, me, period, student, said=period.published_at is not None))
    return render(request, "grades/period_summary.html", context)


@profiles("ENS", "DIR", "EVS")
def student_period_summary(request, uai, user_id, period_id):
    """A pupil's "Relevé du trimestre" for the staff who follow them (ent.access
    follows_student: the direction, the vie scolaire, the pupil's teachers): the family's page,
    with the appreciations and the socle before the period is published too (the staff write
    them)."""
    me = viewer(request)
    student = followed_pupil_or_404(request, user_id)
    period, year_periods = _period_or_404(request, period_id)
    context = {
        "period": period,
        "periods": year_periods,
        "student": student,
        "staff": True,
        **_summary(request, me, period, student, said=True),
    }
    return render(request, "grades/period_summary.html", context)


def _summary(request, me, period, student, *, said: bool) -> dict:
    """The Relevé's figures (bulletins.summary) and socle; appreciations and socle when
    `said`."""
    grades = (
        Grade.objects.for_request(request)
        .filter(assessment__class_group_id__in=me.class_ids_of(student.pk), **_in(period))
        .select_related("assessment", "assessment__subject")
        .order_by("assessment__date", "assessment_id")
    )
    texts, context = {}, {}
    if said:
        texts = {
            a.subject_id: a.text
            for a in Appreciation.objects.for_request(request).filter(
                period=period, student=student
            )
        }
        levels = socle.levels_of(SocleLevel.objects.for_request(request), period, [student.pk])
        context["socle"] = socle.shown(levels.get(student.pk, {}))
    context.update(bulletins.summary(averages.by_subject(grades, student.pk), texts))
    return context


# --- bulletins (issue #18 item 6: preau.grades.bulletins) ----------------------------------------


def _bulletin(request, period, student) -> Bulletin | None:
    """The pupil's bulletin of the period: from the latest batch made."""
    return (
        Bulletin.objects.for_request(request)
        .filter(batch__period=period, student=student, batch__made_at__isnull=False)
        .select_related("file")
        .order_by("-batch__made_at", "-pk")
        .first()
    )


@never_cache
@require_http_methods(["GET", "POST"])
@profiles("DIR", "ENS", "EVS", "ETA", "ELV", "TUT")
def class_bulletins(request, uai, class_id, period_id):
    """The bulletins of a class for a period: the latest batch's state and its PDF for
    printing; a POST asks the job for a new batch (Post/Redirect/Get). The direction and the
    local admins, who publish the periods."""
    require(viewer(request).manages_establishment)
    class_group = class_or_404(request, class_id)
    if class_group.kind != "class":
        raise Http404
    period, year_periods = _period_or_404(request, period_id)
    batch = (
        BulletinBatch.objects.for_request(request)
        .filter(class_group=class_group, period=period)
        .order_by("-created_at", "-pk")
        .first()
    )
    if request.method == "POST":
        if batch is not None and batch.in_preparation(request.establishment.uai):
            messages.info(request, "Les bulletins de cette classe sont déjà en préparation.")
        else:
            bulletins.create_batch(
                request.establishment, class_group, period, by=request.user.username
            )
            messages.success(
                request,
                f"Bulletins de la {class_group.name} ({period.name}) demandés : "
                "ils sont en préparation.",
            )
        return back(request, "class_bulletins", class_id=class_group.pk, period_id=period.pk)
    context = {"class_group": class_group, "period": period, "periods": year_periods}
    return job_page(request, "grades/class_bulletins.html", context, batch)


@profiles("DIR", "ENS", "EVS", "ETA", "ELV", "TUT")
def class_bulletins_file(request, uai, class_id, period_id):
    """The class's PDF of the latest batch made (every pupil, for printing)."""
    require(viewer(request).manages_establishment)
    period, _ = _period_or_404(request, period_id)
    batch = (
        BulletinBatch.objects.for_request(request)
        .filter(class_group_id=class_id, period=period, file__isnull=False)
        .select_related("file")
        .order_by("-made_at", "-pk")
        .first()
    )
    if batch is None:
        raise Http404
    return files.download_response(batch.file)


@profiles("ELV", "TUT")
def bulletin_file(request, uai, period_id):
    """The pupil's (or the parent's chosen child's) bulletin, once the period is published."""
    period, _ = _period_or_404(request, period_id)
    student = student_choice(request)
    found = _bulletin(request, period, student) if student and period.published_at else None
    if found is None:
        raise Http404("Pas de bulletin publié pour cette période.")
    return files.download_response(found.file)


# --- the LSU export (issue #18 item 7: preau.grades.lsu) ------------------------------------------


def _lsu_exports(request, period):
    return (
        LsuExport.objects.for_request(request).filter(period=period).order_by("-created_at", "-pk")
    )


@never_cache
@require_http_methods(["GET", "POST"])
@profiles("DIR", "ENS", "EVS", "ETA", "ELV", "TUT")
def period_lsu(request, uai, period_id):
    """The LSU export of a period: the latest export's state, then its XML file or the French
    lines saying what the LSU requires and the data lacks; a POST asks the job for a new one
    (Post/Redirect/Get). The direction and the local admins, who publish the periods."""
    require(viewer(request).manages_establishment)
    period, year_periods = _period_or_404(request, period_id)
    export = _lsu_exports(request, period).first()
    if request.method == "POST":
        if export is not None and export.in_preparation(request.establishment.uai):
            messages.info(request, "L'export LSU de cette période est déjà en préparation.")
        else:
            lsu.create_export(request.establishment, period, by=request.user.username)
            messages.success(
                request, f"Export LSU du {period.name} demandé : il est en préparation."
            )
        return back(request, "period_lsu", period_id=period.pk)
    context = {"period": period, "periods": year_periods}
    return job_page(request, "grades/period_lsu.html", context, export)


@profiles("DIR", "ENS", "EVS", "ETA", "ELV", "TUT")
def period_lsu_file(request, uai, period_id):
    """The XML file of the period's latest export made, unless it was refused (an earlier
    file would not hold what was fixed since)."""
    require(viewer(request).manages_establishment)
    period, _ = _period_or_404(request, period_id)
    export = (
        _lsu_exports(request, period)
        .filter(made_at__isnull=False)
        .select_related("file")
        .order_by("-made_at", "-pk")
        .first()
    )
    if export is None or export.file is None:
        raise Http404("Pas d'export LSU pour cette période.")
    return files.download_response(export.file)
