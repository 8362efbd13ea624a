"""The "appels non faits" reminder job (issue #17): run by deliver_notifications, not by a
browser, it reminds a lesson's teacher once per lesson, however often it runs (twice at once
included), only for lessons begun a while ago without a roll call, on a day the establishment
is in session; a reminder from the vie scolaire's button counts as that one."""

import datetime as dt
import io
import json
import threading
import zoneinfo

import pytest
from django.core.management import call_command
from django.db import connection

from preau.attendance.models import RollCall
from preau.attendance.reminders import remind_missing_roll_calls
from preau.ent import notify as notify_module
from preau.ent.models import Notification
from preau.timetable.models import LessonChange, TimetableSlot
from tests.school import make_school, url

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
MONDAY = dt.date(2026, 3, 9)
MONDAY_10_20 = dt.datetime(2026, 3, 9, 10, 20, tzinfo=PARIS)


def slot(s, class_group, teacher, start):
    return TimetableSlot.objects.create(
        establishment=s["est"],
        class_group=class_group,
        teacher=teacher,
        weekday=1,
        start=start,
        end=(dt.datetime.combine(MONDAY, start) + dt.timedelta(minutes=55)).time(),
    )


def day(s):
    """A Monday of A: 8:00 in 4A (roll call taken), 10:00 in 5A twice (two rows of one lesson,
    no roll call), 10:10 in the latin group (begun 10 min ago), 11:00 (to come); B has a
    10:00 lesson but took no roll call today (a closed day for B)."""
    TimetableSlot.objects.all().delete()
    Notification.objects.all().delete()
    b = make_school("B", "0820010R")
    slot(s, s["other_class"], s["other_teacher"], dt.time(8))
    RollCall.objects.create(
        establishment=s["est"], class_group=s["other_class"], date=MONDAY, start=dt.time(8)
    )
    missing = [slot(s, s["class"], s["teacher"], dt.time(10)) for _ in range(2)]
    slot(s, s["group"], s["teacher"], dt.time(10, 10))
    slot(s, s["class"], s["teacher"], dt.time(11))
    slot(b, b["class"], b["teacher"], dt.time(10))
    return missing[0]


def run_job(monkeypatch, now=MONDAY_10_20) -> dict:
    monkeypatch.setattr(notify_module, "_now", lambda: now)
    out = io.StringIO()
    call_command("deliver_notifications", "--json", stdout=out)
    return json.loads(out.getvalue())


@pytest.mark.django_db
def test_one_reminder_per_lesson_and_teacher_however_often_the_job_runs(school, monkeypatch):
    s = school
    day(s)
    assert run_job(monkeypatch)["roll_call_reminders"] == 1
    for minutes in (0, 2, 30, 90):
        later = MONDAY_10_20 + dt.timedelta(minutes=minutes)
        assert run_job(monkeypatch, later)["roll_call_reminders"] == (1 if minutes >= 30 else 0)
    # 10:50 reminded the 10:10 lesson, 11:50 the 11:00 one: each once, nothing else.
    notes = Notification.objects.filter(topic__startswith="relance:").order_by("created_at")
    assert [(n.user_id, n.text) for n in notes] == [
        (
            s["teacher"].pk,
            f"Appel non fait : {s['class'].name} le 09/03 à 10:00. Merci de le faire.",
        ),
        (
            s["teacher"].pk,
            f"Appel non fait : {s['group'].name} le 09/03 à 10:10. Merci de le faire.",
        ),
        (
            s["teacher"].pk,
            f"Appel non fait : {s['class'].name} le 09/03 à 11:00. Merci de le faire.",
        ),
    ]
    assert f"/appel/{s['class'].pk}/?date=2026-03-09&start=10%3A00" in notes[0].url
    assert notes[0].delivered_at is not None  # during the day: delivered at once


@pytest.mark.django_db
def test_no_reminder_once_the_roll_is_called_or_on_a_closed_day(school, monkeypatch):
    s = school
    day(s)
    RollCall.objects.create(
        establishment=s["est"], class_group=s["class"], date=MONDAY, start=dt.time(10)
    )
    assert run_job(monkeypatch)["roll_call_reminders"] == 0
    RollCall.objects.all().delete()  # nobody called any roll: holidays, the school closed
    assert run_job(monkeypatch)["roll_call_reminders"] == 0
    assert run_job(monkeypatch, MONDAY_10_20.replace(hour=0, minute=5))["roll_call_reminders"] == 0
    assert not Notification.objects.filter(text__startswith="Appel non fait").exists()


@pytest.mark.django_db
def test_no_reminder_for_a_lesson_cancelled_that_day(school, monkeypatch):
    s = school
    lesson = day(s)
    for cancelled in TimetableSlot.objects.filter(
        class_group=lesson.class_group, start=lesson.start
    ):
        LessonChange.objects.create(
            establishment=s["est"], slot=cancelled, date=MONDAY, cancelled=True
        )
    assert run_job(monkeypatch)["roll_call_reminders"] == 0
    assert not Notification.objects.filter(text__startswith="Appel non fait").exists()


@pytest.mark.django_db
def test_the_button_s_reminder_counts_as_the_job_s(client, school, monkeypatch):
    s = school
    lesson = day(s)
    monkeypatch.setattr(notify_module, "_now", lambda: MONDAY_10_20)
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *a: MONDAY)
    client.force_login(s["evs"])
    assert client.post(url(s, "roll_call_reminder", slot_id=lesson.pk)).status_code == 302
    assert run_job(monkeypatch)["roll_call_reminders"] == 0
    assert Notification.objects.filter(user=s["teacher"]).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_jobs_at_once_send_one_reminder(school):
    s = school
    day(s)
    counts = []

    def job():
        try:
            counts.append(remind_missing_roll_calls(MONDAY_10_20))
        finally:
            connection.close()

    threads = [threading.Thread(target=job) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(counts) == [0, 1]
    assert Notification.objects.filter(user=s["teacher"]).count() == 1
