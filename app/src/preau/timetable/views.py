"""The week grid of a pupil, a parent's child, a teacher, a class or a room (A/B weeks, week
navigation), entered lesson by lesson (form) or imported from a file (CSV, STS-Web, EDT/UDT:
preau.timetable.imports, by a background job) by the direction and the local admins."""

import datetime as dt
from typing import Any

from django.contrib import messages
from django.core.exceptions import BadRequest
from django.db import transaction
from django.db.models import Exists, OuterRef, Subquery
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from preau.core.display import subject
from preau.core.models import ClassGroup, Membership, Subject, User
from preau.core.prepared import PreparedQuery
from preau.ent import files
from preau.ent.access import guardians_of, profiles, require, viewer
from preau.ent.cache import cached_for_establishment
from preau.ent.notify import notify
from preau.ent.views.common import (
    back,
    form_page,
    job_page,
    student_choice,
    students_of,
    visible_class_or_404,
)
from preau.timetable import imports
from preau.timetable.forms import LessonChangeForm, TimetableImportForm, TimetableSlotForm
from preau.timetable.models import (
    LessonChange,
    TimetableImport,
    TimetableSlot,
    Weekday,
    given_in,
    parity_of,
)


def _slots(request):
    return TimetableSlot.objects.for_request(request).select_related(
        "class_group", "subject", "teacher"
    )


def week_of(request) -> dt.date:
    """The Monday of the week asked with ?semaine=YYYY-MM-DD (any day of it), else of this
    week: a value that is not such a date, or not of 2000–2099, gives this week."""
    today = timezone.localdate()
    try:
        day = dt.date.fromisoformat(request.GET.get("semaine", ""))
    except ValueError:
        day = today
    if not 2000 <= day.year <= 2099:
        day = today
    return day - dt.timedelta(days=day.weekday())


def grid(slots, monday: dt.date, hours, changes=()) -> dict[str, Any]:
    """The week grid of `slots` (those of the week of `monday`, see given_in): its days,
    Monday–Friday and Saturday when a lesson uses it, with their dates; one row per start time
    of the establishment's lessons (`hours`, HOURS' rows) and of these, each cell the lessons
    of that day starting then, as (lesson, its LessonChange of that date or None). `parity`:
    the week's A or B where the establishment has lessons of weeks A or B only."""
    used = {slot.weekday for slot in slots}
    days = [value for value, _ in Weekday.choices if value <= Weekday.FRIDAY or value in used]
    changed = {(change.slot_id, change.date): change for change in changes}
    cells: dict[tuple[int, dt.time], list[tuple[TimetableSlot, LessonChange | None]]] = {}
    for slot in sorted(slots, key=lambda s: (s.weekday, s.start, s.class_group.name)):
        date = monday + dt.timedelta(days=slot.weekday - 1)
        cells.setdefault((slot.weekday, slot.start), []).append(
            (slot, changed.get((slot.pk, date)))
        )
    starts = sorted({start for start, _ in hours} | {start for _, start in cells})
    return {
        "days": [
            {"label": Weekday(day).label, "date": monday + dt.timedelta(days=day - 1)}
            for day in days
        ],
        "rows": [{"start": t, "cells": [cells.get((day, t), []) for day in days]} for t in starts],
        "monday": monday,
        "last": monday + dt.timedelta(days=days[-1] - 1),
        "previous": monday - dt.timedelta(days=7),
        "next": monday + dt.timedelta(days=7),
        "parity": parity_of(monday) if any(parity for _, parity in hours) else "",
    }


def _lessons(est, parity, **where):
    """The lessons of a week of this parity (given_in) in the establishment, filtered by `where`."""
    return TimetableSlot.objects.filter(
        given_in(parity), establishment_id=est, **where
    ).select_related("class_group", "subject", "teacher")


