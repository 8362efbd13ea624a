from django import forms

from preau.core.forms import AccessibleForm
from preau.ent.forms import AudienceField


class NewsForm(AccessibleForm):
    title = forms.CharField(label="Titre", max_length=200)
    body = forms.CharField(label="Texte", widget=forms.Textarea(attrs={"rows": 5}))
    audience = AudienceField()


class LinkForm(AccessibleForm):
    title = forms.CharField(label="Nom de la ressource", max_length=200)
    url = forms.URLField(label="Adresse (https://…)", max_length=500, assume_scheme="https")
    description = forms.CharField(label="Description", max_length=300, required=False)
    audience = AudienceField()
