from django import forms

from preau.console.models import UsageStat
from preau.core.forms import AccessibleForm
from preau.core.models import Profile


class AccountSearchForm(AccessibleForm):
    q = forms.CharField(
        label="Nom, prénom ou identifiant",
        min_length=2,
        max_length=100,
        help_text="Dans tous les établissements ; les accents et majuscules sont ignorés.",
        error_messages={
            "required": "Saisissez un nom ou un identifiant.",
            "min_length": "Saisissez au moins 2 caractères.",
        },
    )


class StatsForm(AccessibleForm):
    """Which figures the statistics page (and its CSV) shows; every field optional."""

    periode = forms.ChoiceField(
        label="Période", required=False, choices=UsageStat.Period.choices, initial="jour"
    )
    etablissement = forms.CharField(label="Établissement (UAI)", required=False, max_length=8)
    profil = forms.ChoiceField(
        label="Profil", required=False, choices=[("", "Tous les profils"), *Profile.choices]
    )

    def clean_etablissement(self) -> str:
        return self.cleaned_data["etablissement"].strip().upper()
