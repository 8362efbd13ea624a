from django import forms

from preau.core.forms import AccessibleForm
from preau.ent.forms import TeachingChoiceField, UploadField


class DocumentEditForm(AccessibleForm):
    """What the author changes of a document already deposited."""

    title = forms.CharField(label="Titre", max_length=200)
    description = forms.CharField(
        label="Description", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class DocumentForm(DocumentEditForm):
    file = UploadField(label="Fichier")

    def __init__(self, *args, taught=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields = {"teaching": TeachingChoiceField(taught), **self.fields}
