"""Vie scolaire: absences and lateness per lesson, justification by parents, validation by the
vie scolaire, counters per student."""

import datetime as dt

from django.contrib import messages
from django.db.models import Case, CharField, Count, Exists, OuterRef, Q, Value, When
from django.db.models.functions import Cast, Concat
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from preau.attendance import incidents, reminders, rollcall
from preau.attendance.forms import IncidentForm, JustifyForm, RollCallForm
from preau.attendance.models import Absence, Incident, RollCall
from preau.core.prepared import PreparedQuery
from preau.ent.access import profiles, require, viewer
from preau.ent.notify import notify
from preau.ent.views.common import (
    PreparedPages,
    back,
    class_or_404,
    confirm_page,
    followed_pupil_or_404,
    form_page,
    paginate,
    students_of,
)
from preau.timetable.models import TimetableSlot, cancelled_on, given_in, parity_of

NEEDS_JUSTIFICATION = [Absence.Status.UNJUSTIFIED, Absence.Status.REFUSED]


# A half-day (demi-journée, the official measure of absences): the morning ends at 12:30.
NOON = dt.time(12, 30)
HALF_DAY = Concat(
    Cast("date", CharField()),
    Case(When(start__lt=NOON, then=Value(" matin")), default=Value(" après-midi")),
)
ABSENT = Q(kind=Absence.Kind.ABSENCE)


def _counters(est, ids):
    return (
        Absence.objects.filter(establishment_id=est, student_id__any=ids)
        .order_by()
        .values("student_id")
        .annotate(
            absences=Count("id", filter=ABSENT),
            lates=Count("id", filter=Q(kind=Absence.Kind.LATE)),
            to_justify=Count("id", filter=Q(status__in=NEEDS_JUSTIFICATION)),
            half_days=Count(HALF_DAY, distinct=True, filter=ABSENT),
            half_days_unjustified=Count(
                HALF_DAY, distinct=True, filter=ABSENT & ~Q(status=Absence.Status.ACCEPTED)
            ),
        )
        .values_list(
            "student_id", "absences", "lates", "to_justify", "half_days", "half_days_unjustified"
        )
    )


def _absences(est):
    return Absence.objects.filter(establishment_id=est).select_related(
        "student", "subject", "class_group"
    )


# The vie scolaire pages, compiled once (preau.core.prepared), scoped to the establishment: the
# counters and absences of students (a student, a parent's children), those a teacher recorded,
# the justifications to validate and the day's absences (vie scolaire, direction).
COUNTERS = PreparedQuery(_counters, est=int, ids=list)
OF_STUDENTS = PreparedPages(
    lambda est, ids: _absences(est).filter(student_id__any=ids), est=int, ids=list
)
RECORDED_BY = PreparedPages(
    lambda est, user: _absences(est).filter(recorded_by_id=user), est=int, user=int
)
TO_VALIDATE = PreparedQuery(
    lambda est: _absences(est).filter(status=Absence.Status.SUBMITTED).order_by("date")[:100],
    est=int,
)
# The roll call's default lesson: the class's last one begun today.
LESSON_STARTED = PreparedQuery(
    lambda est, class_group, weekday, parity, time: (
        TimetableSlot.objects.filter(
            given_in(parity),
            establishment_id=est,
            class_group_id=class_group,
            weekday=weekday,
            start__lte=time,
        )
        .order_by("-start")
        .values_list("start")[:1]
    ),
    est=int,
    class_group=int,
    weekday=int,
    parity=str,
    time=dt.time,
)
# Today's lessons begun without a roll call ("appels non faits"), for the vie scolaire.
NOT_TAKEN = PreparedQuery(
    lambda est, day, weekday, parity, time: (
        TimetableSlot.objects.filter(
            given_in(parity), establishment_id=est, weekday=weekday, start__lte=time
        )
        .exclude(cancelled_on(day))
        .exclude(
            Exists(
                RollCall.objects.filter(
                    establishment_id=est,
                    class_group_id=OuterRef("class_group_id"),
                    date=day,
                    start=OuterRef("start"),
                )
            )
        )
        .select_related("class_group", "subject", "teacher")
        .order_by("start", "class_group__name")[:200]
    ),
    est=int,
    day=dt.date,
    weekday=int,
    parity=str,
    time=dt.time,
)
# Half-days of absence per class (the vie scolaire's overview).
BY_CLASS = PreparedQuery(
    lambda est: (
        Absence.objects.filter(establishment_id=est, kind=Absence.Kind.ABSENCE)
        .exclude(class_group=None)
        .order_by()
        .values("class_group__name")
        .annotate(
            half_days=Count(Concat(Cast("student_id", CharField()), HALF_DAY), distinct=True),
            unjustified=Count(
                Concat(Cast("student_id", CharField()), HALF_DAY),
                distinct=True,
                filter=~Q(status=Absence.Status.ACCEPTED),
            ),
        )
        .order_by("class_group__name")
        .values_list("class_group__name", "half_days", "unjustified")[:200]
    ),
    est=int,
)
OF_THE_DAY = PreparedPages(lambda est, day: _absences(est).filter(date=day), est=int, day=dt.date)
# The day's exclusions and infirmary visits (vie scolaire, direction).
INCIDENTS_OF_THE_DAY = PreparedQuery(
    lambda est, day: (
        Incident.objects.filter(establishment_id=est, date=day)
        .select_related("student", "class_group", "recorded_by")
        .order_by("start", "id")[:200]
    ),
    est=int,
    day=dt.date,
)


