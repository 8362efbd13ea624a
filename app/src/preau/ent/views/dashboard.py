"""The establishment home: what matters today for each profile."""
from django.shortcuts import render
from django.utils import timezone

from preau.ent.access import viewer
from preau.ent.models import Absence, Grade, Notification
from preau.ent.views.attendance import NEEDS_JUSTIFICATION
from preau.ent.views.community import visible_news
from preau.ent.views.logbook import week_homework
from preau.ent.views.messaging import unread_conversations
from preau.ent.views.timetable import today_slots


def _student_panel(request, student):
    return {
        "student": student,
        "homework": week_homework(request, student),
        "grades": (Grade.objects.for_request(request).filter(student=student, value__isnull=False)
                   .select_related("assessment", "assessment__subject").order_by("-updated_at")[:5]),
        "absences": (Absence.objects.for_request(request).filter(student=student, status__in=NEEDS_JUSTIFICATION)
                     .select_related("subject")[:5]),
    }


def dashboard(request, uai):
    me = viewer(request)
    context = {
        "me": me,
        "unread": unread_conversations(request).count(),
        "news": visible_news(request)[:3],
        "notifications": Notification.objects.for_request(request).filter(
            user=request.user, delivered_at__isnull=False, read_at__isnull=True)[:5],
    }
    if me.profile == "ELV":
        context["lessons"] = today_slots(request, request.user)
        context["panels"] = [_student_panel(request, request.user)]
    elif me.profile == "TUT":
        context["panels"] = [_student_panel(request, child) for child in me.children()]
    elif me.profile == "ENS":
        context["lessons"] = today_slots(request)
        context["taught"] = me.taught()
    elif me.is_supervisor:
        absences = Absence.objects.for_request(request)
        context["to_validate"] = absences.filter(status=Absence.Status.SUBMITTED).count()
        context["absent_today"] = absences.filter(date=timezone.localdate()).count()
    return render(request, "ent/dashboard.html", context)
