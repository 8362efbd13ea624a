"""Every service at once: permissions per profile on every view, bounded query counts on list
views. Each service's own flows are tested in its directory (tests/attendance/, tests/grades/, ...;
what the services share in tests/ent/)."""

import datetime as dt
import zoneinfo

import pytest
from django.urls import reverse
from django.utils import timezone

from preau.attendance.models import Absence, Incident
from preau.core.models import ClassMembership, Membership, ParentLink, User
from preau.documents.models import Document
from preau.ent.models import Notification
from preau.grades.models import Assessment, Grade
from preau.logbook.models import Homework
from preau.messaging.models import Conversation, Participant
from preau.news.models import NewsItem
from preau.spaces.models import SpacePost
from tests.school import PROFILES, add_renditions, url, url_kwargs
from tests.test_isolation import GLOBAL_URLS, all_patterns

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
STAFF = {"admin", "teacher", "evs", "agent", "other_teacher"}
PUPIL_SIDE = {
    "admin",
    "teacher",
    "evs",
    "student",
    "other_student",
    "parent",
    "other_parent",
    "other_teacher",
}
EVERYONE = set(PROFILES)
# Who reads the school's course file (a document of its class): its class, families, staff.
FILE_READERS = {"admin", "teacher", "evs", "student", "other_student", "parent", "other_parent"}
# Who gets a 200 on GET for each establishment URL (with the school's objects); everyone else
# gets 403 or 404 (405 for POST-only views).
EXPECTED_GET = {
    "establishment_home": EVERYONE,
    "attendance": PUPIL_SIDE,
    "roll_call": {"admin", "teacher", "evs"},
    "absence_justify": {"parent"},
    "absence_validate": set(),
    "roll_call_reminder": set(),
    "incident_new": {"admin", "teacher", "evs"},
    "incident_delete": {"admin", "teacher", "evs"},
    "student_attendance": {"admin", "teacher", "evs", "student", "parent"},
    "grades": PUPIL_SIDE,
    "assessment_new": {"teacher", "other_teacher"},
    "assessment": {"admin", "teacher", "evs"},
    "assessment_edit": {"teacher"},
    "assessment_delete": {"teacher"},
    "class_grades": {"admin", "teacher", "evs"},
    "logbook": PUPIL_SIDE,
    "logbook_new": {"teacher", "other_teacher"},
    "logbook_entry_edit": {"teacher"},
    "logbook_entry_delete": {"teacher"},
    "news_edit": {"admin"},
    "news_delete": {"admin"},
    "logbook_class": {
        "admin",
        "teacher",
        "evs",
        "student",
        "other_student",
        "parent",
        "other_parent",
    },
    "homework": {"admin", "teacher", "evs", "student", "other_student", "parent", "other_parent"},
    "timetable": PUPIL_SIDE,
    "timetable_class": {
        "admin",
        "teacher",
        "evs",
        "student",
        "other_student",
        "parent",
        "other_parent",
    },
    "timetable_feed": {
        "teacher",
        "student",
        "other_student",
        "parent",
        "other_parent",
        "other_teacher",
    },
    "timetable_import": {"admin"},
    "timetable_import_status": {"admin"},
    "timetable_slot_new": {"admin"},
    "timetable_slot_edit": {"admin"},
    "timetable_change": {"admin"},
    "timetable_slot_delete": {"admin"},
    "documents": PUPIL_SIDE,
    "document_new": {"teacher", "other_teacher"},
    "document_edit": {"teacher"},
    "document_delete": {"teacher"},
    "file_download": FILE_READERS,
    # The course file's preview and JPEG (add_renditions): the file's own readers.
    "file_preview": FILE_READERS,
    "file_jpeg": FILE_READERS,
    "messages": EVERYONE,
    "message_new": EVERYONE,
    "conversation": {"student", "teacher"},
    "conversation_hide": {"student", "teacher"},
    "broadcast": {"teacher"},  # its sender only
    "message_report": {"teacher"},  # the student's message, received by the teacher
    "moderation": {"admin", "evs"},
    "report_resolve": set(),  # POST only
    "spaces": {"admin", "teacher", "evs", "student", "other_student", "other_teacher"},
    "space": {"admin", "teacher", "evs", "student", "other_student"},
    "space_thread": {"admin", "teacher", "evs", "student", "other_student"},
    "space_post_edit": {"teacher"},
    "space_post_delete": {"admin", "teacher", "evs"},
    "news": EVERYONE,
    "links": EVERYONE,
    "mediacentre": EVERYONE,
    "notifications": EVERYONE,
    "notification_preferences": EVERYONE,
    "quiet_hours": {"admin"},
    "directory": {"admin"},
    "directory_user": {"admin"},
    "directory_reset_code": set(),
    "directory_disable": {"admin"},  # its confirmation page (issue #19)
    "directory_enable": set(),
    "class_list": {"admin"},
    "class_detail": {"admin"},
    "period_settings": {"admin"},
    "period_publish": set(),  # POST only
    "period_lsu": {"admin"},
    "period_lsu_file": {"admin"},
    "period_subject": {"admin", "teacher", "evs"},
    "class_council": {"admin", "teacher", "evs"},
    "class_socle": {"admin", "teacher", "evs"},
    "period_summary": {"student", "other_student", "parent", "other_parent"},
    "student_period_summary": {"admin", "teacher", "evs"},
    "class_bulletins": {"admin"},
    "class_bulletins_file": {"admin"},
    "bulletin_file": set(),  # the period is not published yet
    "letters": {"admin"},
    "letter_batch": {"admin"},
    "letter_batch_file": {"admin"},
    "letter_batch_regenerate": {"admin"},
}


