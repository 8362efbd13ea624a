"""The roll call keeps corrections (issue #17, item 1): it shows what is recorded, a second save
corrects it in one transaction, every change is in the history, the family is notified once of
what was saved, and two saves at once lose nothing (real transactions on PostgreSQL)."""

import datetime as dt
import threading
import time
import zoneinfo

import pytest
from django.db import connection, transaction

from preau.attendance.models import Absence, AttendanceChange
from preau.core.models import ClassGroup
from preau.ent import notify as notify_module
from preau.ent.models import Notification
from tests.helpers import SecondFactorClient
from tests.school import make_school, url

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
MONDAY_10 = dt.datetime(2026, 3, 9, 10, 5, tzinfo=PARIS)  # outside the quiet hours
LESSON = {"date": "2026-03-09", "start": "10:00"}


@pytest.fixture
def clock(monkeypatch):
    """The notifications' clock, on a school day at 10:05 (Europe/Paris)."""
    now = {"at": MONDAY_10}
    monkeypatch.setattr(notify_module, "_now", lambda: now["at"])
    return now


def save(client, s, states: dict, shown: dict | None = None, **extra):
    data = {**LESSON, **extra}
    for role, state in states.items():
        pk = s[role].pk
        kind, _, minutes = state.partition(":")
        data[f"etat_{pk}"] = kind
        if minutes:
            data[f"retard_{pk}"] = minutes
    for role, state in (shown or {}).items():
        data[f"avant_{s[role].pk}"] = state
    return client.post(url(s, "roll_call", class_id=s["class"].pk), data)


def rows(s):
    return {
        a.student_id: (a.kind, a.minutes_late)
        for a in Absence.objects.filter(
            date=LESSON["date"], student__in=[s["student"], s["other_student"]]
        )
    }


def test_a_second_save_corrects_the_first(client, school, clock):
    """Fails on the code before issue #17: the second save was dropped (ignore_conflicts)."""
    s = school
    client.force_login(s["teacher"])
    assert save(client, s, {"student": "absent", "other_student": "absent"}).status_code == 302
    response = save(client, s, {"student": "late:12", "other_student": "present"})
    assert response.status_code == 302
    assert rows(s) == {s["student"].pk: ("late", 12)}
    history = AttendanceChange.objects.filter(student=s["student"]).order_by("id")
    assert [(h.before, h.after, h.changed_by_id) for h in history] == [
        ("present", "absent", s["teacher"].pk),
        ("absent", "late:12", s["teacher"].pk),
    ]


def test_the_form_shows_what_is_recorded_and_by_whom(client, school, clock):
    s = school
    client.force_login(s["evs"])
    save(client, s, {"student": "late:7"})
    client.force_login(s["teacher"])
    page = client.get(url(s, "roll_call", class_id=s["class"].pk) + "?date=2026-03-09&start=10:00")
    body = page.content.decode()
    pk = s["student"].pk
    assert f'name="etat_{pk}" value="late" checked' in body
    assert f'name="retard_{pk}" class="short" inputmode="numeric" value="7"' in body
    assert f"{s['evs'].first_name} {s['evs'].last_name}" in body
    assert f'name="avant_{pk}" value="late:7"' in body
    assert "Historique de cet appel" not in body  # the history is the vie scolaire's
    client.force_login(s["evs"])
    body = client.get(
        url(s, "roll_call", class_id=s["class"].pk) + "?date=2026-03-09&start=10:00"
    ).content.decode()
    assert "Historique de cet appel" in body and "Retard (7 min)" in body


def test_lateness_needs_typed_minutes(client, school, clock):
    """Fails on the code before issue #17: a lateness without minutes became "5 min"."""
    s = school
    client.force_login(s["teacher"])
    response = save(client, s, {"student": "late", "other_student": "absent"})
    assert response.status_code == 400
    assert "indiquez la durée du retard en minutes" in response.content.decode()
    assert rows(s) == {} and not AttendanceChange.objects.exists()
    response = save(client, s, {"student": "late:abc"})
    assert response.status_code == 400 and rows(s) == {}
    response = save(client, s, {"student": "malade"})
    assert response.status_code == 400 and "choisissez présent" in response.content.decode()


def parent_notes(s):
    return list(Notification.objects.filter(user=s["parent"]).order_by("id"))


def test_family_hears_of_what_was_saved_once(client, school, clock):
    """Fails on the code before issue #17: the parent was told of a lateness never saved."""
    s = school
    Notification.objects.all().delete()
    client.force_login(s["teacher"])
    save(client, s, {"student": "absent"})
    save(client, s, {"student": "late:12"})
    save(client, s, {"student": "late:12"})  # nothing changed: nothing new
    (note,) = parent_notes(s)
    assert "un retard de 12 min" in note.text and note.delivered_at is None
    assert note.deliver_after == MONDAY_10 + dt.timedelta(minutes=10)
    assert Absence.objects.get(student=s["student"], date=LESSON["date"]).kind == "late"


def test_a_correction_before_delivery_cancels_the_notification(client, school, clock):
    s = school
    Notification.objects.all().delete()
    client.force_login(s["teacher"])
    save(client, s, {"student": "absent"})
    save(client, s, {"student": "present"})
    assert parent_notes(s) == []
    assert notify_module.deliver_due(MONDAY_10 + dt.timedelta(minutes=15)) == 0