def _of_day(lessons, date):
    """The lessons of the weekday of `date`, each with `cancelled` and `moved_to` (that day's
    other room, or None) from its LessonChange of that date, in the same query."""
    change = LessonChange.objects.filter(slot_id=OuterRef("pk"), date=date)
    return lessons.filter(weekday=date.isoweekday()).annotate(
        cancelled=Exists(change.filter(cancelled=True)),
        moved_to=Subquery(change.exclude(room="").values("room")[:1]),
    )


# The lessons of a week of one parity (or of one day of it: the dashboard) of a student (their
# classes and groups), a teacher, a class or a room, compiled once (preau.core.prepared) and scoped
# to the establishment; a student's `classes` are Viewer.class_ids_of's.
STUDENT_WEEK = PreparedQuery(
    lambda est, parity, classes: _lessons(est, parity, class_group_id__any=classes),
    est=int,
    parity=str,
    classes=list,
)
STUDENT_DAY = PreparedQuery(
    lambda est, parity, classes, date: _of_day(
        _lessons(est, parity, class_group_id__any=classes), date
    ),
    est=int,
    parity=str,
    classes=list,
    date=dt.date,
)
TEACHER_WEEK = PreparedQuery(
    lambda est, parity, teacher: _lessons(est, parity, teacher_id=teacher),
    est=int,
    parity=str,
    teacher=int,
)
TEACHER_DAY = PreparedQuery(
    lambda est, parity, teacher, date: _of_day(_lessons(est, parity, teacher_id=teacher), date),
    est=int,
    parity=str,
    teacher=int,
    date=dt.date,
)
CLASS_WEEK = PreparedQuery(
    lambda est, parity, class_group: _lessons(est, parity, class_group_id=class_group),
    est=int,
    parity=str,
    class_group=int,
)
ROOM_WEEK = PreparedQuery(
    lambda est, parity, room: _lessons(est, parity, room=room), est=int, parity=str, room=str
)
# The grid's rows: the start times of the establishment's lessons, with their week parity.
HOURS = PreparedQuery(
    lambda est: (
        TimetableSlot.objects.filter(establishment_id=est)
        .order_by("start", "week_parity")
        .values_list("start", "week_parity")
        .distinct()
    ),
    est=int,
)
# The lessons cancelled or moved to another room between two dates.
CHANGES = PreparedQuery(
    lambda est, first, last: LessonChange.objects.filter(
        establishment_id=est, date__gte=first, date__lte=last
    ),
    est=int,
    first=dt.date,
    last=dt.date,
)
# The rooms of the establishment's lessons, for the staff's choice.
ROOMS = PreparedQuery(
    lambda est: (
        TimetableSlot.objects.filter(establishment_id=est)
        .exclude(room="")
        .order_by("room")
        .values_list("room")
        .distinct()
    ),
    est=int,
)


def today_slots(request, classes=None):
    """Lessons of today (of this week's A or B, with that day's cancellation or room change):
    those of these classes and groups (a pupil's, a parent's children's), else the teacher's
    own."""
    est, today = request.establishment.pk, timezone.localdate()
    day = {"est": est, "parity": parity_of(today), "date": today}
    if classes is not None:
        return STUDENT_DAY.rows(classes=sorted(classes), **day)
    return TEACHER_DAY.rows(teacher=request.user.pk, **day)


def can_edit(me) -> bool:
    """Who enters the timetable (form or CSV import): the direction and the local admins."""
    return me.manages_establishment


def _grid_page(request, context, slots, monday):
    est = request.establishment.pk
    changes = CHANGES.rows(est=est, first=monday, last=monday + dt.timedelta(days=6))
    # The grid's rows are the establishment's, the same for everyone: read once a worker per
    # PREAU_USER_CACHE_SECONDS (a lesson entered since has its row all the same: grid()).
    hours = cached_for_establishment(est, "timetable-hours", lambda: list(HOURS.rows(est=est)))
    context["grid"] = grid(slots, monday, hours, changes)
    return render(request, "timetable/timetable.html", context)


