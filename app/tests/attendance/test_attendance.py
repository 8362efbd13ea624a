"""Vie scolaire: roll call, justification by parents, validation, who may call the roll."""

from preau.attendance.models import Absence
from preau.ent.models import Notification
from tests.school import url


def test_roll_call_justification_and_validation(client, school):
    s = school
    Absence.objects.all().delete()
    client.force_login(s["teacher"])
    response = client.post(
        url(s, "roll_call", class_id=s["class"].pk),
        {
            "date": "2026-03-10",
            "start": "10:00",
            f"etat_{s['student'].pk}": "absent",
            f"etat_{s['other_student'].pk}": "late",
            f"retard_{s['other_student'].pk}": "12",
        },
    )
    assert response.status_code == 302
    absence = Absence.objects.get(student=s["student"])
    late = Absence.objects.get(student=s["other_student"])
    assert absence.kind == "absence" and late.kind == "late" and late.minutes_late == 12
    assert absence.subject == s["subject"] and absence.recorded_by == s["teacher"]
    # Parents and students are notified (held or not, depending on the hour).
    assert Notification.objects.filter(user=s["parent"]).exists()
    assert Notification.objects.filter(user=s["other_parent"], text__contains="retard").exists()

    # The other parent cannot justify someone else's child.
    client.force_login(s["other_parent"])
    assert (
        client.post(url(s, "absence_justify", absence_id=absence.pk), {"reason": "x"}).status_code
        == 403
    )
    client.force_login(s["parent"])
    page = client.get(url(s, "attendance")).content.decode()
    assert "À justifier" in page and "Justifier" in page
    assert (
        client.post(url(s, "absence_justify", absence_id=absence.pk), {"reason": ""}).status_code
        == 400
    )
    assert (
        client.post(
            url(s, "absence_justify", absence_id=absence.pk), {"reason": "Rendez-vous médical"}
        ).status_code
        == 302
    )
    absence.refresh_from_db()
    assert absence.status == "submitted" and absence.justified_by == s["parent"]

    client.force_login(s["teacher"])  # teachers record, the vie scolaire validates
    assert (
        client.post(
            url(s, "absence_validate", absence_id=absence.pk), {"decision": "accept"}
        ).status_code
        == 403
    )
    client.force_login(s["evs"])
    assert "Rendez-vous médical" in client.get(url(s, "attendance")).content.decode()
    assert (
        client.post(
            url(s, "absence_validate", absence_id=absence.pk), {"decision": "accept"}
        ).status_code
        == 302
    )
    absence.refresh_from_db()
    assert absence.status == "accepted" and absence.validated_by == s["evs"]
    assert Notification.objects.filter(user=s["parent"], text__contains="acceptée").exists()

    client.force_login(s["student"])
    page = client.get(url(s, "student_attendance", user_id=s["student"].pk)).content.decode()
    assert "Justifiée" in page


def test_teacher_cannot_call_roll_of_a_class_not_taught(client, school):
    client.force_login(school["other_teacher"])
    response = client.post(
        url(school, "roll_call", class_id=school["class"].pk),
        {"date": "2026-03-10", "start": "10:00", f"etat_{school['student'].pk}": "absent"},
    )
    assert response.status_code == 403
