"""A simple weekly timetable per class and teacher, entered lesson by lesson (form) or imported
as CSV by the direction and the local admins."""

import csv
import datetime as dt
import io
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from preau.core.models import ClassGroup, Membership, Subject, User
from preau.core.prepared import PreparedQuery
from preau.ent.access import profiles, require, viewer
from preau.ent.views.common import back, student_choice, visible_class_or_404
from preau.timetable.forms import TimetableImportForm, TimetableSlotForm
from preau.timetable.models import TimetableSlot, Weekday

DAYS = {label.lower(): value for value, label in Weekday.choices}


def _slots(request):
    return TimetableSlot.objects.for_request(request).select_related(
        "class_group", "subject", "teacher"
    )


def week(slots) -> list[dict]:
    """Days with lessons (Monday–Friday always shown), lessons in time order."""
    days: dict[int, dict[str, Any]] = {
        value: {"label": label, "slots": []}
        for value, label in Weekday.choices
        if value <= Weekday.FRIDAY
    }
    for slot in sorted(slots, key=lambda s: (s.weekday, s.start)):
        days.setdefault(slot.weekday, {"label": slot.get_weekday_display(), "slots": []})[
            "slots"
        ].append(slot)
    return [days[d] for d in sorted(days)]


def _student_week(est, classes):
    return TimetableSlot.objects.filter(
        establishment_id=est, class_group_id__any=classes
    ).select_related("class_group", "subject", "teacher")


def _teacher_week(est, teacher):
    return TimetableSlot.objects.filter(establishment_id=est, teacher_id=teacher).select_related(
        "class_group", "subject", "teacher"
    )


# The timetable of a student (their classes and groups) or of a teacher, for the week or one day
# (the dashboard), compiled once (preau.core.prepared) and scoped to the establishment; a student's
# `classes` are Viewer.class_ids_of's.
STUDENT_WEEK = PreparedQuery(_student_week, est=int, classes=list)
STUDENT_DAY = PreparedQuery(
    lambda est, classes, weekday: _student_week(est, classes).filter(weekday=weekday),
    est=int,
    classes=list,
    weekday=int,
)
TEACHER_WEEK = PreparedQuery(_teacher_week, est=int, teacher=int)
TEACHER_DAY = PreparedQuery(
    lambda est, teacher, weekday: _teacher_week(est, teacher).filter(weekday=weekday),
    est=int,
    teacher=int,
    weekday=int,
)


def today_slots(request, student=None):
    """Lessons of today: a student's classes and groups, or the teacher's own."""
    est, weekday = request.establishment.pk, dt.date.today().isoweekday()
    if student is not None:
        return STUDENT_DAY.rows(
            est=est, classes=viewer(request).class_ids_of(student.pk), weekday=weekday
        )
    return TEACHER_DAY.rows(est=est, teacher=request.user.pk, weekday=weekday)


def can_edit(me) -> bool:
    """Who enters the timetable (form or CSV import): the direction and the local admins."""
    return me.profile == "DIR" or me.is_local_admin


@profiles("ELV", "TUT", "ENS", "DIR", "EVS")
def timetable(request, uai):
    me = viewer(request)
    context = {"children": me.children(), "can_import": can_edit(me)}
    if me.profile in ("ELV", "TUT"):
        student = context["student"] = student_choice(request)
        slots = []
        if student is not None:
            slots = STUDENT_WEEK.rows(
                est=request.establishment.pk, classes=me.class_ids_of(student.pk)
            )
        context["week"] = week(slots)
    elif me.profile == "ENS":
        context["week"] = week(
            TEACHER_WEEK.rows(est=request.establishment.pk, teacher=request.user.pk)
        )
    else:
        context["classes"] = ClassGroup.objects.for_request(request).filter(school_year=me.year)
    return render(request, "timetable/timetable.html", context)


@profiles("ELV", "TUT", "ENS", "DIR", "EVS")
def timetable_class(request, uai, class_id):
    class_group = visible_class_or_404(request, class_id)
    return render(
        request,
        "timetable/timetable.html",
        {
            "class_group": class_group,
            "can_edit": can_edit(viewer(request)),
            "week": week(_slots(request).filter(class_group=class_group)),
        },
    )


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


def _save_slot(slot, data) -> None:
    for field in ("class_group", "weekday", "start", "end", "subject", "teacher", "room"):
        setattr(slot, field, data[field])
    slot.save()


def parse_timetable(request, text: str) -> tuple[list[TimetableSlot], list[str]]:
    """CSV `classe;jour;debut;fin;matiere;enseignant;salle` → slots (not saved) and errors."""
    me = viewer(request)
    classes = {
        c.name.lower(): c
        for c in ClassGroup.objects.for_request(request).filter(school_year=me.year)
    }
    subjects = {s.code.lower(): s for s in Subject.objects.for_request(request)}
    subjects.update({s.label.lower(): s for s in subjects.values() if s.label})
    teachers = {
        m.user.username: m.user
        for m in Membership.objects.for_request(request)
        .current()
        .filter(profile="ENS")
        .select_related("user")
    }
    slots, errors = [], []
    reader = csv.DictReader(io.StringIO(text), delimiter=";")
    for n, raw in enumerate(reader, start=2):
        row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        where = f"ligne {n}"
        klass = classes.get(row.get("classe", "").lower())
        day = DAYS.get(row.get("jour", "").lower())
        try:
            start = dt.time.fromisoformat(row.get("debut", ""))
            end = dt.time.fromisoformat(row.get("fin", ""))
        except ValueError:
            errors.append(f"{where} : heures invalides (format HH:MM)")
            continue
        if klass is None:
            errors.append(f"{where} : classe « {row.get('classe', '')} » inconnue")
        if day is None:
            errors.append(f"{where} : jour « {row.get('jour', '')} » invalide")
        if end <= start:
            errors.append(f"{where} : la fin précède le début")
        teacher = teachers.get(row.get("enseignant", "").lower()) if row.get("enseignant") else None
        if row.get("enseignant") and teacher is None:
            errors.append(f"{where} : enseignant « {row['enseignant']} » inconnu")
        if klass is not None and day is not None and end > start:
            slots.append(
                TimetableSlot(
                    establishment=request.establishment,
                    class_group=klass,
                    weekday=day,
                    start=start,
                    end=end,
                    teacher=teacher,
                    room=row.get("salle", "")[:40],
                    subject=subjects.get(row.get("matiere", "").lower()),
                )
            )
    return slots, errors


def timetable_import(request, uai):
    require(can_edit(viewer(request)))
    form = TimetableImportForm(request.POST or None, request.FILES or None)
    errors = []
    if request.method == "POST" and form.is_valid():
        try:
            text = form.cleaned_data["file"].read().decode("utf-8-sig")
        except UnicodeDecodeError:
            text, errors = "", ["le fichier n'est pas en UTF-8"]
        slots, parse_errors = parse_timetable(request, text) if text else ([], [])
        errors += parse_errors
        if not errors:
            # A complete timetable replaces the previous one of the classes it names.
            with transaction.atomic():
                TimetableSlot.objects.for_request(request).filter(
                    class_group__in={s.class_group_id for s in slots}
                ).delete()
                TimetableSlot.objects.bulk_create(slots)
            messages.success(request, f"Emploi du temps importé : {len(slots)} cours.")
            return back(request, "timetable")
    return render(
        request,
        "timetable/timetable_import.html",
        {"form": form, "errors": errors},
        status=400 if request.method == "POST" else 200,
    )
