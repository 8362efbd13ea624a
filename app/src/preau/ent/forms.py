from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from preau.core.forms import AccessibleForm
from preau.core.models import Profile
from preau.ent import files
from preau.ent.models import Weekday


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
        kwargs.setdefault("help_text", f"{files.size_label(files.max_bytes())} au maximum ; "
                                       "PDF, documents bureautiques, images, audio, vidéo.")
        super().__init__(widget=forms.ClearableFileInput(attrs={"accept": files.ACCEPT}), **kwargs)

    def clean(self, data, initial=None):
        data = super().clean(data, initial)
        if data:
            files.validate_upload(data)
        return data


class TeachingChoiceField(forms.ChoiceField):
    """A class + subject the teacher teaches, as "class_id:subject_id"."""

    def __init__(self, taught, **kwargs):
        choices = [(f"{t.class_group_id}:{t.subject_id or ''}",
                    f"{t.class_group.name} – {t.subject.label or t.subject.code}" if t.subject
                    else t.class_group.name) for t in taught]
        super().__init__(choices=choices, label="Classe et matière", **kwargs)
        self.taught = {f"{t.class_group_id}:{t.subject_id or ''}": t for t in taught}

    def clean(self, value):
        return self.taught[super().clean(value)]


class AudienceField(forms.MultipleChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=Profile.choices, required=False, widget=forms.CheckboxSelectMultiple,
                         label="Public", help_text="Aucune case cochée : tout l'établissement.", **kwargs)


class RollCallForm(AccessibleForm):
    date = forms.DateField(label="Date", widget=DateInput(), initial=timezone.localdate)
    start = forms.TimeField(label="Heure du cours", widget=TimeInput())


class JustifyForm(AccessibleForm):
    reason = forms.CharField(label="Motif de l'absence", max_length=1000,
                             widget=forms.Textarea(attrs={"rows": 3}),
                             help_text="Par exemple : rendez-vous médical, maladie, transport.")


