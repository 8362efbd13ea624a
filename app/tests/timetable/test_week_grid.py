"""The week grid (issue #18 item 1): each profile's week, week navigation and A/B weeks, the
staff's choice of a class, a teacher or a room (another establishment's refused), today's
lessons of this week's parity on the dashboard, the week parity in the CSV import, a lesson
cancelled or moved to another room on one date (shown struck through, notified)."""

import datetime as dt
import types

import pytest

from preau.core.models import ClassMembership, Membership, User
from preau.ent.models import Notification
from preau.timetable import views
from preau.timetable.models import LessonChange, TimetableSlot
from tests.school import import_file, make_school, url
from tests.timetable.test_timetable import _slot_data as slot_data

WEEK_B = dt.date(2026, 1, 7)  # a Wednesday of ISO week 2 (even: a week B), Monday 5 January


def lesson(s, **fields) -> TimetableSlot:
    values = {
        "establishment": s["est"],
        "class_group": s["class"],
        "subject": s["subject"],
        "teacher": s["teacher"],
        "weekday": 2,
        "start": dt.time(10),
        "end": dt.time(11),
        "room": "C3",
    }
    return TimetableSlot.objects.create(**{**values, **fields})


@pytest.fixture
def today_is_week_b(monkeypatch):
    monkeypatch.setattr(views, "timezone", types.SimpleNamespace(localdate=lambda: WEEK_B))


def test_pupil_parent_and_teacher_see_their_own_week(client, school):
    s = school
    lesson(s, class_group=s["group"], weekday=3, start=dt.time(14), end=dt.time(15), room="LAT")
    lesson(s, class_group=s["other_class"], teacher=s["other_teacher"], room="D4")
    for role in ("student", "parent", "teacher"):
        client.force_login(s[role])
        page = client.get(url(s, "timetable") + "?semaine=2026-01-07").content.decode()
        assert "Semaine du 5 janvier au" in page, role
        assert 'Lundi <span class="muted">05/01</span>' in page, role
        assert "salle B12" in page and "salle LAT" in page and "Mathématiques" in page, role
        assert s["teacher"].get_full_name() in page and s["group"].name in page, role
        assert "salle D4" not in page, role
    client.force_login(s["other_teacher"])
    page = client.get(url(s, "timetable")).content.decode()
    assert "salle D4" in page and "salle B12" not in page


def test_weeks_a_and_b_and_the_week_navigation(client, school):
    s = school
    lesson(s, week_parity="A", room="SA1")
    lesson(s, week_parity="B", room="SB1", start=dt.time(11), end=dt.time(12))
    client.force_login(s["student"])
    page = client.get(url(s, "timetable") + "?semaine=2026-01-07").content.decode()
    assert "salle SB1" in page and "salle SA1" not in page and "semaine B" in page
    assert 'href="?semaine=2025-12-29"' in page and 'href="?semaine=2026-01-12"' in page
    page = client.get(url(s, "timetable") + "?semaine=2026-01-12").content.decode()
    assert "salle SA1" in page and "salle SB1" not in page and "semaine A" in page
    assert "10:00" in page and "11:00" in page  # the establishment's hours are the rows


@pytest.mark.parametrize("value", ["2026-13-45", "lundi", "9999-12-31", "0001-01-01", ""])
def test_a_bad_week_shows_this_week(client, school, today_is_week_b, value):
    s = school
    client.force_login(s["student"])
    response = client.get(url(s, "timetable"), {"semaine": value})
    assert response.status_code == 200
    assert "Semaine du 5 janvier au" in response.content.decode()


def test_staff_choose_a_class_a_teacher_or_a_room(client, school):
    s = school
    b = make_school("B", "0820010R")
    client.force_login(s["evs"])
    page = client.get(url(s, "timetable")).content.decode()
    for value in (f"classe-{s['class'].pk}", f"enseignant-{s['teacher'].pk}", "salle-B12"):
        assert f'<option value="{value}">' in page
    assert f"classe-{b['class'].pk}" not in page and "<table" not in page
    for value, title in (
        (f"classe-{s['class'].pk}", s["class"].name),
        (f"enseignant-{s['teacher'].pk}", s["teacher"].get_full_name()),
        ("salle-B12", "B12"),
    ):
        page = client.get(url(s, "timetable"), {"voir": value}).content.decode()
        assert f"Emploi du temps – {title}</h1>" in page and "salle B12" in page, value
        assert f'<option value="{value}" selected>' in page
    assert 'href="?voir=salle-B12&amp;semaine=' in page
    refused = {
        f"classe-{b['class'].pk}": 404,  # another establishment's
        f"enseignant-{b['teacher'].pk}": 404,
        f"enseignant-{s['student'].pk}": 404,  # not a teacher
        "salle-Z99": 404,
        "classe-abc": 404,
        "cours-1": 400,
        "nimporte": 400,
    }
    for value, status in refused.items():
        assert client.get(url(s, "timetable"), {"voir": value}).status_code == status, value


