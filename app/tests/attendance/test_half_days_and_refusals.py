"""Vie scolaire's day (issue #17, item 2): absences counted in half-days (demi-journées, the
official measure), justified or not; a refused justification carries a reason the family sees;
a lateness is called "Retard", never "Absence"."""

import datetime as dt

from preau.attendance.models import Absence
from preau.ent.models import Notification
from tests.school import url

DAY = dt.date(2026, 3, 9)


def absence(s, start, status="unjustified", kind="absence", day=DAY):
    return Absence.objects.create(
        establishment=s["est"],
        student=s["student"],
        class_group=s["class"],
        date=day,
        start=start,
        kind=kind,
        minutes_late=5 if kind == "late" else None,
        status=status,
    )


def counters(client, s) -> str:
    client.force_login(s["evs"])
    body = client.get(url(s, "student_attendance", user_id=s["student"].pk)).content.decode()
    return " ".join(body.split())


def test_absences_are_counted_in_half_days(client, school):
    s = school
    Absence.objects.all().delete()
    absence(s, dt.time(8, 0), status="accepted")  # morning: two lessons, one half-day
    absence(s, dt.time(9, 0))
    absence(s, dt.time(14, 0), status="accepted")  # afternoon, justified
    absence(s, dt.time(10, 0), day=DAY + dt.timedelta(days=1), status="accepted")
    absence(s, dt.time(15, 0), kind="late")  # a lateness is no absence
    page = counters(client, s)
    assert "<dt>Demi-journées d'absence</dt><dd>3</dd>" in page.replace("&#39;", "'")
    assert "<dt>dont non justifiées</dt><dd>1</dd>" in page
    assert "<dt>Retards</dt><dd>1</dd>" in page
    assert "Retard (5 min)" in page


def test_a_refusal_needs_a_reason_the_family_sees(client, school):
    s = school
    Absence.objects.all().delete()
    Notification.objects.all().delete()
    late = absence(s, dt.time(8, 0), kind="late", status="submitted")
    late.justified_by = s["parent"]
    late.save()
    client.force_login(s["evs"])
    target = url(s, "absence_validate", absence_id=late.pk)
    response = client.post(target, {"decision": "refuse", "motif": "  "}, follow=True)
    assert "indiquez le motif du refus" in response.content.decode()
    late.refresh_from_db()
    assert late.status == "submitted" and not Notification.objects.exists()
    client.post(target, {"decision": "refuse", "motif": "Réveil en retard : non recevable"})
    late.refresh_from_db()
    assert late.status == "refused" and late.refusal_reason == "Réveil en retard : non recevable"
    (note,) = Notification.objects.filter(user=s["parent"])
    assert note.text.startswith("Justification du retard de Léa")
    assert "non recevable" in note.text
    client.force_login(s["parent"])
    page = client.get(url(s, "attendance")).content.decode()
    assert "Motif du refus : Réveil en retard : non recevable" in page
