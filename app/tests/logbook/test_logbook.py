"""Cahier de textes: lessons, the week's homework, hand-in."""

import datetime as dt

from django.utils import timezone

from preau.logbook.models import Homework, Submission
from tests.school import upload, url


def test_logbook_homework_week_and_hand_in(client, school):
    s = school
    client.force_login(s["teacher"])
    due = timezone.localdate() + dt.timedelta(days=3)
    response = client.post(
        url(s, "logbook_new"),
        {
            "teaching": f"{s['class'].pk}:{s['subject'].pk}",
            "date": timezone.localdate().isoformat(),
            "title": "Proportionnalité",
            "content": "Tableaux",
            "homework": "Exercice 7 page 90",
            "due_on": due.isoformat(),
            "hand_in": "on",
        },
    )
    assert response.status_code == 302
    homework = Homework.objects.get(description="Exercice 7 page 90")
    assert homework.hand_in and homework.entry.title == "Proportionnalité"
    missing_due = client.post(
        url(s, "logbook_new"),
        {
            "teaching": f"{s['class'].pk}:{s['subject'].pk}",
            "date": "2026-03-10",
            "title": "x",
            "homework": "y",
        },
    )
    assert missing_due.status_code == 400

    client.force_login(s["student"])
    week = client.get(url(s, "logbook")).content.decode()
    assert "Exercice 7 page 90" in week and "Proportionnalité" in week
    response = client.post(
        url(s, "homework", homework_id=homework.pk),
        {"file": upload("ma-copie.pdf", b"%PDF copie"), "comment": "Voici"},
    )
    assert response.status_code == 302
    submission = Submission.objects.get(homework=homework, student=s["student"])
    assert submission.file.name == "ma-copie.pdf" and submission.file.size == 10
    client.force_login(s["parent"])
    assert "Exercice 7 page 90" in client.get(url(s, "logbook")).content.decode()
    client.force_login(s["teacher"])
    page = client.get(url(s, "homework", homework_id=homework.pk)).content.decode()
    assert "ma-copie.pdf" in page
    download = client.get(url(s, "file_download", file_id=submission.file.pk))
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"%PDF copie"
    # Another student of the class cannot read that copy.
    client.force_login(s["other_student"])
    assert client.get(url(s, "file_download", file_id=submission.file.pk)).status_code == 403
