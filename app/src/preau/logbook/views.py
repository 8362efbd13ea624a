"""Cahier de textes: lesson content and homework per class and subject; the student's week;
homework hand-in."""

import datetime as dt

from django.contrib import messages
from django.db import transaction
from django.db.models import Q
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from preau.core.models import ClassGroup
from preau.core.prepared import PreparedQuery
from preau.ent import files
from preau.ent.access import profiles, require, viewer
from preau.ent.views.common import (
    PreparedPages,
    back,
    form_page,
    paginate,
    student_choice,
    visible_class_or_404,
)
from preau.logbook.forms import LogbookForm, SubmissionForm
from preau.logbook.models import Homework, LogbookEntry, Submission


def _homework(request):
    return Homework.objects.for_request(request).select_related("class_group", "subject", "teacher")


def _entries(request):
    return LogbookEntry.objects.for_request(request).select_related(
        "class_group", "subject", "teacher"
    )


def _week_homework(est, classes, first, last):
    return Homework.objects.filter(
        establishment_id=est, class_group_id__any=classes, due_on__gte=first, due_on__lte=last
    ).select_related("class_group", "subject", "teacher")


def _handed_in(est, student, homework):
    return Submission.objects.filter(
        homework__establishment_id=est, student_id=student, homework_id__any=homework
    ).values_list("homework_id")


def _recent_entries(est, classes, since):
    return LogbookEntry.objects.filter(
        establishment_id=est, class_group_id__any=classes, date__gte=since
    ).select_related("class_group", "subject", "teacher")[:30]


# A student's logbook page (the most visited one), compiled once (preau.core.prepared); every
# query is scoped to the establishment of the request (`est`), as for_request() would; `classes`
# are the student's (Viewer.class_ids_of).
WEEK_HOMEWORK = PreparedQuery(_week_homework, est=int, classes=list, first=dt.date, last=dt.date)
HANDED_IN = PreparedQuery(_handed_in, est=int, student=int, homework=list)
RECENT_ENTRIES = PreparedQuery(_recent_entries, est=int, classes=list, since=dt.date)
# A teacher's own entries (their logbook page).
TEACHER_ENTRIES = PreparedPages(
    lambda est, teacher: LogbookEntry.objects.filter(
        establishment_id=est, teacher_id=teacher
    ).select_related("class_group", "subject", "teacher"),
    est=int,
    teacher=int,
)


def week_homework(request, student, days=7):
    """Homework due from today for the student's classes and groups, with the hand-in status."""
    est, today = request.establishment.pk, timezone.localdate()
    items = WEEK_HOMEWORK.rows(
        est=est,
        classes=viewer(request).class_ids_of(student.pk),
        first=today,
        last=today + dt.timedelta(days=days),
    )
    handed = {
        row[0]
        for row in HANDED_IN.rows(est=est, student=student.pk, homework=[h.pk for h in items])
    }
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
            entries = RECENT_ENTRIES.rows(
                est=request.establishment.pk,
                classes=me.class_ids_of(student.pk),
                since=timezone.localdate() - dt.timedelta(days=14),
            )
        return render(
            request,
            "logbook/logbook_student.html",
            {
                "student": student,
                "children": me.children(),
                "entries": entries,
                "homework": week_homework(request, student) if student else [],
            },
        )
    if me.profile == "ENS":
        return render(
            request,
            "logbook/logbook_teacher.html",
            {
                "page": TEACHER_ENTRIES.page(
                    request, est=request.establishment.pk, teacher=request.user.pk
                ),
                "taught": me.taught(),
            },
        )
    classes = ClassGroup.objects.for_request(request).filter(school_year=me.year)
    return render(request, "logbook/logbook_classes.html", {"classes": classes})


@profiles("ELV", "TUT", "ENS", "DIR", "EVS")
def logbook_class(request, uai, class_id):
    class_group = visible_class_or_404(request, class_id)
    return render(
        request,
        "logbook/logbook_class.html",
        {
            "class_group": class_group,
            "homework": _homework(request).filter(
                class_group=class_group, due_on__gte=timezone.localdate()
            ),
            "page": paginate(request, _entries(request).filter(class_group=class_group)),
        },
    )


def _save_entry(request, data, entry, work):
    """Write the session (new or edited) and its homework in one transaction: homework left
    empty removes the session's homework."""
    teaching = data["teaching"]
    common = {
        "establishment": request.establishment,
        "class_group": teaching.class_group,
        "subject": teaching.subject,
    }
    with transaction.atomic():
        entry = entry or LogbookEntry(teacher=request.user)
        for field, value in {**common, **_fields(data, "date", "title", "content")}.items():
            setattr(entry, field, value)
        entry.save()
        if data["homework"]:
            work = work or Homework(entry=entry, teacher=request.user)
            fields = {**common, "assigned_on": data["date"], "description": data["homework"]}
            for field, value in {**fields, **_fields(data, "due_on", "hand_in")}.items():
                setattr(work, field, value)
            work.save()
        elif work is not None:
            work.delete()
    return entry


