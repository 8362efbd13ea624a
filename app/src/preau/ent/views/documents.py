"""Course material per class and subject, and the one download view for every stored file."""
from django.contrib import messages
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse

from preau.core.prepared import PreparedQuery
from preau.ent import files
from preau.ent.access import profiles, require, viewer
from preau.ent.forms import DocumentForm
from preau.ent.models import Document, Message, SpacePost, StoredFile, Submission
from preau.ent.views.common import PreparedPages, back
from preau.ent.views.spaces import space_class_ids


def _documents(est):
    return Document.objects.filter(establishment_id=est).select_related("class_group", "subject", "file", "author")


# The documents page, compiled once (preau.core.prepared): every class (direction, vie scolaire)
# or the classes the member sees.
ALL_DOCUMENTS = PreparedPages(_documents, est=int)
CLASS_DOCUMENTS = PreparedPages(lambda est, classes: _documents(est).filter(class_group_id__any=classes),
                                est=int, classes=list)


@profiles("ELV", "TUT", "ENS", "DIR", "EVS")
def documents(request, uai):
    me = viewer(request)
    class_ids = me.visible_class_ids()
    if class_ids is None:
        page = ALL_DOCUMENTS.page(request, est=request.establishment.pk)
    else:
        page = CLASS_DOCUMENTS.page(request, est=request.establishment.pk, classes=sorted(class_ids))
    return render(request, "ent/documents.html", {"page": page, "can_upload": me.profile == "ENS"})


@profiles("ENS")
def document_new(request, uai):
    me = viewer(request)
    form = DocumentForm(request.POST or None, request.FILES or None, taught=me.taught())
    if request.method == "POST" and form.is_valid():
        teaching = form.cleaned_data["teaching"]
        with files.atomic_upload(form, "file"):
            stored = files.store(request.establishment, form.cleaned_data["file"], request.user)
            Document.objects.create(establishment=request.establishment, class_group=teaching.class_group,
                                    subject=teaching.subject, title=form.cleaned_data["title"],
                                    description=form.cleaned_data["description"], file=stored,
                                    author=request.user)
        if not form.errors:
            messages.success(request, "Document déposé.")
            return back(request, "documents")
    return render(request, "ent/form_page.html", {
        "form": form, "title": "Déposer un document", "submit": "Déposer", "multipart": True,
        "back_url": reverse("documents", kwargs={"uai": uai})}, status=400 if request.method == "POST" else 200)


# A course document's download (most downloads), compiled once (preau.core.prepared): the file,
# then whether it is a document of a class the member sees; scoped to the establishment.
STORED_FILE = PreparedQuery(lambda est, pk: StoredFile.objects.filter(establishment_id=est, pk=pk)[:1],
                            est=int, pk=int)
DOCUMENT_IN_CLASSES = PreparedQuery(lambda est, file, classes: Document.objects.filter(
    establishment_id=est, file_id=file, class_group_id__any=classes).values_list("pk")[:1],
    est=int, file=int, classes=list)


def can_download(request, stored: StoredFile) -> bool:
    """A file is readable by whoever may see the thing it is attached to."""
    me = viewer(request)
    if stored.uploaded_by_id == request.user.pk or me.is_supervisor:
        return True
    class_ids = me.visible_class_ids()
    if class_ids is None:
        if Document.objects.for_request(request).filter(file=stored).exists():
            return True
    elif DOCUMENT_IN_CLASSES.rows(est=request.establishment.pk, file=stored.pk, classes=sorted(class_ids)):
        return True
    if Submission.objects.for_request(request).filter(file=stored, homework__teacher=request.user).exists():
        return True
    if Message.objects.for_request(request).filter(
            attachment=stored, conversation__participants__user=request.user).exists():
        return True
    post = SpacePost.objects.for_request(request).filter(file=stored).first()
    return post is not None and post.class_group_id in space_class_ids(request)


def file_download(request, uai, file_id):
    stored = STORED_FILE.first(est=request.establishment.pk, pk=file_id)
    if stored is None:
        raise Http404
    require(can_download(request, stored))
    return files.download_response(stored)