def test_a_correction_after_delivery_is_announced(client, school, clock):
    s = school
    Notification.objects.all().delete()
    client.force_login(s["teacher"])
    save(client, s, {"student": "absent"})
    assert notify_module.deliver_due(MONDAY_10 + dt.timedelta(minutes=11)) == 2  # parent, pupil
    clock["at"] = MONDAY_10 + dt.timedelta(minutes=20)
    save(client, s, {"student": "present"})
    first, correction = parent_notes(s)
    assert "une absence" in first.text and first.delivered_at is not None
    assert correction.text.startswith("Correction de l'appel") and "présent" in correction.text


def test_a_colleagues_change_made_meanwhile_is_kept(client, school, clock):
    """The form sent what it showed: a pupil left alone here keeps the colleague's state."""
    s = school
    client.force_login(s["evs"])
    save(client, s, {"student": "absent"})
    client.force_login(s["teacher"])  # form shown before: everybody present
    response = save(
        client,
        s,
        {"student": "present", "other_student": "late:5"},
        shown={"student": "present", "other_student": "present"},
    )
    assert response.status_code == 302
    assert rows(s) == {s["student"].pk: ("absence", None), s["other_student"].pk: ("late", 5)}


def test_both_changed_the_same_pupil_the_later_wins_and_says_so(client, school, clock):
    s = school
    client.force_login(s["evs"])
    save(client, s, {"student": "absent"})
    client.force_login(s["teacher"])
    response = save(client, s, {"student": "late:3"}, shown={"student": "present"})
    assert rows(s) == {s["student"].pk: ("late", 3)}
    body = client.get(response.url).content.decode()
    assert "un collègue avait modifié l&#39;appel entre-temps" in body
    assert AttendanceChange.objects.filter(student=s["student"]).count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_saves_at_once_lose_nothing():
    """Two teachers save the same roll call at the same moment (two threads, two PostgreSQL
    transactions, held at the class row's lock and released together): both changes stay."""
    s = make_school()
    Absence.objects.all().delete()
    results = []

    def teacher_saves(role, states):
        client = SecondFactorClient()
        client.force_login(s[role])
        try:
            shown = dict.fromkeys(("student", "other_student"), "present")
            results.append(save(client, s, states, shown=shown).status_code)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=teacher_saves, args=("teacher", {"student": "absent"})),
        threading.Thread(target=teacher_saves, args=("evs", {"other_student": "late:9"})),
    ]
    with transaction.atomic():
        list(ClassGroup.objects.select_for_update().filter(pk=s["class"].pk))
        for thread in threads:
            thread.start()
        time.sleep(0.5)  # both saves now wait for the lock
    for thread in threads:
        thread.join(60)
    assert results == [302, 302]
    assert rows(s) == {s["student"].pk: ("absence", None), s["other_student"].pk: ("late", 9)}
    assert AttendanceChange.objects.count() == 2


def _big_class(s, size):
    from preau.core.models import ClassMembership, Membership, User

    for i in range(size):
        pupil = User.objects.create_user(f"eleve{i}", first_name=f"Élève{i}", last_name="NOMBREUX")
        Membership.objects.create(user=pupil, establishment=s["est"], profile="ELV")
        ClassMembership.objects.create(user=pupil, class_group=s["class"])
        s[f"pupil{i}"] = pupil


@pytest.mark.parametrize("role", ["teacher", "evs"])
def test_the_roll_call_page_costs_the_same_whatever_the_class_size(
    client, school, clock, role, django_assert_max_num_queries
):
    s = school
    _big_class(s, 40)
    client.force_login(s["teacher"])
    first = save(client, s, {f"pupil{i}": "absent" if i % 2 else "late:4" for i in range(40)})
    assert first.status_code == 302, first.content.decode()[-3000:]
    save(client, s, {f"pupil{i}": "present" for i in range(0, 40, 4)})
    client.force_login(s[role])
    target = url(s, "roll_call", class_id=s["class"].pk) + "?date=2026-03-09&start=10:00"
    with django_assert_max_num_queries(10) as queries:
        body = client.get(target).content.decode()
    assert body.count('value="absent" checked') == 20
    print(role, len(queries.captured_queries))


def test_the_benchmark_mix_posts_a_roll_call_and_its_correction(school, clock):
    """bench_sessions.py's entries, posted as load_mix.lua posts them (the session's CSRF
    cookie and field, no more): the save marks the pupil absent, the correction present
    again; both are redirects to the lesson, as a browser's saves are."""
    import urllib.parse

    from scripts.bench_sessions import LESSON_START, roll_call_saves

    s = school
    token = "benchcsrftokenbenchcsrftoken0123"  # load_mix.lua's csrf_token
    client = SecondFactorClient(enforce_csrf_checks=True)
    client.force_login(s["teacher"])
    client.cookies["csrftoken"] = token
    page = url(s, "roll_call", class_id=s["class"].pk)
    states = []
    for entry in roll_call_saves(page, s["student"].pk):
        path, form = entry.removeprefix("POST:").split("|", 1)
        data = dict(urllib.parse.parse_qsl(form), csrfmiddlewaretoken=token)
        response = client.post(path, data)
        assert response.status_code == 302, response.content.decode()[-2000:]
        states.append(
            list(
                Absence.objects.filter(student=s["student"], start=LESSON_START).values_list(
                    "kind", flat=True
                )
            )
        )
    assert states == [["absence"], []]
