from django import forms
from django.utils import timezone

from preau.core.forms import AccessibleForm
from preau.ent.forms import DateInput, TeachingChoiceField


class AssessmentEditForm(AccessibleForm):
    """What the grading teacher changes of an assessment."""

    title = forms.CharField(label="Intitulé", max_length=200)
    date = forms.DateField(label="Date", widget=DateInput(), initial=timezone.localdate)
    coefficient = forms.DecimalField(
        label="Coefficient", min_value=0.25, max_value=10, decimal_places=2, initial=1
    )
    scale = forms.IntegerField(label="Noté sur", min_value=1, max_value=100, initial=20)


class AssessmentForm(AssessmentEditForm):
    def __init__(self, *args, taught=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields = {"teaching": TeachingChoiceField(taught), **self.fields}
