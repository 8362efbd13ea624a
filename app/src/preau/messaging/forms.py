from django import forms

from preau.core.forms import AccessibleForm
from preau.core.models import Profile
from preau.ent.forms import UploadField


class ComposeForm(AccessibleForm):
    # Not required by itself: a group (GroupsForm, on the same page) may be the recipients.
    recipients = forms.MultipleChoiceField(
        label="Destinataires", widget=forms.CheckboxSelectMultiple, required=False
    )
    subject = forms.CharField(label="Objet", max_length=200)
    body = forms.CharField(
        label="Message", max_length=10000, widget=forms.Textarea(attrs={"rows": 6})
    )
    attachment = UploadField(label="Pièce jointe (facultatif)", required=False)

    def __init__(self, *args, recipients=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["recipients"].choices = [(str(u.pk), recipient_label(u)) for u in recipients]


def recipient_label(user) -> str:
    """A recipient as offered, e.g. DUPONT Léa (Élève, 5A) or DUPONT Marc (Responsable de
    Léa): the profile, a pupil's class, a guardian's children tell homonyms apart
    (messaging.views._described reads them)."""
    details = [Profile(user.profile).label] if getattr(user, "profile", None) else []
    if getattr(user, "class_name", None):
        details.append(user.class_name)
    if details and getattr(user, "children", None):
        details[0] += f" de {user.children}"
    name = f"{user.last_name} {user.first_name}"
    return f"{name} ({', '.join(details)})" if details else name


class GroupsForm(AccessibleForm):
    """The groups offered to the sender (messaging.groups.offered), posted with ComposeForm;
    compose.html folds them per kind."""

    groups = forms.MultipleChoiceField(
        label="Groupes", widget=forms.CheckboxSelectMultiple, required=False
    )

    def __init__(self, *args, groups=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["groups"].choices = [(g.key, g.label) for g in groups]
        self.kinds = {g.key: g.kind for g in groups}


class ReportForm(AccessibleForm):
    reason = forms.CharField(
        label="Pourquoi signalez-vous ce message ?",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="La vie scolaire lira votre signalement ; l'auteur du message ne le voit pas.",
    )


class ReplyForm(AccessibleForm):
    body = forms.CharField(
        label="Votre réponse", max_length=10000, widget=forms.Textarea(attrs={"rows": 4})
    )
    attachment = UploadField(label="Pièce jointe (facultatif)", required=False)
