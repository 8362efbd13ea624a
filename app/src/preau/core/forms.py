from django import forms
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

from preau.core.models import Profile


class AccessibleForm(forms.Form):
    """Ties help texts and errors to their inputs (aria-describedby, aria-invalid)."""

    def full_clean(self):
        super().full_clean()
        for name, field in self.fields.items():
            if self.errors.get(name):
                field.widget.attrs["aria-invalid"] = "true"
                described = field.widget.attrs.get("aria-describedby", "")
                field.widget.attrs["aria-describedby"] = f"{described} id_{name}_erreur".strip()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if field.help_text:
                field.widget.attrs["aria-describedby"] = f"id_{name}_aide"


def _username() -> forms.CharField:
    """The username field of the login and activation forms."""
    return forms.CharField(
        label="Identifiant",
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )


class LoginForm(AccessibleForm):
    username = _username()
    password = forms.CharField(
        label="Mot de passe",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class ActivationForm(AccessibleForm):
    username = _username()
    code = forms.CharField(
        label="Code d'activation",
        max_length=20,
        help_text="Le code remis par votre établissement (10 caractères).",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "characters"}
        ),
    )
    password1 = forms.CharField(
        label="Nouveau mot de passe",
        strip=False,
        help_text="Au moins 12 caractères.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label="Confirmez le mot de passe",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        data = super().clean()
        if data.get("password1") and data.get("password1") != data.get("password2"):
            self.add_error("password2", "Les deux mots de passe ne correspondent pas.")
        return data

    def validate_password_for(self, user) -> bool:
        try:
            validate_password(self.cleaned_data["password1"], user)
        except ValidationError as exc:
            self.add_error("password1", exc)
            return False
        return True


class DirectorySearchForm(AccessibleForm):
    q = forms.CharField(label="Nom, prénom ou identifiant", required=False, max_length=100)
    profile = forms.ChoiceField(
        label="Profil", required=False, choices=[("", "Tous les profils"), *Profile.choices]
    )
