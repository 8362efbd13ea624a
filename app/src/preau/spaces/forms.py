from django import forms

from preau.core.forms import AccessibleForm
from preau.ent.forms import UploadField


class SpacePostForm(AccessibleForm):
    title = forms.CharField(label="Sujet", max_length=200)
    body = forms.CharField(label="Message", widget=forms.Textarea(attrs={"rows": 4}))
    file = UploadField(label="Fichier partagé (facultatif)", required=False)


class SpaceReplyForm(AccessibleForm):
    body = forms.CharField(label="Votre réponse", widget=forms.Textarea(attrs={"rows": 3}))
    file = UploadField(label="Fichier partagé (facultatif)", required=False)


class SpacePostEditForm(AccessibleForm):
    """A post's text, edited by its author: a thread's subject and message, a reply's message
    (its file stays)."""

    title = forms.CharField(label="Sujet", max_length=200)
    body = forms.CharField(label="Message", widget=forms.Textarea(attrs={"rows": 4}))

    def __init__(self, *args, thread: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not thread:
            del self.fields["title"]
