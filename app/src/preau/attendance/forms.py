from typing import cast

from django import forms
from django.utils import timezone

from preau.core.forms import AccessibleForm
from preau.ent.forms import DateInput, TimeInput


class RollCallForm(AccessibleForm):
    date = forms.DateField(label="Date", widget=DateInput(), initial=timezone.localdate)
    start = forms.TimeField(label="Heure du cours", widget=TimeInput())


class JustifyForm(AccessibleForm):
    reason = forms.CharField(
        label="Motif de l'absence",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Par exemple : rendez-vous médical, maladie, transport.",
    )


class IncidentForm(AccessibleForm):
    """An exclusion from class or a visit to the infirmary of one pupil of the class; a teacher
    records exclusions only (`kinds`)."""

    student = forms.TypedChoiceField(label="Élève", coerce=int)
    kind = forms.ChoiceField(label="Type")
    date = forms.DateField(label="Date", widget=DateInput())
    start = forms.TimeField(label="Heure du cours", widget=TimeInput())
    reason = forms.CharField(
        label="Motif",
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Obligatoire pour une exclusion : la famille le verra.",
    )

    def __init__(self, *args, students, kinds, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        student = cast(forms.ChoiceField, self.fields["student"])
        student.choices = [(s.pk, f"{s.last_name} {s.first_name}") for s in students]
        cast(forms.ChoiceField, self.fields["kind"]).choices = kinds

    def clean(self):
        data = super().clean()
        if data.get("kind") == "exclusion" and not data.get("reason", "").strip():
            self.add_error("reason", "Indiquez le motif de l'exclusion : la famille le verra.")
        return data
