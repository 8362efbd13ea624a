"""The establishment home: what matters today for each profile."""

import copy
import datetime as dt

from django.db.models import Count, F, Q, Window
from django.db.models.functions import RowNumber
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone

from preau.attendance.models import Absence
from preau.attendance.views import NEEDS_JUSTIFICATION
from preau.core.models import ClassMembership
from preau.core.prepared import PreparedQuery
from preau.ent.access import viewer
from preau.ent.cache import cached_html_for_user
from preau.ent.models import Notification
from preau.grades.models import Grade
from preau.logbook.models import Homework, Submission
from preau.messaging.views import unread_conversations
from preau.news.views import latest_news
from preau.timetable.views import today_slots


def _classes(est, ids, year):
    return ClassMembership.objects.filter(
        class_group__establishment_id=est, user_id__any=ids, class_group__school_year=year
    ).values_list("user_id", "class_group_id")


def _homework(est, classes, first, last):
    return Homework.objects.filter(
        establishment_id=est, class_group_id__any=classes, due_on__gte=first, due_on__lte=last
    ).select_related("subject")


def _handed(est, ids, homework):
    return Submission.objects.filter(
        homework__establishment_id=est, student_id__any=ids, homework_id__any=homework
    ).values_list("student_id", "homework_id")


def _grades(est, ids, since):
    """Each student's 5 latest grades of the last 30 days (the panel shows 5), not all of them."""
    latest = Window(
        RowNumber(),
        partition_by=[F("student_id")],
        order_by=[F("updated_at").desc(), F("pk").desc()],
    )
    return (
        Grade.objects.filter(
            assessment__establishment_id=est,
            student_id__any=ids,
            value__isnull=False,
            updated_at__gte=since,
        )
        .annotate(latest=latest)
        .filter(latest__lte=5)
        .select_related("assessment", "assessment__subject")
        .order_by("-updated_at", "-pk")
    )


def _absences(est, ids):
    return Absence.objects.filter(
        establishment_id=est, student_id__any=ids, status__in=NEEDS_JUSTIFICATION
    ).select_related("subject")


def _unread_notifications(est, user):
    return Notification.objects.filter(
        establishment_id=est, user_id=user, delivered_at__isnull=False, read_at__isnull=True
    )[:5]


def _supervisor_counts(est, today):
    """Justifications to validate and today's absences and lateness, in one row."""
    return (
        Absence.objects.filter(
            Q(status=Absence.Status.SUBMITTED) | Q(date=today), establishment_id=est
        )
        .order_by()
        .values("establishment_id")
        .annotate(
            to_validate=Count("pk", filter=Q(status=Absence.Status.SUBMITTED)),
            today=Count("pk", filter=Q(date=today)),
        )
        .values_list("to_validate", "today")
    )


# The panels' queries, compiled once (preau.core.prepared): every one is scoped to the
# establishment of the request (`est`), as for_request() would.
CLASSES = PreparedQuery(_classes, est=int, ids=list, year=int)
HOMEWORK = PreparedQuery(_homework, est=int, classes=list, first=dt.date, last=dt.date)
HANDED = PreparedQuery(_handed, est=int, ids=list, homework=list)
GRADES = PreparedQuery(_grades, est=int, ids=list, since=dt.datetime)
ABSENCES = PreparedQuery(_absences, est=int, ids=list)
UNREAD_NOTIFICATIONS = PreparedQuery(_unread_notifications, est=int, user=int)
SUPERVISOR_COUNTS = PreparedQuery(_supervisor_counts, est=int, today=dt.date)


def _student_panels(request, students):
    """Today's lessons, homework, recent grades and absences to justify of each student, in a
    fixed number of queries whatever the number of children."""
    if not students:
        return []
    me = viewer(request)
    est = request.establishment.pk
    ids = [s.pk for s in students]
    today = timezone.localdate()
    classes: dict[int, set[int]] = {}
    for user_id, class_id in CLASSES.rows(est=est, ids=ids, year=me.year):
        classes.setdefault(user_id, set()).add(class_id)
    me.know_class_ids(ids, classes)
    lessons = today_slots(request, set().union(*classes.values()))
    homework = HOMEWORK.rows(
        est=est,
        classes=list(set().union(*classes.values())),
        first=today,
        last=today + dt.timedelta(days=7),
    )
    handed = set(HANDED.rows(est=est, ids=ids, homework=[h.pk for h in homework]))
    grades = GRADES.rows(est=est, ids=ids, since=timezone.now() - dt.timedelta(days=30))
    absences = ABSENCES.rows(est=est, ids=ids)
    panels = {
        s.pk: {
            "student": s,
            "lessons": [x for x in lessons if x.class_group_id in classes.get(s.pk, ())],
            "homework": [],
            "grades": [],
            "absences": [],
        }
        for s in students
    }
    for item in homework:
        for student_id in ids:
            if item.class_group_id in classes.get(student_id, ()):
                panel_item = copy.copy(item)
                panel_item.handed_in = (student_id, item.pk) in handed
                panels[student_id]["homework"].append(panel_item)
    for rows, key in ((grades, "grades"), (absences, "absences")):
        for row in rows:
            if len(panels[row.student_id][key]) < 5:
                panels[row.student_id][key].append(row)
    return list(panels.values())


def dashboard(request, uai):
    """The panels are the expensive part (a dozen queries and most of the rendering): they are
    kept 30 s per user and session (preau.ent.cache), the rest of the page is rendered each time."""
    me = viewer(request)
    panels = cached_html_for_user(
        request,
        "dashboard",
        lambda: render_to_string("ent/_dashboard_panels.html", _panels(request, me)),
    )
    return render(request, "ent/dashboard.html", {"me": me, "panels": panels})


def _panels(request, me) -> dict:
    context = {
        "request": request,
        "me": me,
        "unread": unread_conversations(request),
        "notifications": UNREAD_NOTIFICATIONS.rows(
            est=request.establishment.pk, user=request.user.pk
        ),
    }
    if me.profile == "ELV":
        context["panels"] = _student_panels(request, [request.user])  # first: it reads the classes
        context["lessons"] = context["panels"][0]["lessons"]
    elif me.profile == "TUT":
        context["panels"] = _student_panels(request, me.children())
    elif me.profile == "ENS":
        context["lessons"] = today_slots(request)
        context["taught"] = me.taught()
    elif me.is_supervisor:
        counts = SUPERVISOR_COUNTS.rows(est=request.establishment.pk, today=timezone.localdate())
        context["to_validate"], context["absent_today"] = counts[0] if counts else (0, 0)
    context["news"] = latest_news(request)  # last: it reads the classes the panels read
    return context
