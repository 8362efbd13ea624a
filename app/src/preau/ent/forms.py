from django import forms

from preau.core.forms import AccessibleForm
from preau.core.models import Profile
from preau.ent import files


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


class TimeInput(forms.TimeInput):
    input_type = "time"

    def __init__(self, **kwargs):
        super().__init__(format="%H:%M", **kwargs)


class UploadField(forms.FileField):
    """A file checked against the size and type limits (preau.ent.files)."""

    def __init__(self, **kwargs):
        kwargs.setdefault(
            "help_text",
            f"{files.size_label(files.max_bytes())} au maximum ; "
            "PDF, documents bureautiques, images, audio, vidéo.",
        )
        super().__init__(widget=forms.ClearableFileInput(attrs={"accept": files.ACCEPT}), **kwargs)

    def clean(self, data, initial=None):
        data = super().clean(data, initial)
        if data:
            files.validate_upload(data)
        return data


class TeachingChoiceField(forms.ChoiceField):
    """A class + subject the teacher teaches, as "class_id:subject_id"."""

    def __init__(self, taught, **kwargs):
        choices = [
            (
                f"{t.class_group_id}:{t.subject_id or ''}",
                f"{t.class_group.name} – {t.subject.label or t.subject.code}"
                if t.subject
                else t.class_group.name,
            )
            for t in taught
        ]
        super().__init__(choices=choices, label="Classe et matière", **kwargs)
        self.taught = {f"{t.class_group_id}:{t.subject_id or ''}": t for t in taught}

    def clean(self, value):
        return self.taught[super().clean(value)]


class AudienceField(forms.MultipleChoiceField):
    def __init__(self, **kwargs):
        super().__init__(
            choices=Profile.choices,
            required=False,
            widget=forms.CheckboxSelectMultiple,
            label="Public",
            help_text="Aucune case cochée : tout l'établissement.",
            **kwargs,
        )


class QuietHoursForm(AccessibleForm):
    enabled = forms.BooleanField(
        label="Retenir les notifications pendant les heures calmes", required=False
    )
    start = forms.TimeField(label="Début des heures calmes (soir)", widget=TimeInput())
    end = forms.TimeField(label="Fin des heures calmes (matin)", widget=TimeInput())
    weekend = forms.BooleanField(label="Aussi du vendredi soir au lundi matin", required=False)
    email = forms.BooleanField(
        label="Envoyer aussi les notifications par e-mail",
        required=False,
        help_text="Aux comptes qui ont une adresse e-mail, au moment où la notification est remise "
        "(jamais pendant les heures calmes).",
    )

    def __init__(self, *args, email_available=True, **kwargs):
        super().__init__(*args, **kwargs)
        if not email_available:
            del self.fields["email"]


class NotificationPreferencesForm(AccessibleForm):
    """A member's own choice (opt-out): notifications also by e-mail, or only in Préau."""

    email = forms.TypedChoiceField(
        label="Notifications par e-mail",
        widget=forms.RadioSelect,
        coerce=lambda value: value == "oui",
        choices=[("oui", "Les recevoir aussi par e-mail"), ("non", "Seulement dans Préau")],
        error_messages={
            "required": "Choisissez si vous voulez recevoir les notifications par e-mail."
        },
        help_text="Les notifications restent toujours visibles dans Préau ; aucun e-mail n'est envoyé "
        "pendant les heures calmes.",
    )


class LettersForm(AccessibleForm):
    """A batch of activation letters (preau.ent.letters): a class's pupils or parents, or
    every member of a profile."""

    class_name = forms.ChoiceField(label="Classe", required=False)
    profile = forms.ChoiceField(
        label="Profil",
        required=False,
        choices=[("", "Élèves (de la classe) ou choisir un profil")] + list(Profile.choices),
        help_text="Avec une classe : ses élèves, ou leurs responsables. Sans classe : tout le profil.",
    )

    def __init__(self, data=None, *, classes=()):
        super().__init__(data)
        self.fields["class_name"].choices = [("", "Toutes (tout le profil)")] + [
            (name, name) for name in classes
        ]

    def clean(self):
        data = super().clean()
        if not data.get("class_name") and not data.get("profile"):
            raise forms.ValidationError("Choisissez une classe, un profil, ou les deux.")
        return data
