"""Cahier de textes: lesson content and homework per class and subject; the student's week;
homework hand-in."""
import datetime as dt

from django.contrib import messages
from django.db import transaction
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone

from preau.core.models import ClassGroup, ClassMembership
from preau.ent import files
from preau.ent.access import profiles, require, viewer
from preau.ent.forms import LogbookForm, SubmissionForm
from preau.ent.models import Homework, LogbookEntry, Submission
from preau.ent.views.common import back, paginate, student_choice, visible_class_or_404


def _homework(request):
    return Homework.objects.for_request(request).select_related("class_group", "subject", "teacher")


def _entries(request):
    return LogbookEntry.objects.for_request(request).select_related("class_group", "subject", "teacher")


def week_homework(request, student, days=7):
    """Homework due from today for the student's classes and groups, with the hand-in status."""
    me = viewer(request)
    today = timezone.localdate()
    class_ids = ClassMembership.objects.for_request(request).filter(
        user=student, class_group__school_year=me.year).values("class_group_id")
    items = list(_homework(request).filter(class_group_id__in=class_ids, due_on__gte=today,
                                           due_on__lte=today + dt.timedelta(days=days)))
    handed = set(Submission.objects.for_request(request).filter(
        student=student, homework__in=[h.pk for h in items]).values_list("homework_id", flat=True))
    for item in items:
        item.handed_in = item.pk in handed
    return items


@profiles("ELV", "TUT", "ENS", "DIR", "EVS")
def logbook(request, uai):
    me = viewer(request)
    if me.profile in ("ELV", "TUT"):
        student = student_choice(request)
        entries = []
        if student is not None:
            class_ids = ClassMembership.objects.for_request(request).filter(
                user=student, class_group__school_year=me.year).values("class_group_id")
            since = timezone.localdate() - dt.timedelta(days=14)
            entries = _entries(request).filter(class_group_id__in=class_ids, date__gte=since)[:30]
        return render(request, "ent/logbook_student.html", {
            "student": student, "children": me.children(), "entries": entries,
            "homework": week_homework(request, student) if student else []})
    if me.profile == "ENS":
        return render(request, "ent/logbook_teacher.html", {
            "page": paginate(request, _entries(request).filter(teacher=request.user)), "taught": me.taught()})
    classes = ClassGroup.objects.for_request(request).filter(school_year=me.year)
    return render(request, "ent/logbook_classes.html", {"classes": classes})


@profiles("ELV", "TUT", "ENS", "DIR", "EVS")
def logbook_class(request, uai, class_id):
    class_group = visible_class_or_404(request, class_id)
    return render(request, "ent/logbook_class.html", {
        "class_group": class_group,
        "homework": _homework(request).filter(class_group=class_group, due_on__gte=timezone.localdate()),
        "page": paginate(request, _entries(request).filter(class_group=class_group))})


@profiles("ENS")
def logbook_new(request, uai):
    me = viewer(request)
    form = LogbookForm(request.POST or None, taught=me.taught())
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        teaching = data["teaching"]
        common = {"establishment": request.establishment, "class_group": teaching.class_group,
                  "subject": teaching.subject, "teacher": request.user}
        with transaction.atomic():
            entry = LogbookEntry.objects.create(date=data["date"], title=data["title"],
                                                content=data["content"], **common)
            if data["homework"]:
                Homework.objects.create(entry=entry, assigned_on=data["date"], due_on=data["due_on"],
                                        description=data["homework"], hand_in=data["hand_in"], **common)
        messages.success(request, "Séance enregistrée dans le cahier de textes.")
        return back(request, "logbook")
    return render(request, "ent/form_page.html", {
        "form": form, "title": "Nouvelle séance", "submit": "Enregistrer la séance",
        "back_url": reverse("logbook", kwargs={"uai": uai})}, status=400 if request.method == "POST" else 200)


@profiles("ELV", "TUT", "ENS", "DIR", "EVS")
def homework(request, uai, homework_id):
    me = viewer(request)
    item = get_object_or_404(_homework(request), pk=homework_id)
    require(me.sees_class(item.class_group_id))
    mine = None
    if me.profile == "ELV":
        mine = Submission.objects.for_request(request).filter(homework=item, student=request.user).first()
    form = None
    if me.profile == "ELV" and item.hand_in:
        form = SubmissionForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            with transaction.atomic():
                stored = files.store(request.establishment, form.cleaned_data["file"], request.user)
                Submission.objects.update_or_create(homework=item, student=request.user, defaults={
                    "file": stored, "comment": form.cleaned_data["comment"], "submitted_at": timezone.now()})
            messages.success(request, "Votre travail a bien été rendu.")
            return back(request, "homework", homework_id=item.pk)
    submissions = None
    if item.teacher_id == request.user.pk or me.is_supervisor:
        submissions = (Submission.objects.for_request(request).filter(homework=item)
                       .select_related("student", "file").order_by("student__last_name"))
    status = 400 if request.method == "POST" else 200
    return render(request, "ent/homework.html", {"item": item, "form": form, "mine": mine,
                                                 "submissions": submissions}, status=status)
