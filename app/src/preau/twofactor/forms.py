from django import forms

from preau.core.forms import AccessibleForm
from preau.twofactor.devices import normalize_code


class _CodeForm(AccessibleForm):
    def clean_code(self):
        return normalize_code(self.cleaned_data["code"])


class EnrolmentForm(_CodeForm):
    code = forms.CharField(
        label="Code à 6 chiffres",
        max_length=20,
        help_text="Le code affiché par votre application pour Préau.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class VerificationForm(_CodeForm):
    code = forms.CharField(
        label="Code à 6 chiffres ou code de secours",
        max_length=20,
        help_text="Le code affiché par votre application, ou l'un de vos "
        "codes de secours (8 caractères, utilisable une fois).",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autocapitalize": "none"}),
    )
