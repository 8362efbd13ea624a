"""Exclusions from class and visits to the infirmary (issue #17): each recorded with the same
history as the roll call (AttendanceChange: who, when, before -> after); an exclusion notifies
the pupil and the legal guardians through the held notifications (preau.ent.notify, delivered
by deliver_notifications), as a roll call does."""

from __future__ import annotations

from django.db import transaction
from django.urls import reverse

from preau.attendance.models import AttendanceChange, Incident
from preau.attendance.rollcall import CORRECTION_WINDOW
from preau.ent.access import guardians_of
from preau.ent.notify import cancel_held, notify


def record(request, class_group, data: dict, student) -> Incident:
    """Store the incident and its history row in one transaction; notify an exclusion."""
    with transaction.atomic():
        incident = Incident.objects.create(
            establishment=request.establishment,
            student=student,
            class_group=class_group,
            kind=data["kind"],
            date=data["date"],
            start=data["start"],
            reason=data["reason"].strip(),
            recorded_by=request.user,
        )
        _history(request, incident, "", incident.kind)
        if incident.kind == Incident.Kind.EXCLUSION:
            _notify(request, incident)
    return incident


def _history(request, incident: Incident, before: str, after: str) -> None:
    AttendanceChange.objects.create(
        establishment=request.establishment,
        student=incident.student,
        class_group=incident.class_group,
        what=incident.kind,
        date=incident.date,
        start=incident.start,
        before=before,
        after=after,
        changed_by=request.user,
    )


def may_remove(me, incident: Incident) -> bool:
    """Who recorded it, or the vie scolaire and the direction, remove an incident."""
    return me.is_supervisor or incident.recorded_by_id == me.user.pk


def remove(request, incident: Incident) -> None:
    """Delete an incident recorded by mistake, kept in the history (before -> nothing); an
    exclusion's notification still held is withdrawn, one already delivered gets a correction."""
    with transaction.atomic():
        _history(request, incident, incident.kind, "")
        topic = f"exclusion:{incident.pk}"
        if incident.kind == Incident.Kind.EXCLUSION and cancel_held(request.establishment, [topic]):
            _notify(request, incident, cancelled=True)
        incident.delete()


def _notify(request, incident: Incident, cancelled: bool = False) -> None:
    guardians = [parent for parent, _ in guardians_of(request, [incident.student_id])]
    url = reverse(
        "student_attendance",
        kwargs={"uai": request.establishment.uai, "user_id": incident.student_id},
    )
    notify(
        request.establishment,
        [*guardians, incident.student_id],
        f"{incident.student.first_name} : exclusion du cours du {incident.date:%d/%m} à "
        f"{incident.start:%H:%M}" + (" annulée." if cancelled else f". Motif : {incident.reason}"),
        url,
        topic=f"exclusion:{incident.pk}",
        delay=CORRECTION_WINDOW,
    )


def of_student(request, student_id: int):
    """The pupil's exclusions and infirmary visits, newest first (one query)."""
    return (
        Incident.objects.for_request(request)
        .filter(student_id=student_id)
        .select_related("student", "class_group", "recorded_by")
        .order_by("-date", "-start", "-id")[:100]
    )