class AssessmentForm(AccessibleForm):
    title = forms.CharField(label="Intitulé", max_length=200)
    date = forms.DateField(label="Date", widget=DateInput(), initial=timezone.localdate)
    coefficient = forms.DecimalField(label="Coefficient", min_value=0.25, max_value=10, decimal_places=2,
                                     initial=1)
    scale = forms.IntegerField(label="Noté sur", min_value=1, max_value=100, initial=20)

    def __init__(self, *args, taught=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields = {"teaching": TeachingChoiceField(taught), **self.fields}


class LogbookForm(AccessibleForm):
    date = forms.DateField(label="Date de la séance", widget=DateInput(), initial=timezone.localdate)
    title = forms.CharField(label="Titre de la séance", max_length=200)
    content = forms.CharField(label="Contenu de la séance", required=False,
                              widget=forms.Textarea(attrs={"rows": 4}))
    homework = forms.CharField(label="Travail à faire", required=False,
                               widget=forms.Textarea(attrs={"rows": 3}))
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


class DocumentForm(AccessibleForm):
    title = forms.CharField(label="Titre", max_length=200)
    description = forms.CharField(label="Description", required=False,
                                  widget=forms.Textarea(attrs={"rows": 2}))
    file = UploadField(label="Fichier")

    def __init__(self, *args, taught=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields = {"teaching": TeachingChoiceField(taught), **self.fields}


class ComposeForm(AccessibleForm):
    recipients = forms.MultipleChoiceField(label="Destinataires", widget=forms.CheckboxSelectMultiple)
    subject = forms.CharField(label="Objet", max_length=200)
    body = forms.CharField(label="Message", max_length=10000, widget=forms.Textarea(attrs={"rows": 6}))
    attachment = UploadField(label="Pièce jointe (facultatif)", required=False)

    def __init__(self, *args, recipients=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["recipients"].choices = [(str(u.pk), f"{u.last_name} {u.first_name}") for u in recipients]


class ReplyForm(AccessibleForm):
    body = forms.CharField(label="Votre réponse", max_length=10000, widget=forms.Textarea(attrs={"rows": 4}))
    attachment = UploadField(label="Pièce jointe (facultatif)", required=False)


class NewsForm(AccessibleForm):
    title = forms.CharField(label="Titre", max_length=200)
    body = forms.CharField(label="Texte", widget=forms.Textarea(attrs={"rows": 5}))
    audience = AudienceField()


class SpacePostForm(AccessibleForm):
    title = forms.CharField(label="Sujet", max_length=200)
    body = forms.CharField(label="Message", widget=forms.Textarea(attrs={"rows": 4}))
    file = UploadField(label="Fichier partagé (facultatif)", required=False)


class SpaceReplyForm(AccessibleForm):
    body = forms.CharField(label="Votre réponse", widget=forms.Textarea(attrs={"rows": 3}))
    file = UploadField(label="Fichier partagé (facultatif)", required=False)


class LinkForm(AccessibleForm):
    title = forms.CharField(label="Nom de la ressource", max_length=200)
    url = forms.URLField(label="Adresse (https://…)", max_length=500, assume_scheme="https")
    description = forms.CharField(label="Description", max_length=300, required=False)
    audience = AudienceField()


class QuietHoursForm(AccessibleForm):
    enabled = forms.BooleanField(label="Retenir les notifications pendant les heures calmes", required=False)
    start = forms.TimeField(label="Début des heures calmes (soir)", widget=TimeInput())
    end = forms.TimeField(label="Fin des heures calmes (matin)", widget=TimeInput())
    weekend = forms.BooleanField(label="Aussi du vendredi soir au lundi matin", required=False)
    email = forms.BooleanField(
        label="Envoyer aussi les notifications par e-mail", required=False,
        help_text="Aux comptes qui ont une adresse e-mail, au moment où la notification est remise "
                  "(jamais pendant les heures calmes).")

    def __init__(self, *args, email_available=True, **kwargs):
        super().__init__(*args, **kwargs)
        if not email_available:
            del self.fields["email"]


class NotificationPreferencesForm(AccessibleForm):
    """A member's own choice (opt-out): notifications also by e-mail, or only in Préau."""

    email = forms.TypedChoiceField(
        label="Notifications par e-mail", widget=forms.RadioSelect, coerce=lambda value: value == "oui",
        choices=[("oui", "Les recevoir aussi par e-mail"), ("non", "Seulement dans Préau")],
        error_messages={"required": "Choisissez si vous voulez recevoir les notifications par e-mail."},
        help_text="Les notifications restent toujours visibles dans Préau ; aucun e-mail n'est envoyé "
                  "pendant les heures calmes.")


class TimetableSlotForm(AccessibleForm):
    """One lesson of the weekly timetable. The choices come from the establishment of the
    request only (classes of the current year, its subjects, its current teachers)."""

    class_group = forms.ModelChoiceField(label="Classe ou groupe", queryset=None, empty_label="— choisir —")
    weekday = forms.TypedChoiceField(label="Jour", coerce=int, choices=[("", "— choisir —")] + [
        (value, label) for value, label in Weekday.choices])
    start = forms.TimeField(label="Début", widget=TimeInput())
    end = forms.TimeField(label="Fin", widget=TimeInput())
    subject = forms.ModelChoiceField(label="Matière", queryset=None, required=False, empty_label="— aucune —")
    teacher = forms.ModelChoiceField(label="Enseignant", queryset=None, required=False, empty_label="— aucun —")
    room = forms.CharField(label="Salle", max_length=40, required=False)

    def __init__(self, *args, classes, subjects, teachers, others, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["class_group"].queryset = classes
        self.fields["subject"].queryset = subjects
        self.fields["subject"].label_from_instance = lambda s: s.label or s.code
        self.fields["teacher"].queryset = teachers
        self.fields["teacher"].label_from_instance = lambda u: f"{u.last_name} {u.first_name}".strip() or u.username
        self.others = others  # the establishment's other slots, for the overlap checks

    def clean(self):
        data = super().clean()
        start, end, day = data.get("start"), data.get("end"), data.get("weekday")
        if start and end and end <= start:
            self.add_error("end", "La fin du cours doit être après son début.")
            return data
        if not (start and end and day):
            return data
        overlapping = self.others.filter(weekday=day, start__lt=end, end__gt=start)
        if data.get("class_group") and overlapping.filter(class_group=data["class_group"]).exists():
            self.add_error("start", f"{data['class_group'].name} a déjà un cours sur ce créneau.")
        if data.get("teacher") and overlapping.filter(teacher=data["teacher"]).exists():
            self.add_error("teacher", "Cet enseignant a déjà un cours sur ce créneau.")
        return data


class TimetableImportForm(AccessibleForm):
    file = forms.FileField(label="Fichier CSV", help_text="Colonnes séparées par « ; » : classe;jour;debut;"
                           "fin;matiere;enseignant;salle (jour : lundi…samedi, enseignant : identifiant).")

    def clean_file(self):
        data = self.cleaned_data["file"]
        if data.size > 1024 * 1024:
            raise ValidationError("Fichier trop volumineux (1 Mo au maximum).")
        return data
