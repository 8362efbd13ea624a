from django import forms
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

from preau.core import passwords
from preau.core.models import Profile


class AccessibleForm(forms.Form):
    """Ties help texts and errors to their inputs (aria-describedby, aria-invalid)."""

    def full_clean(self):
        super().full_clean()
        self._mark_invalid()

    def add_error(self, field, error):
        """Errors added after cleaning (a view's checks) are tied to their input too."""
        super().add_error(field, error)
        if hasattr(self, "cleaned_data"):
            self._mark_invalid()

    def _mark_invalid(self) -> None:
        errors = getattr(self, "_errors", None) or {}
        for name, field in self.fields.items():
            if errors.get(name):
                field.widget.attrs["aria-invalid"] = "true"
                described = field.widget.attrs.get("aria-describedby", "")
                if f"id_{name}_erreur" not in described.split():
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


def _new_password(help_text: str) -> forms.CharField:
    return forms.CharField(
        label="Nouveau mot de passe",
        strip=False,
        help_text=help_text,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


def _confirmation() -> forms.CharField:
    return forms.CharField(
        label="Confirmez le mot de passe",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


class NewPasswordForm(AccessibleForm):
    """password1 and password2, checked by AUTH_PASSWORD_VALIDATORS (preau.core.passwords) for
    the account; the help text says the account's rule once it is known."""

    password1 = _new_password(passwords.rule_text())
    password2 = _confirmation()

    def clean(self):
        data = super().clean()
        if data.get("password1") and data.get("password1") != data.get("password2"):
            self.add_error("password2", "Les deux mots de passe ne correspondent pas.")
        return data

    def tell_rule_of(self, user) -> None:
        text = passwords.rule_text(user)
        self.fields["password1"].help_text = text
        self["password1"].help_text = text  # a bound field copies it once made

    def validate_password_for(self, user) -> bool:
        self.tell_rule_of(user)
        try:
            validate_password(self.cleaned_data["password1"], user)
        except ValidationError as exc:
            self.add_error("password1", exc)
            return False
        return True


class ActivationForm(NewPasswordForm):
    username = _username()
    code = forms.CharField(
        label="Code d'activation",
        max_length=20,
        help_text="Le code remis par votre établissement (10 caractères).",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "characters"}
        ),
    )
    field_order = ("username", "code", "password1", "password2")


class PasswordChangeForm(NewPasswordForm):
    """ "Changer mon mot de passe": the current one, then the new one (the account's rule)."""

    old_password = forms.CharField(
        label="Mot de passe actuel",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    field_order = ("old_password", "password1", "password2")

    def __init__(self, user, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tell_rule_of(user)


class DirectorySearchForm(AccessibleForm):
    q = forms.CharField(label="Nom, prénom ou identifiant", required=False, max_length=100)
    profile = forms.ChoiceField(
        label="Profil", required=False, choices=[("", "Tous les profils"), *Profile.choices]
    )


class PasswordResetRequestForm(AccessibleForm):
    login = forms.CharField(
        label="Identifiant ou adresse e-mail",
        max_length=254,
        help_text="L'identifiant de votre compte Préau, ou son adresse e-mail confirmée.",
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )
