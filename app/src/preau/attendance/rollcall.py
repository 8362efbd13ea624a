"""The roll call of one lesson (a class, a day, a start time): its current state, and a save
that keeps corrections (issue #17).

A state is "present", "absent" or "late:<minutes>"; a present pupil has no row. The form sends
each pupil's state and the state it showed (`avant_<id>`); a save applies, in one transaction
holding the class's row lock, the pupils whose state the teacher changed: a pupil changed by a
colleague since the form was shown and left alone here keeps the colleague's state. Every change
is kept (AttendanceChange), and the pupil and guardians are notified through the held
notifications (preau.ent.notify) after a window in which a correction replaces the notification.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from preau.attendance.models import Absence, AttendanceChange, RollCall, state_label
from preau.core.models import ClassGroup, User
from preau.ent.access import guardians_of
from preau.ent.notify import cancel_held, notify

PRESENT = "present"
# A notification leaves after this window (and the quiet hours): a correction made meanwhile
# replaces it, so the family hears of what the roll call finally says.
CORRECTION_WINDOW = dt.timedelta(minutes=10)
MAX_MINUTES_LATE = 240


@dataclass
class Lesson:
    class_group: ClassGroup
    date: dt.date
    start: dt.time


def lesson_url(uai: str, lesson: Lesson) -> str:
    """The roll call page of one lesson."""
    path = reverse("roll_call", kwargs={"uai": uai, "class_id": lesson.class_group.pk})
    query = urlencode({"date": lesson.date.isoformat(), "start": f"{lesson.start:%H:%M}"})
    return f"{path}?{query}"


@dataclass
class Entry:
    """What the form sent for one pupil: the state wanted, the state the form showed."""

    student: User
    wanted: str
    shown: str | None


@dataclass
class Change:
    student: User
    row: Absence | None
    before: str
    after: str


@dataclass
class Outcome:
    changes: list[Change] = field(default_factory=list)
    # Pupils changed here and, since the form was shown, by someone else too: this save won.
    overridden: list[User] = field(default_factory=list)


def current(establishment, lesson: Lesson, student_ids, lock: bool = False) -> dict[int, Absence]:
    """The lesson's rows by pupil (with who recorded them), in one query."""
    rows = Absence.objects.filter(
        establishment=establishment,
        date=lesson.date,
        start=lesson.start,
        student_id__in=list(student_ids),
    ).select_related("recorded_by")
    if lock:
        rows = rows.select_for_update(of=("self",))
    return {row.student_id: row for row in rows}


def _name(student) -> str:
    return f"{student.first_name} {student.last_name}"


def _one_entry(post, student) -> tuple[Entry | None, str | None]:
    if f"etat_{student.pk}" not in post:
        return None, None  # not on the form sent (a pupil who joined the class since): unchanged
    state = post[f"etat_{student.pk}"]
    if state not in (PRESENT, "absent", "late"):
        return None, f"{_name(student)} : choisissez présent, absent ou en retard."
    if state == "late":
        minutes = (post.get(f"retard_{student.pk}") or "").strip()
        if not minutes.isdigit() or not 1 <= int(minutes) <= MAX_MINUTES_LATE:
            return None, (
                f"{_name(student)} : indiquez la durée du retard en minutes "
                f"(un nombre entre 1 et {MAX_MINUTES_LATE})."
            )
        state = f"late:{int(minutes)}"
    return Entry(student, state, post.get(f"avant_{student.pk}") or None), None


def read_form(post, students) -> tuple[list[Entry], list[str]]:
    """Each pupil's entry, or the French errors that stop the whole save."""
    entries, errors = [], []
    for student in students:
        entry, error = _one_entry(post, student)
        if error:
            errors.append(error)
        elif entry:
            entries.append(entry)
    return entries, errors


def _changes(entries, rows) -> Outcome:
    outcome = Outcome()
    for entry in entries:
        row = rows.get(entry.student.pk)
        now = row.state if row else PRESENT
        if entry.wanted == now:
            continue
        if entry.shown is not None and entry.shown != now:
            if entry.wanted == entry.shown:
                continue  # changed by a colleague meanwhile, not here: theirs stays
            outcome.overridden.append(entry.student)
        outcome.changes.append(Change(entry.student, row, now, entry.wanted))
    return outcome