COUNTER_NAMES = ("absences", "lates", "to_justify", "half_days", "half_days_unjustified")


def counters(request, student_ids) -> dict[int, dict]:
    """{student id: {"absences", "lates", "to_justify", "half_days", "half_days_unjustified"}}
    in one query; a half-day is unjustified while one of its absences is not accepted."""
    found = {
        sid: dict(zip(COUNTER_NAMES, values, strict=True))
        for sid, *values in COUNTERS.rows(est=request.establishment.pk, ids=list(student_ids))
    }
    empty = dict.fromkeys(COUNTER_NAMES, 0)
    return {sid: found.get(sid, empty) for sid in student_ids}


def _listing(request):
    return Absence.objects.for_request(request).select_related("student", "subject", "class_group")


@profiles("ELV", "TUT", "ENS", "DIR", "EVS")
def attendance(request, uai):
    me = viewer(request)
    context = {"me": me}
    est = request.establishment.pk
    if me.profile in ("ELV", "TUT"):
        students = [request.user] if me.profile == "ELV" else me.children()
        ids = [s.pk for s in students]
        stats = counters(request, ids)
        context["students"] = [{"student": s, "stats": stats[s.pk]} for s in students]
        context["page"] = OF_STUDENTS.page(request, est=est, ids=ids)
        context["actions"] = "justify" if me.profile == "TUT" else ""
    elif me.profile == "ENS":
        context["taught"] = me.taught()
        context["page"] = RECORDED_BY.page(request, est=est, user=request.user.pk)
    else:
        now = timezone.localtime()
        context["pending"] = TO_VALIDATE.rows(est=est)
        context["not_taken"] = NOT_TAKEN.rows(
            est=est,
            day=now.date(),
            weekday=now.isoweekday(),
            parity=parity_of(now.date()),
            time=now.time().replace(tzinfo=None),
        )
        context["by_class"] = BY_CLASS.rows(est=est)
        context["page"] = OF_THE_DAY.page(request, est=est, day=timezone.localdate())
        context["incidents"] = INCIDENTS_OF_THE_DAY.rows(est=est, day=timezone.localdate())
    return render(request, "attendance/attendance.html", context)


def _lesson(request, class_group, data) -> tuple[rollcall.Lesson, RollCallForm]:
    """The lesson chosen (date and start in `data`), by default the class's slot in progress
    (or the last one begun) today, else this hour."""
    now = timezone.localtime()
    slot = LESSON_STARTED.rows(
        est=request.establishment.pk,
        class_group=class_group.pk,
        weekday=now.isoweekday(),
        parity=parity_of(now.date()),
        time=now.time().replace(tzinfo=None),
    )
    default = slot[0][0] if slot else now.time().replace(minute=0, second=0, microsecond=0)
    form = RollCallForm(data or None, initial={"date": now.date(), "start": default})
    if data and form.is_valid():
        day, start = form.cleaned_data["date"], form.cleaned_data["start"]
    else:
        day, start = now.date(), default
    return rollcall.Lesson(class_group, day, start), form


