"""Course material per class and subject, and the one download view for every stored file."""
from django.contrib import messages
from django.db import transaction
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from preau.ent import files
from preau.ent.access import profiles, require, viewer
from preau.ent.forms import DocumentForm
from preau.ent.models import Document, Message, SpacePost, StoredFile, Submission
from preau.ent.views.common import back, paginate
from preau.ent.views.spaces import space_class_ids


@profiles("ELV", "TUT", "ENS", "DIR", "EVS")
def documents(request, uai):
    me = viewer(request)
    items = Document.objects.for_request(request).select_related("class_group", "subject", "file", "author")
    class_ids = me.visible_class_ids()
    if class_ids is not None:
        items = items.filter(class_group_id__in=class_ids)
    return render(request, "ent/documents.html", {"page": paginate(request, items),
                                                  "can_upload": me.profile == "ENS"})


@profiles("ENS")
def document_new(request, uai):
    me = viewer(request)
    form = DocumentForm(request.POST or None, request.FILES or None, taught=me.taught())
    if request.method == "POST" and form.is_valid():
        teaching = form.cleaned_data["teaching"]
        with transaction.atomic():
            stored = files.store(request.establishment, form.cleaned_data["file"], request.user)
            Document.objects.create(establishment=request.establishment, class_group=teaching.class_group,
                                    subject=teaching.subject, title=form.cleaned_data["title"],
                                    description=form.cleaned_data["description"], file=stored,
                                    author=request.user)
        messages.success(request, "Document déposé.")
        return back(request, "documents")
    return render(request, "ent/form_page.html", {
        "form": form, "title": "Déposer un document", "submit": "Déposer", "multipart": True,
        "back_url": reverse("documents", kwargs={"uai": uai})}, status=400 if request.method == "POST" else 200)


def can_download(request, stored: StoredFile) -> bool:
    """A file is readable by whoever may see the thing it is attached to."""
    me = viewer(request)
    if stored.uploaded_by_id == request.user.pk or me.is_supervisor:
        return True
    documents = Document.objects.for_request(request).filter(file=stored)
    class_ids = me.visible_class_ids()
    if documents.filter(class_group_id__in=class_ids).exists() if class_ids is not None else documents.exists():
        return True
    if Submission.objects.for_request(request).filter(file=stored, homework__teacher=request.user).exists():
        return True
    if Message.objects.for_request(request).filter(
            attachment=stored, conversation__participants__user=request.user).exists():
        return True
    post = SpacePost.objects.for_request(request).filter(file=stored).first()
    return post is not None and post.class_group_id in space_class_ids(request)


def file_download(request, uai, file_id):
    stored = get_object_or_404(StoredFile.objects.for_request(request), pk=file_id)
    require(can_download(request, stored))
    return files.download_response(stored)
