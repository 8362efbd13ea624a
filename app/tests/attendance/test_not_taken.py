"""Vie scolaire's day (issue #17, item 2): the lessons begun today without a roll call, a
reminder to their teacher, and the half-days of absence per class."""

import datetime as dt

from django.utils import timezone

from preau.attendance.models import Absence
from preau.ent.models import Notification
from preau.timetable.models import LessonChange, TimetableSlot
from tests.school import url


def today_slot(s):
    """A lesson of the class begun today (at midnight: whatever the hour of the test run)."""
    return TimetableSlot.objects.create(
        establishment=s["est"],
        class_group=s["class"],
        subject=s["subject"],
        teacher=s["teacher"],
        weekday=timezone.localdate().isoweekday(),
        start=dt.time(0, 0),
        end=dt.time(0, 1),
    )


def evs_page(client, s) -> str:
    client.force_login(s["evs"])
    return " ".join(client.get(url(s, "attendance")).content.decode().split())


def test_a_lesson_without_roll_call_is_listed_until_the_roll_is_called(client, school):
    s = school
    slot = today_slot(s)
    page = evs_page(client, s)
    assert "Appels non faits aujourd'hui" in page
    assert f"pour l'appel de {s['class'].name} à 00:00" in page
    client.force_login(s["teacher"])  # everybody present: the roll call counts all the same
    response = client.post(
        url(s, "roll_call", class_id=s["class"].pk),
        {"date": timezone.localdate().isoformat(), "start": "00:00"},
    )
    assert response.status_code == 302
    assert f"pour l'appel de {s['class'].name} à 00:00" not in evs_page(client, s)
    assert slot.pk  # still in the timetable


def test_a_lesson_cancelled_today_is_not_a_roll_call_missing(client, school):
    """Since lessons can be cancelled on a date (issue #18 item 1), a cancelled one is no roll
    call missing: it was listed (and reminded by the job) before."""
    s = school
    slot = today_slot(s)
    LessonChange.objects.create(
        establishment=s["est"], slot=slot, date=timezone.localdate(), cancelled=True
    )
    assert f"pour l'appel de {s['class'].name} à 00:00" not in evs_page(client, s)
    LessonChange.objects.update(cancelled=False, room="B12")  # moved, not cancelled: listed
    assert f"pour l'appel de {s['class'].name} à 00:00" in evs_page(client, s)


def test_the_vie_scolaire_reminds_the_teacher(client, school):
    s = school
    slot = today_slot(s)
    Notification.objects.all().delete()
    client.force_login(s["evs"])
    response = client.post(url(s, "roll_call_reminder", slot_id=slot.pk), follow=True)
    assert "Relance envoyée pour l&#39;appel de 5A." in response.content.decode()
    (note,) = Notification.objects.filter(user=s["teacher"])
    assert note.text.startswith(f"Appel non fait : {s['class'].name}")
    assert f"/appel/{s['class'].pk}/?date=" in note.url
    client.force_login(s["teacher"])  # the teachers do not remind each other
    assert client.post(url(s, "roll_call_reminder", slot_id=slot.pk)).status_code == 403


def test_half_days_per_class(client, school):
    s = school
    Absence.objects.all().delete()
    for student, start, status in (
        ("student", dt.time(8), "unjustified"),
        ("student", dt.time(9), "accepted"),
        ("other_student", dt.time(8), "accepted"),
        ("other_student", dt.time(14), "accepted"),
    ):
        Absence.objects.create(
            establishment=s["est"],
            student=s[student],
            class_group=s["class"],
            date=dt.date(2026, 3, 9),
            start=start,
            status=status,
        )
    page = evs_page(client, s)
    assert (
        f'<th scope="row">{s["class"].name}</th>'
        '<td data-label="Demi-journées d\'absence">3</td>'
        '<td data-label="Dont non justifiées">1</td>'
    ) in page