def test_permissions_per_profile_on_every_view(client, school):
    add_renditions(school)
    kwargs = url_kwargs(school)
    names = {name for name, _, _ in all_patterns() if name not in GLOBAL_URLS}
    assert names == set(EXPECTED_GET), "new URL: add its expected profiles to EXPECTED_GET"
    wrong = []
    for role in PROFILES:
        client.force_login(school[role])
        for name, _route, converters in all_patterns():
            if name in GLOBAL_URLS:
                continue
            status = client.get(
                reverse(name, kwargs={k: kwargs[k] for k in converters})
            ).status_code
            ok = status == 200 if role in EXPECTED_GET[name] else status in (403, 404, 405)
            if not ok:
                wrong.append(f"{role} {name} → {status}")
    assert not wrong


# --- query counts: list views stay bounded whatever the number of rows ---------------------------


def _bulk_rows(s, n=25):
    est, today = s["est"], timezone.localdate()
    for i in range(n):
        student = User.objects.create_user(f"bulk{i}", None, first_name=f"B{i}", last_name="BULK")
        Membership.objects.create(user=student, establishment=est, profile="ELV")
        ClassMembership.objects.create(class_group=s["class"], user=student)
        ParentLink.objects.create(establishment=est, parent=s["parent"], child=student)
        Absence.objects.create(
            establishment=est,
            student=student,
            class_group=s["class"],
            date=today,
            start=dt.time(9),
            recorded_by=s["teacher"],
            status="submitted",
        )
        Incident.objects.create(
            establishment=est,
            student=s["student"] if i % 2 else student,
            class_group=s["class"],
            kind="exclusion" if i % 2 else "infirmary",
            date=today,
            start=dt.time(10),
            recorded_by=s["evs"],
        )
        Absence.objects.create(
            establishment=est,
            student=s["student"],
            date=today - dt.timedelta(days=i + 1),
            start=dt.time(9),
            subject=s["subject"],
        )
        assessment = Assessment.objects.create(
            establishment=est,
            class_group=s["class"],
            subject=s["subject"],
            teacher=s["teacher"],
            title=f"Éval {i}",
            date=today,
        )
        Grade.objects.create(assessment=assessment, student=s["student"], value=i % 20)
        Homework.objects.create(
            establishment=est,
            class_group=s["class"],
            subject=s["subject"],
            teacher=s["teacher"],
            assigned_on=today,
            due_on=today + dt.timedelta(days=i % 7),
            description=f"Devoir {i}",
        )
        Document.objects.create(
            establishment=est,
            class_group=s["class"],
            subject=s["subject"],
            title=f"Doc {i}",
            file=s["file"],
            author=s["teacher"],
        )
        conversation = Conversation.objects.create(
            establishment=est, subject=f"Conv {i}", created_by=student
        )
        Participant.objects.bulk_create(
            [
                Participant(conversation=conversation, user=u)
                for u in (s["teacher"], student, s["student"])
            ]
        )
        NewsItem.objects.create(establishment=est, title=f"Info {i}", body="...")
        SpacePost.objects.create(
            establishment=est, class_group=s["class"], title=f"Fil {i}", body="...", author=student
        )
        Notification.objects.create(
            establishment=est, user=s["student"], text=f"N{i}", delivered_at=timezone.now()
        )