@profiles("ENS", "DIR", "EVS")
def roll_call(request, uai, class_id):
    """The roll call of one lesson: present / absent / late for each student, as recorded so
    far (and by whom); a save records the changes (rollcall.save)."""
    me = viewer(request)
    class_group = class_or_404(request, class_id)
    require(me.is_supervisor or me.teaches(class_group.pk))
    students = students_of(request, class_group)
    posted = request.method == "POST"
    lesson, form = _lesson(request, class_group, request.POST if posted else request.GET)
    errors: list[str] = []
    if posted and form.is_valid():
        entries, errors = rollcall.read_form(request.POST, students)
        if not errors:
            teaching = next((t for t in me.taught() if t.class_group_id == class_group.pk), None)
            outcome = rollcall.save(
                request, lesson, entries, teaching.subject if teaching else None
            )
            _saved_messages(request, outcome)
            return redirect(_roll_call_url(request, lesson))
    rows = rollcall.current(request.establishment, lesson, [s.pk for s in students])
    history = rollcall.history(request.establishment, lesson) if me.is_supervisor else None
    return render(
        request,
        "attendance/roll_call.html",
        {
            "class_group": class_group,
            "lesson": lesson,
            "form": form,
            "errors": errors,
            "pupils": [{"student": s, "row": rows.get(s.pk)} for s in students],
            "history": history,
        },
        status=400 if posted else 200,
    )


def _roll_call_url(request, lesson) -> str:
    return rollcall.lesson_url(request.establishment.uai, lesson)


def _saved_messages(request, outcome) -> None:
    changed = len(outcome.changes)
    messages.success(
        request,
        f"Appel enregistré : {changed} modification(s)."
        if changed
        else "Appel enregistré : aucune modification.",
    )
    if outcome.overridden:
        names = ", ".join(f"{s.first_name} {s.last_name}" for s in outcome.overridden)
        messages.warning(
            request,
            f"{names} : un collègue avait modifié l'appel entre-temps ; votre saisie l'a remplacé "
            "(la vie scolaire voit les deux dans l'historique).",
        )


@profiles("TUT")
def absence_justify(request, uai, absence_id):
    me = viewer(request)
    absence = get_object_or_404(_listing(request), pk=absence_id)
    require(absence.student_id in me.student_ids())
    form = JustifyForm(request.POST or None, initial={"reason": absence.reason})
    if request.method == "POST" and absence.needs_justification and form.is_valid():
        absence.reason = form.cleaned_data["reason"]
        absence.status = Absence.Status.SUBMITTED
        absence.justified_by, absence.justified_at = request.user, timezone.now()
        absence.save(update_fields=["reason", "status", "justified_by", "justified_at"])
        messages.success(request, "Justificatif envoyé à la vie scolaire.")
        return back(request, "attendance")
    return render(
        request,
        "attendance/absence_justify.html",
        {"absence": absence, "form": form},
        status=400 if request.method == "POST" else 200,
    )


def _of_kind(absence) -> str:
    """ "du retard" or "de l'absence": a lateness is never called an absence."""
    return "du retard" if absence.kind == Absence.Kind.LATE else "de l'absence"


@require_POST
@profiles("EVS", "DIR")
def absence_validate(request, uai, absence_id):
    absence = get_object_or_404(_listing(request), pk=absence_id)
    accepted = request.POST.get("decision") == "accept"
    reason = (request.POST.get("motif") or "").strip()[:1000]
    if not accepted and not reason:
        messages.error(
            request,
            f"Refus du justificatif de {absence.student} : indiquez le motif du refus, que la "
            "famille verra. Rien n'a été modifié.",
        )
        return back(request, "attendance")
    absence.status = Absence.Status.ACCEPTED if accepted else Absence.Status.REFUSED
    absence.refusal_reason = "" if accepted else reason
    absence.validated_by, absence.validated_at = request.user, timezone.now()
    absence.save(update_fields=["status", "refusal_reason", "validated_by", "validated_at"])
    if absence.justified_by_id:
        verdict = "acceptée" if accepted else f"refusée : {reason}"
        notify(
            request.establishment,
            [absence.justified_by_id],
            f"Justification {_of_kind(absence)} de {absence.student.first_name} "
            f"du {absence.date:%d/%m} {verdict}",
            reverse("attendance", kwargs={"uai": uai}),
        )
    messages.success(
        request,
        f"{absence.get_kind_display()} de {absence.student} : "
        f"{absence.get_status_display().lower()}.",
    )
    return back(request, "attendance")


