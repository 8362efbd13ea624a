"""Exclusions from class and infirmary visits (issue #17, item 2): recorded by the class's
teacher (exclusion, from their lesson) or the vie scolaire (both), kept in the roll call's
history, shown on the day's page and the pupil's record; an exclusion notifies the family
through the held notifications; bad input is refused in French and changes nothing."""

import datetime as dt

import pytest
from django.utils import timezone

from preau.attendance.models import AttendanceChange, Incident
from preau.ent import notify as notify_module
from preau.ent.models import Notification
from tests.school import make_school, url

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return " ".join(response.content.decode().replace("&#39;", "'").split())


def record(client, s, who, **fields):
    client.force_login(s[who])
    data = {
        "student": s["other_student"].pk,
        "kind": "exclusion",
        "date": timezone.localdate().isoformat(),
        "start": "10:00",
        "reason": "Insolence",
        **fields,
    }
    return client.post(url(s, "incident_new", class_id=s["class"].pk), data)


@pytest.fixture
def s(school):
    Incident.objects.all().delete()
    Notification.objects.all().delete()
    return school


def test_a_teacher_excludes_a_pupil_and_the_family_is_notified_once(client, s):
    response = record(client, s, "teacher")
    assert response.status_code == 302
    assert "/appel/" in response.url and "start=10%3A00" in response.url
    (incident,) = Incident.objects.all()
    assert (incident.kind, incident.reason, incident.recorded_by) == (
        "exclusion",
        "Insolence",
        s["teacher"],
    )
    change = AttendanceChange.objects.get(student=s["other_student"])
    assert (change.what, change.before, change.after, change.changed_by) == (
        "exclusion",
        "",
        "exclusion",
        s["teacher"],
    )
    held = Notification.objects.filter(topic=f"exclusion:{incident.pk}")
    assert {n.user_id for n in held} == {s["other_parent"].pk, s["other_student"].pk}
    assert all(n.delivered_at is None for n in held)  # through the queue, like absences
    later = timezone.now() + dt.timedelta(days=4)
    while later.weekday() not in (1, 2, 3):  # a weekday's morning: no weekend quiet hours
        later += dt.timedelta(days=1)  # (from Tuesday, 4 days later was a Saturday: 0 sent)
    assert notify_module.deliver_due(later.replace(hour=10)) >= 2
    assert notify_module.deliver_due(later.replace(hour=10)) == 0
    (note,) = Notification.objects.filter(user=s["other_parent"])
    assert note.text.startswith(f"{s['other_student'].first_name} : exclusion du cours du ")
    assert note.text.endswith("Motif : Insolence")


def test_the_exclusion_shows_in_history_day_page_and_pupil_record(client, s):
    record(client, s, "teacher")
    client.force_login(s["evs"])
    day = timezone.localdate().isoformat()
    roll_call = text(
        client.get(url(s, "roll_call", class_id=s["class"].pk), {"date": day, "start": "10:00"})
    )
    assert "Exclu du cours" in roll_call
    page = text(client.get(url(s, "attendance")))
    assert "Exclusions de cours et passages à l'infirmerie du jour" in page
    assert "Insolence" in page
    client.force_login(s["other_parent"])
    record_page = text(client.get(url(s, "student_attendance", user_id=s["other_student"].pk)))
    assert "Exclusion de cours" in record_page and "Insolence" in record_page


def test_the_vie_scolaire_records_an_infirmary_visit_without_notification(client, s):
    response = record(client, s, "evs", kind="infirmary", reason="")
    assert response.status_code == 302
    (incident,) = Incident.objects.all()
    assert incident.kind == "infirmary"
    assert AttendanceChange.objects.get(student=s["other_student"]).after == "infirmary"
    assert not Notification.objects.exists()
    client.force_login(s["other_parent"])
    page = text(client.get(url(s, "student_attendance", user_id=s["other_student"].pk)))
    assert "Passage à l'infirmerie" in page


@pytest.mark.parametrize(
    "fields, error",
    [
        ({"reason": "  "}, "Indiquez le motif de l'exclusion : la famille le verra."),
        ({"kind": "infirmary"}, "Sélectionnez un choix valide."),  # a teacher: exclusions only
        ({"student": "999999"}, "Sélectionnez un choix valide."),
        ({"start": "25:00"}, "Saisissez une heure valide."),
    ],
)
def test_bad_input_is_refused_in_french_and_changes_nothing(client, s, fields, error):
    response = record(client, s, "teacher", **fields)
    assert response.status_code == 400
    assert error in text(response)
    assert not Incident.objects.exists()
    assert not AttendanceChange.objects.filter(what__in=["exclusion", "infirmary"]).exists()
    assert not Notification.objects.exists()


def test_a_pupil_of_another_class_or_establishment_is_refused(client, s):
    other = make_school("B", "0820010R")
    assert record(client, s, "teacher", student=other["student"].pk).status_code == 400
    assert record(client, s, "other_teacher").status_code == 403
    client.force_login(s["evs"])
    response = client.post(url(s, "incident_new", class_id=other["class"].pk), {})
    assert response.status_code == 404
    assert not Incident.objects.filter(establishment=s["est"]).exists()


def test_an_exclusion_removed_is_kept_in_the_history_and_withdrawn(client, s):
    record(client, s, "teacher")
    incident = Incident.objects.get()
    target = url(s, "incident_delete", incident_id=incident.pk)
    page = text(client.get(target))
    assert f"Supprimer l'exclusion de cours de {s['other_student']} du " in page
    assert Incident.objects.exists()
    response = client.post(target)
    assert response.url == url(s, "student_attendance", user_id=s["other_student"].pk)
    assert not Incident.objects.exists()
    removal = AttendanceChange.objects.filter(what="exclusion").order_by("-id").first()
    assert (removal.before, removal.after, removal.changed_by) == ("exclusion", "", s["teacher"])
    assert not Notification.objects.exists()  # still held: withdrawn, the family heard nothing


def test_a_delivered_exclusion_removed_gets_a_correction(client, s):
    record(client, s, "teacher")
    Notification.objects.update(delivered_at=timezone.now())
    client.force_login(s["evs"])
    client.post(url(s, "incident_delete", incident_id=Incident.objects.get().pk))
    notes = Notification.objects.filter(user=s["other_parent"]).order_by("id")
    assert [n.text.endswith("annulée.") for n in notes] == [False, True]


@pytest.mark.parametrize("who", ["other_teacher", "student", "parent"])
def test_others_cannot_remove_an_incident(client, s, who):
    record(client, s, "evs")
    target = url(s, "incident_delete", incident_id=Incident.objects.get().pk)
    client.force_login(s[who])
    assert client.get(target).status_code == 403
    assert client.post(target).status_code == 403
    client.force_login(s["teacher"])  # a teacher removes only what they recorded
    assert client.post(target).status_code == 403
    assert Incident.objects.exists()