@profiles("ELV", "TUT", "ENS", "DIR", "EVS")
def timetable(request, uai):
    """The week grid: a pupil's, a parent's chosen child's, a teacher's own; the direction and
    the vie scolaire choose a class, a teacher or a room (?voir=)."""
    me = viewer(request)
    est, monday = request.establishment.pk, week_of(request)
    parity = parity_of(monday)
    context: dict[str, Any] = {
        "children": me.children(),
        "can_import": can_edit(me),
        "can_subscribe": me.profile in ("ELV", "TUT", "ENS"),  # timetable/feed.py
    }
    slots: list[TimetableSlot] = []
    if me.profile in ("ELV", "TUT"):
        student = context["student"] = student_choice(request)
        if student is not None:
            classes = me.class_ids_of(student.pk)
            slots = STUDENT_WEEK.rows(est=est, classes=classes, parity=parity)
    elif me.profile == "ENS":
        slots = TEACHER_WEEK.rows(est=est, teacher=request.user.pk, parity=parity)
    else:
        return _staff_timetable(request, context, monday)
    return _grid_page(request, context, slots, monday)


def _staff_timetable(request, context, monday):
    """The choice of a class, a teacher or a room (one list, ?voir=classe-ID, enseignant-ID or
    salle-NAME), then its grid; another establishment's class or teacher is not among the
    choices (404), a value of no such form is refused (400)."""
    est, parity = request.establishment.pk, parity_of(monday)
    classes = list(
        ClassGroup.objects.for_request(request)
        .filter(school_year=viewer(request).year)
        .order_by("kind", "name")
    )
    teachers = list(
        User.objects.filter(
            pk__in=Membership.objects.for_request(request)
            .current()
            .filter(profile="ENS")
            .values("user_id")
        ).order_by("last_name", "first_name")
    )
    rooms = [row[0] for row in ROOMS.rows(est=est)]
    choices = {
        "classe": {str(c.pk): c.name for c in classes},
        "enseignant": {str(t.pk): t.get_full_name() or t.username for t in teachers},
        "salle": {room: room for room in rooms},
    }
    context.update(choices=choices, chosen=request.GET.get("voir", ""))
    if not context["chosen"]:
        return render(request, "timetable/timetable.html", context)
    kind, _, key = context["chosen"].partition("-")
    if kind not in choices:
        raise BadRequest("voir: classe-ID, enseignant-ID ou salle-NOM")
    if key not in choices[kind]:
        raise Http404
    context["title"] = choices[kind][key]
    context["query"] = urlencode({"voir": context["chosen"]}) + "&"
    if kind == "classe":
        slots = CLASS_WEEK.rows(est=est, class_group=int(key), parity=parity)
    elif kind == "enseignant":
        slots = TEACHER_WEEK.rows(est=est, teacher=int(key), parity=parity)
    else:
        slots = ROOM_WEEK.rows(est=est, room=key, parity=parity)
    return _grid_page(request, context, slots, monday)


@profiles("ELV", "TUT", "ENS", "DIR", "EVS")
def timetable_class(request, uai, class_id):
    class_group = visible_class_or_404(request, class_id)
    monday = week_of(request)
    slots = CLASS_WEEK.rows(
        est=request.establishment.pk, class_group=class_group.pk, parity=parity_of(monday)
    )
    context = {"class_group": class_group, "can_edit": can_edit(viewer(request))}
    return _grid_page(request, context, slots, monday)


