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
