"""The "appels non faits" reminder job (issue #17): the job queue's deliver_notifications job
(every 5 minutes, once for the platform) runs it through AttendanceConfig.periodic.

A lesson of today begun REMIND_AFTER ago or more without a roll call gets one reminder to its
teacher: a notification whose topic names the lesson and the teacher, so that however often
the job runs, on however many app hosts at once (a transaction-level advisory lock), it is
sent once; a reminder sent from the vie scolaire's "Relancer" button carries the same topic.
Only on a day the establishment is in session, that is with at least one roll call taken there
today: the timetable knows no calendar, and holidays or a closure have none."""

from __future__ import annotations

import datetime as dt

from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from preau.attendance.models import RollCall
from preau.attendance.rollcall import Lesson, lesson_url
from preau.ent.models import Notification
from preau.ent.notify import notify
from preau.timetable.models import TimetableSlot, cancelled_on, given_in, parity_of

REMIND_AFTER = dt.timedelta(minutes=15)
# pg_advisory_xact_lock's key for this job ("relance" in ASCII, truncated).
LOCK_KEY = 0x72656C616E6365


def topic(slot, day: dt.date) -> str:
    return f"relance:{slot.class_group_id}:{day:%Y-%m-%d}:{slot.start:%H%M}:{slot.teacher_id}"


def send(establishment, slot, day: dt.date, now: dt.datetime | None = None) -> None:
    """Remind the slot's teacher that the roll call of its lesson on `day` is missing."""
    lesson = Lesson(slot.class_group, day, slot.start)
    notify(
        establishment,
        [slot.teacher_id],
        f"Appel non fait : {slot.class_group.name} le {day:%d/%m} à {slot.start:%H:%M}. "
        "Merci de le faire.",
        lesson_url(establishment.uai, lesson),
        now,
        topic=topic(slot, day),
    )


def due(now: dt.datetime):
    """Today's lessons begun REMIND_AFTER ago, with a teacher and no roll call, in the
    establishments where a roll call was taken today (one query)."""
    local = timezone.localtime(now)
    day, until = local.date(), local - REMIND_AFTER
    if until.date() != day:
        return TimetableSlot.objects.none()
    today = RollCall.objects.filter(establishment_id=OuterRef("establishment_id"), date=day)
    return (
        TimetableSlot.objects.filter(
            given_in(parity_of(day)),
            weekday=day.isoweekday(),
            start__lte=until.time(),
            teacher__isnull=False,
        )
        .filter(Exists(today))
        .exclude(cancelled_on(day))
        .exclude(
            Exists(today.filter(class_group_id=OuterRef("class_group_id"), start=OuterRef("start")))
        )
        .select_related("class_group", "establishment")
        .order_by("establishment_id", "start", "pk")
    )


def remind_missing_roll_calls(now: dt.datetime | None = None, dry_run: bool = False) -> int:
    """Send the reminders not sent yet; returns how many (would be) sent."""
    now = now or timezone.now()
    day = timezone.localtime(now).date()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        lessons = {topic(slot, day): slot for slot in due(now)}
        sent = set(
            Notification.objects.filter(topic__in=list(lessons)).values_list("topic", flat=True)
        )
        todo = [slot for key, slot in lessons.items() if key not in sent]
        if not dry_run:
            for slot in todo:
                send(slot.establishment, slot, day, now)
    return len(todo)