@profiles("ELV", "TUT", "ENS", "DIR", "EVS")
def student_attendance(request, uai, user_id):
    student = followed_pupil_or_404(request, user_id)
    return render(
        request,
        "attendance/student_attendance.html",
        {
            "student": student,
            "stats": counters(request, [student.pk])[student.pk],
            "page": paginate(request, _listing(request).filter(student=student)),
            "incidents": incidents.of_student(request, student.pk),
        },
    )


@require_POST
@profiles("EVS", "DIR")
def roll_call_reminder(request, uai, slot_id):
    """Remind a lesson's teacher that its roll call is missing today (a notification)."""
    slot = get_object_or_404(
        TimetableSlot.objects.for_request(request).select_related("class_group"), pk=slot_id
    )
    if slot.teacher_id is None:
        messages.error(request, "Ce cours n'a pas de professeur : personne à relancer.")
        return back(request, "attendance")
    reminders.send(request.establishment, slot, timezone.localdate())
    messages.success(request, f"Relance envoyée pour l'appel de {slot.class_group.name}.")
    return back(request, "attendance")


@profiles("ENS", "DIR", "EVS")
def incident_new(request, uai, class_id):
    """Record an exclusion from class (the class's teacher, from their lesson, or the vie
    scolaire) or a visit to the infirmary (the vie scolaire): incidents.record."""
    me = viewer(request)
    class_group = class_or_404(request, class_id)
    require(me.is_supervisor or me.teaches(class_group.pk))
    students = students_of(request, class_group)
    kinds = Incident.Kind.choices if me.is_supervisor else [Incident.Kind.choices[0]]
    lesson, _ = _lesson(request, class_group, request.GET)
    form = IncidentForm(
        request.POST or None,
        students=students,
        kinds=kinds,
        initial={"date": lesson.date, "start": lesson.start, "kind": kinds[0][0]},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        student = next(s for s in students if s.pk == data["student"])
        incident = incidents.record(request, class_group, data, student)
        name = f"{student.first_name} {student.last_name}"
        messages.success(
            request,
            f"Exclusion de cours de {name} enregistrée ; la famille en est informée."
            if incident.kind == Incident.Kind.EXCLUSION
            else f"Passage à l'infirmerie de {name} enregistré.",
        )
        return redirect(
            _roll_call_url(request, rollcall.Lesson(class_group, data["date"], data["start"]))
        )
    return form_page(
        request,
        form,
        f"Exclusion de cours ou passage à l'infirmerie – {class_group.name}",
        "Enregistrer",
        "roll_call",
        class_id=class_group.pk,
    )


@profiles("ENS", "DIR", "EVS")
def incident_delete(request, uai, incident_id):
    """A confirmation page (GET), then the removal (POST): incidents.remove."""
    incident = get_object_or_404(
        Incident.objects.for_request(request).select_related("student"), pk=incident_id
    )
    require(incidents.may_remove(viewer(request), incident))
    back_kwargs = {"user_id": incident.student_id}
    if request.method == "POST":
        incidents.remove(request, incident)
        messages.success(
            request,
            f"Saisie supprimée : {incident.get_kind_display().lower()} de {incident.student}.",
        )
        return back(request, "student_attendance", **back_kwargs)
    what = {"exclusion": "l'exclusion de cours", "infirmary": "le passage à l'infirmerie"}
    return confirm_page(
        request,
        "Supprimer une saisie",
        f"Supprimer {what[incident.kind]} de {incident.student} du {incident.date:%d/%m/%Y} à "
        f"{incident.start:%H:%M} ? La vie scolaire garde la trace de cette suppression.",
        "Supprimer la saisie",
        "student_attendance",
        **back_kwargs,
    )