def test_class_page_grid_for_its_readers_only(client, school):
    s = school
    b = make_school("B", "0820010R")
    client.force_login(s["student"])
    page = client.get(url(s, "timetable_class", class_id=s["class"].pk)).content.decode()
    assert "salle B12" in page and "Modifier" not in page
    assert client.get(url(s, "timetable_class", class_id=b["class"].pk)).status_code == 404


def test_dashboard_shows_today_lessons_of_this_week(client, school, today_is_week_b):
    s = school
    TimetableSlot.objects.all().delete()
    every_week = lesson(s, weekday=3, room="TOUS")
    week_b = lesson(s, weekday=3, week_parity="B", room="SEMB", start=dt.time(14), end=dt.time(15))
    LessonChange.objects.create(establishment=s["est"], slot=every_week, date=WEEK_B, room="D9")
    LessonChange.objects.create(establishment=s["est"], slot=week_b, date=WEEK_B, cancelled=True)
    lesson(s, weekday=3, week_parity="A", room="SEMA", start=dt.time(14), end=dt.time(15))
    lesson(s, weekday=4, room="JEUDI")
    for role, heading in (
        ("student", "Mes cours aujourd'hui"),
        ("parent", f"Cours aujourd'hui – {s['student'].first_name}"),
        ("teacher", "Mes cours aujourd'hui"),
    ):
        client.force_login(s[role])
        page = client.get(url(s, "establishment_home")).content.decode()
        assert heading in page, role
        assert "<del>salle TOUS</del>" in page and 'class="change">salle D9' in page, role
        assert "Cours annulé</strong> <del>" in page and "salle SEMB" in page, role
        assert "salle SEMA" not in page and "salle JEUDI" not in page, role


def test_import_and_form_take_the_week_parity(client, school):
    s = school
    client.force_login(s["admin"])
    good = (
        "classe;jour;debut;fin;matiere;enseignant;salle;semaine\n"
        "5A;lundi;08:00;09:00;MATHEMATIQUES;;B12;A\n"
        "5A;lundi;08:00;09:00;MATHEMATIQUES;;B14;b\n"
    )
    assert "2 cours importé(s)" in import_file(client, s, "edt.csv", good.encode())
    rooms = TimetableSlot.objects.filter(class_group=s["class"]).values_list("room", "week_parity")
    assert sorted(rooms) == [("B12", "A"), ("B14", "B")]
    bad = "classe;jour;debut;fin;matiere;enseignant;salle;semaine\n5A;lundi;08:00;09:00;;;;C\n"
    assert "semaine « C » invalide" in import_file(client, s, "edt.csv", bad.encode())
    # the form: a week B lesson beside a week A one at the same time, not beside an every-week one
    data = slot_data(s, weekday=1, start="08:00", end="09:00", teacher="", room="C1")
    slot = TimetableSlot.objects.get(room="B14")
    edit = url(s, "timetable_slot_edit", slot_id=slot.pk)
    assert client.post(edit, {**data, "week_parity": "A"}).status_code == 400
    assert client.post(edit, {**data, "week_parity": "B"}).status_code == 302
    assert client.post(edit, {**data, "week_parity": ""}).status_code == 400


