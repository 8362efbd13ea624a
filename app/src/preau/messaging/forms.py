from django import forms

from preau.core.forms import AccessibleForm
from preau.ent.forms import UploadField


class ComposeForm(AccessibleForm):
    recipients = forms.MultipleChoiceField(
        label="Destinataires", widget=forms.CheckboxSelectMultiple
    )
    subject = forms.CharField(label="Objet", max_length=200)
    body = forms.CharField(
        label="Message", max_length=10000, widget=forms.Textarea(attrs={"rows": 6})
    )
    attachment = UploadField(label="Pièce jointe (facultatif)", required=False)

    def __init__(self, *args, recipients=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["recipients"].choices = [
            (str(u.pk), f"{u.last_name} {u.first_name}") for u in recipients
        ]


class ReplyForm(AccessibleForm):
    body = forms.CharField(
        label="Votre réponse", max_length=10000, widget=forms.Textarea(attrs={"rows": 4})
    )
    attachment = UploadField(label="Pièce jointe (facultatif)", required=False)