def _slot_form(request, slot=None):
    me = viewer(request)
    others = TimetableSlot.objects.for_request(request)
    if slot is not None:
        others = others.exclude(pk=slot.pk)
    if slot is not None:
        initial = {
            "class_group": slot.class_group_id,
            "weekday": slot.weekday,
            "start": slot.start,
            "end": slot.end,
            "subject": slot.subject_id,
            "teacher": slot.teacher_id,
            "room": slot.room,
            "week_parity": slot.week_parity,
        }
    else:  # ?classe=ID from a class's timetable
        initial = (
            {"class_group": request.GET["classe"]}
            if request.GET.get("classe", "").isdigit()
            else {}
        )
    teachers = (
        Membership.objects.for_request(request).current().filter(profile="ENS").values("user_id")
    )
    return TimetableSlotForm(
        request.POST or None,
        initial=initial,
        others=others,
        classes=ClassGroup.objects.for_request(request)
        .filter(school_year=me.year)
        .order_by("kind", "name"),
        subjects=Subject.objects.for_request(request).order_by("label", "code"),
        teachers=User.objects.filter(pk__in=teachers).order_by("last_name", "first_name"),
    )


def _slot_page(request, form, title, submit, back_to):
    return render(
        request,
        "ent/form_page.html",
        {
            "form": form,
            "title": title,
            "submit": submit,
            "back_url": reverse(
                "timetable_class", kwargs={"uai": request.establishment.uai, "class_id": back_to}
            )
            if back_to
            else reverse("timetable", kwargs={"uai": request.establishment.uai}),
        },
        status=400 if request.method == "POST" else 200,
    )


def timetable_slot_new(request, uai):
    """Add one lesson (the direction and the local admins)."""
    require(can_edit(viewer(request)))
    form = _slot_form(request)
    if request.method == "POST" and form.is_valid():
        slot = TimetableSlot(establishment=request.establishment)
        _save_slot(slot, form.cleaned_data)
        messages.success(request, "Cours ajouté à l'emploi du temps.")
        return back(request, "timetable_class", class_id=slot.class_group_id)
    return _slot_page(request, form, "Ajouter un cours", "Ajouter le cours", _chosen_class(form))


def _chosen_class(form):
    """The class of the new lesson's form, for its back link: the one posted once it is known
    to be one of the establishment's (anything may be posted), else the one it started with."""
    if form.is_bound:
        chosen = form.cleaned_data.get("class_group")
        return chosen.pk if chosen else None
    return form.initial.get("class_group")


def timetable_slot_edit(request, uai, slot_id):
    require(can_edit(viewer(request)))
    slot = get_object_or_404(TimetableSlot.objects.for_request(request), pk=slot_id)
    form = _slot_form(request, slot)
    if request.method == "POST" and form.is_valid():
        _save_slot(slot, form.cleaned_data)
        messages.success(request, "Cours modifié.")
        return back(request, "timetable_class", class_id=slot.class_group_id)
    return _slot_page(request, form, "Modifier un cours", "Enregistrer", slot.class_group_id)


def timetable_slot_delete(request, uai, slot_id):
    """A confirmation page (GET), then the deletion (POST)."""
    require(can_edit(viewer(request)))
    slot = get_object_or_404(_slots(request), pk=slot_id)
    if request.method == "POST":
        slot.delete()
        messages.success(request, "Cours supprimé de l'emploi du temps.")
        return back(request, "timetable_class", class_id=slot.class_group_id)
    return render(request, "timetable/timetable_slot_delete.html", {"slot": slot})


def next_date(slot, today: dt.date) -> dt.date:
    """The lesson's next date from `today` on (in a week of its A or B)."""
    date = today + dt.timedelta(days=(slot.weekday - today.isoweekday()) % 7)
    return date if slot.week_parity in ("", parity_of(date)) else date + dt.timedelta(days=7)


