from django import forms
from django.utils import timezone

from preau.core.forms import AccessibleForm
from preau.ent.forms import DateInput, TeachingChoiceField
from preau.grades import periods


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


class PeriodsForm(AccessibleForm):
    """The school year's periods: three rows (trimesters), the third left empty for semesters."""

    def __init__(self, *args, year: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.year = year
        for n in range(1, periods.ROWS + 1):
            self.fields[f"name_{n}"] = forms.CharField(
                label=f"Période {n} : nom", max_length=50, required=False
            )
            self.fields[f"start_{n}"] = forms.DateField(
                label=f"Période {n} : début", widget=DateInput(), required=False
            )
            self.fields[f"end_{n}"] = forms.DateField(
                label=f"Période {n} : fin", widget=DateInput(), required=False
            )

    def clean(self):
        data = super().clean()
        rows = []
        for n in range(1, periods.ROWS + 1):
            row = {key: data.get(f"{key}_{n}") for key in ("name", "start", "end")}
            if not any(row.values()):
                continue
            missing = [key for key, value in row.items() if not value]
            for key in missing:
                if f"{key}_{n}" not in self.errors:
                    self.add_error(f"{key}_{n}", f"Indiquez {MISSING[key]} de la période {n}.")
            if not missing:
                rows.append(row)
        if self.errors:
            return data
        rows.sort(key=lambda row: row["start"])
        for error in periods.problems(rows, self.year):
            self.add_error(None, error)
        data["rows"] = rows
        return data


MISSING = {"name": "le nom", "start": "la date de début", "end": "la date de fin"}
