from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from preau.core.forms import AccessibleForm
from preau.ent.forms import DateInput, TimeInput
from preau.timetable.models import (
    TimetableImport,
    Weekday,
    WeekParity,
    given_in,
    parity_of,
)


class TimetableSlotForm(AccessibleForm):
    """One lesson of the weekly timetable. The choices come from the establishment of the
    request only (classes of the current year, its subjects, its current teachers)."""

    class_group: forms.ModelChoiceField[Any] = forms.ModelChoiceField(
        label="Classe ou groupe", queryset=None, empty_label="— choisir —"
    )
    weekday = forms.TypedChoiceField(
        label="Jour",
        coerce=int,
        choices=[("", "— choisir —")] + [(value, label) for value, label in Weekday.choices],
    )
    start = forms.TimeField(label="Début", widget=TimeInput())
    end = forms.TimeField(label="Fin", widget=TimeInput())
    subject: forms.ModelChoiceField[Any] = forms.ModelChoiceField(
        label="Matière", queryset=None, required=False, empty_label="— aucune —"
    )
    teacher: forms.ModelChoiceField[Any] = forms.ModelChoiceField(
        label="Enseignant", queryset=None, required=False, empty_label="— aucun —"
    )
    room = forms.CharField(label="Salle", max_length=40, required=False)
    week_parity = forms.ChoiceField(
        label="Semaines", choices=WeekParity.choices, required=False, initial=""
    )

    def __init__(self, *args, classes, subjects, teachers, others, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["class_group"].queryset = classes
        self.fields["subject"].queryset = subjects
        self.fields["subject"].label_from_instance = lambda s: s.label or s.code
        self.fields["teacher"].queryset = teachers
        self.fields["teacher"].label_from_instance = lambda u: (
            f"{u.last_name} {u.first_name}".strip() or u.username
        )
        self.others = others  # the establishment's other slots, for the overlap checks

    def clean(self):
        data = super().clean()
        start, end, day = data.get("start"), data.get("end"), data.get("weekday")
        if start and end and end <= start:
            self.add_error("end", "La fin du cours doit être après son début.")
            return data
        if not (start and end and day):
            return data
        overlapping = self.others.filter(weekday=day, start__lt=end, end__gt=start)
        if data.get("week_parity"):  # a week A lesson and a week B one share their time
            overlapping = overlapping.filter(given_in(data["week_parity"]))
        if data.get("class_group") and overlapping.filter(class_group=data["class_group"]).exists():
            self.add_error("start", f"{data['class_group'].name} a déjà un cours sur ce créneau.")
        if data.get("teacher") and overlapping.filter(teacher=data["teacher"]).exists():
            self.add_error("teacher", "Cet enseignant a déjà un cours sur ce créneau.")
        return data


class TimetableImportForm(AccessibleForm):
    """The file to import and its format; its size, type and antivirus scan are checked when
    it is stored (preau.ent.files, the platform's upload limits), its contents by the job."""

    file = forms.FileField(
        label="Fichier",
        help_text="Export STS-Web (sts_emp_….xml), export d'EDT ou d'UDT pour STS (.xml), "
        "export des élèves de SIECLE (ElevesSansAdresses.xml, zippé ou non), ou "
        "CSV séparé par « ; » : classe;jour;debut;fin;matiere;enseignant;salle, et une "
        "colonne semaine facultative (A, B ou vide : toutes les semaines) ; jour : "
        "lundi…samedi, enseignant : identifiant.",
    )
    format = forms.ChoiceField(
        label="Format", choices=TimetableImport.Format.choices, required=False, initial=""
    )


class LessonChangeForm(AccessibleForm):
    """A lesson on one date: cancelled, or in another room; neither restores it as usual."""

    date = forms.DateField(label="Date", widget=DateInput())
    cancelled = forms.BooleanField(label="Cours annulé", required=False)
    room = forms.CharField(
        label="Salle ce jour-là",
        max_length=40,
        required=False,
        help_text="Vide : la salle habituelle.",
    )

    def __init__(self, *args, slot, **kwargs):
        super().__init__(*args, **kwargs)
        self.slot = slot

    def clean_date(self):
        date = self.cleaned_data["date"]
        if date.isoweekday() != self.slot.weekday or self.slot.week_parity not in (
            "",
            parity_of(date),
        ):
            raise ValidationError(
                f"Ce cours a lieu le {self.slot.get_weekday_display().lower()}"
                f"{' en semaine ' + self.slot.week_parity if self.slot.week_parity else ''}."
            )
        return date

    def clean_room(self):
        room = self.cleaned_data["room"].strip()
        return "" if room == self.slot.room else room