def _fields(data, *names):
    return {name: data[name] for name in names}


def _copied(request) -> dict:
    """?depuis=ID: a new session starts from one of the teacher's own (a copy to another class
    or group), its class and subject left to choose."""
    source = request.GET.get("depuis", "")
    if not (source.isascii() and source.isdigit() and int(source) < 2**63):  # a bigint id
        return {}
    entry, work = _own_entry(request, int(source))
    return {k: v for k, v in _entry_initial(entry, work).items() if k != "teaching"}


@profiles("ENS")
def logbook_new(request, uai):
    form = LogbookForm(
        request.POST or None, taught=viewer(request).taught(), initial=_copied(request)
    )
    if request.method == "POST" and form.is_valid():
        _save_entry(request, form.cleaned_data, None, None)
        messages.success(request, "Séance enregistrée dans le cahier de textes.")
        return back(request, "logbook")
    return form_page(request, form, "Nouvelle séance", "Enregistrer la séance", "logbook")


def _own_entry(request, entry_id):
    """A session of the logbook with its homework, for its author only: as in Pronote, the
    cahier de textes is the teacher's own (the direction and the vie scolaire read it)."""
    entry = get_object_or_404(_entries(request), pk=entry_id)
    require(entry.teacher_id == request.user.pk)
    work = Homework.objects.for_request(request).filter(entry=entry).first()
    return entry, work


def _entry_initial(entry, work) -> dict:
    initial = {
        "teaching": f"{entry.class_group_id}:{entry.subject_id or ''}",
        "date": entry.date,
        "title": entry.title,
        "content": entry.content,
    }
    if work is not None:
        initial |= {"homework": work.description, "due_on": work.due_on, "hand_in": work.hand_in}
    return initial


@profiles("ENS")
def logbook_entry_edit(request, uai, entry_id):
    entry, work = _own_entry(request, entry_id)
    form = LogbookForm(
        request.POST or None, taught=viewer(request).taught(), initial=_entry_initial(entry, work)
    )
    if request.method == "POST" and form.is_valid():
        if work is not None and not form.cleaned_data["homework"] and work.submissions.exists():
            form.add_error("homework", "Des élèves ont rendu ce travail : il ne peut être retiré.")
        else:
            _save_entry(request, form.cleaned_data, entry, work)
            messages.success(request, "Séance modifiée.")
            return back(request, "logbook")
    return form_page(
        request, form, "Modifier la séance", "Enregistrer les modifications", "logbook"
    )


@profiles("ENS")
def logbook_entry_delete(request, uai, entry_id):
    """A confirmation page (GET), then the deletion of the session and its homework (POST)."""
    entry, work = _own_entry(request, entry_id)
    handed_in = work.submissions.count() if work is not None else 0
    if request.method == "POST":
        with transaction.atomic():
            if work is not None:
                work.delete()
            entry.delete()
        messages.success(request, "Séance supprimée du cahier de textes.")
        return back(request, "logbook")
    return render(
        request,
        "logbook/entry_delete.html",
        {"entry": entry, "work": work, "handed_in": handed_in},
    )


@profiles("ELV", "TUT", "ENS", "DIR", "EVS")
def homework(request, uai, homework_id):
    me = viewer(request)
    item = get_object_or_404(_homework(request), pk=homework_id)
    require(me.sees_class(item.class_group_id))
    mine = None
    if me.profile == "ELV":
        mine = (
            Submission.objects.for_request(request)
            .filter(homework=item, student=request.user)
            .first()
        )
    form = None
    if me.profile == "ELV" and item.hand_in:
        form = SubmissionForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            with files.atomic_upload(form, "file"):
                stored = files.store(request.establishment, form.cleaned_data["file"], request.user)
                Submission.objects.update_or_create(
                    homework=item,
                    student=request.user,
                    defaults={
                        "file": stored,
                        "comment": form.cleaned_data["comment"],
                        "submitted_at": timezone.now(),
                    },
                )
            if not form.errors:
                messages.success(request, "Votre travail a bien été rendu.")
                return back(request, "homework", homework_id=item.pk)
    submissions = None
    if item.teacher_id == request.user.pk or me.is_supervisor:
        submissions = (
            Submission.objects.for_request(request)
            .filter(homework=item)
            .select_related("student", "file")
            .order_by("student__last_name")
        )
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "logbook/homework.html",
        {"item": item, "form": form, "mine": mine, "submissions": submissions},
        status=status,
    )


def reads_submission(request, stored) -> bool:
    """A hand-in is read (preau.ent.views.files) by the homework's teacher, the pupil who handed
    it in and that pupil's legal guardians."""
    students = viewer(request).student_ids()
    return (
        Submission.objects.for_request(request)
        .filter(file=stored)
        .filter(Q(homework__teacher=request.user) | Q(student_id__in=students))
        .exists()
    )
