from django import forms
from django.utils import timezone

from preau.core.forms import AccessibleForm
from preau.ent.forms import DateInput, TeachingChoiceField, UploadField


class LogbookForm(AccessibleForm):
    date = forms.DateField(
        label="Date de la séance", widget=DateInput(), initial=timezone.localdate
    )
    title = forms.CharField(label="Titre de la séance", max_length=200)
    content = forms.CharField(
        label="Contenu de la séance", required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    homework = forms.CharField(
        label="Travail à faire", required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    due_on = forms.DateField(label="Pour le", required=False, widget=DateInput())
    hand_in = forms.BooleanField(label="Les élèves rendent un fichier", required=False)

    def __init__(self, *args, taught=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields = {"teaching": TeachingChoiceField(taught), **self.fields}

    def clean(self):
        data = super().clean()
        if data.get("homework") and not data.get("due_on"):
            self.add_error("due_on", "Indiquez pour quand le travail est à faire.")
        if data.get("due_on") and data.get("date") and data["due_on"] < data["date"]:
            self.add_error("due_on", "La date de remise précède la séance.")
        return data


class SubmissionForm(AccessibleForm):
    file = UploadField(label="Fichier à rendre")
    comment = forms.CharField(label="Commentaire (facultatif)", max_length=300, required=False)
