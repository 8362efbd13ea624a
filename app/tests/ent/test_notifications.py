"""Notifications (preau.ent.notify): quiet hours, held notifications delivered by the timer,
the direction's settings."""

import datetime as dt
import io
import json
import zoneinfo

import pytest
from django.core.management import call_command

from preau.ent import notify as notify_module
from preau.ent.models import Notification
from tests.school import url

PARIS = zoneinfo.ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    "local, expected",
    [
        ("2026-03-10 12:00", None),  # Tuesday noon
        ("2026-03-10 20:30", "2026-03-11 07:00"),  # Tuesday evening → Wednesday morning
        ("2026-03-11 06:59", "2026-03-11 07:00"),  # early morning
        ("2026-03-13 19:59", None),  # Friday before 20:00
        ("2026-03-13 20:00", "2026-03-16 07:00"),  # Friday evening → Monday
        ("2026-03-15 12:00", "2026-03-16 07:00"),  # Sunday
        ("2026-03-16 06:00", "2026-03-16 07:00"),  # Monday early
        ("2026-03-16 07:00", None),  # Monday 07:00: the burst starts
    ],
)
def test_quiet_hours(local, expected):
    est = type("E", (), {"settings": {}})()
    now = dt.datetime.fromisoformat(local).replace(tzinfo=PARIS)
    end = notify_module.end_of_quiet_period(est, now)
    assert (end and end.astimezone(PARIS).strftime("%Y-%m-%d %H:%M")) == expected


def test_quiet_hours_adjusted_per_establishment():
    est = type(
        "E", (), {"settings": {"quiet_hours": {"start": "22:00", "end": "06:30", "weekend": False}}}
    )()
    saturday = dt.datetime(2026, 3, 14, 21, 0, tzinfo=PARIS)
    assert notify_module.end_of_quiet_period(est, saturday) is None
    late = dt.datetime(2026, 3, 14, 23, 0, tzinfo=PARIS)
    assert notify_module.end_of_quiet_period(est, late) == dt.datetime(
        2026, 3, 15, 6, 30, tzinfo=PARIS
    )
    est.settings = {"quiet_hours": {"enabled": False}}
    assert notify_module.end_of_quiet_period(est, late) is None


def test_held_notifications_delivered_by_the_command(client, school, monkeypatch):
    s = school
    Notification.objects.all().delete()
    friday_night = dt.datetime(2026, 3, 13, 22, 0, tzinfo=PARIS)
    notify_module.notify(s["est"], [s["parent"].pk], "Nouvelle note", now=friday_night)
    held = Notification.objects.get()
    assert held.delivered_at is None and held.deliver_after == dt.datetime(
        2026, 3, 16, 7, 0, tzinfo=PARIS
    )
    client.force_login(s["parent"])
    assert "Nouvelle note" not in client.get(url(s, "notifications")).content.decode()
    assert notify_module.deliver_due(now=dt.datetime(2026, 3, 15, 10, 0, tzinfo=PARIS)) == 0
    monkeypatch.setattr(notify_module, "_now", lambda: dt.datetime(2026, 3, 16, 7, 5, tzinfo=PARIS))
    out = io.StringIO()
    call_command("deliver_notifications", "--json", stdout=out)
    assert json.loads(out.getvalue()) == {
        "ok": True,
        "dry_run": False,
        "roll_call_reminders": 0,
        "delivered": 1,
    }
    assert "Nouvelle note" in client.get(url(s, "notifications")).content.decode()
    client.post(url(s, "notifications"))
    assert Notification.objects.get().read_at is not None


def test_director_adjusts_quiet_hours(client, school):
    s = school
    client.force_login(s["admin"])
    response = client.post(
        url(s, "quiet_hours"), {"enabled": "on", "start": "21:00", "end": "07:30"}
    )
    assert response.status_code == 302
    s["est"].refresh_from_db()
    assert s["est"].settings["quiet_hours"] == {
        "enabled": True,
        "start": "21:00",
        "end": "07:30",
        "weekend": False,
    }