def timetable_change(request, uai, slot_id):
    """Cancel a lesson on one date, or give it in another room, or restore it (the direction
    and the local admins); its class's pupils, their legal guardians and its teacher are
    notified. ?date= the date (by default the lesson's next one)."""
    require(can_edit(viewer(request)))
    slot = get_object_or_404(_slots(request), pk=slot_id)
    try:
        date = dt.date.fromisoformat(request.GET.get("date", ""))
    except ValueError:
        date = next_date(slot, timezone.localdate())
    known = LessonChange.objects.filter(slot=slot, date=date).first()
    initial = {"date": date, "cancelled": known and known.cancelled, "room": known and known.room}
    form = LessonChangeForm(request.POST or None, slot=slot, initial=initial)
    if request.method == "POST" and form.is_valid():
        date, cancelled, room = (form.cleaned_data[k] for k in ("date", "cancelled", "room"))
        with transaction.atomic():
            LessonChange.objects.filter(slot=slot, date=date).delete()
            if cancelled or room:
                LessonChange.objects.create(
                    establishment=request.establishment,
                    slot=slot,
                    date=date,
                    cancelled=cancelled,
                    room="" if cancelled else room,
                )
            _notify_change(request, slot, date, cancelled, room)
        messages.success(request, "Modification enregistrée ; la classe en est avertie.")
        return redirect(
            reverse("timetable_class", kwargs={"uai": uai, "class_id": slot.class_group_id})
            + f"?semaine={date.isoformat()}"
        )
    title = (
        f"Annuler ou changer de salle – {slot.class_group.name}, "
        f"{slot.get_weekday_display().lower()} {slot.start:%H:%M}"
    )
    return form_page(
        request, form, title, "Enregistrer", "timetable_class", class_id=slot.class_group_id
    )


def _notify_change(request, slot, date, cancelled: bool, room: str) -> None:
    pupils = [pupil.pk for pupil in students_of(request, slot.class_group)]
    parents = [parent for parent, _ in guardians_of(request, pupils)]
    when = f"le {formats.date_format(date, 'l j F')} à {slot.start:%H:%M}"
    lesson = f"{subject(slot.subject)} ({slot.class_group.name})"
    if cancelled:
        text = f"Cours annulé {when} : {lesson}."
    elif room:
        text = f"Changement de salle {when} : {lesson} en salle {room}."
    else:
        text = f"Cours rétabli {when} : {lesson}" + (f", salle {slot.room}." if slot.room else ".")
    notify(
        request.establishment,
        [*pupils, *parents, *([slot.teacher_id] if slot.teacher_id else [])],
        text,
        reverse("timetable", kwargs={"uai": request.establishment.uai})
        + f"?semaine={date.isoformat()}",
    )


def _save_slot(slot, data) -> None:
    fields = ("class_group", "weekday", "start", "end", "subject", "teacher", "room", "week_parity")
    for field in fields:
        setattr(slot, field, data[field])
    slot.save()


@never_cache
@require_http_methods(["GET", "POST"])
def timetable_import(request, uai):
    """The upload of a timetable or structure file (CSV, STS-Web, EDT/UDT): stored and handed
    to the import job (Post/Redirect/Get to its page); never read here. The recent imports
    below the form."""
    require(can_edit(viewer(request)))
    form = TimetableImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        with files.atomic_upload(form, "file"):
            batch = imports.create_batch(
                request.establishment,
                form.cleaned_data["file"],
                form.cleaned_data["format"],
                request.user,
            )
        if form.is_valid():  # the upload was not refused
            messages.success(request, "Fichier reçu : l'import est en cours.")
            return redirect("timetable_import_status", uai=uai, import_id=batch.pk)
    return render(
        request,
        "timetable/timetable_import.html",
        {
            "form": form,
            "batches": TimetableImport.objects.for_request(request).select_related("source")[:10],
        },
        status=400 if request.method == "POST" else 200,
    )


@never_cache
def timetable_import_status(request, uai, import_id):
    """One import: « import en cours » while its job runs (the page reloads itself), then its
    report: what was created or replaced, every refused line."""
    require(can_edit(viewer(request)))
    batch = get_object_or_404(
        TimetableImport.objects.for_request(request).select_related("source"), pk=import_id
    )
    context = {
        "lines": imports.lines(batch.report),
        "formats": dict(TimetableImport.Format.choices),
    }
    return job_page(request, "timetable/timetable_import_status.html", context, batch)
