"""The timetable's iCalendar feed (issue #18 item 3): parsed back with icalendar for a pupil, a
parent of two children and a teacher (weeks A/B, a cancelled lesson, a room change, nothing of
another establishment); its secret URL created and regenerated from the page (the old one 404),
bad tokens 404, the token never in the access log, a bounded number of queries."""

import datetime as dt
import logging
import re
import types

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from icalendar import Calendar

from preau.core.models import ClassMembership, Membership, ParentLink
from preau.logs import JsonFormatter
from preau.timetable import feed
from preau.timetable.models import CalendarFeed, LessonChange, TimetableSlot
from tests.school import make_school, url
from tests.timetable.test_week_grid import WEEK_B, lesson

FEED_URL = re.compile(r"https?://[^/]+(/calendrier/[A-Za-z0-9_-]{43}\.ics)")


@pytest.fixture
def today_is_week_b(monkeypatch):
    today = types.SimpleNamespace(localdate=lambda: WEEK_B, now=timezone.now)
    monkeypatch.setattr(feed, "timezone", today)


def new_feed(client, user, s) -> str:
    """The feed's path, created (or regenerated) from its page as `user`."""
    client.force_login(user)
    posted = client.post(url(s, "timetable_feed"))
    assert posted.status_code == 302 and posted["Location"] == url(s, "timetable_feed")
    response = client.get(url(s, "timetable_feed"))  # shown once, by the GET after the POST
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    again = client.get(url(s, "timetable_feed"))  # a reload: gone, and no new link made
    assert "Régénérer le lien" in again.content.decode()
    assert not FEED_URL.search(again.content.decode()) and "no-store" not in again.get(
        "Cache-Control", ""
    )
    client.logout()
    return FEED_URL.search(response.content.decode()).group(1)


def events(client, path) -> dict[tuple[str, dt.date], object]:
    """The feed's events by (summary, date)."""
    response = client.get(path)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Cache-Control"] == "private, max-age=900"
    calendar = Calendar.from_ical(response.content)
    assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == ["Europe/Paris"]
    found = {}
    for event in calendar.walk("VEVENT"):
        start = event.decoded("DTSTART")
        assert str(start.tzinfo) == "Europe/Paris"
        found[str(event["SUMMARY"]), start.date()] = event
    assert len({str(e["UID"]) for e in found.values()}) == len(found)
    return found


def test_the_feed_of_a_pupil_a_parent_of_two_and_a_teacher(client, school, today_is_week_b):
    s = school
    TimetableSlot.objects.all().delete()
    every_week = lesson(s, weekday=2, room="TOUS")  # Tuesdays 10:00
    lesson(s, class_group=s["group"], weekday=3, week_parity="A", room="SEMA")
    lesson(s, class_group=s["class"], weekday=4, week_parity="B", room="SEMB")
    lesson(s, class_group=s["other_class"], teacher=s["other_teacher"], weekday=5, room="4A")
    tuesday = dt.date(2026, 1, 6)
    LessonChange.objects.create(
        establishment=s["est"], slot=every_week, date=tuesday, cancelled=True
    )
    LessonChange.objects.create(
        establishment=s["est"], slot=every_week, date=tuesday + dt.timedelta(7), room="D9"
    )
    # The parent's second child, in 4A; the teacher's lesson in B, where they are gone.
    ParentLink.objects.create(establishment=s["est"], parent=s["parent"], child=s["other_student"])
    ClassMembership.objects.filter(user=s["other_student"]).update(class_group=s["other_class"])
    b = make_school("B", "0820010R")
    Membership.objects.create(
        user=s["teacher"], establishment=b["est"], profile="ENS", gone_since=WEEK_B
    )
    TimetableSlot.objects.filter(pk=b["slot"].pk).update(teacher=s["teacher"])

    maths = "Mathématiques (5A)"
    pupil = events(client, new_feed(client, s["student"], s))
    cancelled = pupil[maths, tuesday]
    assert cancelled["STATUS"] == "CANCELLED" and cancelled["LOCATION"] == "TOUS"
    assert cancelled.decoded("DTSTART") == dt.datetime(2026, 1, 6, 10, tzinfo=feed.PARIS)
    assert cancelled.decoded("DTEND").hour == 11
    assert str(cancelled["DESCRIPTION"]) == s["teacher"].get_full_name()
    assert pupil[maths, tuesday + dt.timedelta(7)]["LOCATION"] == "D9"
    assert "STATUS" not in pupil[maths, tuesday + dt.timedelta(7)]
    assert pupil[maths, tuesday + dt.timedelta(14)]["LOCATION"] == "TOUS"
    # The window: 2 weeks back, 8 ahead (Wednesday 24 December to Wednesday 4 March).
    tuesdays = sorted(day for summary, day in pupil if pupil[summary, day]["LOCATION"] != "SEMA")
    assert (dt.date(2025, 12, 30), dt.date(2026, 3, 3)) == (
        min(d for d in tuesdays if d.isoweekday() == 2),
        max(d for d in tuesdays if d.isoweekday() == 2),
    )
    # Weeks A and B: the latin group on Wednesdays of A (ISO week 3), 5A's on Thursdays of B.
    latin = {day for (summary, day) in pupil if "5-LATIN-A" in summary}
    assert dt.date(2026, 1, 14) in latin and dt.date(2026, 1, 7) not in latin
    thursdays = {day for day in tuesdays if day.isoweekday() == 4}
    assert dt.date(2026, 1, 8) in thursdays and dt.date(2026, 1, 15) not in thursdays
    assert not [key for key in pupil if "4A" in key[0]]
    assert len(pupil) == 10 + 5 + 5  # Tuesdays, Wednesdays of A, Thursdays of B

    parent = events(client, new_feed(client, s["parent"], s))
    first_names = s["student"].first_name, s["other_student"].first_name
    assert parent[f"{first_names[0]} : {maths}", tuesday]["STATUS"] == "CANCELLED"
    assert parent[f"{first_names[1]} : Mathématiques (4A)", dt.date(2026, 1, 9)]["LOCATION"] == "4A"
    assert len(parent) == len(pupil) + 10

    teacher = events(client, new_feed(client, s["teacher"], s))
    assert set(teacher) == set(pupil)  # not B's lesson nor 4A's
    assert not [e for e in teacher.values() if e["LOCATION"] == "B12"]