def _apply(request, lesson, subject, changes) -> None:
    gone = [c.row.pk for c in changes if c.after == PRESENT and c.row]
    Absence.objects.filter(pk__in=gone).delete()
    kept = [
        Absence(
            establishment=request.establishment,
            student=c.student,
            class_group=lesson.class_group,
            subject=subject,
            recorded_by=request.user,
            date=lesson.date,
            start=lesson.start,
            kind=Absence.Kind.LATE if c.after.startswith("late:") else Absence.Kind.ABSENCE,
            minutes_late=int(c.after[5:]) if c.after.startswith("late:") else None,
        )
        for c in changes
        if c.after != PRESENT
    ]
    # An upsert: a row of the same pupil and hour written by another class's roll call is
    # updated, never dropped (the justification it may carry stays).
    Absence.objects.bulk_create(
        kept,
        update_conflicts=True,
        unique_fields=["student", "date", "start"],
        update_fields=["kind", "minutes_late", "recorded_by", "class_group", "subject"],
    )
    AttendanceChange.objects.bulk_create(
        AttendanceChange(
            establishment=request.establishment,
            student=c.student,
            class_group=lesson.class_group,
            date=lesson.date,
            start=lesson.start,
            before=c.before,
            after=c.after,
            changed_by=request.user,
        )
        for c in changes
    )


def topic(student_id: int, lesson: Lesson) -> str:
    return f"appel:{student_id}:{lesson.date:%Y-%m-%d}:{lesson.start:%H%M}"


def _text(change: Change, lesson: Lesson, correction: bool) -> str:
    when = f"le {lesson.date:%d/%m} à {lesson.start:%H:%M}"
    first = change.student.first_name
    if correction:
        return f"Correction de l'appel {when} pour {first} : {state_label(change.after).lower()}."
    what = "une absence" if change.after == "absent" else f"un retard de {change.after[5:]} min"
    return f"{first} : {what} {when}."


def _notify(request, lesson, changes) -> None:
    """Once per pupil, of what was saved: a notification still held is replaced (or withdrawn
    when the pupil turns out present); one already delivered gets a correction."""
    topics = {c.student.pk: topic(c.student.pk, lesson) for c in changes}
    delivered = cancel_held(request.establishment, topics.values())
    guardians: dict[int, list[int]] = {}
    for parent_id, child_id in guardians_of(request, list(topics)):
        guardians.setdefault(child_id, []).append(parent_id)
    url = reverse("attendance", kwargs={"uai": request.establishment.uai})
    for change in changes:
        sid = change.student.pk
        correction = topics[sid] in delivered
        if change.after == PRESENT and not correction:
            continue
        notify(
            request.establishment,
            [*guardians.get(sid, []), sid],
            _text(change, lesson, correction),
            url,
            topic=topics[sid],
            delay=CORRECTION_WINDOW,
        )


def _taken(request, lesson: Lesson) -> None:
    """Record that the lesson's roll call was taken (by whom, when), changes or not."""
    RollCall.objects.bulk_create(
        [
            RollCall(
                establishment=request.establishment,
                class_group=lesson.class_group,
                date=lesson.date,
                start=lesson.start,
                done_by=request.user,
                done_at=timezone.now(),
            )
        ],
        update_conflicts=True,
        unique_fields=["class_group", "date", "start"],
        update_fields=["done_by", "done_at"],
    )


def save(request, lesson: Lesson, entries: list[Entry], subject) -> Outcome:
    """Apply the teacher's changes to the lesson in one transaction; two saves of one class's
    roll call run one after the other (the class row's lock)."""
    with transaction.atomic():
        list(
            ClassGroup.objects.select_for_update()
            .filter(pk=lesson.class_group.pk)
            .values_list("pk")
        )
        rows = current(request.establishment, lesson, [e.student.pk for e in entries], lock=True)
        outcome = _changes(entries, rows)
        _taken(request, lesson)
        if outcome.changes:
            _apply(request, lesson, subject, outcome.changes)
            _notify(request, lesson, outcome.changes)
    return outcome


def history(establishment, lesson: Lesson):
    """The lesson's changes, newest first, with pupil and author (one query)."""
    return (
        AttendanceChange.objects.filter(
            establishment=establishment,
            class_group=lesson.class_group,
            date=lesson.date,
            start=lesson.start,
        )
        .select_related("student", "changed_by")
        .order_by("-changed_at", "-id")[:200]
    )
