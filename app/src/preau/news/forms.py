from django import forms

from preau.core.forms import AccessibleForm
from preau.ent.forms import AudienceField


class NewsForm(AccessibleForm):
    title = forms.CharField(label="Titre", max_length=200)
    body = forms.CharField(label="Texte", widget=forms.Textarea(attrs={"rows": 5}))
    audience = AudienceField()
    classes = forms.TypedMultipleChoiceField(
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Classes",
        help_text="Aucune case cochée : toutes les classes. Une classe cochée : ses élèves, "
        "leurs responsables et ses enseignants (avec le public ci-dessus).",
    )

    def __init__(self, *args, classes=(), **kwargs):
        """`classes`: (id, name) of the classes one may target."""
        super().__init__(*args, **kwargs)
        self.fields["classes"].choices = list(classes)

    def item_fields(self) -> dict:
        """The NewsItem's fields from the form."""
        data = self.cleaned_data
        return {
            "title": data["title"],
            "body": data["body"],
            "audience": data["audience"],
            "class_ids": sorted(data["classes"]),
        }


class LinkForm(AccessibleForm):
    title = forms.CharField(label="Nom de la ressource", max_length=200)
    url = forms.URLField(label="Adresse (https://…)", max_length=500, assume_scheme="https")
    description = forms.CharField(label="Description", max_length=300, required=False)
    audience = AudienceField()
