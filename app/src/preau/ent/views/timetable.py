"""A simple weekly timetable per class and teacher, entered by CSV import."""
import csv
import datetime as dt
import io

from django.contrib import messages
from django.db import transaction
from django.shortcuts import render

from preau.core.models import ClassGroup, ClassMembership, Membership, Subject
from preau.ent.access import require, viewer, profiles
from preau.ent.forms import TimetableImportForm
from preau.ent.models import TimetableSlot, Weekday
from preau.ent.views.common import back, student_choice, visible_class_or_404

DAYS = {label.lower(): value for value, label in Weekday.choices}


def _slots(request):
    return TimetableSlot.objects.for_request(request).select_related("class_group", "subject", "teacher")


def week(slots) -> list[dict]:
    """Days with lessons (Monday–Friday always shown), lessons in time order."""
    days = {value: {"label": label, "slots": []} for value, label in Weekday.choices
            if value <= Weekday.FRIDAY}
    for slot in sorted(slots, key=lambda s: (s.weekday, s.start)):
        days.setdefault(slot.weekday, {"label": slot.get_weekday_display(), "slots": []})["slots"].append(slot)
    return [days[d] for d in sorted(days)]


def today_slots(request, student=None):
    """Lessons of today: a student's classes and groups, or the teacher's own."""
    me = viewer(request)
    weekday = dt.date.today().isoweekday()
    if student is not None:
        classes = ClassMembership.objects.for_request(request).filter(
            user=student, class_group__school_year=me.year).values("class_group_id")
        return _slots(request).filter(weekday=weekday, class_group_id__in=classes)
    return _slots(request).filter(weekday=weekday, teacher=request.user)


@profiles("ELV", "TUT", "ENS", "DIR", "EVS")
def timetable(request, uai):
    me = viewer(request)
    context = {"children": me.children(), "can_import": me.profile == "DIR" or me.is_local_admin}
    if me.profile in ("ELV", "TUT"):
        student = context["student"] = student_choice(request)
        slots = []
        if student is not None:
            classes = ClassMembership.objects.for_request(request).filter(
                user=student, class_group__school_year=me.year).values("class_group_id")
            slots = _slots(request).filter(class_group_id__in=classes)
        context["week"] = week(slots)
    elif me.profile == "ENS":
        context["week"] = week(_slots(request).filter(teacher=request.user))
    else:
        context["classes"] = ClassGroup.objects.for_request(request).filter(school_year=me.year)
    return render(request, "ent/timetable.html", context)


@profiles("ELV", "TUT", "ENS", "DIR", "EVS")
def timetable_class(request, uai, class_id):
    class_group = visible_class_or_404(request, class_id)
    return render(request, "ent/timetable.html", {"class_group": class_group,
                                                  "week": week(_slots(request).filter(class_group=class_group))})


def parse_timetable(request, text: str) -> tuple[list[TimetableSlot], list[str]]:
    """CSV `classe;jour;debut;fin;matiere;enseignant;salle` → slots (not saved) and errors."""
    me = viewer(request)
    classes = {c.name.lower(): c for c in ClassGroup.objects.for_request(request).filter(school_year=me.year)}
    subjects = {s.code.lower(): s for s in Subject.objects.for_request(request)}
    subjects.update({s.label.lower(): s for s in subjects.values() if s.label})
    teachers = {m.user.username: m.user for m in Membership.objects.for_request(request).current()
                .filter(profile="ENS").select_related("user")}
    slots, errors = [], []
    reader = csv.DictReader(io.StringIO(text), delimiter=";")
    for n, row in enumerate(reader, start=2):
        row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
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
            slots.append(TimetableSlot(establishment=request.establishment, class_group=klass, weekday=day,
                                       start=start, end=end, teacher=teacher, room=row.get("salle", "")[:40],
                                       subject=subjects.get(row.get("matiere", "").lower())))
    return slots, errors


def timetable_import(request, uai):
    me = viewer(request)
    require(me.profile == "DIR" or me.is_local_admin)
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
                    class_group__in={s.class_group_id for s in slots}).delete()
                TimetableSlot.objects.bulk_create(slots)
            messages.success(request, f"Emploi du temps importé : {len(slots)} cours.")
            return back(request, "timetable")
    return render(request, "ent/timetable_import.html", {"form": form, "errors": errors},
                  status=400 if request.method == "POST" else 200)