# (role, view, URL kwargs, most queries). Every page: session and user (one query), platform
# (cached per process outside the tests), membership with the navigation's unread count (one
# query); then the page's own, never one per row. A list on prepared pages (PreparedPages) gets
# its first page and its total in one query.
LIST_VIEWS = [
    ("student", "establishment_home", {}, 14),
    ("parent", "establishment_home", {}, 14),  # + the children's lessons of today (issue #18)
    ("teacher", "establishment_home", {}, 9),
    ("evs", "establishment_home", {}, 7),
    ("parent", "attendance", {}, 6),
    # + the lessons without roll call, half-days per class, the day's exclusions and infirmary
    ("evs", "attendance", {}, 8),
    ("parent", "student_attendance", {"user_id": "student"}, 8),
    ("teacher", "incident_new", {"class_id": "class"}, 8),
    ("evs", "incident_new", {"class_id": "class"}, 8),
    ("teacher", "incident_delete", {"incident_id": "incident"}, 8),
    # (a teacher: whether the pupil is in a class taught is one query more)
    ("teacher", "student_attendance", {"user_id": "student"}, 10),
    ("teacher", "attendance", {}, 6),
    # + the school year's periods (links to the period pages, issue #18)
    ("student", "grades", {}, 5),
    ("teacher", "grades", {}, 7),
    ("teacher", "class_grades", {"class_id": "class"}, 10),
    ("student", "logbook", {}, 8),
    ("teacher", "logbook", {}, 6),
    ("student", "documents", {}, 6),
    ("teacher", "messages", {}, 5),
    ("student", "messages", {}, 5),
    # (+ the school year of the recipients' classes, read once per process outside the tests)
    ("student", "message_new", {}, 8),
    # A group message's page (its readers in one query) and the open reports (one query; their
    # context, the conversation around each: one more here, two with neighbours, test_groups).
    ("teacher", "broadcast", {"broadcast_id": "broadcast"}, 4),
    ("evs", "moderation", {}, 4),
    ("student", "news", {}, 6),  # + the pupil's classes (news for classes, issue #19)
    ("student", "space", {"class_id": "class"}, 8),
    ("teacher", "space_thread", {"post_id": "post"}, 9),
    ("teacher", "space_post_edit", {"post_id": "post"}, 8),
    ("teacher", "space_post_delete", {"post_id": "post"}, 8),
    ("student", "notifications", {}, 5),
    ("teacher", "roll_call", {"class_id": "class"}, 8),
    ("teacher", "assessment", {"assessment_id": "assessment"}, 8),  # + its grade changes
    # (assessment: the teacher's current assignments are read to decide who may grade, issue #16)
    # The student's class ids are read first (Viewer.class_ids_of): one cheap query that spares
    # PostgreSQL a bad generic plan.
    ("student", "timetable", {}, 8),  # + the grid's hours and the week's lesson changes (issue #18)
]


@pytest.mark.parametrize("role, name, kwargs, most", LIST_VIEWS)
def test_list_views_have_bounded_queries(
    client, school, django_assert_max_num_queries, role, name, kwargs, most
):
    s = school
    _bulk_rows(s)
    client.force_login(s[role])
    target = url(s, name, **{k: s[v].pk for k, v in kwargs.items()})
    with django_assert_max_num_queries(most):
        assert client.get(target).status_code == 200