def test_regenerate_revokes_and_bad_tokens_are_404(client, school, caplog):
    s = school
    client.force_login(s["student"])
    page = client.get(url(s, "timetable")).content.decode()
    assert url(s, "timetable_feed") in page
    assert "Créer mon lien" in client.get(url(s, "timetable_feed")).content.decode()
    caplog.set_level(logging.INFO, logger="preau.access")
    old = new_feed(client, s["student"], s)
    token = old.split("/")[-1].removesuffix(".ics")
    assert not CalendarFeed.objects.filter(token_hash__contains=token).exists()
    assert client.get(old).status_code == 200
    client.force_login(s["student"])
    with CaptureQueriesContext(connection) as ctx:
        assert "Régénérer le lien" in client.get(url(s, "timetable_feed")).content.decode()
    assert len(ctx.captured_queries) <= 10
    new = new_feed(client, s["student"], s)
    assert client.get(old).status_code == 404 and client.get(new).status_code == 200
    lines = [JsonFormatter().format(record) for record in caplog.records]
    assert '"path": "/calendrier/…"' in "".join(lines) and token not in "".join(lines)
    error = logging.makeLogRecord({"msg": "Erreur : %s", "args": (old,), "request": f"<{old}>"})
    assert token not in JsonFormatter().format(error)  # Django's line for a 500
    other = new_feed(client, s["teacher"], s)
    assert client.get("/calendrier/%00.ics").status_code == 400  # NUL: RejectNulMiddleware
    for bad in ("x", "a" * 43, "a" * 2000, old.split("/")[-1][:-4] + "é", "../1"):
        assert client.get(f"/calendrier/{bad}.ics").status_code == 404, bad
    assert client.get(new[:-4]).status_code == 404  # no .ics
    # A deactivated user, a user without a current membership: 404.
    s["student"].is_active = False
    s["student"].save()
    assert client.get(new).status_code == 404
    Membership.objects.filter(user=s["teacher"]).update(gone_since=dt.date(2026, 1, 1))
    assert client.get(other).status_code == 404
    # The direction has no feed.
    client.force_login(s["admin"])
    assert client.post(url(s, "timetable_feed")).status_code == 403


def test_the_feed_costs_a_bounded_number_of_queries(client, school, monkeypatch):
    """A parent of two: the token, the memberships, the changes, the children, then per child
    their classes and the lessons of weeks A and B; the same with a window 2.5 times as long and more
    lessons. (The tests read the platform's row each time: production caches it.)"""
    s = school
    ParentLink.objects.create(establishment=s["est"], parent=s["parent"], child=s["other_student"])
    path = new_feed(client, s["parent"], s)
    counts = []
    for weeks in (8, 20):
        monkeypatch.setattr(feed, "AFTER", dt.timedelta(weeks=weeks))
        for n in range(5):
            lesson(s, weekday=1 + n % 5, start=dt.time(8 + n // 5), end=dt.time(9 + n // 5))
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(path).status_code == 200
        sql = [q["sql"] for q in ctx.captured_queries if "core_platform" not in q["sql"]]
        counts.append(len(sql))
    assert counts == [10, 10]