def test_each_grid_page_costs_at_most_ten_queries(client, school, django_assert_max_num_queries):
    s = school
    for i in range(30):  # a full class, and lessons every day in many rooms
        pupil = User.objects.create_user(f"grille{i}", first_name=f"G{i}", last_name="GRILLE")
        Membership.objects.create(user=pupil, establishment=s["est"], profile="ELV")
        ClassMembership.objects.create(class_group=s["class"], user=pupil)
        lesson(
            s, weekday=1 + i % 6, start=dt.time(8 + i // 6), end=dt.time(9 + i // 6), room=f"R{i}"
        )
    room = url(s, "timetable") + "?voir=salle-R3"
    pages = (  # (role, page, whether it shows 5A's Saturday lesson in room R29)
        ("student", url(s, "timetable"), True),
        ("parent", url(s, "timetable"), True),
        ("teacher", url(s, "timetable"), True),
        ("evs", url(s, "timetable"), False),  # the choice only
        ("evs", url(s, "timetable") + f"?voir=classe-{s['class'].pk}", True),
        ("evs", url(s, "timetable") + f"?voir=enseignant-{s['teacher'].pk}", True),
        ("evs", room, False),
        ("teacher", url(s, "timetable_class", class_id=s["class"].pk), True),
    )
    for role, page, shows in pages:
        client.force_login(s[role])
        with django_assert_max_num_queries(10):
            response = client.get(page)
        assert response.status_code == 200, page
        assert ("salle R29" in response.content.decode()) == shows, page


def test_a_lesson_cancelled_or_moved_on_one_date_is_shown_and_notified(client, school):
    s = school
    slot = lesson(s, weekday=3)  # Wednesday 10:00, room C3
    change = url(s, "timetable_change", slot_id=slot.pk)
    client.force_login(s["admin"])
    assert 'type="date"' in client.get(change + "?date=2026-01-07").content.decode()
    wrong_day = client.post(change, {"date": "2026-01-08", "cancelled": "on"})
    assert wrong_day.status_code == 400 and "le mercredi" in wrong_day.content.decode()
    response = client.post(change, {"date": "2026-01-07", "cancelled": "on", "room": ""})
    assert response.status_code == 302 and response["Location"].endswith("?semaine=2026-01-07")
    told = Notification.objects.filter(text__startswith="Cours annulé le mercredi 7 janvier")
    readers = {s[role].pk for role in ("student", "other_student", "parent", "teacher")}
    assert readers <= set(told.values_list("user_id", flat=True))
    assert s["other_teacher"].pk not in set(told.values_list("user_id", flat=True))
    assert client.post(change, {"date": "2026-01-14", "room": "D8"}).status_code == 302
    assert Notification.objects.filter(text__contains="en salle D8", user=s["parent"]).exists()

    client.force_login(s["student"])
    week = client.get(url(s, "timetable") + "?semaine=2026-01-07").content.decode()
    assert "Cours annulé</strong><del>" in week
    week = client.get(url(s, "timetable") + "?semaine=2026-01-14").content.decode()
    assert "<del>salle C3</del>" in week and "salle D8</strong>" in week
    week = client.get(url(s, "timetable") + "?semaine=2026-01-21").content.decode()
    assert "Cours annulé" not in week and "salle D8" not in week

    client.force_login(s["admin"])  # restored: the change goes, the class is told
    assert client.post(change, {"date": "2026-01-07", "room": ""}).status_code == 302
    assert not LessonChange.objects.filter(date=dt.date(2026, 1, 7)).exists()
    assert Notification.objects.filter(text__startswith="Cours rétabli", user=s["student"]).exists()
    other = make_school("B", "0820010R")
    foreign = url(s, "timetable_change", slot_id=other["slot"].pk)
    assert client.post(foreign, {"date": "2026-01-07", "cancelled": "on"}).status_code == 404


def test_the_grid_s_hours_are_read_once_per_establishment_and_never_hide_a_lesson(
    client, school, settings
):
    """The grid's rows (every start time of the establishment's lessons) are the same for all
    its members: kept PREAU_USER_CACHE_SECONDS per worker, one query fewer per week shown. A
    lesson entered meanwhile still gets its row; another establishment's hours are its own."""
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    s = school
    settings.PREAU_USER_CACHE_SECONDS = 30
    cache.clear()
    lesson(s, room="H10")
    page = url(s, "timetable") + "?semaine=2026-01-07"
    client.force_login(s["student"])
    with CaptureQueriesContext(connection) as first:
        client.get(page)
    client.force_login(s["parent"])
    with CaptureQueriesContext(connection) as second:
        shown = client.get(page).content.decode()
    hours = [q for q in first.captured_queries if "DISTINCT" in q["sql"]]
    assert len(hours) == 1 and not [q for q in second.captured_queries if "DISTINCT" in q["sql"]]
    assert "10:00" in shown and "salle H10" in shown
    lesson(s, start=dt.time(16, 30), end=dt.time(17, 30), room="H1630")  # after the cache
    shown = client.get(page).content.decode()
    assert "16:30" in shown and "salle H1630" in shown
    b = make_school("B", "0820010R")
    lesson(b, start=dt.time(7, 45), end=dt.time(8, 40), room="B745")
    client.force_login(b["student"])
    shown_b = client.get(url(b, "timetable") + "?semaine=2026-01-07").content.decode()
    assert "07:45" in shown_b and "16:30" not in shown_b
